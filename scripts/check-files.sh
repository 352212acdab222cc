#!/usr/bin/env bash
# Checks the repository's files that are not code, with checkers pinned in scripts/check-tools.txt
# and installed from PyPI into target/check-tools (reinstalled when the pins change):
#   - the GitHub workflows (actionlint, with shellcheck on their `run:` scripts);
#   - the shell scripts (shellcheck);
#   - the Kubernetes manifests (kubernetes-validate, strict, Kubernetes 1.33: the oldest release
#     the manifests need, where backoffLimitPerIndex is GA);
#   - db.json against its JSON Schema (check-jsonschema), and that the schema rejects a wrong schema
#     version and a wrongly typed field.
# scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/check-tools
if ! cmp -s scripts/check-tools.txt "$tools/check-tools.txt"; then
  rm -rf "$tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check -r scripts/check-tools.txt
  cp scripts/check-tools.txt "$tools/check-tools.txt"
fi
PATH="$PWD/$tools/bin:$PATH" actionlint
"$tools/bin/shellcheck" .ci/run scripts/*.sh
"$tools/bin/kubernetes-validate" --quiet --strict --kubernetes-version 1.33.0 deploy/*.yaml

schema=schema/db.schema.json
"$tools/bin/check-jsonschema" --schemafile "$schema" db.json
bad=$(mktemp -d)
trap 'rm -rf "$bad"' EXIT
python3 - "$bad" <<'PY'
import json, sys
db = json.load(open("db.json"))
json.dump(dict(db, schema=2), open(f"{sys.argv[1]}/wrong-version.json", "w"))
model = next(iter(db["models"]))
db["models"][model]["total"] = str(db["models"][model]["total"])
json.dump(db, open(f"{sys.argv[1]}/wrong-type.json", "w"))
PY
for f in "$bad"/wrong-version.json "$bad"/wrong-type.json; do
  if "$tools/bin/check-jsonschema" --schemafile "$schema" "$f" > /dev/null; then
    echo "$schema accepts $(basename "$f" .json), which it must reject" >&2
    exit 1
  fi
done
echo "db.json fits $schema; a wrong schema version and a wrongly typed field are rejected"
