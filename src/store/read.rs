//! Look-ups without loading a store whole: a SQLite store answers by keyed queries; a db.json is
//! indexed in one pass over its text, and only the entries asked for are decoded. Ids match
//! exactly, else ignoring ASCII case, as the Hub matches them.

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;

use super::json::{Index, Section};
use super::sqlite::SqliteStore;
use super::{Stats, StoreError, embedded, is_sqlite};
use crate::record::{Failure, Record};

/// A store opened for look-ups.
pub enum ReadStore {
    Sqlite(SqliteStore),
    Json(Index),
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
            Ok(ReadStore::Json(Index::read(path)?))
        }
    }

    /// The db.json built into the binary.
    pub fn embedded() -> Result<ReadStore, StoreError> {
        Ok(ReadStore::Json(embedded::index()?))
    }

    /// The record for `id`, else its failure.
    pub fn lookup(&self, id: &str) -> Result<Found, StoreError> {
        match self {
            ReadStore::Sqlite(s) => {
                if let Some((id, r)) = s.find_model(id)? {
                    return Ok(Found::Model(id, Box::new(r)));
                }
                Ok(s.find_failure(id)?.map_or(Found::Missing, |(id, f)| Found::Failure(id, f)))
            }
            ReadStore::Json(idx) => {
                if let Some((id, raw)) = idx.find(Section::Models, id) {
                    return Ok(Found::Model(id.to_owned(), Box::new(idx.decode(id, raw)?)));
                }
                match idx.find(Section::Failures, id) {
                    Some((id, raw)) => Ok(Found::Failure(id.to_owned(), idx.decode(id, raw)?)),
                    None => Ok(Found::Missing),
                }
            }
        }
    }

    /// The ids of a section, sorted.
    pub fn ids(&self, section: Section) -> Result<Vec<String>, StoreError> {
        match self {
            ReadStore::Sqlite(s) => s.section_ids(section),
            ReadStore::Json(idx) => {
                let mut ids: Vec<String> = idx.entries(section).map(|(id, _)| id.to_owned()).collect();
                ids.sort();
                ids.dedup();
                Ok(ids)
            }
        }
    }

    /// Counts by strategy and outcome; a db.json decodes only the fields counted.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let idx = match self {
            ReadStore::Sqlite(s) => return s.stats(),
            ReadStore::Json(idx) => idx,
        };
        #[derive(Deserialize)]
        struct ModelFields<'a> {
            #[serde(borrow)]
            strategy: Cow<'a, str>,
            exact: bool,
            #[serde(borrow)]
            resolved_at: Cow<'a, str>,
        }
        #[derive(Deserialize)]
        struct FailureFields<'a> {
            #[serde(borrow)]
            outcome: Cow<'a, str>,
            #[serde(borrow)]
            at: Cow<'a, str>,
        }
        let mut stats = Stats::default();
        for (id, raw) in idx.entries(Section::Models) {
            let m: ModelFields = idx.decode(id, raw)?;
            stats.add_model(&m.strategy, m.exact, &m.resolved_at, 1);
        }
        for (id, raw) in idx.entries(Section::Failures) {
            let f: FailureFields = idx.decode(id, raw)?;
            stats.add_failure(&f.outcome, &f.at, 1);
        }
        Ok(stats)
    }
}
