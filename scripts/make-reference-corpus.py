#!/usr/bin/env python3
"""The differential corpus: safetensors, GGUF and PyTorch files made by the reference libraries
themselves (valid files, edge cases, and seeded random mutations of them), each read back by the
reference readers, whose answers are recorded beside the files in answers.json. tests/reference.rs
runs capcache's parsers over the same files and compares; CI needs none of these libraries, the
recorded answers are the reference.

Usage: /work/venv/bin/python scripts/make-reference-corpus.py [OUT_DIR] [--seed N] [--mutants N]
(default OUT_DIR tests/fixtures/reference). Needs the pinned versions below (pip install
torch==2.15.0 safetensors==0.8.0 gguf==0.19.0 numpy); it refuses to run with others, since the
answers are those versions' answers.

What a reference "reads" and what it counts:
- safetensors: safe_open(framework="pt") opens the file (the crate parses and validates the
  header); counts are the elements per dtype name of every tensor (get_slice: dtype and shape).
- GGUF: gguf-py's GGUFReader; counts are the elements per ggml type name of every tensor.
- PyTorch: torch.load(weights_only=True) on cpu, reading every record (mode "cpu"), and with
  mmap=True (mode "mmap"); counts are the elements per dtype (safetensors names; float4_e2m1fn_x2
  as F4, two values a byte) of every tensor in the loaded object, a view identical to another in
  storage, offset, shape, stride and dtype (a tied weight) once. A loaded object with a sparse,
  meta or quantized tensor is marked so ("special").
"""

import argparse
import hashlib
import io
import json
import os
import pathlib
import random
import signal
import struct
import sys
import zipfile

PINNED = {"torch": "2.15.0", "safetensors": "0.8.0", "gguf": "0.19.0"}

import numpy as np  # noqa: E402
import torch  # noqa: E402
import safetensors  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save as st_save  # noqa: E402
import gguf  # noqa: E402
from importlib.metadata import version  # noqa: E402


def check_versions():
    for pkg, want in PINNED.items():
        got = version(pkg)
        if got.split("+")[0] != want:
            sys.exit(f"{pkg} {got} installed; the corpus is made with {want}")


TORCH_NAMES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL", torch.uint16: "U16", torch.uint32: "U32", torch.uint64: "U64",
    torch.complex32: "C32", torch.complex64: "C64", torch.complex128: "C128",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.float8_e4m3fnuz: "F8_E4M3FNUZ",
    torch.float8_e5m2fnuz: "F8_E5M2FNUZ", torch.float8_e8m0fnu: "F8_E8M0", torch.float4_e2m1fn_x2: "F4",
}


class Timeout(Exception):
    pass


def _alarm(*_):
    raise Timeout()


