#!/usr/bin/env bash
# Benchmarks `capcache build` on 200 models of mixed layouts (Hub metadata, single safetensors,
# 3 shards) served by the fixture hub on loopback with 20 ms added latency per request, beside
# Python huggingface_hub's get_safetensors_metadata looping over the same models against the same
# hub (HF_ENDPOINT), in one run. Reports wall time, requests and bytes, and the ratios.
#
#   scripts/bench-build.sh [MODELS] [LATENCY_MS]
# Needs python3 with pip (PyPI): huggingface_hub is installed into target/bench-venv.
set -euo pipefail
models=${1:-200}
latency=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
cleanup() { [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import huggingface_hub" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check huggingface_hub
fi
cargo build --release --quiet --bin capcache --example fixture_hub

./target/release/examples/fixture_hub --models "$models" --latency-ms "$latency" --list "$work/models.txt" > "$work/url" &
hub_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -1 "$work/url")
stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('$url/_fixture/stats'))))"; }
reset() { python3 -c "import urllib.request;urllib.request.urlopen('$url/_fixture/reset').read()"; }
now() { python3 -c "import time;print(time.time())"; }

reset
t0=$(now)
./target/release/capcache build --models "$work/models.txt" --db "$work/db.json" --sqlite "$work/c.sqlite" \
  --endpoint "$url" --jobs 16 --json > "$work/capcache.json" 2> "$work/capcache.err" || { cat "$work/capcache.err"; exit 1; }
t1=$(now)
cc=$(stats)

reset
t2=$(now)
./target/release/capcache build --models "$work/models.txt" --db "$work/db.json" --sqlite "$work/c.sqlite" \
  --endpoint "$url" --jobs 16 --json > "$work/capcache2.json" 2>/dev/null
t3=$(now)
cc2=$(stats)

reset
cat > "$work/hf.py" <<'PY'
import sys
from huggingface_hub import get_safetensors_metadata
ids = open(sys.argv[1]).read().split()
total = 0
for i in ids:
    total += sum(get_safetensors_metadata(i).parameter_count.values())
print(total)
PY
t4=$(now)
HF_ENDPOINT="$url" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=0 HF_HOME="$work/hf" "$venv/bin/python" "$work/hf.py" "$work/models.txt" > "$work/hf.out"
t5=$(now)
hf=$(stats)

python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$cc" "$cc2" "$hf" "$models" "$latency" <<'PY'
import json, sys
t = [float(x) for x in sys.argv[1:7]]
cc, cc2, hf = (json.loads(x) for x in sys.argv[7:10])
n, lat = sys.argv[10], sys.argv[11]
rows = [("capcache build (first run)", t[1] - t[0], cc), ("capcache build (nothing changed)", t[3] - t[2], cc2),
        ("huggingface_hub get_safetensors_metadata loop", t[5] - t[4], hf)]
print(f"{n} models, {lat} ms added latency per request, fixture hub on loopback")
print(f"{'':48} {'wall s':>8} {'requests':>9} {'bytes':>12}")
for name, secs, s in rows:
    print(f"{name:48} {secs:8.2f} {s['requests']:9d} {s['bytes']:12d}")
print(f"ratio huggingface_hub / capcache (first run): wall {rows[2][1] / rows[0][1]:.1f}x, "
      f"requests {hf['requests'] / cc['requests']:.2f}x, bytes {hf['bytes'] / max(cc['bytes'], 1):.2f}x")
PY
