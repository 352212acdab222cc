//! Shared test support: the fixture hub and helpers.
#![allow(dead_code)]

pub mod hub;
pub mod world;

use std::path::PathBuf;

/// The binary, in `dir`, with none of the settings it reads from the environment except
/// `HF_HOME=dir/hf`, so a test sees only what it sets.
pub fn capcache(dir: &std::path::Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("capcache").unwrap();
    c.current_dir(dir);
    for var in [
        "CAPCACHE_DB",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN",
        "HF_ENDPOINT",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "XDG_CACHE_HOME",
        "NO_COLOR",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c.env("HF_HOME", dir.join("hf"));
    c
}

/// Exit code, stdout and stderr of a run.
pub fn run(c: &mut assert_cmd::Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The folder of committed fixtures.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The real all-MiniLM-L6-v2 files fetched by `scripts/fetch-fixtures.sh`.
pub fn minilm_dir() -> PathBuf {
    let dir = fixtures().join("downloaded/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run scripts/fetch-fixtures.sh (the README's test command does)",
        dir.display()
    );
    dir
}

/// Bytes per element of the dtypes the synthetic checkpoints use.
fn dtype_size(dtype: &str) -> u64 {
    match dtype {
        "F8_E4M3" | "U8" | "I8" => 1,
        "F16" | "BF16" => 2,
        "F32" | "I32" => 4,
        "I64" | "F64" => 8,
        other => panic!("no size for {other}"),
    }
}

/// A tensor of a synthetic checkpoint.
#[derive(Clone, Debug)]
pub struct T {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<u64>,
}

pub fn t(name: impl Into<String>, dtype: &'static str, shape: &[u64]) -> T {
    T { name: name.into(), dtype, shape: shape.to_vec() }
}

/// A safetensors header (length prefix + JSON) for `tensors` laid out back to back, and the size
/// of the whole file.
pub fn safetensors_header(tensors: &[T]) -> (Vec<u8>, u64) {
    let mut map = serde_json::Map::new();
    map.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0u64;
    for t in tensors {
        let n: u64 = t.shape.iter().product::<u64>() * dtype_size(t.dtype);
        map.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + n]}),
        );
        offset += n;
    }
    let json = serde_json::to_vec(&map).unwrap();
    let mut head = (json.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(&json);
    let len = head.len() as u64 + offset;
    (head, len)
}

/// A whole small safetensors file (zeros for data).
pub fn safetensors_file(tensors: &[T]) -> Vec<u8> {
    let (mut head, len) = safetensors_header(tensors);
    head.resize(len as usize, 0);
    head
}

/// Elements per dtype of a tensor list (a scalar counts 1), computed independently of capcache.
pub fn per_dtype(tensors: &[T]) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for t in tensors {
        *m.entry(t.dtype.to_owned()).or_default() += t.shape.iter().product::<u64>();
    }
    m
}
