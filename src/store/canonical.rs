//! The canonical text of a database (keys sorted at every level, 2-space indent, trailing
//! newline), written entry by entry from id-ordered streams, so an export of any size runs in
//! constant memory. The bytes are those of [`Db::to_canonical_json`](crate::record::Db).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::StoreError;
use crate::record::{Failure, Record, SCHEMA};

/// Writes `failures` then `models`, each in strictly increasing id order (the order of a
/// `BTreeMap<String, _>` and of SQLite's `ORDER BY id`), then the schema.
pub struct CanonicalWriter<W: Write> {
    out: W,
    path: PathBuf,
    in_models: bool,
    last: Option<String>,
    buf: Vec<u8>,
    pub models: u64,
    pub failures: u64,
}

impl<W: Write> CanonicalWriter<W> {
    /// Starts a document; `path` names the destination in errors.
    pub fn new(mut out: W, path: &Path) -> Result<CanonicalWriter<W>, StoreError> {
        out.write_all(b"{\n  \"failures\": {").map_err(|e| werr(path, e))?;
        Ok(CanonicalWriter {
            out,
            path: path.to_owned(),
            in_models: false,
            last: None,
            buf: Vec::new(),
            models: 0,
            failures: 0,
        })
    }

    /// The next failure. All failures come before the first model.
    pub fn failure(&mut self, id: &str, failure: &Failure) -> Result<(), StoreError> {
        if self.in_models {
            return Err(self.invalid(format!("failure {id} after the models")));
        }
        self.entry(id, failure)?;
        self.failures += 1;
        Ok(())
    }

    /// The next model record.
    pub fn model(&mut self, id: &str, record: &Record) -> Result<(), StoreError> {
        if !self.in_models {
            self.start_models()?;
        }
        self.entry(id, record)?;
        self.models += 1;
        Ok(())
    }

    /// Ends the document and returns the destination.
    pub fn finish(mut self) -> Result<W, StoreError> {
        if !self.in_models {
            self.start_models()?;
        }
        self.close_section()?;
        let tail = format!(",\n  \"schema\": {SCHEMA}\n}}\n");
        self.out.write_all(tail.as_bytes()).map_err(|e| werr(&self.path, e))?;
        Ok(self.out)
    }

    fn start_models(&mut self) -> Result<(), StoreError> {
        self.close_section()?;
        self.out.write_all(b",\n  \"models\": {").map_err(|e| werr(&self.path, e))?;
        self.in_models = true;
        self.last = None;
        Ok(())
    }

    fn close_section(&mut self) -> Result<(), StoreError> {
        let close: &[u8] = if self.last.is_none() { b"}" } else { b"\n  }" };
        self.out.write_all(close).map_err(|e| werr(&self.path, e))
    }

    /// `"id": value`, the value pretty-printed with sorted keys at the entry's depth.
    fn entry<T: Serialize>(&mut self, id: &str, value: &T) -> Result<(), StoreError> {
        if self.last.as_deref().is_some_and(|last| last >= id) {
            return Err(self.invalid(format!("{id} is out of id order")));
        }
        let separator: &[u8] = if self.last.is_none() { b"\n    " } else { b",\n    " };
        // Through `Value`, whose objects are BTreeMaps: every key sorted, as the whole-document
        // form sorts them.
        let value = serde_json::to_value(value).map_err(|e| self.invalid(e.to_string()))?;
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, &value).map_err(|e| self.invalid(e.to_string()))?;
        let key = serde_json::to_string(id).map_err(|e| self.invalid(e.to_string()))?;
        let io = |out: &mut W, buf: &[u8]| -> std::io::Result<()> {
            out.write_all(separator)?;
            out.write_all(key.as_bytes())?;
            out.write_all(b": ")?;
            // JSON strings hold no raw newline, so every newline starts a line to indent.
            for (i, line) in buf.split(|b| *b == b'\n').enumerate() {
                if i > 0 {
                    out.write_all(b"\n    ")?;
                }
                out.write_all(line)?;
            }
            Ok(())
        };
        io(&mut self.out, &self.buf).map_err(|e| werr(&self.path, e))?;
        self.last = Some(id.to_owned());
        Ok(())
    }

    fn invalid(&self, message: String) -> StoreError {
        werr(&self.path, std::io::Error::new(std::io::ErrorKind::InvalidInput, message))
    }
}

fn werr(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Write { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Db;

    fn streamed(db: &Db) -> String {
        let mut w = CanonicalWriter::new(Vec::new(), Path::new("<memory>")).unwrap();
        for (id, f) in &db.failures {
            w.failure(id, f).unwrap();
        }
        for (id, r) in &db.models {
            w.model(id, r).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn byte_identical_to_the_whole_document_form() {
        let mut db = crate::store::embedded::load();
        assert_eq!(streamed(&db), db.to_canonical_json());
        assert_eq!(streamed(&Db::default()), Db::default().to_canonical_json());
        let failure = Failure {
            outcome: crate::record::Outcome::Gated,
            message: "needs \"a token\"\nand\taccess: é ✓".into(),
            at: "2026-11-26T00:00:00Z".into(),
            tried: vec![],
        };
        db.failures.insert("org/Z".into(), failure.clone());
        db.failures.insert("org/a".into(), failure);
        assert_eq!(streamed(&db), db.to_canonical_json());
        db.models.clear();
        assert_eq!(streamed(&db), db.to_canonical_json());
    }

    #[test]
    fn out_of_order_ids_are_refused() {
        let db = crate::store::embedded::load();
        let (id, r) = db.models.iter().next().unwrap();
        let mut w = CanonicalWriter::new(Vec::new(), Path::new("<memory>")).unwrap();
        w.model(id, r).unwrap();
        assert!(w.model(id, r).is_err());
        let f = Failure { outcome: crate::record::Outcome::Gated, message: "m".into(), at: "t".into(), tried: vec![] };
        assert!(w.failure("a/b", &f).is_err());
    }
}
