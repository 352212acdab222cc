//! Shard index files (`model.safetensors.index.json`, `pytorch_model.bin.index.json`):
//! `{"metadata": {"total_size": N}, "weight_map": {tensor: shard}}`. Shard names are checked
//! (no `..`, no absolute paths, no URLs) and resolved relative to the index's folder. The
//! `weight_map` is streamed: each entry is checked and counted into its shard as it is read, so
//! the shard cap stops a hostile index before it is held whole, and nothing else becomes a tree.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

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

/// Why the stream stopped, when it was not the JSON itself.
#[derive(Default)]
struct Stop(std::cell::RefCell<Option<IndexError>>);

/// The index object: `weight_map` streamed into shards, other fields skipped.
struct IndexSeed<'a> {
    dir: &'a str,
    stop: &'a Stop,
}

impl<'de> DeserializeSeed<'de> for IndexSeed<'_> {
    type Value = Option<BTreeMap<String, usize>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IndexSeed<'_> {
    type Value = Option<BTreeMap<String, usize>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an index object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut shards = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "weight_map" {
                if shards.is_some() {
                    return Err(de::Error::duplicate_field("weight_map"));
                }
                shards = Some(map.next_value_seed(WeightMap { dir: self.dir, stop: self.stop })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(shards)
    }
}

/// `{tensor: shard}`, counted per shard as it streams by.
struct WeightMap<'a> {
    dir: &'a str,
    stop: &'a Stop,
}

impl<'de> DeserializeSeed<'de> for WeightMap<'_> {
    type Value = BTreeMap<String, usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WeightMap<'_> {
    type Value = BTreeMap<String, usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of tensor names to shard files")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut shards: BTreeMap<String, usize> = BTreeMap::new();
        while map.next_key::<IgnoredAny>()?.is_some() {
            let file: String = map.next_value()?;
            let fail = |e: IndexError| {
                *self.stop.0.borrow_mut() = Some(e);
                de::Error::custom("stopped")
            };
            if check_repo_path(&file).is_err() {
                return Err(fail(IndexError::UnsafeShard(file)));
            }
            *shards.entry(format!("{}{file}", self.dir)).or_default() += 1;
            if shards.len() > MAX_SHARDS {
                return Err(fail(IndexError::TooManyShards(shards.len())));
            }
        }
        Ok(shards)
    }
}

/// Parses an index located at `index_path` (shard names are relative to its folder).
pub fn parse(bytes: &[u8], index_path: &str) -> Result<Index, IndexError> {
    let dir = index_path.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
    let stop = Stop::default();
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let shards = IndexSeed { dir: &dir, stop: &stop }
        .deserialize(&mut d)
        .and_then(|s| d.end().map(|()| s))
        .map_err(|e| stop.0.borrow_mut().take().unwrap_or_else(|| IndexError::Json(e.to_string())))?;
    Ok(Index { shards: shards.ok_or(IndexError::NoWeightMap)? })
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

    #[test]
    fn the_shard_cap_stops_the_stream() {
        let mut json = String::from(r#"{"weight_map":{"#);
        for i in 0..=MAX_SHARDS {
            json.push_str(&format!(r#""t{i}":"s{i}.safetensors","#));
        }
        json.push_str(r#""x": 1 }}"#); // malformed after the cap: never reached
        assert_eq!(parse(json.as_bytes(), "i.json"), Err(IndexError::TooManyShards(MAX_SHARDS + 1)));
    }
}
