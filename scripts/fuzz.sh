#!/usr/bin/env bash
# Fuzzes the four parsers (safetensors headers, pickles, GGUF headers, zip records), the config
# path (arbitrary JSON into the config strategy) and the store reader (a db.json walked and checked) for SECONDS each (default 300), seeded with the
# committed fixtures (the config target also with a dictionary of the keys and values they use) and
# the reference corpus of tests/fixtures/reference/ (read in place as a second seed folder).
# cargo-fuzz needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1 enables them. Install
# with `cargo install cargo-fuzz`. Usage: scripts/fuzz.sh [SECONDS] [TARGET...] (default: all six).
set -euo pipefail
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors_header pickle gguf_header zip_records config store_reader)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
seed() { mkdir -p "corpus/$1"; cp "${@:2}" "corpus/$1/" 2>/dev/null || true; }
seed safetensors_header "$root"/tests/fixtures/pytorch/llama-bf16/config.json
python3 - "$root" <<'PY'
import pathlib, sys, struct, json
root = pathlib.Path(sys.argv[1]); fuzz = root / "fuzz" / "corpus"
hdr = json.dumps({"a": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}, "__metadata__": {"format": "pt"}}).encode()
(fuzz / "safetensors_header" / "seed.safetensors").write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 12)
(fuzz / "pickle").mkdir(parents=True, exist_ok=True)
for case in ["llama-bf16", "gpt2-tied", "llama-legacy"]:
    b = (root / "tests/fixtures/pytorch" / case / "pytorch_model.bin").read_bytes()
    if b.startswith(b"PK\x03\x04"):
        n, e = struct.unpack("<HH", b[26:30]); start = 30 + n + e
        b = b[start:start + 200_000]
    (fuzz / "pickle" / f"{case}.pkl").write_bytes(b[:200_000])
(fuzz / "gguf_header").mkdir(parents=True, exist_ok=True)
(fuzz / "gguf_header" / "tiny.gguf").write_bytes((root / "tests/fixtures/gguf/tiny-q8_0.gguf").read_bytes()[:400_000])
(fuzz / "zip_records").mkdir(parents=True, exist_ok=True)
b = (root / "tests/fixtures/pytorch/llama-legacy/pytorch_model.bin").read_bytes()
(fuzz / "zip_records" / "tail.bin").write_bytes((root / "tests/fixtures/pytorch/opt-125m-skeleton/tail.bin").read_bytes()[-4096:])
(fuzz / "zip_records" / "head.bin").write_bytes((root / "tests/fixtures/pytorch/llama-bf16/pytorch_model.bin").read_bytes()[:4096])
(fuzz / "config").mkdir(parents=True, exist_ok=True)
words = {"null", "true", "false", "-1", "0", "1e15", "4096.5", "[]", "{}"}
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            words.add(json.dumps(k)); walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
    elif isinstance(v, str) and len(v) < 40:
        words.add(json.dumps(v))
for sub in ["configs", "written"]:
    for f in sorted((root / "tests/fixtures" / sub).glob("*.json")):
        if f.name.startswith("expected_"):
            continue
        (fuzz / "config" / f"{sub}-{f.name}").write_bytes(f.read_bytes())
        walk(json.loads(f.read_text()))
(fuzz / "store_reader").mkdir(parents=True, exist_ok=True)
(fuzz / "store_reader" / "db.json").write_bytes((root / "db.json").read_bytes())
(fuzz / "store_reader" / "dup.json").write_text('{"schema": 1, "models": {"a/b": {"total": 1, "total": 2}, "A/B": {}}, "failures": {"c/d": {"outcome": "new-name", "message": "m", "at": "2026-11-26T03:00:00+02:00"}}}')
(fuzz / "config.dict").write_text("".join(json.dumps(w) + "\n" for w in sorted(words)))
PY
for target in "${targets[@]}"; do
  echo "== $target: ${secs}s"
  dict=()
  [ "$target" = config ] && dict=(-dict=corpus/config.dict)
  seeds=()
  case "$target" in
    safetensors_header) seeds=("$root/tests/fixtures/reference/safetensors") ;;
    gguf_header) seeds=("$root/tests/fixtures/reference/gguf") ;;
    pickle | zip_records) seeds=("$root/tests/fixtures/reference/pytorch") ;;
  esac
  cargo fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    "${dict[@]}" 2>&1 | grep -E "^(Done|#[0-9]+ *DONE)|ERROR|SUMMARY|crash-|panicked" || true
done
