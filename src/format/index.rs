//! Shard index files (`model.safetensors.index.json`, `pytorch_model.bin.index.json`):
//! `{"metadata": {"total_size": N}, "weight_map": {tensor: shard}}`. Shard names are checked
//! (no `..`, no absolute paths, no URLs) and resolved relative to the index's folder.

use std::collections::BTreeMap;

use crate::id::check_repo_path;

/// The largest index read (big MoE indexes reach ~60 MB).
pub const MAX_INDEX_BYTES: u64 = 128 << 20;
/// The most shards one index may name.
pub const MAX_SHARDS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index is not valid JSON: {0}")]
    Json(String),
    #[error("index has no weight_map")]
    NoWeightMap,
    #[error("index names {0} shards, over the limit of {MAX_SHARDS}")]
    TooManyShards(usize),
    #[error("index names an unsafe shard: {0}")]
    UnsafeShard(String),
}

/// A parsed index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Shard paths relative to the repository root, sorted, each with its number of tensors.
    pub shards: BTreeMap<String, usize>,
}

/// Parses an index located at `index_path` (shard names are relative to its folder).
pub fn parse(bytes: &[u8], index_path: &str) -> Result<Index, IndexError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        weight_map: Option<BTreeMap<String, String>>,
    }
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| IndexError::Json(e.to_string()))?;
    let map = raw.weight_map.ok_or(IndexError::NoWeightMap)?;
    let dir = index_path.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
    let mut shards: BTreeMap<String, usize> = BTreeMap::new();
    for file in map.values() {
        check_repo_path(file).map_err(|_| IndexError::UnsafeShard(file.clone()))?;
        *shards.entry(format!("{dir}{file}")).or_default() += 1;
        if shards.len() > MAX_SHARDS {
            return Err(IndexError::TooManyShards(shards.len()));
        }
    }
    Ok(Index { shards })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_tensors_by_shard_relative_to_the_index() {
        let i = parse(
            br#"{"metadata":{"total_size":10},"weight_map":{"a":"m-1.safetensors","b":"m-1.safetensors","c":"m-2.safetensors"}}"#,
            "unet/model.safetensors.index.json",
        )
        .unwrap();
        assert_eq!(i.shards["unet/m-1.safetensors"], 2);
    }

    #[test]
    fn rejects_unsafe_shards_and_junk() {
        for bad in ["../x.safetensors", "/abs.safetensors", "https://evil/x.safetensors"] {
            let json = format!(r#"{{"weight_map":{{"a":"{bad}"}}}}"#);
            assert_eq!(parse(json.as_bytes(), "i.json"), Err(IndexError::UnsafeShard(bad.into())));
        }
        assert_eq!(parse(b"{}", "i.json"), Err(IndexError::NoWeightMap));
        assert!(matches!(parse(b"[", "i.json"), Err(IndexError::Json(_))));
    }
}
