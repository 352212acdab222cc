//! `capcache estimate`: a `config.json` the caller holds (a file, a folder's, or text), counted by
//! the chain itself: a one-file source stands in for the repository, and the chain runs its
//! `config` strategy and assembles the record exactly as a resolve does (no second path).

use super::{Options, resolve_snapshot};
use crate::id::ModelId;
use crate::record::{Failure, Origin, Record, Strategy};
use crate::source::{Counters, Deadline, RangeRead, Snapshot, Source, SourceError};

/// The revision of an estimated record: the file has no commit.
pub const REVISION: &str = "local";

/// The id the one-file repository has inside the chain (its messages name the file, not this).
const ID: &str = "local/config";

/// A repository of one file, `config.json`, held in memory.
struct OneConfig {
    bytes: Vec<u8>,
    counters: Counters,
}

impl OneConfig {
    fn bytes(&self, snap: &Snapshot, path: &str) -> Result<&[u8], SourceError> {
        if path == "config.json" {
            Ok(&self.bytes)
        } else {
            Err(SourceError::EntryNotFound { id: snap.id.to_string(), path: path.into() })
        }
    }
}

impl Source for OneConfig {
    fn snapshot(&self, id: &ModelId, _: &str, _: Deadline) -> Result<Snapshot, SourceError> {
        Ok(Snapshot::new(id.clone(), REVISION.into(), vec!["config.json".into()], None))
    }

    fn read_range(
        &self,
        snap: &Snapshot,
        path: &str,
        start: u64,
        len: u64,
        _: Deadline,
    ) -> Result<RangeRead, SourceError> {
        let bytes = self.bytes(snap, path)?;
        let from = usize::try_from(start).unwrap_or(usize::MAX).min(bytes.len());
        let to = from.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)).min(bytes.len());
        Ok(RangeRead { bytes: bytes[from..to].to_vec(), file_size: bytes.len() as u64 })
    }

    fn file_size(&self, snap: &Snapshot, path: &str, _: Deadline) -> Result<u64, SourceError> {
        Ok(self.bytes(snap, path)?.len() as u64)
    }

    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64, _: Deadline) -> Result<Vec<u8>, SourceError> {
        let bytes = self.bytes(snap, path)?;
        if bytes.len() as u64 > cap {
            return Err(SourceError::TooLarge {
                id: snap.id.to_string(),
                path: path.into(),
                size: bytes.len() as u64,
                cap,
            });
        }
        Ok(bytes.to_vec())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn origin(&self) -> Origin {
        Origin::Local
    }
}

/// The config strategy's record of the `config.json` text `bytes`, through the chain; the
/// failure (with the chain's outcome and message) when it cannot count it.
pub fn estimate(bytes: Vec<u8>, now: &str) -> Result<Record, Failure> {
    let source = OneConfig { bytes, counters: Counters::default() };
    let id = ModelId::parse(ID).expect("a valid id");
    let snap = source.snapshot(&id, REVISION, Deadline::NONE).expect("an in-memory snapshot");
    let opts = Options { strategies: vec![Strategy::Config], ..Options::default() };
    resolve_snapshot(&source, &snap, &opts, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    #[test]
    fn counts_through_the_chain_and_says_why_not() {
        let config =
            br#"{"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100, "n_positions": 32}"#;
        let r = estimate(config.to_vec(), "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(r.strategy, Strategy::Config);
        assert!(!r.exact);
        assert_eq!(r.source, Some(Origin::Local));
        assert_eq!(r.revision, REVISION);
        assert!(r.total > 0 && r.capacity.kv_cache_bytes_per_token.is_some(), "{r:?}");
        let bad = estimate(b"{not json".to_vec(), "2026-01-01T00:00:00Z").unwrap_err();
        assert_eq!(bad.outcome, Outcome::InvalidConfig, "{bad:?}");
        assert!(bad.message.contains("config.json"), "{bad:?}");
        let unknown = estimate(br#"{"hidden_size": 8}"#.to_vec(), "2026-01-01T00:00:00Z").unwrap_err();
        assert_eq!(unknown.outcome, Outcome::UnsupportedArchitecture, "{unknown:?}");
    }
}
