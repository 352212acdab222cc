#!/usr/bin/env bash
# Measures what the HTTP protocol and the per-host limit do to `capcache build` on the shard-heavy
# set (the fixture hub's `safetensors` population, as scripts/bench-build.sh), at each latency
# given: HTTP/1.1 against HTTP/2 (h2c with prior knowledge), each with 16 and 32 requests in flight
# per host. The fixture hub speaks HTTP/1.1 only, so both protocols go through the same front
# (nghttpx, one for the API and one for the CDN, with HTTP/1.1 to the hub): the front is in every
# row, and the rows differ only in the protocol between capcache and the front and in
# --max-in-flight. A row without a front (HTTP/1.1 straight to the hub) is the reference.
# Reports the median wall time of RUNS builds from an empty store, capcache's CPU time, and the
# most requests the hub saw in flight.
#
#   scripts/bench-http.sh [MODELS] [RUNS] [LATENCY_MS...]     (default: 51 3 20 100)
# Needs nghttpx (Debian: apt-get install nghttp2-proxy; installed when missing and apt-get works)
# and tests/fixtures/downloaded (scripts/fetch-fixtures.sh). Builds release binaries.
set -euo pipefail
models=${1:-51}
runs=${2:-3}
shift $(($# < 2 ? $# : 2))
latencies=("$@")
[ ${#latencies[@]} -gt 0 ] || latencies=(20 100)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-fixtures.sh
command -v nghttpx >/dev/null || apt-get install -y nghttp2-proxy >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin capcache --example fixture_hub
bin=./target/release/capcache

free_port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
# front PORT BACKEND_PORT: nghttpx on PORT (HTTP/1.1 and h2c, no TLS) in front of BACKEND_PORT.
front() {
  nghttpx --conf=/dev/null --frontend="127.0.0.1,$1;no-tls" --backend="127.0.0.1,$2" --workers=1 \
    --backend-connections-per-host=256 --frontend-http2-max-concurrent-streams=256 \
    --no-via --no-server-rewrite --no-location-rewrite --no-ocsp \
    --errorlog-file="$work/front-$1.log" --log-level=WARN 2>> "$work/front-$1.log" &
  pids+=($!)
  for _ in $(seq 100); do python3 -c "import socket;socket.create_connection(('127.0.0.1',$1))" 2>/dev/null && return; sleep 0.1; done
  echo "nghttpx on $1 did not start"; cat "$work/front-$1.log"; exit 1
}

echo "capcache build of $models models (30-shard FP8 70B without and with API metadata, MiniLM), median of $runs"
printf '%-8s %-28s %9s %9s %10s %14s\n' latency "protocol, in flight" wall_s cpu_s requests "max in flight"
for latency in "${latencies[@]}"; do
  api_front=$(free_port) cdn_front=$(free_port)
  rm -f "$work/url" "$work/models.txt"
  ./target/release/examples/fixture_hub --population safetensors --models "$models" --latency-ms "$latency" \
    --cdn-url "http://127.0.0.1:$cdn_front" --list "$work/models.txt" > "$work/url" &
  pids+=($!)
  for _ in $(seq 300); do [ "$(wc -l < "$work/url")" -ge 2 ] && break; sleep 0.1; done
  hub=$(sed -n 1p "$work/url") cdn=$(sed -n 2p "$work/url")
  front "$api_front" "${hub##*:}"
  front "$cdn_front" "${cdn##*:}"
  stats() { python3 -c "import json,urllib.request;print(json.dumps(json.load(urllib.request.urlopen('$hub/_fixture/stats'))))"; }
  reset() { python3 -c "import urllib.request;urllib.request.urlopen('$hub/_fixture/reset').read()"; }
  for row in "HTTP/1.1, 16|16|" "HTTP/1.1, 32|32|" "HTTP/2 (h2c), 16|16|--http2-prior-knowledge" \
             "HTTP/2 (h2c), 32|32|--http2-prior-knowledge"; do
    IFS='|' read -r name n h2 <<< "$row"
    url=http://127.0.0.1:$api_front
    : > "$work/rows"
    for _ in $(seq "$runs"); do
      rm -f "$work/db.json" "$work/c.sqlite"*
      reset
      # shellcheck disable=SC2086
      /usr/bin/time -f '%e %U %S' -o "$work/time" "$bin" build --models "$work/models.txt" --db "$work/db.json" \
        --sqlite "$work/c.sqlite" --endpoint "$url" --max-in-flight "$n" $h2 --json > /dev/null 2> "$work/err" \
        || { echo "$name failed:"; tail "$work/err"; exit 1; }
      echo "$(cat "$work/time") $(stats)" >> "$work/rows"
    done
    python3 - "$work/rows" "$latency" "$name" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    wall, user, sys_, s = line.split(" ", 3)
    rows.append((float(wall), float(user) + float(sys_), json.loads(s)))
wall, cpu, s = sorted(rows, key=lambda r: r[0])[len(rows) // 2]
print(f"{sys.argv[2] + ' ms':<8} {sys.argv[3]:<28} {wall:9.2f} {cpu:9.2f} {s['requests']:10d} {s.get('max_in_flight', 0):14d}")
PY
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
done
