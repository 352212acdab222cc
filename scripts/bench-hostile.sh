#!/usr/bin/env bash
# The hostile build, measured: `capcache build --jobs 8` of 200 healthy models (5 ms added latency
# per request) beside the hostile corpus (tests/support/hostile.rs), served by the fixture hub on
# loopback, under a 4 GiB address-space limit, once at the limits the test uses and once at the
# defaults. Prints wall time, peak RSS, requests, bytes read and how many hostile models failed.
#
#   scripts/bench-hostile.sh
# Builds release binaries (about 11 minutes here the first time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
cleanup() { [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin capcache --example fixture_hub

./target/release/examples/fixture_hub --models 200 --latency-ms 5 --hostile --list "$work/models.txt" > "$work/url" &
hub_pid=$!
for _ in $(seq 600); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -1 "$work/url")
stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('$url/_fixture/stats'))))"; }
reset() { python3 -c "import urllib.request;urllib.request.urlopen('$url/_fixture/reset').read()"; }
hostile=$(grep -c '^hostile/' "$work/models.txt")

printf '%s\n' "capcache build --jobs 8: 200 healthy models and $hostile hostile ones, ulimit -v 4194304"
printf '%-44s %8s %8s %9s %10s %14s\n' limits wall_s rss_MB requests bytes_MB hostile_failed
for limits in "--model-timeout 10s --max-model-bytes 64MiB" "(defaults)"; do
  rm -f "$work"/db.json "$work"/c.sqlite*
  reset
  args=()
  [ "$limits" = "(defaults)" ] || read -ra args <<< "$limits"
  status=0
  (ulimit -v 4194304; /usr/bin/time -f '%e %M' -o "$work/time" ./target/release/capcache build \
    --models "$work/models.txt" --db "$work/db.json" --sqlite "$work/c.sqlite" --endpoint "$url" --jobs 8 \
    "${args[@]}" > /dev/null 2> "$work/err") || status=$?
  if [ "$status" -ne 1 ]; then
    echo "build exited $status (expected 1: the hostile models fail):"; tail "$work/err"; exit 1
  fi
  python3 - "$limits" "$(tail -1 "$work/time")" "$(stats)" "$work/db.json" "$hostile" <<'PY'
import json, sys
limits, (wall, rss), s, db, hostile = sys.argv[1], sys.argv[2].split(), json.loads(sys.argv[3]), json.load(open(sys.argv[4])), sys.argv[5]
failed = sum(1 for i in db["failures"] if i.startswith("hostile/"))
healthy_exact = sum(1 for i, r in db["models"].items() if not i.startswith("hostile/") and r.get("exact"))
print(f"{limits:44} {float(wall):8.1f} {int(rss) / 1024:8.0f} {s['requests']:9d} {s['bytes'] / 1e6:10.0f} {failed:>8} of {hostile}"
      f"  ({healthy_exact} healthy exact)")
PY
done
