//! Loading a `db.json` into a SQLite store, streamed (memory bounded whatever the file's size) in
//! one transaction: entries the store lacks are added, entries it has are kept (the store is the
//! working truth). A file that does not parse adds nothing.

use std::path::Path;

use super::StoreError;
use super::json::{self, Entry};
use super::sqlite::SqliteStore;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Records added.
    pub added: u64,
    /// Records the store already had, kept.
    pub kept: u64,
    /// Failures added (when asked for).
    pub failures: u64,
}

/// Imports the records of the `db.json` at `path` (and its failures when `with_failures`).
pub fn import(store: &mut SqliteStore, path: &Path, with_failures: bool) -> Result<Imported, StoreError> {
    let bulk = store.bulk()?;
    let mut done = Imported::default();
    json::for_each_entry(path, |id, entry| {
        match entry {
            Entry::Model(record) => {
                if bulk.add_model(&id, &record)? {
                    done.added += 1;
                } else {
                    done.kept += 1;
                }
            }
            Entry::Failure(failure) => {
                if with_failures && bulk.add_failure(&id, &failure)? {
                    done.failures += 1;
                }
            }
        }
        Ok(())
    })?;
    bulk.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::tests::{canonical, sample};

    #[test]
    fn adds_what_the_store_lacks_keeps_what_it_has_and_round_trips_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("db.json");
        std::fs::write(&json_path, crate::store::embedded::TEXT).unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        let done = import(&mut s, &json_path, true).unwrap();
        assert_eq!(done.kept, 0);
        assert_eq!(canonical(&s), crate::store::embedded::TEXT);

        let id = crate::store::embedded::load().models.into_keys().next().unwrap();
        s.put_record(&id, &sample("mine"), "t").unwrap();
        let again = import(&mut s, &json_path, false).unwrap();
        assert_eq!((again.added, again.kept), (0, done.added));
        assert_eq!(s.get(&id).unwrap().unwrap().record.revision, "mine");
    }

    #[test]
    fn a_file_that_does_not_parse_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("db.json");
        // Valid records first, then a truncated document: the whole import is rolled back.
        let text = crate::store::embedded::TEXT;
        std::fs::write(&json_path, &text[..text.len() - 40]).unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        let err = import(&mut s, &json_path, true).unwrap_err();
        assert!(matches!(err, StoreError::Parse { .. }), "{err}");
        assert!(s.ids().unwrap().is_empty());
    }
}