def guarded(fn, seconds=10):
    """Runs a reference reader, turning its exceptions (and a hang) into an answer."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        return fn()
    except Timeout:
        return {"ok": False, "error": f"timed out after {seconds} s"}
    except BaseException as e:  # noqa: BLE001 - any refusal is an answer
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    finally:
        signal.alarm(0)


def read_safetensors(path):
    def run():
        counts = {}
        with safe_open(path, framework="pt") as f:
            for k in f.keys():
                s = f.get_slice(k)
                n = int(np.prod(s.get_shape(), dtype=object)) if s.get_shape() else 1
                counts[s.get_dtype()] = counts.get(s.get_dtype(), 0) + n
        return {"ok": True, "counts": counts}
    return guarded(run)


def read_gguf(path):
    def run():
        r = gguf.GGUFReader(path)
        counts = {}
        for t in r.tensors:
            name = t.tensor_type.name
            counts[name] = counts.get(name, 0) + int(t.n_elements)
        return {"ok": True, "counts": counts}
    return guarded(run)


def torch_counts(obj):
    counts, special, seen, ids = {}, [], set(), set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in ids:
            continue
        ids.add(id(o))
        if isinstance(o, torch.Tensor):
            if o.is_sparse or o.layout != torch.strided:
                special.append("sparse")
                continue
            if o.is_meta:
                special.append("meta")
                continue
            if o.is_quantized:
                special.append("quantized")
                continue
            name = TORCH_NAMES.get(o.dtype)
            if name is None:
                special.append(f"dtype {o.dtype}")
                continue
            key = (o.untyped_storage().data_ptr(), o.untyped_storage().nbytes(), o.storage_offset(),
                   tuple(o.shape), tuple(o.stride()), o.dtype)
            if key in seen:
                continue
            seen.add(key)
            n = o.numel() * (2 if name == "F4" else 1)
            counts[name] = counts.get(name, 0) + n
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return counts, special


def read_torch(path):
    out = {}
    for mode, kw in (("cpu", {}), ("mmap", {"mmap": True})):
        def run():
            obj = torch.load(path, weights_only=True, map_location="cpu", **kw)
            counts, special = torch_counts(obj)
            a = {"ok": True, "counts": counts}
            if special:
                a["special"] = sorted(set(special))
            return a
        out[mode] = guarded(run)
    return out


# ---- makers: (kind, bytes, regions) where regions maps a region name to [start, end) spans ----

def st_file(tensors, metadata=None):
    b = st_save(tensors, metadata=metadata)
    n = struct.unpack("<Q", b[:8])[0]
    return b, {"header": [(0, 8 + n)], "data": [(8 + n, len(b))]}


def st_raw(header, data_len):
    h = json.dumps(header).encode()
    b = struct.pack("<Q", len(h)) + h + b"\0" * data_len
    return b, {"header": [(0, 8 + len(h))], "data": [(8 + len(h), len(b))]}


def safetensors_cases(rng):
    t = torch.arange
    yield "valid:f32", st_file({"w": torch.zeros(3, 4), "b": torch.zeros(4)})
    yield "valid:mixed", st_file({"a": torch.zeros(2, 2, dtype=torch.bfloat16), "b": torch.zeros(3, dtype=torch.int64),
                                  "c": torch.zeros(5, dtype=torch.float8_e4m3fn), "d": torch.zeros(1, dtype=torch.bool),
                                  "e": torch.zeros(2, dtype=torch.uint16), "f": torch.zeros(2, dtype=torch.complex64)},
                                 metadata={"format": "pt"})
    yield "valid:scalar-and-empty", st_file({"s": torch.tensor(1.0), "z": torch.zeros(0, 3)})
    yield "valid:many", st_file({f"layer.{i}.w": torch.zeros(rng.randint(1, 4), rng.randint(1, 4)) for i in range(40)})
    for dt in ["F4", "F6_E2M3", "F8_E8M0", "U64", "F8_E5M2FNUZ"]:
        bits = {"F4": 4, "F6_E2M3": 6}.get(dt, 8 if dt.startswith("F8") else 64)
        n = 8
        yield f"edge:dtype-{dt}", st_raw({"t": {"dtype": dt, "shape": [2, 4], "data_offsets": [0, n * bits // 8]}}, n * bits // 8)
    for bad in ["f32", "F32 ", "", "I4", "BG16", "Q4_K", "C32"]:
        yield f"edge:unknown-dtype-{bad!r}", st_raw({"t": {"dtype": bad, "shape": [2], "data_offsets": [0, 8]}}, 8)
    base = {"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    for name, meta in [("int", {"n": 1}), ("list", {"n": ["x"]}), ("null-value", {"n": None}), ("null", None), ("nested", {"n": {"a": "b"}})]:
        h = dict(base)
        h["__metadata__"] = meta
        yield f"edge:metadata-{name}", st_raw(h, 8)
    deep = []
    for _ in range(200):
        deep = [deep]
    for name, extra in [("ok", [1, {"x": "y"}]), ("deep", deep), ("big-number", "@1e999@"), ("surrogate", "@\"\\ud800\"@")]:
        h = {"t": dict(base["t"], extra=extra)}
        raw = json.dumps(h).replace('"@', "").replace('@"', "").replace('\\"', '"').replace("\\\\", "\\").encode()
        b = struct.pack("<Q", len(raw)) + raw + b"\0" * 8
        yield f"edge:ignored-field-{name}", (b, {"header": [(0, 8 + len(raw))], "data": [(8 + len(raw), len(b))]})
    yield "edge:duplicate-name", (lambda h: (struct.pack("<Q", len(h)) + h + b"\0" * 16, {"header": [(0, 8 + len(h))]}))(
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}')
    yield "edge:gap", st_raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                              "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, 12)
    yield "edge:overlap", st_raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8)
    yield "edge:short-data", st_raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8)
    yield "edge:long-data", st_raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 8)
    yield "edge:shape-mismatch", st_raw({"a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}}, 4)
    yield "edge:f4-odd", st_raw({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, 2)


def gguf_file(tensors, kv=(), alignment=None, path=None):
    """tensors: (name, numpy array or (raw bytes, shape, type)); kv: (key, value, type)."""
    w = gguf.GGUFWriter(path, "llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for k, v, t in kv:
        w.add_key_value(k, v, t)
    for name, arr in tensors:
        if isinstance(arr, tuple):
            raw, shape, qtype = arr
            w.add_tensor(name, raw, raw_dtype=qtype)
        else:
            w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    b = pathlib.Path(path).read_bytes()
    r = gguf.GGUFReader(path)
    start = min((int(t.data_offset) for t in r.tensors), default=len(b))
    return b, {"header": [(0, start)], "data": [(start, len(b))]}


def quant_bytes(qtype, shape):
    """A zero tensor of `shape` (numpy order) in `qtype`, as its bytes: rows of whole blocks."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return np.zeros((*shape[:-1], shape[-1] // block * size), dtype=np.uint8), shape


