#!/usr/bin/env bash
# The nightly job: refresh db.json from the Hugging Face Hub for every model in models.txt.
#
#   HF_TOKEN=hf_... scripts/refresh-db.sh            # from cron, e.g. `0 3 * * *`
#
# - Models whose commit is unchanged since their record cost one HEAD request each (resolver bucket).
# - capcache.sqlite (kept between runs, next to db.json) is the working store: a killed run
#   resumes where it stopped. A second concurrent run is refused.
# - db.json is rewritten atomically, and only when something changed upstream, so committing it
#   shows real changes only. Exit 0: all resolved; 1: some failed (the rest written, earlier good
#   records kept); 2: unusable input.
# - Sharded across N machines: run with `--shard K/N --sqlite shard-K.sqlite`, then
#   `capcache merge shard-*.sqlite --db db.json`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet
exec ./target/release/capcache build --models models.txt --db db.json --sqlite capcache.sqlite --jobs 8 "$@"
