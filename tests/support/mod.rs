//! Shared test support: the fixture hub and helpers.
#![allow(dead_code)]

pub mod hostile;
pub mod hub;
pub mod world;

use std::path::{Path, PathBuf};

/// Runs a command to its end: exit code (-1 when killed), stdout, stderr.
pub fn run(c: &mut assert_cmd::Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The settings the binary (and hf-hub, and Python's huggingface_hub) read from the environment.
/// A test's command starts without any of them, so it never reads the developer's token, cache,
/// endpoint or database.
pub const SETTINGS: &[&str] = &[
    "CAPCACHE_DB",
    "HF_HOME",
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
];

/// `c` without any of [`SETTINGS`] and with `HF_HOME=dir/hf` and `XDG_DATA_HOME=dir/data` (where
/// `capcache update` installs and read commands look: never the user's own), run in `dir`.
pub fn hermetic<'c>(c: &'c mut std::process::Command, dir: &Path) -> &'c mut std::process::Command {
    for var in SETTINGS {
        c.env_remove(var);
    }
    c.current_dir(dir).env("HF_HOME", dir.join("hf")).env("XDG_DATA_HOME", dir.join("data"))
}

/// The binary, in `dir`, with none of the settings it reads from the environment except
/// `HF_HOME=dir/hf` and `XDG_DATA_HOME=dir/data`, so a test sees only what it sets.
pub fn capcache(dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(capcache_std(dir))
}

/// [`capcache`] as a plain [`std::process::Command`], for tests that spawn and signal it.
pub fn capcache_std(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("capcache"));
    hermetic(&mut c, dir);
    c
}

/// `sh -c script` in `dir`, as hermetic as [`capcache`] (for a build under `ulimit`).
pub fn shell(dir: &Path, script: &str) -> assert_cmd::Command {
    let mut c = std::process::Command::new("sh");
    hermetic(&mut c, dir).args(["-c", script]);
    assert_cmd::Command::from_std(c)
}

/// The `db.json` a command wrote in `dir`.
pub fn read_db(dir: &Path) -> capcache::record::Db {
    capcache::store::json::read(&dir.join("db.json")).unwrap()
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

/// A checkpoint skeleton's layout (`layout.json`): the weights file's name, its length, and where
/// its tail starts.
pub fn skeleton_layout(dir: &Path) -> (String, u64, u64) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("layout.json")).unwrap()).unwrap();
    (v["file"].as_str().unwrap().to_owned(), v["len"].as_u64().unwrap(), v["tail_offset"].as_u64().unwrap())
}

/// A repository served from a checkpoint skeleton (`tests/fixtures/pytorch/opt-125m-skeleton`):
/// its `config.json`, and the weights file rebuilt from the real file's bytes up to `data.pkl`'s
/// end (`head.bin`) and from its central directory on (`tail.bin`), zeros between.
pub fn skeleton_repo(id: &str, dir: &Path) -> hub::Repo {
    let (file, len, tail_offset) = skeleton_layout(dir);
    let head = std::fs::read(dir.join("head.bin")).unwrap();
    let tail = std::fs::read(dir.join("tail.bin")).unwrap();
    hub::Repo::new(id).bytes("config.json", std::fs::read(dir.join("config.json")).unwrap()).segments(
        &file,
        vec![(0, head), (tail_offset, tail)],
        len,
    )
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

/// A stored zip of `entries` (each with its CRC-32), optionally lying in its central directory,
/// with `local_extra` bytes of extra field in each local header.
pub fn stored_zip_with(entries: &[(&str, &[u8])], lie_offset: Option<u32>, local_extra: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = capcache::format::zip::crc32(data).to_le_bytes();
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(local_extra as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend(std::iter::repeat_n(0u8, local_extra));
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02");
        cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend_from_slice(&crc);
        cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0; 12]);
        cd.extend_from_slice(&lie_offset.filter(|_| name.ends_with("data.pkl")).unwrap_or(offset).to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

pub fn stored_zip(entries: &[(&str, &[u8])], lie_offset: Option<u32>) -> Vec<u8> {
    stored_zip_with(entries, lie_offset, 0)
}
