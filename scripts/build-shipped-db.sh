#!/usr/bin/env bash
# Rebuilds the db.json shipped in this repository (and compiled into the binary) from what can be
# reached without the Hub: a local mirror made of the config.json copies listed in
# data/configs/SOURCES.tsv (each with where it was copied from and its sha256; tests/shipped_sources.rs
# checks the list against the files) and the real all-MiniLM-L6-v2 checkpoint
# (scripts/fetch-fixtures.sh). Those entries say how they were made: `config` (estimate) for
# config-only models, `safetensors` (exact) for MiniLM, all with `source: local`. On a machine that
# reaches the Hub, scripts/refresh-db.sh replaces this with exact records for the whole models.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-fixtures.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mirror="$work/mirror"
list="$work/models.txt"
# The mirror is in the Hugging Face cache layout, each model's snapshot named by a hash of its
# files' names and bytes: the records' revisions depend on the content only, so a rebuild of
# unchanged inputs is byte-identical.
add() { # id, then the files of its snapshot
  local id=$1; shift
  local stage="$work/stage"
  rm -rf "$stage"; mkdir -p "$stage"
  cp -r "$@" "$stage/"
  local sha
  sha=$(cd "$stage" && find . -type f | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-40)
  local model="$mirror/models--${id/\//--}"
  mkdir -p "$model/refs" "$model/snapshots"
  printf '%s' "$sha" > "$model/refs/main"
  mv "$stage" "$model/snapshots/$sha"
  echo "$id" >> "$list"
}
# One line a copy: file, hub_id, then its provenance (see the header line of the manifest).
while IFS=$'\t' read -r file id _; do
  cp "$file" "$work/config.json"
  add "$id" "$work/config.json"
done < <(tail -n +2 data/configs/SOURCES.tsv)
add sentence-transformers/all-MiniLM-L6-v2 tests/fixtures/downloaded/all-MiniLM-L6-v2/.
# CAPCACHE: the binary to build with [this checkout's release build]; any build of this checkout
# writes the same bytes.
if [ -z "${CAPCACHE:-}" ]; then
  cargo build --release --quiet
  CAPCACHE=./target/release/capcache
fi
# --now keeps the stamps stable: a rebuild of unchanged inputs is byte-identical.
"$CAPCACHE" build --models "$list" --source "$mirror" --sqlite "$work/capcache.sqlite" \
  --db db.json --refresh --now 2026-11-26T00:00:00Z "$@"
