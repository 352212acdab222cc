#!/usr/bin/env bash
# Benchmarks the store commands at scale: generates N (default 100,000) realistic records (the
# shapes of the shipped db.json's records, varied: ids, revisions, counts, strategies, dates, 2%
# failures) as a canonical db.json, then measures wall time and peak RSS (/usr/bin/time) of
# import, export (twice: the second finds nothing changed), get (SQLite and db.json), list, stats,
# merge (two SQLite shards; a db.json with a SQLite store) and a build with an empty list (which
# imports the db.json and exports it again). Checks that export and merge reproduce the generated
# bytes exactly.
#
#   scripts/bench-store.sh [N]
#   BASELINE=path/to/older/capcache scripts/bench-store.sh   # the same commands with another
#                                                           # binary, side by side, with ratios
# Uses the release build (cargo build --release).
set -euo pipefail
n=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --bin capcache
bin=$root/target/release/capcache
baseline=${BASELINE:-}

python3 - "$n" "$root/db.json" "$work" <<'PY'
import hashlib, json, sys
n, template_path, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
templates = list(json.load(open(template_path))["models"].values())
chain = ["hub-metadata", "safetensors", "pytorch", "gguf", "config"]
absent = {s: f"no {s} answer for this revision" for s in chain}
models, failures, half = {}, {}, [({}, {}), ({}, {})]
for i in range(n):
    r = json.loads(json.dumps(templates[i % len(templates)]))
    org = f"org-{i % 997}"
    mid = f"{org}/model-{i:06d}-{['base', 'instruct', 'fp8', 'gguf'][i % 4]}"
    h = hashlib.sha1(mid.encode()).hexdigest()
    if i % 50 == 7:
        f = {"at": f"2026-11-{1 + i % 28:02d}T03:00:00Z", "message": f"{mid} needs a token with access",
             "outcome": ["gated", "not-found", "rate-limited"][i % 3]}
        failures[mid] = f
        half[i % 2][1][mid] = f
        continue
    scale = 1 + (i % 37)
    r["parameters"] = {k: v * scale for k, v in r["parameters"].items()}
    r["total"] = sum(r["parameters"].values())
    r["logical_parameters"] = r["logical_parameters"] * scale
    r["weight_bytes"] = r["weight_bytes"] * scale
    r["revision"] = h
    strategy = chain[i % len(chain)]
    r["strategy"] = strategy
    r["exact"] = strategy != "config"
    r["tried"] = [{"message": absent[s], "outcome": "absent", "strategy": s} for s in chain[:chain.index(strategy)]]
    r["resolved_at"] = f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
    models[mid] = r
    half[i % 2][0][mid] = r
def dump(path, m, f):
    with open(path, "w") as out:
        json.dump({"failures": f, "models": m, "schema": 1}, out, sort_keys=True, indent=2, ensure_ascii=False)
        out.write("\n")
