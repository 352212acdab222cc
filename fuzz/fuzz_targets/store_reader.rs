//! The store reader on arbitrary bytes: a db.json walked (ids checked valid and unique, repeated
//! sections refused), every entry decoded (repeated keys refused) and checked as every reader
//! checks it, and the counts `stats` makes. Errors, never panics or hangs.
#![no_main]
use std::borrow::Cow;
use std::path::Path;

use capcache::record::{Failure, Record};
use capcache::store::json::{Section, Text};
use capcache::store::read::ReadStore;
use capcache::store::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let text = Text::new(Cow::Owned(text.to_owned()), Path::new("fuzz.json"));
    if let Ok(idx) = text.index() {
        for (id, raw) in idx.entries(Section::Models) {
            if let Ok(r) = text.decode::<Record>(id, raw) {
                let _ = validate::check_record(id, &r, 1_795_665_600);
            }
        }
        for (id, raw) in idx.entries(Section::Failures) {
            if let Ok(f) = text.decode::<Failure>(id, raw) {
                let _ = validate::check_failure(id, &f, 1_795_665_600);
            }
        }
    }
    let store = ReadStore::Json(text);
    let _ = store.stats();
    let _ = store.lookup(&["facebook/opt-125m", "a/b"]);
});
