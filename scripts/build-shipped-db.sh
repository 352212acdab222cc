#!/usr/bin/env bash
# Rebuilds the db.json shipped in this repository (and compiled into the binary) from what can be
# reached without the Hub: a local mirror made of the real config.json files under
# tests/fixtures/configs/ and the real all-MiniLM-L6-v2 checkpoint (scripts/fetch-fixtures.sh).
# Those entries say how they were made: `config` (estimate) for config-only models, `safetensors`
# (exact) for MiniLM. On a machine that reaches the Hub, scripts/refresh-db.sh replaces this with
# exact records for the whole models.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-fixtures.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mirror="$work/mirror"
list="$work/models.txt"
for f in tests/fixtures/configs/*.json; do
  id=$(basename "$f" .json | sed 's/__/\//')
  mkdir -p "$mirror/$id"
  cp "$f" "$mirror/$id/config.json"
  echo "$id" >> "$list"
done
mkdir -p "$mirror/sentence-transformers"
cp -r tests/fixtures/downloaded/all-MiniLM-L6-v2 "$mirror/sentence-transformers/all-MiniLM-L6-v2"
echo "sentence-transformers/all-MiniLM-L6-v2" >> "$list"
cargo build --release --quiet
# --now keeps the stamps stable: a rebuild of unchanged inputs is byte-identical.
./target/release/capcache build --models "$list" --source "$mirror" --sqlite "$work/capcache.sqlite" \
  --db db.json --refresh --now 2026-11-26T00:00:00Z "$@"