dump(f"{work}/db.json", models, failures)
dump(f"{work}/half-1.json", *half[0])
dump(f"{work}/half-2.json", *half[1])
ids = sorted(models)
open(f"{work}/id", "w").write(ids[len(ids) // 2])
PY
id=$(cat "$work/id")
upper=$(echo "$id" | tr '[:lower:]' '[:upper:]')
mkdir -p "$work/empty"
: > "$work/empty.txt"

# measure LABEL BIN ARGS...: one run in $work; prints "wall_s rss_mb", or "0 0" when the command
# fails (a baseline without the command, or one that does not find an id given in upper case).
measure() {
  local out t0 t1
  t0=$EPOCHREALTIME
  if out=$(cd "$work" && /usr/bin/time -f '%M' "${@:2}" 2>&1 >/dev/null | tail -1); then
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" -v m="$out" 'BEGIN {printf "%.4f %.0f\n", b - a, m / 1024}'
  else
    echo "0 0"
  fi
}
# median of five runs (for the quick look-ups)
median5() {
  for _ in 1 2 3 4 5; do measure "$@"; done | sort -n | sed -n 3p
}

# Stores for each binary: SQLite copies made by `import` (or, for a binary without it, by a build
# with an empty list).
prepare() {
  local b=$1 tag=$2
  for f in db half-1 half-2; do
    if "$b" import --help >/dev/null 2>&1; then
      (cd "$work" && "$b" import --db "$f.json" --sqlite "$tag-$f.sqlite" >/dev/null 2>&1)
    else
      cp "$work/$f.json" "$work/$tag-seed-$f.json"
      (cd "$work" && "$b" build --models empty.txt --source empty --db "$tag-seed-$f.json" \
        --sqlite "$tag-$f.sqlite" >/dev/null 2>&1 || true)
    fi
  done
}

rows=()
run_all() {
  local b=$1 tag=$2
  prepare "$b" "$tag"
  cp "$work/db.json" "$work/$tag-build.json"
  rm -f "$work/$tag-import.sqlite"
  r_import=$(measure import "$b" import --db db.json --sqlite "$tag-import.sqlite")
  r_build=$(measure build "$b" build --models empty.txt --source empty --db "$tag-build.json" --sqlite "$tag-build.sqlite")
  r_export=$(measure export "$b" export --sqlite "$tag-db.sqlite" --db "$tag-export.json")
  r_export2=$(measure export-unchanged "$b" export --sqlite "$tag-db.sqlite" --db "$tag-export.json")
  r_get_sqlite=$(median5 get "$b" get --db "$tag-db.sqlite" "$id")
  r_get_sqlite_case=$(median5 get "$b" get --db "$tag-db.sqlite" "$upper")
  r_get_json=$(median5 get "$b" get --db db.json "$id")
  r_list_json=$(measure list "$b" list --db db.json)
  r_list_sqlite=$(measure list "$b" list --db "$tag-db.sqlite")
  r_stats_json=$(measure stats "$b" stats --db db.json)
  r_stats_sqlite=$(measure stats "$b" stats --db "$tag-db.sqlite")
  r_merge=$(measure merge "$b" merge "$tag-half-1.sqlite" "$tag-half-2.sqlite" --db "$tag-merged.json")
  r_merge_json=$(measure merge "$b" merge db.json "$tag-db.sqlite" --db "$tag-merged2.json")
  rows+=("$tag" "$r_import" "$r_build" "$r_export" "$r_export2" "$r_get_sqlite" "$r_get_sqlite_case" "$r_get_json" \
    "$r_list_json" "$r_list_sqlite" "$r_stats_json" "$r_stats_sqlite" "$r_merge" "$r_merge_json")
}

run_all "$bin" new
if [ -n "$baseline" ]; then run_all "$baseline" base; fi

for f in new-export.json new-merged.json new-merged2.json new-build.json; do
  if cmp -s "$work/db.json" "$work/$f"; then same="byte-identical"; else same="DIFFERENT"; fi
  echo "check: $f vs the generated db.json: $same"
done

python3 - "$n" "$(stat -c %s "$work/db.json")" "${rows[@]}" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
labels = ["import db.json -> SQLite", "build, empty list (import + export)", "export SQLite -> db.json",
          "export again (unchanged)", "get, SQLite (median of 5)", "get, SQLite, id in upper case",
          "get, db.json (median of 5)", "list, db.json", "list, SQLite", "stats, db.json", "stats, SQLite",
          "merge 2 SQLite shards -> db.json", "merge db.json + SQLite -> db.json"]
args = sys.argv[3:]
runs = {}
while args:
    tag, vals, args = args[0], args[1:1 + len(labels)], args[1 + len(labels):]
    runs[tag] = [tuple(map(float, v.split())) for v in vals]
print(f"{n:,} records, db.json {size / 1e6:.0f} MB; wall seconds and peak RSS MB, one run each unless said "
      "(n/a: the baseline has no such command, or did not find the id)")
head = f"{'':40} {'wall s':>8} {'RSS MB':>7}"
if "base" in runs:
    head += f" {'base s':>8} {'base MB':>8} {'x faster':>9} {'x less mem':>10}"
print(head)
for i, label in enumerate(labels):
    w, m = runs["new"][i]
    line = f"{label:40} {w:8.3f} {m:7.0f}"
    if "base" in runs:
        bw, bm = runs["base"][i]
        ok = bw > 0
        line += f" {bw:8.3f} {bm:8.0f}" + (f" {bw / max(w, 0.001):9.1f} {bm / max(m, 1):10.1f}" if ok else f" {'n/a':>9} {'n/a':>10}")
    print(line)
PY
