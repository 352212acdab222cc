//! `db.json`: reading with schema checks, and deterministic atomic writing (temp file in the same
//! folder, fsync, rename), so a reader never sees a half-written file and a failed write leaves the
//! old one intact.

use std::io::Write;
use std::path::Path;

use super::StoreError;
use crate::record::{Db, SCHEMA};

/// Parses database text; `path` names the source in errors.
pub fn parse(text: &str, path: &Path) -> Result<Db, StoreError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| parse_error(path, &e))?;
    match value.get("schema").and_then(|s| s.as_u64()) {
        Some(n) if n == u64::from(SCHEMA) => {}
        Some(found) => return Err(StoreError::Schema { path: path.to_owned(), found, expected: SCHEMA }),
        None => {
            return Err(StoreError::Parse {
                path: path.to_owned(),
                line: 1,
                column: 1,
                message: "no numeric \"schema\" field: this is not a capcache database".into(),
            });
        }
    }
    serde_json::from_value(value).map_err(|e| parse_error(path, &e))
}

fn parse_error(path: &Path, e: &serde_json::Error) -> StoreError {
    StoreError::Parse { path: path.to_owned(), line: e.line(), column: e.column(), message: e.to_string() }
}

/// Reads and validates a `db.json`.
pub fn read(path: &Path) -> Result<Db, StoreError> {
    let text = fs_err::read_to_string(path).map_err(|source| StoreError::Read { path: path.to_owned(), source })?;
    parse(&text, path)
}

/// Reads `path` if it exists, else an empty database. An existing file that does not parse is an
/// error: it is never silently replaced.
pub fn read_or_empty(path: &Path) -> Result<Db, StoreError> {
    match std::fs::metadata(path) {
        Ok(_) => read(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Db::default()),
        Err(source) => Err(StoreError::Read { path: path.to_owned(), source }),
    }
}

/// Writes `db` to `path` atomically. Refuses to replace an existing file that is not a valid
/// database (someone's data, or a corrupt file worth a look). Returns whether the bytes changed.
pub fn write(path: &Path, db: &Db) -> Result<bool, StoreError> {
    let text = db.to_canonical_json();
    match std::fs::read_to_string(path) {
        Ok(old) => {
            parse(&old, path)?;
            if old == text {
                return Ok(false);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(StoreError::Read { path: path.to_owned(), source }),
    }
    write_atomic(path, text.as_bytes())?;
    Ok(true)
}

/// Temp file beside `path`, write, fsync, rename over `path`, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let werr = |source| StoreError::Write { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".db.json.").suffix(".tmp").tempfile_in(dir).map_err(werr)?;
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        std::fs::write(&path, "{\"schema\": 1, \"models\": {").unwrap();
        let err = write(&path, &Db::default()).unwrap_err();
        assert!(matches!(err, StoreError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("db.json"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"schema\": 1, \"models\": {");
    }

    #[test]
    fn wrong_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        std::fs::write(&path, "{\"schema\": 7, \"models\": {}}").unwrap();
        assert!(matches!(read(&path), Err(StoreError::Schema { found: 7, .. })));
        assert!(matches!(write(&path, &Db::default()), Err(StoreError::Schema { .. })));
    }

    #[test]
    fn failed_write_leaves_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        write(&path, &Db::default()).unwrap();
        let before = std::fs::read(&path).unwrap();
        // A target whose folder cannot take the temp file: the write fails before the rename.
        let blocked = dir.path().join("missing-dir").join("db.json");
        assert!(write_atomic(&blocked, b"x").is_err());
        // A write whose rename fails (the target is a directory) leaves no temp file behind.
        let as_dir = dir.path().join("isdir");
        std::fs::create_dir(&as_dir).unwrap();
        assert!(write_atomic(&as_dir, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    #[test]
    fn unchanged_write_reports_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        assert!(write(&path, &Db::default()).unwrap());
        assert!(!write(&path, &Db::default()).unwrap());
    }
}