def gguf_cases(rng, tmp):
    T = gguf.GGMLQuantizationType
    p = str(tmp / "g.gguf")
    yield "valid:f32", gguf_file([("a", np.zeros((4, 8), np.float32)), ("b", np.zeros(8, np.float16))], path=p)
    qs = [T.Q4_0, T.Q8_0, T.Q4_K, T.Q6_K, T.IQ2_XXS, T.TQ1_0, T.MXFP4, T.BF16, T.Q2_K, T.IQ4_NL]
    for q in qs:
        block = gguf.GGML_QUANT_SIZES[q][0]
        shape = (2, block * 2)  # numpy order: the last is ggml's first dimension
        raw, _ = quant_bytes(q, shape)
        yield f"valid:{q.name}", gguf_file([(f"w.{q.name}", (raw, shape, q))], path=p)
    yield "valid:metadata", gguf_file([("t", np.zeros(4, np.float32))],
                                      kv=[("general.name", "x", gguf.GGUFValueType.STRING),
                                          ("some.array", [1, 2, 3], gguf.GGUFValueType.ARRAY),
                                          ("some.strings", ["a", "bb"], gguf.GGUFValueType.ARRAY)], path=p)
    yield "valid:alignment-64", gguf_file([("a", np.zeros(3, np.float32)), ("b", np.zeros(5, np.float32))], alignment=64, path=p)
    yield "valid:many", gguf_file([(f"blk.{i}.w", np.zeros(rng.randint(1, 6), np.float32)) for i in range(30)], path=p)


def gguf_edits(valid):
    """Edge cases made by editing a valid file's fields in place."""
    b, regions = valid
    r_bytes = bytearray(b)
    # Tensor info of the first tensor: after the header and kv. Find the name by search.
    out = []
    i = b.find(b"\x01\x00\x00\x00\x00\x00\x00\x00a")  # name "a", 1 byte
    if i > 0:
        ndims_at = i + 9
        ndims = struct.unpack_from("<I", b, ndims_at)[0]
        type_at = ndims_at + 4 + 8 * ndims
        for tid in [4, 5, 31, 36, 42, 99, 1 << 31, 12]:
            m = bytearray(b)
            struct.pack_into("<I", m, type_at, tid)
            out.append((f"edge:type-{tid}", (bytes(m), regions)))
        m = bytearray(b)
        struct.pack_into("<Q", m, ndims_at + 4, 100)
        out.append(("edge:dim-changed", (bytes(m), regions)))
        m = bytearray(b)
        struct.pack_into("<Q", m, type_at + 4, 8)
        out.append(("edge:offset-misaligned", (bytes(m), regions)))
        m = bytearray(b)
        struct.pack_into("<Q", m, type_at + 4, 1 << 40)
        out.append(("edge:offset-past-end", (bytes(m), regions)))
    m = bytearray(r_bytes)
    m[4:8] = struct.pack(">I", 3)
    out.append(("edge:big-endian", (bytes(m), regions)))
    return out


