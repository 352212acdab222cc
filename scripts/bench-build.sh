#!/usr/bin/env bash
# Benchmarks capcache against the Python tools people use today, on the same fixture hub (loopback,
# 20 ms added latency per request), in one run:
#   1. one model: `capcache resolve` of Llama-3.3-70B FP8 in 30 shards without API metadata, beside
#      huggingface_hub's get_safetensors_metadata on the same model;
#   2. MODELS safetensors models (the 30-shard FP8 70B with and without API metadata, and the real
#      all-MiniLM-L6-v2, in turn): `capcache build` at its defaults, beside a loop of
#      get_safetensors_metadata and a loop of hf-mem (PyPI; it only speaks to huggingface.co, so its
#      requests are pointed at the fixture hub by an httpx hook).
# Reports wall time, requests and bytes, and the ratios per model. The most requests the hub saw in
# flight at once is printed too (capcache's per-host limit is --max-in-flight, 32 by default).
#
#   scripts/bench-build.sh [MODELS] [LATENCY_MS] [RUNS]     (default: 51 20 3; the median of RUNS is reported)
# Needs python3 with pip (PyPI): huggingface_hub and hf-mem go into target/bench-venv. Builds release
# binaries (about 11 minutes here the first time). Needs tests/fixtures/downloaded (scripts/fetch-fixtures.sh).
set -euo pipefail
models=${1:-51}
latency=${2:-20}
runs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-fixtures.sh
work=$(mktemp -d)
cleanup() { [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import huggingface_hub, hf_mem" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check huggingface_hub hf-mem==0.5.6
fi
cargo build --release --quiet --bin capcache --example fixture_hub

./target/release/examples/fixture_hub --population safetensors --models "$models" --latency-ms "$latency" \
  --list "$work/models.txt" > "$work/url" &
hub_pid=$!
for _ in $(seq 300); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -1 "$work/url")
stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('$url/_fixture/stats'))))"; }
reset() { python3 -c "import urllib.request;urllib.request.urlopen('$url/_fixture/reset').read()"; }
now() { python3 -c "import time;print(time.time())"; }
one=$(head -1 "$work/models.txt")   # model 0: the 30-shard FP8 70B without API metadata

cat > "$work/hf.py" <<'PY'
import sys
from huggingface_hub import get_safetensors_metadata
for i in open(sys.argv[1]).read().split():
    sum(get_safetensors_metadata(i).parameter_count.values())
PY
cat > "$work/hfmem.py" <<'PY'
import sys, urllib.parse
import httpx2
import importlib
# The module, not the function of the same name that hf_mem's __init__ puts over it.
hf_mem_run = importlib.import_module("hf_mem.run")
target = urllib.parse.urlsplit(sys.argv[2])
class Pointed(httpx2.AsyncClient):
    """hf-mem's client, with every request to huggingface.co sent to the fixture hub instead."""
    def __init__(self, *a, **k):
        async def hook(request):
            if request.url.host == "huggingface.co":
                request.url = request.url.copy_with(scheme="http", host=target.hostname, port=target.port)
        k["http2"] = False
        k["event_hooks"] = {"request": [hook]}
        super().__init__(*a, **k)
hf_mem_run.httpx2.AsyncClient = Pointed
for i in open(sys.argv[1]).read().split():
    hf_mem_run.run(model_id=i)
PY
echo "$one" > "$work/one.txt"
pyenv=(env HF_ENDPOINT="$url" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=0 HF_HOME="$work/hf")

measure() { # name, command...; RUNS times, each from an empty store (the report takes the median)
  local name=$1; shift
  for _ in $(seq "$runs"); do
    rm -f "$work/db.json" "$work/c.sqlite"
    reset
    local t0; t0=$(now)
    "$@" > "$work/out" 2> "$work/err" || { echo "$name failed:"; tail "$work/err"; exit 1; }
    local t1; t1=$(now)
    echo "$name|$t0|$t1|$(stats)" >> "$work/rows"
  done
}
: > "$work/rows"
measure "resolve 1: capcache" ./target/release/capcache resolve "$one" --endpoint "$url" --json
measure "resolve 1: huggingface_hub" "${pyenv[@]}" "$venv/bin/python" "$work/hf.py" "$work/one.txt"
measure "build $models: capcache" ./target/release/capcache build --models "$work/models.txt" --db "$work/db.json" \
  --sqlite "$work/c.sqlite" --endpoint "$url" --json
measure "build $models: huggingface_hub loop" "${pyenv[@]}" "$venv/bin/python" "$work/hf.py" "$work/models.txt"
measure "build $models: hf-mem loop" "${pyenv[@]}" "$venv/bin/python" "$work/hfmem.py" "$work/models.txt" "$url"

python3 - "$work/rows" "$models" "$latency" "$runs" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    name, t0, t1, s = line.rstrip("\n").split("|", 3)
    runs.setdefault(name, []).append((name, float(t1) - float(t0), json.loads(s)))
# Each command's median run by wall time (with that run's requests and bytes).
rows = [sorted(r, key=lambda x: x[1])[len(r) // 2] for r in runs.values()]
n, lat, k = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"fixture hub on loopback, {lat} ms added latency per request; {n} models = 30-shard FP8 70B without and with API metadata, MiniLM, in turn; median of {k} runs")
print(f"{'':40} {'wall s':>8} {'requests':>9} {'bytes':>12} {'max in flight':>14}")
for name, secs, s in rows:
    print(f"{name:40} {secs:8.2f} {s['requests']:9d} {s['bytes']:12d} {s.get('max_in_flight', 0):14d}")
by = {r[0]: r for r in rows}
def ratio(a, b):
    ra, rb = by[a], by[b]
    return f"wall {ra[1] / rb[1]:.1f}x, bytes {ra[2]['bytes'] / max(rb[2]['bytes'], 1):.1f}x"
print(f"resolve, huggingface_hub / capcache: {ratio('resolve 1: huggingface_hub', 'resolve 1: capcache')}")
print(f"build, huggingface_hub loop / capcache: {ratio(f'build {n}: huggingface_hub loop', f'build {n}: capcache')}")
print(f"build, hf-mem loop / capcache: {ratio(f'build {n}: hf-mem loop', f'build {n}: capcache')}")
PY
