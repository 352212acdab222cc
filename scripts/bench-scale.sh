#!/usr/bin/env bash
# Benchmarks `capcache build` at scale: 1,000 and 10,000 models (or the counts given) of mixed
# layouts served by the fixture hub on loopback with 20 ms added latency per request. For the first
# build and an unchanged rerun it prints wall time, CPU time per model, peak RSS, requests and bytes
# per model, and the rerun's floor (requests x latency / models in flight), so that a regression
# shows as a number.
#
#   scripts/bench-scale.sh [MODELS...]        (default: 1000 10000)
# Env: JOBS (default 8), LATENCY_MS (default 20). Builds release binaries (about 11 minutes here the
# first time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-8}
latency=${LATENCY_MS:-20}
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
work=$(mktemp -d)
cleanup() { [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin capcache --example fixture_hub

stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('$1/_fixture/stats'))))"; }
reset() { python3 -c "import urllib.request;urllib.request.urlopen('$1/_fixture/reset').read()"; }

printf '%s\n' "capcache build, --jobs $jobs, $latency ms added latency per request, fixture hub on loopback"
printf '%-8s %-7s %8s %10s %9s %10s %12s %8s\n' models run wall_s cpu_ms/mod rss_MB req/model bytes/model floor_s
for n in "${counts[@]}"; do
  rm -f "$work"/url "$work"/models.txt "$work"/db.json "$work"/c.sqlite*
  ./target/release/examples/fixture_hub --models "$n" --latency-ms "$latency" --list "$work/models.txt" > "$work/url" &
  hub_pid=$!
  for _ in $(seq 600); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(head -1 "$work/url")
  for run in first rerun; do
    reset "$url"
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" ./target/release/capcache build --models "$work/models.txt" \
      --db "$work/db.json" --sqlite "$work/c.sqlite" --endpoint "$url" --jobs "$jobs" --json \
      > "$work/summary.json" 2> "$work/err" || { tail "$work/err"; exit 1; }
    python3 - "$n" "$run" "$(cat "$work/time")" "$(stats "$url")" "$latency" "$jobs" <<'PY'
import json, sys
n, run = int(sys.argv[1]), sys.argv[2]
wall, user, sys_, rss_kb = (float(x) for x in sys.argv[3].split())
s = json.loads(sys.argv[4])
latency, jobs = float(sys.argv[5]) / 1000, int(sys.argv[6])
# The rerun's floor: one request a model, `jobs` of them in flight (the first build has several
# requests a model in flight at once, up to --max-in-flight, and no simple floor).
floor = f"{s['requests'] * latency / jobs:8.1f}" if run == "rerun" else f"{'-':>8}"
print(f"{n:<8} {run:<7} {wall:8.1f} {(user + sys_) * 1000 / n:10.2f} {rss_kb / 1024:9.0f} "
      f"{s['requests'] / n:10.2f} {s['bytes'] / n:12.0f} {floor}")
PY
  done
  kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true; hub_pid=
done
