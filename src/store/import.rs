//! Loading a `db.json` or another SQLite store into a SQLite store, streamed (memory bounded
//! whatever the sizes) in one transaction: entries the store lacks are added, entries it has are
//! kept (the store is the working truth). A source that does not read to its end, or holds an
//! entry that fails the store checks ([`super::validate`], times against the store's clock), adds
//! nothing.

use std::path::Path;

use super::json::{self, Entry};
use super::sqlite::{Bulk, SqliteStore};
use super::{StoreError, is_sqlite};

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Records added.
    pub added: u64,
    /// Records the store already had, kept.
    pub kept: u64,
    /// Failures added.
    pub failures: u64,
}

impl Imported {
    /// Adds one entry whose id `keep` accepts.
    fn add(&mut self, bulk: &Bulk, id: &str, entry: &Entry, keep: &dyn Fn(&str) -> bool) -> Result<(), StoreError> {
        if !keep(id) {
            return Ok(());
        }
        match entry {
            Entry::Model(record) => {
                if bulk.add_model(id, record)? {
                    self.added += 1;
                } else {
                    self.kept += 1;
                }
            }
            Entry::Failure(failure) => {
                if bulk.add_failure(id, failure)? {
                    self.failures += 1;
                }
            }
        }
        Ok(())
    }
}

/// Imports the entries of the `db.json` or SQLite store at `path` whose ids `keep` accepts.
pub fn import_any(store: &mut SqliteStore, path: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Imported, StoreError> {
    if is_sqlite(path) {
        let mut from = SqliteStore::open_read_only(path)?;
        from.set_now(store.now());
        import_store(store, &from, keep)
    } else {
        import(store, path, keep)
    }
}

/// Imports the entries of the `db.json` at `path` whose ids `keep` accepts.
pub fn import(store: &mut SqliteStore, path: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Imported, StoreError> {
    let bulk = store.bulk()?;
    let mut done = Imported::default();
    let now = bulk.now();
    json::for_each_entry_at(path, now, |id, entry| done.add(&bulk, &id, &entry, keep))?;
    bulk.commit()?;
    Ok(done)
}

/// Imports the entries of another store whose ids `keep` accepts.
pub fn import_store(
    store: &mut SqliteStore,
    from: &SqliteStore,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Imported, StoreError> {
    let bulk = store.bulk()?;
    let mut done = Imported::default();
    for row in from.failures() {
        let (id, f) = row?;
        done.add(&bulk, &id, &Entry::Failure(f), keep)?;
    }
    for row in from.models() {
        let (id, r) = row?;
        done.add(&bulk, &id, &Entry::Model(Box::new(r)), keep)?;
    }
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
        let done = import(&mut s, &json_path, &|_| true).unwrap();
        assert_eq!(done.kept, 0);
        assert_eq!(canonical(&s), crate::store::embedded::TEXT);

        let id = crate::store::embedded::load().models.into_keys().next().unwrap();
        s.put_record(&id, &sample("mine"), "t").unwrap();
        let again = import(&mut s, &json_path, &|_| true).unwrap();
        assert_eq!((again.added, again.kept), (0, done.added));
        assert_eq!(s.get(&id).unwrap().unwrap().record.revision, "mine");

        // From another store, only the ids asked for.
        let mut t = SqliteStore::open(&dir.path().join("t.sqlite")).unwrap();
        let from = dir.path().join("s.sqlite");
        let some = import_any(&mut t, &from, &|id| id.starts_with('f')).unwrap();
        assert!(some.added > 0 && some.added < done.added, "{some:?}");
        assert!(t.ids().unwrap().iter().all(|i| i.starts_with('f')));
        drop(s);
        let all = import_any(&mut t, &from, &|_| true).unwrap();
        assert_eq!((all.added + all.kept, all.kept), (done.added, some.added));
    }

    #[test]
    fn a_file_that_does_not_parse_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("db.json");
        // Valid records first, then a truncated document: the whole import is rolled back.
        let text = crate::store::embedded::TEXT;
        std::fs::write(&json_path, &text[..text.len() - 40]).unwrap();
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        let err = import(&mut s, &json_path, &|_| true).unwrap_err();
        assert!(matches!(err, StoreError::Parse { .. }), "{err}");
        assert!(s.ids().unwrap().is_empty());
    }
}
