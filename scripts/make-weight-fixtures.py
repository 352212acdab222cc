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

    python scripts/make-weight-fixtures.py --packed
writes only tests/fixtures/packed/<case>/: a config.json and a model.safetensors crafted in each
quantized layout the formats write (GPTQ and AWQ at 2 to 8 bits, compressed-tensors pack-quantized,
NVFP4, float- / int-quantized and block scales, block FP8, MXFP4, bitsandbytes 4- and 8-bit, MLX),
plus a tied head stored, buffers stored, and MoE checkpoints (per-expert and fused 3-D experts),
each with an expected.json: `total` (every stored element), `parameters` per dtype, and
`logical` / `active`: transformers' own count of the unquantized model (scripts/transformers_count.py
on the config without its quantization), which the record's `logical_parameters` /
`active_parameters` must equal. The tensors hold zeros: only the headers are read.
"""
import argparse, json, pathlib, shutil, struct, subprocess, sys, tempfile, warnings

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


# ---- crafted quantized checkpoints ----------------------------------------------------------

BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U32": 4, "U8": 1, "I8": 1, "F8_E4M3": 1, "BOOL": 1}


def write_safetensors(path, tensors):
    """A safetensors file of zeros: `tensors` is a list of (name, dtype, shape)."""
    header, offset = {}, 0
    for name, dtype, shape in tensors:
        n = BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(b"\0" * offset)


H, I, L, HEADS, KV, VOCAB = 64, 128, 2, 4, 2, 128
HD = H // HEADS
LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": I,
         "num_hidden_layers": L, "num_attention_heads": HEADS, "num_key_value_heads": KV, "vocab_size": VOCAB,
         "max_position_embeddings": 256, "tie_word_embeddings": False, "torch_dtype": "float16"}


def llama_linears():
    """(prefix, out, in) of every linear layer of the tiny llama."""
    out = []
    for i in range(L):
        p = f"model.layers.{i}"
        out += [(f"{p}.self_attn.q_proj", HEADS * HD, H), (f"{p}.self_attn.k_proj", KV * HD, H),
                (f"{p}.self_attn.v_proj", KV * HD, H), (f"{p}.self_attn.o_proj", H, HEADS * HD),
                (f"{p}.mlp.gate_proj", I, H), (f"{p}.mlp.up_proj", I, H), (f"{p}.mlp.down_proj", H, I)]
    return out


def llama_rest(dtype="F16", head=True, embed=True):
    t = [(f"model.layers.{i}.{n}.weight", dtype, [H]) for i in range(L) for n in ("input_layernorm", "post_attention_layernorm")]
    t.append(("model.norm.weight", dtype, [H]))
    if embed:
        t.append(("model.embed_tokens.weight", dtype, [VOCAB, H]))
    if head:
        t.append(("lm_head.weight", dtype, [VOCAB, H]))
    return t


def gptq(prefix, out, inp, bits, group=32):
    return [(f"{prefix}.qweight", "I32", [inp * bits // 32, out]), (f"{prefix}.qzeros", "I32", [inp // group, out * bits // 32]),
            (f"{prefix}.scales", "F16", [inp // group, out]), (f"{prefix}.g_idx", "I32", [inp])]


def awq(prefix, out, inp, bits, group=32):
    return [(f"{prefix}.qweight", "I32", [inp, out * bits // 32]), (f"{prefix}.qzeros", "I32", [inp // group, out * bits // 32]),
            (f"{prefix}.scales", "F16", [inp // group, out])]


def ct_packed(prefix, out, inp, bits, group=32):
    return [(f"{prefix}.weight_packed", "I32", [out, inp * bits // 32]), (f"{prefix}.weight_scale", "F16", [out, inp // group]),
            (f"{prefix}.weight_shape", "I64", [2])]


def nvfp4(prefix, out, inp):
    return [(f"{prefix}.weight_packed", "U8", [out, inp // 2]), (f"{prefix}.weight_scale", "F8_E4M3", [out, inp // 16]),
            (f"{prefix}.weight_global_scale", "F32", [1]), (f"{prefix}.input_global_scale", "F32", [1])]


def fp8_channel(prefix, out, inp):
    return [(f"{prefix}.weight", "F8_E4M3", [out, inp]), (f"{prefix}.weight_scale", "F16", [out, 1])]


def int8_channel(prefix, out, inp):
    return [(f"{prefix}.weight", "I8", [out, inp]), (f"{prefix}.weight_scale", "F16", [out, 1])]


def fp8_block(prefix, out, inp, scale_name="weight_scale_inv", scale_dtype="F32", block=32):
    return [(f"{prefix}.weight", "F8_E4M3", [out, inp]), (f"{prefix}.{scale_name}", scale_dtype, [-(-out // block), -(-inp // block)])]


def bnb4(prefix, out, inp):
    """Double quantization: absmax itself quantized to U8, with its own absmax and code."""
    n = out * inp
    return [(f"{prefix}.weight", "U8", [n // 2, 1]), (f"{prefix}.weight.absmax", "U8", [n // 64]),
            (f"{prefix}.weight.quant_map", "F32", [16]), (f"{prefix}.weight.nested_absmax", "F32", [-(-(n // 64) // 256)]),
            (f"{prefix}.weight.nested_quant_map", "F32", [256]), (f"{prefix}.weight.quant_state.bitsandbytes__nf4", "U8", [90])]


def bnb8(prefix, out, inp):
    return [(f"{prefix}.weight", "I8", [out, inp]), (f"{prefix}.SCB", "F32", [out]), (f"{prefix}.weight_format", "U8", [])]


def mlx(prefix, out, inp, bits, group=64):
    return [(f"{prefix}.weight", "U32", [out, inp * bits // 32]), (f"{prefix}.scales", "F16", [out, inp // group]),
            (f"{prefix}.biases", "F16", [out, inp // group])]


def quantized_llama(layout, qcfg, **kw):
    tensors = [t for prefix, o, i in llama_linears() for t in layout(prefix, o, i, **kw)] + llama_rest()
    return dict(LLAMA, quantization_config=qcfg), tensors


def cases():
    c = {}
    for bits in (2, 3, 4, 5, 6, 8):
        c[f"gptq-{bits}bit"] = quantized_llama(gptq, {"quant_method": "gptq", "bits": bits, "group_size": 32, "desc_act": False, "sym": True}, bits=bits)
        c[f"awq-{bits}bit"] = quantized_llama(awq, {"quant_method": "awq", "bits": bits, "group_size": 32, "version": "gemm", "zero_point": True}, bits=bits)
    for bits in (4, 8):
        c[f"compressed-pack-quantized-{bits}bit"] = quantized_llama(ct_packed, {"quant_method": "compressed-tensors", "format": "pack-quantized",
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": bits, "type": "int", "strategy": "group", "group_size": 32, "symmetric": True}}}}, bits=bits)
    c["compressed-nvfp4"] = quantized_llama(nvfp4, {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16}}}})
    c["compressed-float-quantized"] = quantized_llama(fp8_channel, {"quant_method": "compressed-tensors", "format": "float-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}})
    c["compressed-int-quantized"] = quantized_llama(int8_channel, {"quant_method": "compressed-tensors", "format": "int-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}}})
    c["compressed-block"] = quantized_llama(fp8_block, {"quant_method": "compressed-tensors", "format": "float-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "block", "block_structure": [32, 32]}}}},
        scale_name="weight_scale", scale_dtype="F16")
    c["fp8-block"] = quantized_llama(fp8_block, {"quant_method": "fp8", "weight_block_size": [32, 32], "activation_scheme": "dynamic"})
    c["bnb-4bit"] = quantized_llama(bnb4, {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True})
    c["bnb-8bit"] = quantized_llama(bnb8, {"quant_method": "bitsandbytes", "load_in_8bit": True})
    # MLX quantizes the embeddings and the head too; its config says "quantization".
    for bits in (4, 8):
        cfg = dict(LLAMA, quantization={"group_size": 64, "bits": bits})
        t = [x for prefix, o, i in llama_linears() for x in mlx(prefix, o, i, bits)]
        t += mlx("model.embed_tokens", VOCAB, H, bits) + mlx("lm_head", VOCAB, H, bits) + llama_rest(head=False, embed=False)
        c[f"mlx-{bits}bit"] = (cfg, t)
    # Mixed precision (mlx-lm's mixed recipes): the bits of each layer read from its shapes.
    cfg = dict(LLAMA, quantization={"group_size": 64, "bits": 4})
    t = [x for prefix, o, i in llama_linears() for x in mlx(prefix, o, i, 8 if "down_proj" in prefix else 4)]
    c["mlx-mixed"] = (cfg, t + mlx("model.embed_tokens", VOCAB, H, 6) + mlx("lm_head", VOCAB, H, 6) + llama_rest(head=False, embed=False))
    # A tied head stored anyway, and buffers older transformers saved.
    c["tied-head-stored"] = (dict(LLAMA, tie_word_embeddings=True), [(f"{p}.weight", "F16", [o, i]) for p, o, i in llama_linears()] + llama_rest())
    c["llama-inv-freq-stored"] = (LLAMA, [(f"{p}.weight", "F16", [o, i]) for p, o, i in llama_linears()] + llama_rest()
                                  + [(f"model.layers.{i}.self_attn.rotary_emb.inv_freq", "F32", [HD // 2]) for i in range(L)])
    gpt2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": H, "n_layer": L, "n_head": HEADS, "n_positions": 64,
            "vocab_size": VOCAB, "torch_dtype": "float32"}
    t = [("wte.weight", "F32", [VOCAB, H]), ("wpe.weight", "F32", [64, H]), ("ln_f.weight", "F32", [H]), ("ln_f.bias", "F32", [H])]
    for i in range(L):
        p = f"h.{i}"
        t += [(f"{p}.ln_1.weight", "F32", [H]), (f"{p}.ln_1.bias", "F32", [H]), (f"{p}.ln_2.weight", "F32", [H]), (f"{p}.ln_2.bias", "F32", [H]),
              (f"{p}.attn.c_attn.weight", "F32", [H, 3 * H]), (f"{p}.attn.c_attn.bias", "F32", [3 * H]),
              (f"{p}.attn.c_proj.weight", "F32", [H, H]), (f"{p}.attn.c_proj.bias", "F32", [H]),
              (f"{p}.mlp.c_fc.weight", "F32", [H, 4 * H]), (f"{p}.mlp.c_fc.bias", "F32", [4 * H]),
              (f"{p}.mlp.c_proj.weight", "F32", [4 * H, H]), (f"{p}.mlp.c_proj.bias", "F32", [H]),
              (f"{p}.attn.bias", "F32", [1, 1, 64, 64]), (f"{p}.attn.masked_bias", "F32", [])]
    c["gpt2-masks-stored"] = (gpt2, t)
    # Mixture of experts: Mixtral's per-expert tensors, Qwen3-MoE's fused 3-D experts
    # (transformers 5) and GPTQ-quantized per-expert ones, gpt-oss's MXFP4 blocks.
    E, K, EI = 4, 2, 32
    mixtral = dict(LLAMA, model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=E, num_experts_per_tok=K,
                   intermediate_size=EI)
    t = [(f"{p}.weight", "F16", [o, i]) for p, o, i in llama_linears() if "mlp" not in p] + llama_rest()
    for i in range(L):
        p = f"model.layers.{i}.block_sparse_moe"
        t.append((f"{p}.gate.weight", "F16", [E, H]))
        for e in range(E):
            t += [(f"{p}.experts.{e}.w1.weight", "F16", [EI, H]), (f"{p}.experts.{e}.w3.weight", "F16", [EI, H]), (f"{p}.experts.{e}.w2.weight", "F16", [H, EI])]
    c["mixtral-per-expert"] = (mixtral, t)
    qwen = dict(LLAMA, model_type="qwen3_moe", architectures=["Qwen3MoeForCausalLM"], num_experts=E, num_experts_per_tok=K, moe_intermediate_size=EI,
                head_dim=HD, decoder_sparse_step=1, mlp_only_layers=[])
    attn = [(f"{p}.weight", "F16", [o, i]) for p, o, i in llama_linears() if "mlp" not in p]
    norms = [(f"model.layers.{i}.self_attn.{n}.weight", "F16", [HD]) for i in range(L) for n in ("q_norm", "k_norm")]
    t = attn + norms + llama_rest()
    for i in range(L):
        p = f"model.layers.{i}.mlp"
        t += [(f"{p}.gate.weight", "F16", [E, H]), (f"{p}.experts.gate_up_proj", "F16", [E, 2 * EI, H]), (f"{p}.experts.down_proj", "F16", [E, H, EI])]
    c["qwen3_moe-fused-experts"] = (qwen, t)
    t = [x for p, o, i in llama_linears() if "mlp" not in p for x in gptq(p, o, i, 4)] + norms + llama_rest()
    for i in range(L):
        p = f"model.layers.{i}.mlp"
        t.append((f"{p}.gate.weight", "F16", [E, H]))
        for e in range(E):
            for name, o, inp in (("gate_proj", EI, H), ("up_proj", EI, H), ("down_proj", H, EI)):
                t += gptq(f"{p}.experts.{e}.{name}", o, inp, 4)
    c["qwen3_moe-gptq-per-expert"] = (dict(qwen, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": False, "sym": True}), t)
    oss = {"model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"], "hidden_size": H, "intermediate_size": H, "num_hidden_layers": L,
           "num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HD, "vocab_size": VOCAB, "num_local_experts": E,
           "num_experts_per_tok": K, "torch_dtype": "bfloat16", "tie_word_embeddings": False,
           "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}}
    t = [("model.embed_tokens.weight", "BF16", [VOCAB, H]), ("lm_head.weight", "BF16", [VOCAB, H]), ("model.norm.weight", "BF16", [H])]
    for i in range(L):
        p = f"model.layers.{i}"
        t += [(f"{p}.input_layernorm.weight", "BF16", [H]), (f"{p}.post_attention_layernorm.weight", "BF16", [H]), (f"{p}.self_attn.sinks", "BF16", [HEADS])]
        for name, o in (("q_proj", HEADS * HD), ("k_proj", KV * HD), ("v_proj", KV * HD)):
            t += [(f"{p}.self_attn.{name}.weight", "BF16", [o, H]), (f"{p}.self_attn.{name}.bias", "BF16", [o])]
        t += [(f"{p}.self_attn.o_proj.weight", "BF16", [H, HEADS * HD]), (f"{p}.self_attn.o_proj.bias", "BF16", [H])]
        t += [(f"{p}.mlp.router.weight", "BF16", [E, H]), (f"{p}.mlp.router.bias", "BF16", [E])]
        m = f"{p}.mlp.experts"
        t += [(f"{m}.gate_up_proj_blocks", "U8", [E, 2 * H, H // 32, 16]), (f"{m}.gate_up_proj_scales", "U8", [E, 2 * H, H // 32]),
              (f"{m}.gate_up_proj_bias", "BF16", [E, 2 * H]), (f"{m}.down_proj_blocks", "U8", [E, H, H // 32, 16]),
              (f"{m}.down_proj_scales", "U8", [E, H, H // 32]), (f"{m}.down_proj_bias", "BF16", [E, H])]
    c["gpt_oss-mxfp4"] = (oss, t)
    return c


def packed_fixtures():
    root = ROOT / "packed"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    made = cases()
    plain = []
    for name, (cfg, tensors) in made.items():
        out = root / name
        out.mkdir()
        (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        write_safetensors(out / "model.safetensors", tensors)
        unquantized = {k: v for k, v in cfg.items() if k not in ("quantization_config", "quantization")}
        (out / "unquantized.json").write_text(json.dumps(unquantized))
        plain.append(str(out / "unquantized.json"))
    tool = pathlib.Path(__file__).resolve().parent / "transformers_count.py"
    res = subprocess.run([sys.executable, str(tool), *plain], capture_output=True, text=True, check=True)
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        out = pathlib.Path(r["file"]).parent
        if "error" in r:
            sys.exit(f"{out.name}: {r['error']}")
        cfg, tensors = made[out.name]
        per = {}
        for _, dtype, shape in tensors:
            n = 1
            for d in shape:
                n *= d
            per[dtype] = per.get(dtype, 0) + n
        expected = {"parameters": dict(sorted(per.items())), "total": sum(per.values()), "logical": r["count"]}
        if "active" in r:
            expected["active"] = r["active"]
        (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        (out / "unquantized.json").unlink()
    print(f"wrote {len(made)} crafted checkpoints to {root}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packed", action="store_true", help="write only the crafted quantized checkpoints")
    if ap.parse_args().packed:
        return packed_fixtures()
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
