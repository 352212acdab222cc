#!/usr/bin/env bash
# Benchmarks `capcache build` at scale: 1,000 and 10,000 models (or the counts given) of mixed
# layouts (the fixture hub's `formats` population: three safetensors layouts, a real OPT-125m
# `.bin` and a real GGUF file, one model in five each) served by the fixture hub on loopback with
# 20 ms added latency per request. For the first build and an unchanged rerun it prints wall time, CPU time per model, peak RSS, requests and bytes
# per model, and the rerun's floor (requests x latency / models in flight), so that a regression
# shows as a number.
#
#   scripts/bench-scale.sh [MODELS...]        (default: 1000 10000)
# Env: JOBS (default 8), LATENCY_MS (default 20), POPULATION (default formats; `mixed` is the
# three safetensors layouts alone), BASELINE (another capcache binary: measured in the same run,
# on the same hub, after this checkout's, with the ratios of CPU per model). Builds release
# binaries (about 11 minutes here the first time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-8}
latency=${LATENCY_MS:-20}
population=${POPULATION:-formats}
baseline=${BASELINE:-}
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
work=$(mktemp -d)
cleanup() { [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin capcache --example fixture_hub

stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('$1/_fixture/stats'))))"; }
reset() { python3 -c "import urllib.request;urllib.request.urlopen('$1/_fixture/reset').read()"; }

bins=(new ./target/release/capcache)
[ -z "$baseline" ] || bins+=(base "$baseline")
printf '%s\n' "capcache build, population $population, --jobs $jobs, $latency ms added latency per request, fixture hub on loopback"
[ -z "$baseline" ] || printf '%s\n' "new: this checkout's release build; base: $baseline"
printf '%-8s %-5s %-7s %8s %10s %9s %10s %12s %8s\n' models bin run wall_s cpu_ms/mod rss_MB req/model bytes/model floor_s
: > "$work/cpu"
for n in "${counts[@]}"; do
  rm -f "$work"/url "$work"/models.txt
  ./target/release/examples/fixture_hub --population "$population" --models "$n" --latency-ms "$latency" \
    --list "$work/models.txt" > "$work/url" &
  hub_pid=$!
  for _ in $(seq 600); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(head -1 "$work/url")
  for ((b = 0; b < ${#bins[@]}; b += 2)); do
    tag=${bins[b]} bin=${bins[b + 1]}
    rm -f "$work"/db.json "$work"/c.sqlite*
    for run in first rerun; do
      reset "$url"
      /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin" build --models "$work/models.txt" \
        --db "$work/db.json" --sqlite "$work/c.sqlite" --endpoint "$url" --jobs "$jobs" --json \
        > "$work/summary.json" 2> "$work/err" || { tail "$work/err"; exit 1; }
      python3 - "$n" "$tag" "$run" "$(cat "$work/time")" "$(stats "$url")" "$latency" "$jobs" "$work/cpu" <<'PY'
import json, sys
n, tag, run = int(sys.argv[1]), sys.argv[2], sys.argv[3]
wall, user, sys_, rss_kb = (float(x) for x in sys.argv[4].split())
s = json.loads(sys.argv[5])
latency, jobs = float(sys.argv[6]) / 1000, int(sys.argv[7])
# The rerun's floor: one request a model, `jobs` of them in flight (the first build has several
# requests a model in flight at once, up to --max-in-flight, and no simple floor).
floor = f"{s['requests'] * latency / jobs:8.1f}" if run == "rerun" else f"{'-':>8}"
cpu = (user + sys_) * 1000 / n
print(f"{n:<8} {tag:<5} {run:<7} {wall:8.1f} {cpu:10.2f} {rss_kb / 1024:9.0f} "
      f"{s['requests'] / n:10.2f} {s['bytes'] / n:12.0f} {floor}")
open(sys.argv[8], "a").write(f"{n} {tag} {run} {cpu} {wall}\n")
PY
    done
  done
  kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true; hub_pid=
done
if [ -n "$baseline" ]; then
  python3 - "$work/cpu" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    n, tag, run, cpu, wall = line.split()
    rows[(n, tag, run)] = (float(cpu), float(wall))
for (n, tag, run), (cpu, wall) in rows.items():
    if tag == "new" and (n, "base", run) in rows:
        bcpu, bwall = rows[(n, "base", run)]
        print(f"{n} models, {run}: CPU per model base/new {bcpu / cpu:.2f}x, wall base/new {bwall / wall:.2f}x")
PY
fi
