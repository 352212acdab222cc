//! The hostile corpus: repositories crafted to crash, hang, exhaust or fool a build, one per class
//! of attack, each with the outcome and the words of the failure capcache must give. Generated
//! here (and served by the fixture hub, or by `examples/fixture_hub.rs --hostile`), not committed:
//! several are hundreds of megabytes when read.
//!
//! The build test runs them beside healthy models with `--model-timeout 10s --max-model-bytes 64MiB`
//! ([`LIMITS`]); the sizes below are chosen against those limits.

use super::hub::{Faults, Repo};
use super::{safetensors_file, stored_zip, t};

/// The limits the corpus is measured against.
pub const LIMITS: [&str; 4] = ["--model-timeout", "10s", "--max-model-bytes", "64MiB"];

/// One crafted repository and what capcache must say about it.
pub struct Case {
    pub id: String,
    pub repo: Repo,
    /// The failure's outcome.
    pub outcome: &'static str,
    /// Words the failure's message must contain.
    pub says: &'static str,
}

fn case(name: &str, build: impl FnOnce(Repo) -> Repo, outcome: &'static str, says: &'static str) -> Case {
    let id = format!("hostile/{name}");
    let repo = build(Repo::new(&id));
    Case { id, repo, outcome, says }
}

/// Every case.
pub fn corpus() -> Vec<Case> {
    vec![
        // Crash, hang, exhaustion.
        case(
            "pickle-name-bomb",
            |r| r.bytes("pytorch_model.bin", zip_pkl(&name_bomb())),
            "invalid-file",
            "longer than 4096 bytes",
        ),
        case(
            "pickle-value-flood",
            |r| r.bytes("pytorch_model.bin", zip_pkl(&value_flood())),
            "invalid-file",
            "too many values",
        ),
        case("shards-past-the-budget", many_long_shards, "too-large", "budget"),
        case("gguf-split-past-the-budget", gguf_split_budget, "too-large", "budget"),
        case(
            "drip-one-byte-a-second",
            |r| {
                r.bytes("model.safetensors", safetensors_file(&[t("w", "F32", &[4])]))
                    .faults(Faults { throttle: Some(1), ..Faults::default() })
            },
            "timeout",
            "deadline",
        ),
        // Configs that would hang, explode or be guessed around.
        case(
            "config-1e15-layers",
            |r| r.bytes("config.json", r#"{"model_type":"qwen2_moe","num_hidden_layers":1000000000000000}"#),
            "invalid-config",
            "num_hidden_layers",
        ),
        case(
            "config-200k-dense-layers",
            |r| r.bytes("config.json", mlp_only_layers(200_000)),
            "invalid-config",
            "mlp_only_layers",
        ),
        case(
            "config-8m-values",
            // 16 MB of `0,`: a tree of 8 million values (hundreds of MB as serde_json Values),
            // charged to the budget before it is built.
            |r| r.bytes("config.json", format!("[{}0]", "0,".repeat(8_000_000))),
            "too-large",
            "JSON values of config.json",
        ),
        case(
            "config-hidden-size-as-text",
            |r| r.bytes("config.json", r#"{"model_type":"llama","hidden_size":"4096"}"#),
            "invalid-config",
            "hidden_size",
        ),
        case(
            "config-fp8-block-of-zero",
            |r| {
                r.bytes("config.json", r#"{"model_type":"llama","quantization_config":{"quant_method":"fp8","weight_block_size":[0,128]}}"#)
            },
            "invalid-config",
            "weight_block_size",
        ),
        // Files that lie about themselves.
        case(
            "pickle-shape-past-storage",
            |r| r.bytes("pytorch_model.bin", zip_pkl(&past_storage())),
            "invalid-file",
            "past its storage",
        ),
        case(
            "gguf-tensor-past-the-file",
            |r| r.bytes("model.gguf", gguf(&[], &[("w", &[1 << 40], 0)], 32)),
            "invalid-file",
            "past the end",
        ),
        case(
            "gguf-mixed-split-sets",
            |r| {
                r.bytes("m-00001-of-00002.gguf", gguf_part(1, 2))
                    .bytes("m-00002-of-00003.gguf", gguf_part(2, 3))
                    .bytes("m-00003-of-00003.gguf", gguf_part(3, 3))
            },
            "invalid-file",
            "several GGUF sets",
        ),
        case(
            "gguf-incomplete-split",
            |r| r.bytes("m-00001-of-00003.gguf", gguf_part(1, 3)).bytes("m-00003-of-00003.gguf", gguf_part(3, 3)),
            "invalid-file",
            "incomplete",
        ),
        case(
            "gguf-part-out-of-place",
            |r| r.bytes("m-00001-of-00002.gguf", gguf_part(2, 2)).bytes("m-00002-of-00002.gguf", gguf_part(2, 2)),
            "invalid-file",
            "read as part 1 of 2",
        ),
        case(
            "safetensors-duplicate-names",
            |r| {
                r.bytes("model.safetensors", st(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"a":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#, 8))
            },
            "invalid-file",
            "declared twice",
        ),
        case(
            "safetensors-overlap-behind-empty-tensor",
            |r| {
                r.bytes("model.safetensors", st(r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#, 8))
            },
            "invalid-file",
            "a gap or an overlap",
        ),
        case(
            "safetensors-many-tiny-tensors",
            |r| r.bytes("model.safetensors", many_tiny_tensors()),
            "too-large",
            "tensors of model.safetensors",
        ),
        case(
            "gguf-overlap-behind-empty-tensor",
            |r| r.bytes("model.gguf", gguf_overlap_behind_empty()),
            "invalid-file",
            "overlap",
        ),
        case(
            "pickle-storage-redeclared",
            |r| r.bytes("pytorch_model.bin", zip_pkl(&storage_redeclared())),
            "invalid-file",
            "is declared as ByteStorage (8 elements) and as DoubleStorage",
        ),
        case(
            "safetensors-unknown-dtype",
            |r| {
                r.bytes(
                    "model.safetensors",
                    st(r#"{"a":{"dtype":"X9","shape":[1000000000000000],"data_offsets":[0,4]}}"#, 4),
                )
            },
            "invalid-file",
            "unknown dtype",
        ),
    ]
}

/// A qwen3_moe config with `n` dense-only layers listed.
fn mlp_only_layers(n: u32) -> String {
    let layers: Vec<u32> = (0..n).collect();
    serde_json::json!({"model_type": "qwen3_moe", "mlp_only_layers": layers}).to_string()
}

/// A safetensors file of header `json` and `data` bytes.
fn st(json: &str, data: usize) -> Vec<u8> {
    let mut v = (json.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v.resize(v.len() + data, 0);
    v
}

/// A torch zip of one `data.pkl`.
fn zip_pkl(pkl: &[u8]) -> Vec<u8> {
    stored_zip(&[("archive/data.pkl", pkl), ("archive/version", b"3\n")], None)
}

/// `BININT` then its value.
fn int(n: u32) -> Vec<u8> {
    let mut v = vec![b'J'];
    v.extend_from_slice(&n.to_le_bytes());
    v
}

/// `BINUNICODE` then the string.
fn unicode(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

/// `torch._utils._rebuild_tensor_v2(("storage", FloatStorage, "0", "cpu", numel), 0, shape,
/// contiguous stride, False, None)`.
fn tensor(numel: u32, shape: &[u32]) -> Vec<u8> {
    tensor_of("FloatStorage", numel, shape)
}

/// [`tensor`] over a storage of class `class`.
fn tensor_of(class: &str, numel: u32, shape: &[u32]) -> Vec<u8> {
    let mut p = b"ctorch._utils\n_rebuild_tensor_v2\n((".to_vec();
    p.extend(unicode("storage"));
    p.extend_from_slice(format!("ctorch\n{class}\n").as_bytes());
    p.extend(unicode("0"));
    p.extend(unicode("cpu"));
    p.extend(int(numel));
    p.extend_from_slice(b"tQ");
    p.extend(int(0));
    p.push(b'(');
    shape.iter().for_each(|d| p.extend(int(*d)));
    p.extend_from_slice(b"t(");
    let mut stride = 1u32;
    let mut strides: Vec<u32> = shape
        .iter()
        .rev()
        .map(|d| {
            let s = stride;
            stride = stride.saturating_mul(*d);
            s
        })
        .collect();
    strides.reverse();
    strides.iter().for_each(|s| p.extend(int(*s)));
    p.extend_from_slice(b"t\x89NtR");
    p
}

/// A dict of 1,000 tensors whose keys are all one 1 MB string, by memo reference.
fn name_bomb() -> Vec<u8> {
    let mut p = b"\x80\x02}(".to_vec();
    p.extend(unicode(&"k".repeat(1 << 20)));
    p.extend_from_slice(b"q\x00");
    p.extend(tensor(4, &[4]));
    p.extend_from_slice(b"q\x01");
    p.extend(std::iter::repeat_n(*b"h\x00h\x01", 999).flatten());
    p.extend_from_slice(b"u.");
    p
}

/// 50 MB of small values.
fn value_flood() -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(*b"N0", 25_000_000).flatten());
    p.extend_from_slice(b"N.");
    p
}

/// One tensor of 10^12 elements over a storage of 6.
fn past_storage() -> Vec<u8> {
    let mut p = b"\x80\x02}".to_vec();
    p.extend(unicode("w"));
    p.extend(tensor(6, &[1_000_000, 1_000_000]));
    p.extend_from_slice(b"s.");
    p
}

/// 1,000 shards, each a valid file with an 8 MB header (padded with spaces, as the format allows):
/// 8 GB of headers for one model, each under the 100 MB the format allows.
fn many_long_shards(mut repo: Repo) -> Repo {
    let mut map = serde_json::Map::new();
    for i in 0..1000 {
        let name = format!("model-{:05}-of-01000.safetensors", i + 1);
        let json = format!(r#"{{"t{i}":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}}}"#);
        let header_len = 8u64 << 20;
        let mut head = header_len.to_le_bytes().to_vec();
        head.extend_from_slice(json.as_bytes());
        repo = repo.filled(&name, vec![(0, head)], 8 + header_len + 4, b' ');
        map.insert(format!("t{i}"), name.into());
    }
    repo.bytes("model.safetensors.index.json", serde_json::to_vec(&serde_json::json!({"weight_map": map})).unwrap())
}

/// A three-part GGUF set whose parts each carry 30 MB of metadata (an array of short strings, which
/// a parser has to read through): under the per-file caps, over the per-model budget together.
fn gguf_split_budget(mut repo: Repo) -> Repo {
    const STRINGS: u64 = 290_000; // of 100 bytes and their 8-byte lengths: 31 MB
    let mut array = Vec::with_capacity(STRINGS as usize * 108);
    for _ in 0..STRINGS {
        array.extend_from_slice(&100u64.to_le_bytes());
        array.extend_from_slice(&[b'x'; 100]);
    }
    for k in 1..=3u16 {
        let mut head = gguf_head(1, &[("split.no", Kv::U16(k - 1)), ("split.count", Kv::U16(3))], 1);
        head.extend(gguf_key("pad"));
        head.extend_from_slice(&9u32.to_le_bytes()); // array
        head.extend_from_slice(&8u32.to_le_bytes()); // of strings
        head.extend_from_slice(&STRINGS.to_le_bytes());
        let array_at = head.len() as u64;
        let infos_at = array_at + array.len() as u64;
        let infos = gguf_infos(&[("w", &[8], 0)]);
        let len = (infos_at + infos.len() as u64).div_ceil(32) * 32 + 32;
        let parts = vec![(0, head), (array_at, array.clone()), (infos_at, infos)];
        repo = repo.segments(&format!("m-{k:05}-of-00003.gguf"), parts, len);
    }
    repo
}

enum Kv {
    U16(u16),
}

fn gguf_key(k: &str) -> Vec<u8> {
    let mut v = (k.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(k.as_bytes());
    v
}

/// Magic, version 3, counts, and the key-values (`extra_kv` more are written by the caller).
fn gguf_head(n_tensors: u64, kv: &[(&str, Kv)], extra_kv: u64) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(&n_tensors.to_le_bytes());
    v.extend_from_slice(&(kv.len() as u64 + extra_kv).to_le_bytes());
    for (k, value) in kv {
        v.extend(gguf_key(k));
        match value {
            Kv::U16(n) => {
                v.extend_from_slice(&2u32.to_le_bytes());
                v.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
    v
}

/// Tensor infos `(name, dims, ggml type)`, laid out back to back in the data section.
fn gguf_infos(tensors: &[(&str, &[u64], u32)]) -> Vec<u8> {
    let mut offset = 0u64;
    let placed: Vec<(&str, &[u64], u32, u64)> = tensors
        .iter()
        .map(|&(name, dims, ggml)| {
            let at = offset;
            offset += (dims.iter().product::<u64>() * 4).div_ceil(32) * 32;
            (name, dims, ggml, at)
        })
        .collect();
    gguf_infos_at(&placed)
}

/// Tensor infos `(name, dims, ggml type, offset in the data section)`.
fn gguf_infos_at(tensors: &[(&str, &[u64], u32, u64)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (name, dims, ggml, offset) in tensors {
        v.extend(gguf_key(name));
        v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| v.extend_from_slice(&d.to_le_bytes()));
        v.extend_from_slice(&ggml.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
    }
    v
}

/// A whole small GGUF file of F32 tensors with `data` bytes of data section.
fn gguf(kv: &[(&str, Kv)], tensors: &[(&str, &[u64], u32)], data: usize) -> Vec<u8> {
    let mut v = gguf_head(tensors.len() as u64, kv, 0);
    v.extend(gguf_infos(tensors));
    v.resize(v.len().div_ceil(32) * 32 + data, 0);
    v
}

/// 1,000 F32 tensors of 1 MiB elements, each 32 bytes after the last, with an empty tensor between
/// each two (a check of neighbours only would see no overlap): 4 GB of weights from 4 MB.
fn gguf_overlap_behind_empty() -> Vec<u8> {
    const BIG: &[u64] = &[1 << 20];
    let names: Vec<(String, String)> = (0..1000).map(|i| (format!("w.{i}"), format!("z.{i}"))).collect();
    let mut placed: Vec<(&str, &[u64], u32, u64)> = Vec::new();
    for (i, (w, z)) in names.iter().enumerate() {
        placed.push((w, BIG, 0, 32 * i as u64));
        placed.push((z, &[0], 0, 32 * (i as u64 + 1)));
    }
    let mut v = gguf_head(placed.len() as u64, &[], 0);
    v.extend(gguf_infos_at(&placed));
    v.resize(v.len().div_ceil(32) * 32 + (4 << 20) + 32 * 1000, 0);
    v
}

/// Many tensors with a few bytes of header each and no data: under the byte budget as read, over
/// it as parsed ([`LIMITS`]: 64 MiB, 256 bytes a parsed tensor, so 262,144 tensors at most).
fn many_tiny_tensors() -> Vec<u8> {
    let entries: Vec<String> =
        (0..300_000).map(|i| format!(r#""{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#)).collect();
    st(&format!("{{{}}}", entries.join(",")), 0)
}

/// One storage key declared as a 1-byte storage, then viewed by 8-byte doubles.
fn storage_redeclared() -> Vec<u8> {
    let mut p = b"\x80\x02}(".to_vec();
    p.extend(unicode("a"));
    p.extend(tensor_of("ByteStorage", 8, &[0]));
    p.extend(unicode("b"));
    p.extend(tensor_of("DoubleStorage", 8, &[8]));
    p.extend_from_slice(b"u.");
    p
}

/// Part `k` of `n` of a split set: one small tensor, its place in its metadata.
fn gguf_part(k: u16, n: u16) -> Vec<u8> {
    gguf(&[("split.no", Kv::U16(k - 1)), ("split.count", Kv::U16(n))], &[("w", &[8], 0)], 32)
}
