#!/usr/bin/env bash
# The config strategy's speed beside transformers' meta-device instantiation, on the same configs
# (every fixture config), in one run. Target: >= 100,000 configs/s on one core.
#
#   PYTHON=/path/to/venv/bin/python scripts/bench-config.sh
# PYTHON needs torch + transformers + accelerate; without it, target/bench-venv gets them from PyPI
# (a few GB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=${PYTHON:-target/bench-venv/bin/python}
if ! "$py" -c "import torch, transformers, accelerate" 2>/dev/null; then
  python3 -m venv target/bench-venv
  target/bench-venv/bin/pip install --quiet --disable-pip-version-check torch transformers accelerate
  py=target/bench-venv/bin/python
fi
rust=$(taskset -c 0 cargo bench --quiet --bench config_count -- 3 2>/dev/null | tail -1)
python=$(taskset -c 0 "$py" - tests/fixtures/configs/*.json tests/fixtures/written/*.json <<'PY' 2>/dev/null | tail -1
import json, sys, time, tempfile, pathlib, warnings
warnings.filterwarnings("ignore")
import torch, transformers
from transformers import AutoConfig
sys.path.insert(0, "scripts")
from transformers_count import build
torch.set_num_threads(1)
files = [f for f in sys.argv[1:] if not pathlib.Path(f).name.startswith("expected_")]
configs = []
for f in files:
    with tempfile.TemporaryDirectory() as d:
        (pathlib.Path(d) / "config.json").write_text(pathlib.Path(f).read_text())
        configs.append(AutoConfig.from_pretrained(d))
start = time.time()
for cfg in configs:
    with torch.device("meta"):
        m = build(cfg)
    sum(p.numel() for p in m.parameters())
secs = time.time() - start
print(json.dumps({"configs": len(configs), "per_sec": len(configs) / secs}))
PY
)
python3 - "$rust" "$python" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{r['configs']} configs, one core")
print(f"  capcache count (parsed config)        {r['count_per_sec']:>14,.0f} configs/s")
print(f"  capcache parse + count (from bytes)   {r['parse_and_count_per_sec']:>14,.0f} configs/s")
print(f"  transformers meta-device + numel      {p['per_sec']:>14,.1f} configs/s")
print(f"  ratio capcache / transformers: {r['count_per_sec'] / p['per_sec']:,.0f}x (parse + count: {r['parse_and_count_per_sec'] / p['per_sec']:,.0f}x)")
PY
