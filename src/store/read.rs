//! Look-ups without loading a store whole: a SQLite store answers by keyed queries; a db.json is
//! read in one pass over its text that keeps each entry as raw text (or, for counts, only the
//! fields counted), and only the records asked for are decoded. Ids match exactly, else ignoring
//! ASCII case, as the Hub matches them. Every id of a store is checked (valid, unique ignoring
//! case) and every record answered ([`super::validate`]): a store that lies refuses the look-up.

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer};

use super::json::{Section, Text};
use super::sqlite::SqliteStore;
use super::validate::{self, RecordError};
use super::{Stats, StoreError, embedded, is_sqlite};
use crate::record::{Failure, Record};

/// A store opened for look-ups.
pub enum ReadStore {
    Sqlite(SqliteStore),
    Json(Text),
}

/// What a store knows of an id.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A record, under its stored id.
    Model(String, Box<Record>),
    /// No record; the last build of the model failed.
    Failure(String, Failure),
    Missing,
}

impl ReadStore {
    /// Opens a SQLite store (detected by its magic bytes) or a db.json.
    pub fn open(path: &Path) -> Result<ReadStore, StoreError> {
        if is_sqlite(path) {
            Ok(ReadStore::Sqlite(SqliteStore::open_read_only(path)?))
        } else {
            Ok(ReadStore::Json(Text::read(path)?))
        }
    }

    /// The db.json built into the binary.
    pub fn embedded() -> ReadStore {
        ReadStore::Json(embedded::text())
    }

    /// The record for each of `ids`, else its failure, in order.
    pub fn lookup(&self, ids: &[&str]) -> Result<Vec<Found>, StoreError> {
        let text = match self {
            ReadStore::Sqlite(s) => return ids.iter().map(|id| sqlite_lookup(s, id)).collect(),
            ReadStore::Json(text) => text,
        };
        let idx = text.index()?;
        let now = validate::now();
        let refuse = |error: RecordError| StoreError::Invalid { path: text.path().to_owned(), error };
        let one = |id: &str| -> Result<Found, StoreError> {
            if let Some((id, raw)) = idx.find(Section::Models, id) {
                let r: Record = text.decode(id, raw)?;
                validate::check_record(id, &r, now).map_err(refuse)?;
                return Ok(Found::Model(id.to_owned(), Box::new(r)));
            }
            match idx.find(Section::Failures, id) {
                Some((id, raw)) => {
                    let f: Failure = text.decode(id, raw)?;
                    validate::check_failure(id, &f, now).map_err(refuse)?;
                    Ok(Found::Failure(id.to_owned(), f))
                }
                None => Ok(Found::Missing),
            }
        };
        ids.iter().map(|id| one(id)).collect()
    }

    /// The ids of a section, sorted.
    pub fn ids(&self, section: Section) -> Result<Vec<String>, StoreError> {
        match self {
            ReadStore::Sqlite(s) => s.section_ids(section),
            ReadStore::Json(text) => {
                let mut ids: Vec<String> = text.index()?.entries(section).map(|(id, _)| id.to_owned()).collect();
                ids.sort();
                ids.dedup();
                Ok(ids)
            }
        }
    }

    /// Counts by strategy and outcome; a db.json decodes only the fields counted.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let text = match self {
            ReadStore::Sqlite(s) => return s.stats(),
            ReadStore::Json(text) => text,
        };
        let mut stats = Stats::default();
        text.walk(&Counted, |_, _, fields| {
            match fields {
                Fields::Model(m) => stats.add_model(&m.strategy, m.exact, &m.resolved_at, 1),
                Fields::Failure(f) => stats.add_failure(&f.outcome, &f.at, 1),
            }
            Ok(())
        })?;
        Ok(stats)
    }
}

fn sqlite_lookup(s: &SqliteStore, id: &str) -> Result<Found, StoreError> {
    if let Some((id, r)) = s.find_model(id)? {
        return Ok(Found::Model(id, Box::new(r)));
    }
    Ok(s.find_failure(id)?.map_or(Found::Missing, |(id, f)| Found::Failure(id, f)))
}

/// The fields of a record that [`ReadStore::stats`] counts.
#[derive(Deserialize)]
struct ModelFields<'a> {
    #[serde(borrow)]
    strategy: Cow<'a, str>,
    exact: bool,
    #[serde(borrow)]
    resolved_at: Cow<'a, str>,
}

/// The fields of a failure that [`ReadStore::stats`] counts.
#[derive(Deserialize)]
struct FailureFields<'a> {
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
}

enum Fields<'a> {
    Model(ModelFields<'a>),
    Failure(FailureFields<'a>),
}

/// Reads an entry's counted fields as its section's.
struct Counted(Section);

impl<'de> DeserializeSeed<'de> for Counted {
    type Value = Fields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Fields<'de>, D::Error> {
        match self.0 {
            Section::Models => ModelFields::deserialize(de).map(Fields::Model),
            Section::Failures => FailureFields::deserialize(de).map(Fields::Failure),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_json_and_sqlite_answer_alike() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("db.json");
        std::fs::write(&json_path, embedded::TEXT).unwrap();
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        crate::store::import::import(&mut store, &json_path, &|_| true).unwrap();
        drop(store);
        let stores = [
            ReadStore::open(&json_path).unwrap(),
            ReadStore::open(&dir.path().join("s.sqlite")).unwrap(),
            ReadStore::embedded(),
        ];
        assert!(matches!(stores[1], ReadStore::Sqlite(_)));
        let db = embedded::load();
        let want_exact = db.models.values().filter(|r| r.exact).count() as u64;
        for s in &stores {
            let stats = s.stats().unwrap();
            assert_eq!((stats.models, stats.exact), (db.models.len() as u64, want_exact));
            assert_eq!(stats.by_strategy.values().sum::<u64>(), stats.models);
            assert_eq!(s.ids(Section::Models).unwrap(), db.models.keys().cloned().collect::<Vec<_>>());
            let found = s.lookup(&["FACEBOOK/opt-125M", "nobody/none"]).unwrap();
            assert_eq!(
                found[0],
                Found::Model("facebook/opt-125m".into(), Box::new(db.models["facebook/opt-125m"].clone()))
            );
            assert_eq!(found[1], Found::Missing);
        }
    }
}
