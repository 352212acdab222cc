#!/usr/bin/env python3
"""Makes the PyTorch and GGUF fixtures the pytorch and gguf strategies are tested on, with torch,
transformers and the gguf package (llama.cpp's writer), and records what those libraries report.

Usage (venv with torch, transformers, gguf):  python scripts/make-weight-fixtures.py
Writes tests/fixtures/pytorch/<case>/ and tests/fixtures/gguf/, each with an expected.json:
- pytorch: the state dict's elements per dtype with shared storages counted once (what torch
  reports), in safetensors dtype names.
- gguf: the elements and bytes per ggml type that gguf.GGUFReader reports for each file.
The OPT-125m case saves the real-shaped model (250 MB) and commits only its skeleton: the bytes up to
the end of data.pkl and from the central directory on; the fixture hub serves zeros between.
"""
import json, pathlib, shutil, struct, tempfile, warnings

warnings.filterwarnings("ignore")
import numpy as np
import torch
import transformers
import gguf

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures"
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
          torch.int32: "I32", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL", torch.float64: "F64"}


def counts(state_dict):
    seen, per = set(), {}
    for t in state_dict.values():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key in seen:
            continue
        seen.add(key)
        per[DTYPES[t.dtype]] = per.get(DTYPES[t.dtype], 0) + t.numel()
    return dict(sorted(per.items()))


def model(cls, **cfg):
    torch.manual_seed(0)
    config = getattr(transformers, cls.replace("ForCausalLM", "Config").replace("LMHeadModel", "Config"))(**cfg)
    return getattr(transformers, cls)(config), config


def write_case(name, m, config, dtype=None, shards=1, legacy=False):
    out = ROOT / "pytorch" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if dtype is not None:
        m = m.to(dtype)
    sd = m.state_dict()
    config.to_json_file(out / "config.json")
    if shards == 1:
        kw = {"_use_new_zipfile_serialization": False} if legacy else {}
        torch.save(sd, out / "pytorch_model.bin", **kw)
    else:
        keys = list(sd)
        per = -(-len(keys) // shards)
        weight_map = {}
        for i in range(shards):
            part = {k: sd[k] for k in keys[i * per:(i + 1) * per]}
            fname = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
            torch.save(part, out / fname)
            weight_map.update({k: fname for k in part})
        (out / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}, indent=1))
    (out / "expected.json").write_text(json.dumps({"parameters": counts(sd), "tensors": len(sd)}, indent=1) + "\n")


def opt_skeleton():
    out = ROOT / "pytorch" / "opt-125m-skeleton"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cfg_path = ROOT / "configs" / "facebook__opt-125m.json"
    config = transformers.OPTConfig.from_json_file(cfg_path)
    torch.manual_seed(0)
    m = transformers.OPTForCausalLM(config).to(torch.float16)
    sd = m.state_dict()
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "pytorch_model.bin"
        torch.save(sd, path)
        data = path.read_bytes()
    # End of data.pkl: the first local header's name, then the pickle up to STOP.
    name_len, extra_len = struct.unpack("<HH", data[26:30])
    start = 30 + name_len + extra_len
    stop = data.index(b".", start)  # protocol-2 pickles end at the first STOP after their content
    pkl_end = start
    while True:
        pkl_end = data.index(b"\x2e", pkl_end) + 1
        if data[pkl_end:pkl_end + 4] == b"PK\x07\x08" or data[pkl_end:pkl_end + 4] == b"PK\x03\x04":
            break
    head = data[:pkl_end + 4096]
    eocd = data.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack("<I", data[eocd + 16:eocd + 20])[0]
    if cd_offset == 0xFFFFFFFF:
        loc = data.rindex(b"PK\x06\x07")
        z64 = struct.unpack("<Q", data[loc + 8:loc + 16])[0]
        cd_offset = struct.unpack("<Q", data[z64 + 48:z64 + 56])[0]
    tail_offset = cd_offset
    (out / "head.bin").write_bytes(head)
    (out / "tail.bin").write_bytes(data[tail_offset:])
    (out / "layout.json").write_text(json.dumps({"file": "pytorch_model.bin", "len": len(data), "tail_offset": tail_offset}) + "\n")
    shutil.copy(cfg_path, out / "config.json")
    (out / "expected.json").write_text(json.dumps({"parameters": counts(sd), "tensors": len(sd)}, indent=1) + "\n")
    del stop


def gguf_files():
    out = ROOT / "gguf"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Q = gguf.GGMLQuantizationType

    def add_all(w):
        w.add_name("tiny")
        w.add_context_length(2048)
        w.add_embedding_length(256)
        w.add_block_count(2)
        w.add_head_count(4)
        w.add_head_count_kv(2)
        w.add_token_list([f"tok{i}" for i in range(20000)])  # a large array the reader must skip
        w.add_tensor("token_embd.weight", rng.standard_normal((1000, 256), dtype=np.float32).astype(np.float16))
        for b in range(2):
            x = rng.standard_normal((256, 256), dtype=np.float32)
            w.add_tensor(f"blk.{b}.attn_q.weight", gguf.quants.quantize(x, Q.Q8_0), raw_dtype=Q.Q8_0)
            w.add_tensor(f"blk.{b}.attn_k.weight", gguf.quants.quantize(x, Q.Q4_0), raw_dtype=Q.Q4_0)
            # K-quant layout written as raw blocks (the writer needs no quantizer for it)
            w.add_tensor(f"blk.{b}.ffn_up.weight", np.zeros((512, 144), dtype=np.uint8), raw_dtype=Q.Q4_K)
            w.add_tensor(f"blk.{b}.attn_norm.weight", np.ones(256, dtype=np.float32))
        w.add_tensor("output_norm.weight", np.ones(256, dtype=np.float32))

    for name, kw in [("tiny-q8_0.gguf", {}), ("tiny-split.gguf", {"split_max_tensors": 5})]:
        w = gguf.GGUFWriter(out / name, "llama", **kw)
        add_all(w)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    expected = {}
    for f in sorted(out.glob("*.gguf")):
        r = gguf.GGUFReader(f)
        per, nbytes = {}, {}
        for t in r.tensors:
            k = t.tensor_type.name
            per[k] = per.get(k, 0) + int(t.n_elements)
            nbytes[k] = nbytes.get(k, 0) + int(t.n_bytes)
        expected[f.name] = {"parameters": dict(sorted(per.items())), "bytes": dict(sorted(nbytes.items())), "tensors": len(r.tensors)}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def main():
    m, c = model("GPT2LMHeadModel", n_embd=64, n_layer=2, n_head=4, vocab_size=500, n_positions=128)
    write_case("gpt2-tied", m, c)
    m, c = model("LlamaForCausalLM", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=500)
    write_case("llama-bf16", m, c, dtype=torch.bfloat16)
    m, c = model("LlamaForCausalLM", hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, vocab_size=300)
    write_case("llama-sharded", m, c, shards=3)
    m, c = model("LlamaForCausalLM", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=100)
    write_case("llama-legacy", m, c, legacy=True)
    opt_skeleton()
    gguf_files()
    print("done")


if __name__ == "__main__":
    main()