def gguf_raw_cases():
    """Hand-built headers for what the writer will not write."""
    def header(tensors, kvs):
        h = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
        for k, t, v in kvs:
            h += struct.pack("<Q", len(k)) + k.encode() + struct.pack("<I", t) + v
        for name, dims, typ, off in tensors:
            h += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims))
            h += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, off)
        h += b"\0" * (-len(h) % 32)
        return h
    def f(tensors, kvs=(), data=256):
        h = header(tensors, kvs)
        return h + b"\0" * data, {"header": [(0, len(h))], "data": [(len(h), len(h) + data)]}
    yield "edge:duplicate-tensor", f([("a", [8], 0, 0), ("a", [8], 0, 32)])
    yield "edge:duplicate-key", f([("a", [8], 0, 0)], [("k", 4, struct.pack("<I", 1)), ("k", 4, struct.pack("<I", 2))])
    yield "edge:alignment-u64", f([("a", [8], 0, 0)], [("general.alignment", 10, struct.pack("<Q", 32))])
    yield "edge:alignment-u32", f([("a", [8], 0, 0)], [("general.alignment", 4, struct.pack("<I", 32))])
    yield "edge:q4k-100", f([("q", [100], 12, 0)])
    yield "edge:q4k-scalar", f([("q", [], 12, 0)])
    yield "edge:q8_1", f([("q", [32], 9, 0)])
    nested = struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 4, 1) + b"\0" * 4
    yield "edge:nested-arrays", f([("a", [8], 0, 0)], [("n", 9, nested)])
    yield "edge:huge-array", f([("a", [8], 0, 0)], [("n", 9, struct.pack("<IQ", 8, 1 << 40))])
    yield "edge:overlap", f([("a", [16], 0, 0), ("b", [16], 0, 32)])


def torch_bytes(obj, legacy=False):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def zip_regions(b):
    """Byte spans of a torch zip: data.pkl, the tensor records (their headers and descriptors apart
    from their data), and the rest of the zip's structure (data.pkl's header, the central directory)."""
    z = zipfile.ZipFile(io.BytesIO(b))
    regions = {"pickle": [], "record-data": [], "record-header": [], "bookkeeping": [], "zip-structure": []}
    infos = sorted(z.infolist(), key=lambda i: i.header_offset)
    cd_start = b.find(b"PK\x01\x02")
    # The small records torch reads besides data.pkl and the tensors (byteorder, version, ...):
    # all their bytes, their central directory entries included.
    at = cd_start
    while b[at:at + 4] == b"PK\x01\x02":
        n, e, c = struct.unpack_from("<HHH", b, at + 28)
        name = b[at + 46:at + 46 + n].decode("utf-8", "replace")
        if not name.endswith("data.pkl") and "/data/" not in name:
            regions["bookkeeping"].append((at, at + 46 + n + e + c))
        at += 46 + n + e + c
    for n, i in enumerate(infos):
        name_len, extra_len = struct.unpack_from("<HH", b, i.header_offset + 26)
        start = i.header_offset + 30 + name_len + extra_len
        end = start + i.file_size
        after = infos[n + 1].header_offset if n + 1 < len(infos) else cd_start
        pkl = i.filename.endswith("data.pkl")
        if pkl:
            regions["zip-structure"] += [(i.header_offset, start), (end, after)]
            regions["pickle"].append((start, end))
        elif "/data/" in i.filename:
            regions["record-header"] += [(i.header_offset, start), (end, after)]
            regions["record-data"].append((start, end))
        else:
            regions["bookkeeping"].append((i.header_offset, after))
    regions["zip-structure"].append((cd_start, len(b)))
    return regions


def pt_zip(obj):
    b = torch_bytes(obj)
    return b, zip_regions(b)


