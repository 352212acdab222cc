//! The Hub API's answers as typed values: a model (commit, file list, parameter counts by dtype)
//! and a tree listing page's entries, each capped as it is read (files, dtypes), and a model
//! answer turned into a pinned [`Snapshot`] with unsafe paths skipped.

use std::collections::BTreeMap;

use tracing::warn;

use super::super::{MAX_REPO_FILES, Snapshot};
use crate::id::{ModelId, check_repo_path};

/// A commit sha as the Hub gives it: 40 hex digits (64 for SHA-256 repos).
pub(super) fn is_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The most dtypes the Hub's parameter counts of one model may name (a checkpoint has a handful).
pub(super) const MAX_DTYPES: usize = 64;

/// A model as the model API (and each entry of the model listing) describes it.
#[derive(serde::Deserialize)]
pub(crate) struct ApiModel {
    sha: Option<String>,
    /// `None`: not asked for (`expand[]=siblings`).
    siblings: Option<Capped<ApiSibling, MAX_REPO_FILES>>,
    safetensors: Option<ApiSafetensors>,
}

/// An entry of a tree listing page (its other fields are skipped unread).
#[derive(serde::Deserialize)]
pub(super) struct ApiTreeEntry {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) path: Option<String>,
    pub(super) size: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ApiSibling {
    rfilename: String,
}

#[derive(serde::Deserialize)]
struct ApiSafetensors {
    parameters: Counts,
}

/// A JSON array of at most `N` items, refused past that as it is read (not after).
pub(super) struct Capped<T, const N: usize>(pub(super) Vec<T>);

impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for V<T, N> {
            type Value = Capped<T, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an array of at most {N} items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == N {
                        return Err(serde::de::Error::custom(format!("more than {N} items")));
                    }
                    out.push(item);
                }
                Ok(Capped(out))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// The Hub's parameter counts by dtype: a JSON object of at most [`MAX_DTYPES`] entries, refused
/// past that as it is read.
struct Counts(BTreeMap<String, u64>);

impl<'de> serde::Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an object of at most {MAX_DTYPES} dtypes and their counts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((dtype, n)) = map.next_entry::<String, u64>()? {
                    if out.len() == MAX_DTYPES {
                        return Err(serde::de::Error::custom(format!("more than {MAX_DTYPES} dtypes")));
                    }
                    out.insert(dtype, n);
                }
                Ok(Counts(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl ApiModel {
    /// Whether the answer lists the repository's files.
    pub(crate) fn has_files(&self) -> bool {
        self.siblings.is_some()
    }

    /// The model pinned at the answer's commit; `None` without a usable commit sha. Unsafe file
    /// paths are skipped with a warning.
    pub(crate) fn into_snapshot(self, id: &ModelId) -> Option<Snapshot> {
        let sha = self.sha.filter(|s| is_commit(s))?;
        let siblings = self.siblings.map(|s| s.0).unwrap_or_default();
        let mut files = Vec::with_capacity(siblings.len());
        for s in siblings {
            match check_repo_path(&s.rfilename) {
                Ok(()) => files.push(s.rfilename),
                Err(e) => warn!(model = %id, "{e}; skipped"),
            }
        }
        Some(Snapshot::new(id.clone(), sha, files, self.safetensors.map(|s| s.parameters.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_capped_as_they_are_read() {
        let list = |n: usize| format!("[{}]", vec!["1"; n].join(","));
        assert_eq!(serde_json::from_str::<Capped<u8, 3>>(&list(3)).unwrap().0.len(), 3);
        let e = serde_json::from_str::<Capped<u8, 3>>(&list(4)).err().unwrap();
        assert!(e.to_string().contains("more than 3 items"), "{e}");
        let counts = |n: usize| {
            let m: serde_json::Map<String, serde_json::Value> = (0..n).map(|i| (format!("D{i}"), 1.into())).collect();
            serde_json::json!({"sha": "0".repeat(40), "safetensors": {"parameters": m}}).to_string()
        };
        assert!(serde_json::from_str::<ApiModel>(&counts(MAX_DTYPES)).is_ok());
        let e = serde_json::from_str::<ApiModel>(&counts(MAX_DTYPES + 1)).err().unwrap();
        assert!(e.to_string().contains("more than 64 dtypes"), "{e}");
    }
}
