//! The shipped `db.json`, compiled into the binary so `capcache get` answers with no files and no
//! network.

use std::borrow::Cow;
use std::path::Path;

use super::json::Text;

/// The text of the repository's `db.json` at build time.
pub const TEXT: &str = include_str!("../../db.json");

/// How errors and messages name it.
pub const NAME: &str = "<embedded db.json>";

/// The embedded database, for look-ups.
pub fn text() -> Text {
    Text::new(Cow::Borrowed(TEXT), Path::new(NAME))
}

/// The embedded database, parsed whole.
#[cfg(test)]
pub fn load() -> crate::record::Db {
    use super::json::Section;
    let text = text();
    let idx = text.index().expect("the embedded db.json parses");
    let mut db = crate::record::Db::default();
    for (id, raw) in idx.entries(Section::Models) {
        db.models.insert(id.to_owned(), text.decode(id, raw).unwrap());
    }
    for (id, raw) in idx.entries(Section::Failures) {
        db.failures.insert(id.to_owned(), text.decode(id, raw).unwrap());
    }
    db
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_copy_parses_and_is_canonical() {
        let db = super::load();
        assert_eq!(db.to_canonical_json(), super::TEXT, "db.json in the repo is not in canonical form");
        for id in db.models.keys() {
            crate::id::ModelId::parse(id).unwrap();
        }
    }
}