def torch_cases(rng):
    w = torch.zeros(4, 4)
    yield "valid:f32", pt_zip({"w": torch.zeros(3, 4), "b": torch.zeros(4)})
    yield "valid:bf16-tied", pt_zip({"embed": w, "lm_head": w, "detached": w.detach()})
    for dt in [torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz,
               torch.float8_e8m0fnu, torch.uint16, torch.uint32, torch.uint64, torch.complex32,
               torch.float4_e2m1fn_x2, torch.complex128, torch.int16, torch.bool]:
        yield f"valid:dtype-{str(dt)[6:]}", pt_zip({"t": torch.zeros(3, 4, dtype=dt), "f": torch.zeros(2)})
    yield "valid:fp8-checkpoint", pt_zip({f"l.{i}.weight": torch.zeros(4, 8, dtype=torch.float8_e4m3fn) for i in range(3)}
                                         | {f"l.{i}.weight_scale": torch.zeros(1) for i in range(3)})
    yield "valid:transpose", pt_zip({"w": w, "wt": w.t()})
    yield "valid:view", pt_zip({"w": w, "v": w.view(2, 8)})
    yield "valid:expand", pt_zip({"e": torch.zeros(1, 4).expand(8, 4)})
    base = torch.zeros(10)
    yield "valid:overlapping-slices", pt_zip({"a": base[0:6], "b": base[4:10]})
    yield "valid:slice-of-big", pt_zip({"s": torch.zeros(100)[10:20]})
    yield "valid:nested", pt_zip({"model": {"a": torch.zeros(2)}, "list": [torch.zeros(3), (torch.zeros(1),)], "step": 7})
    yield "valid:parameter", pt_zip({"p": torch.nn.Parameter(torch.zeros(5))})
    yield "valid:empty", pt_zip({})
    yield "valid:many", pt_zip({f"layer.{i}.w": torch.zeros(rng.randint(1, 4), rng.randint(1, 4)) for i in range(40)})
    yield "edge:sparse", pt_zip({"s": torch.zeros(4, 4).to_sparse(), "d": torch.zeros(2)})
    yield "edge:meta", pt_zip({"m": torch.zeros(3, device="meta"), "d": torch.zeros(2)})
    yield "edge:qint8", pt_zip({"q": torch.quantize_per_tensor(torch.zeros(4), 0.1, 0, torch.qint8)})
    yield "edge:module", pt_zip(torch.nn.Linear(2, 3))
    legacy = torch_bytes({"w": torch.zeros(3, 4), "b": torch.zeros(2, dtype=torch.float16)}, legacy=True)
    yield "valid:legacy", (legacy, {"legacy": [(0, len(legacy))]})


