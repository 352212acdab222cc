#!/usr/bin/env bash
# The nightly refresh of db.json from the Hugging Face Hub. One entry point for a single machine
# (cron), the GitHub Actions workflow (.github/workflows/refresh.yml) and the Kubernetes CronJobs
# (deploy/):
#
#   scripts/refresh-db.sh [all] [BUILD ARGS...]   the whole list here: $STATE_DIR/capcache.sqlite -> $DB
#   scripts/refresh-db.sh shard K/N [BUILD ARGS...]
#                                                 shard K of N: $STATE_DIR/shard-K-of-N.sqlite ->
#                                                 $OUT_DIR/shard-K-of-N.json (+ .summary.json)
#   scripts/refresh-db.sh merge N                 the N shard outputs in $OUT_DIR -> $DB
#   scripts/refresh-db.sh --help                  this text
#
# Settings (environment), defaults in brackets:
#   CAPCACHE   the capcache binary [this checkout's target/release/capcache, built with cargo when
#              missing or out of date]
#   MODELS     the model list, ids and `discover:` lines [models.txt]
#   DB         the published db.json: written by `all` and `merge`; the seed of every build [db.json]
#   SEED       the db.json a fresh store starts from (records of its shard it lacks) [$DB when it
#              exists, else $SEED_FALLBACK, e.g. the db.json shipped in the image]
#   STATE_DIR  the SQLite working stores. Local disk only: SQLite's WAL is not safe on network
#              filesystems [.]
#   OUT_DIR    shard outputs, written by `shard` and read by `merge`; may be shared storage [shards]
#   JOBS       models resolved in parallel [8]
#   STRICT     1: exit 1 when some models failed (default: 0, they are recorded in db.json's
#              `failures` and the summary, and earlier good records are kept)
#   HF_TOKEN   the Hub token, read by capcache itself; never printed
#
# Exit codes: 0 done; 1 some models failed and STRICT=1; 2 unusable input or missing shard outputs;
# others: capcache's or cargo's own.
#
# - A model whose commit is unchanged costs nothing when a `discover:` line listed it (the
#   listing gives the commit), one HEAD request otherwise. A killed run resumes from its store.
# - db.json is rewritten atomically, and only when something changed upstream, so committing it
#   shows real changes only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
MODELS=${MODELS:-models.txt}
DB=${DB:-db.json}
STATE_DIR=${STATE_DIR:-.}
OUT_DIR=${OUT_DIR:-shards}
JOBS=${JOBS:-8}
STRICT=${STRICT:-0}

die() {
  echo "refresh-db: $*" >&2
  exit 2
}

capcache_bin() {
  if [[ -n ${CAPCACHE:-} ]]; then
    [[ -x $CAPCACHE ]] || die "CAPCACHE=$CAPCACHE is not an executable"
    printf '%s\n' "$CAPCACHE"
    return
  fi
  [[ -f $root/Cargo.toml ]] || die "no capcache binary: set CAPCACHE"
  # A no-op when the binary is up to date.
  cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" >&2
  printf '%s\n' "$root/target/release/capcache"
}

# The seed of a fresh store: $SEED, else $DB if it exists, else $SEED_FALLBACK if it exists.
seed_args() {
  local seed=${SEED:-$DB}
  if [[ ! -f $seed && -n ${SEED_FALLBACK:-} && -f $SEED_FALLBACK ]]; then
    seed=$SEED_FALLBACK
  fi
  if [[ -f $seed ]]; then
    # The seed is this nightly's own published db: its records count as checked.
    printf '%s\n' --seed "$seed" --trust-seed
  fi
}

# Runs `capcache build --json` with the given arguments; the summary goes to $1 and stdout.
build() {
  local summary=$1 rc=0 bin
  shift
  bin=$(capcache_bin)
  mkdir -p "$(dirname "$summary")"
  "$bin" build --models "$MODELS" --jobs "$JOBS" --json "$@" >"$summary.tmp" || rc=$?
  mv "$summary.tmp" "$summary"
  cat "$summary"
  case $rc in
    0) ;;
    1)
      echo "refresh-db: some models failed; they are under \"failures\" in the output and $summary" >&2
      if [[ $STRICT == 1 ]]; then exit 1; fi
      ;;
    *) exit "$rc" ;;
  esac
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  # The header above, without its comment marks.
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi

mode=all
if [[ $# -gt 0 && $1 != -* ]]; then
  mode=$1
  shift
fi
mkdir -p "$STATE_DIR"
mapfile -t seed < <(seed_args)

case $mode in
  all)
    build "$STATE_DIR/summary.json" --sqlite "$STATE_DIR/capcache.sqlite" --db "$DB" "${seed[@]}" "$@"
    ;;
  shard)
    [[ $# -ge 1 && $1 =~ ^([0-9]+)/([0-9]+)$ ]] || die "usage: refresh-db.sh shard K/N [BUILD ARGS...]"
    k=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]}
    shift
    ((k >= 1 && k <= n)) || die "shard $k/$n: K must be between 1 and N"
    name="shard-$k-of-$n"
    mkdir -p "$OUT_DIR"
    build "$OUT_DIR/$name.summary.json" --shard "$k/$n" --sqlite "$STATE_DIR/$name.sqlite" \
      --db "$OUT_DIR/$name.json" "${seed[@]}" "$@"
    ;;
  merge)
    [[ $# -eq 1 && $1 =~ ^[0-9]+$ && $1 -ge 1 ]] || die "usage: refresh-db.sh merge N"
    n=$1
    inputs=()
    missing=()
    for ((k = 1; k <= n; k++)); do
      f="$OUT_DIR/shard-$k-of-$n.json"
      if [[ -f $f ]]; then inputs+=("$f"); else missing+=("$f"); fi
    done
    # A shard without output would drop its models from db.json: refuse.
    ((${#missing[@]} == 0)) || die "missing shard outputs: ${missing[*]}"
    "$(capcache_bin)" merge "${inputs[@]}" --db "$DB"
    ;;
  *)
    die "unknown mode $mode: expected all, shard K/N or merge N"
    ;;
esac
