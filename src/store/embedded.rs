//! The shipped `db.json`, compiled into the binary so `capcache get` answers with no files and no
//! network.

use std::path::Path;

use super::StoreError;
use crate::record::Db;

/// The text of the repository's `db.json` at build time.
pub const TEXT: &str = include_str!("../../db.json");

/// The embedded database.
pub fn load() -> Result<Db, StoreError> {
    super::json::parse(TEXT, Path::new("<embedded db.json>"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_copy_parses_and_is_canonical() {
        let db = super::load().unwrap();
        assert_eq!(db.to_canonical_json(), super::TEXT, "db.json in the repo is not in canonical form");
        for id in db.models.keys() {
            crate::id::ModelId::parse(id).unwrap();
        }
    }
}