def torch_edits(rng, cases):
    """Edge cases made by editing valid files: renamed globals, cut and corrupted zips, legacy lies."""
    out = []
    f32 = dict(cases)["valid:f32"]
    b, regions = f32
    for old, new in [(b"_rebuild_tensor_v2", b"_rebuild_tensor_v9"), (b"FloatStorage", b"FVoatStorage")]:
        out.append((f"edge:renamed-{new.decode()}", (b.replace(old, new), regions)))
    bf = dict(cases)["valid:dtype-float8_e4m3fn"][0]
    out.append(("edge:renamed-float8", (bf.replace(b"float8_e4m3fn", b"float8_e4m3fX"), zip_regions(bf))))
    z = zipfile.ZipFile(io.BytesIO(b))
    cd = b.rfind(b"PK\x01\x02", 0, len(b))
    first_cd = b.find(b"PK\x01\x02")
    out.append(("edge:cut-before-cd", (b[:first_cd], regions)))
    out.append(("edge:cut-in-cd", (b[: (first_cd + cd) // 2], regions)))
    m = bytearray(b)
    m[first_cd + 1] ^= 0x40
    out.append(("edge:corrupt-cd-signature", (bytes(m), regions)))
    m = bytearray(b)
    m[cd + 28] ^= 0x7F  # a name length
    out.append(("edge:corrupt-cd-name-length", (bytes(m), regions)))
    # A data record too short: shrink record data/0's sizes in the central directory and local header.
    for i in z.infolist():
        if i.filename.endswith("data/0"):
            at = b.find(b"PK\x01\x02" , first_cd)
            while at >= 0:
                n = struct.unpack_from("<H", b, at + 28)[0]
                if b[at + 46: at + 46 + n] == i.filename.encode():
                    break
                at = b.find(b"PK\x01\x02", at + 4)
            m = bytearray(b)
            struct.pack_into("<II", m, at + 20, 4, 4)
            struct.pack_into("<II", m, i.header_offset + 18, 4, 4)
            out.append(("edge:record-too-short", (bytes(m), regions)))
    legacy = dict(cases)["valid:legacy"][0]
    out.append(("edge:legacy-protocol", (legacy.replace(b"M\xe9\x03", b"M\xea\x03", 1), {"legacy": [(0, len(legacy))]})))
    # The first storage's element count (12 floats) written as 11 before its data.
    at = legacy.find(struct.pack("<q", 12))
    if at > 0:
        m = bytearray(legacy)
        struct.pack_into("<q", m, at, 11)
        out.append(("edge:legacy-storage-size", (bytes(m), {"legacy": [(0, len(legacy))]})))
    out.append(("edge:legacy-cut", (legacy[: len(legacy) - 20], {"legacy": [(0, len(legacy))]})))
    return out


def region_of(regions, offset):
    for name, spans in regions.items():
        for s, e in spans:
            if s <= offset < e:
                return name
    return "other"


def mutate(rng, data, regions):
    b = bytearray(data)
    op = rng.choice(["flip", "flip", "byte", "cut", "zero-run"])
    off = rng.randrange(len(b)) if b else 0
    if op == "flip":
        b[off] ^= 1 << rng.randrange(8)
    elif op == "byte":
        b[off] = rng.randrange(256)
    elif op == "cut":
        b = b[:off]
    else:
        n = rng.randint(1, 16)
        b[off:off + n] = bytes(min(n, len(b) - off))
    if op == "cut":
        return bytes(b), {"op": op, "offset": off, "region": "cut"}
    last = off + (n - 1 if op == "zero-run" else 0)
    touched = sorted({region_of(regions, off), region_of(regions, min(last, len(data) - 1))})
    return bytes(b), {"op": op, "offset": off, "region": "+".join(touched)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="tests/fixtures/reference")
    ap.add_argument("--seed", type=int, default=25)
    ap.add_argument("--mutants", type=int, default=60, help="mutated files per format")
    args = ap.parse_args()
    check_versions()
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    out = pathlib.Path(args.out)
    for sub in ["safetensors", "gguf", "pytorch"]:
        (out / sub).mkdir(parents=True, exist_ok=True)
        for f in (out / sub).iterdir():
            f.unlink()
    tmp = out / ".tmp"
    tmp.mkdir(exist_ok=True)
    answers = []

    def emit(fmt, ext, kind, data, mutation, reader):
        name = f"{fmt}/{len([a for a in answers if a['format'] == fmt]):03d}-{kind.replace(':', '-').replace(chr(39), '')[:40]}{ext}"
        name = "".join(c if c.isalnum() or c in "-_./" else "_" for c in name)
        path = out / name
        path.write_bytes(data)
        entry = {"file": name, "format": fmt, "kind": kind, "sha256": hashlib.sha256(data).hexdigest()}
        if mutation:
            entry["mutation"] = mutation
        ref = reader(str(path))
        if fmt == "pytorch":
            entry["modes"] = ref
            entry["reference"] = ref["cpu"]
        else:
            entry["reference"] = ref
        answers.append(entry)

    def run(fmt, ext, cases, reader):
        cases = list(cases)
        for kind, (data, _) in cases:
            emit(fmt, ext, kind, data, None, reader)
        valid = [(k, c) for k, c in cases if k.startswith("valid:")]
        for _ in range(args.mutants):
            kind, (data, regions) = rng.choice(valid)
            m, info = mutate(rng, data, regions)
            emit(fmt, ext, f"mutant:{kind[6:]}", m, info, reader)

    run("safetensors", ".safetensors", safetensors_cases(rng), read_safetensors)
    g = list(gguf_cases(rng, tmp))
    g += gguf_edits(dict(g)["valid:f32"]) + list(gguf_raw_cases())
    run("gguf", ".gguf", g, read_gguf)
    t = list(torch_cases(rng))
    t += torch_edits(rng, t)
    run("pytorch", ".bin", t, read_torch)
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    doc = {
        "generator": "scripts/make-reference-corpus.py",
        "seed": args.seed,
        "versions": {k: version(k) for k in ["torch", "safetensors", "gguf", "numpy"]},
        "files": answers,
    }
    (out / "answers.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    per = {}
    for a in answers:
        per.setdefault(a["format"], [0, 0])
        per[a["format"]][0] += 1
        per[a["format"]][1] += a["reference"]["ok"]
    for fmt, (n, ok) in per.items():
        print(f"{fmt}: {n} files, the reference reads {ok}")


if __name__ == "__main__":
    main()
