//! Publishing a `db.json` atomically: the canonical text is streamed into a temp file beside the
//! target (created 0666 less the umask, as any file a program writes), compared with the current
//! file (equal bytes leave it alone: "unchanged"), then fsynced and renamed over it. A current
//! file that is not a valid database is refused and left untouched; a writer that publishes again
//! and again (a build's periodic exports) skips that check while the file is still the one it
//! wrote last ([`Stamp`]). Temp files are named after
//! the process that writes them (`.db.json.{pid}.*.tmp`); those a killed process left behind are
//! removed by the next write in the same folder ([`super::stale`]).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::StoreError;
use super::canonical::CanonicalWriter;
use super::json;
use crate::stale;

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// False when the file already held these exact bytes.
    pub changed: bool,
    pub models: u64,
    pub failures: u64,
}

/// What identifies a file as the one a publish wrote: device, inode, length and modification
/// time (a file replaced or rewritten since has another inode or time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp { dev: meta.dev(), ino: meta.ino(), len: meta.len(), mtime: (meta.mtime(), meta.mtime_nsec()) }
    }
}

/// Writes the document `fill` produces to `path`, atomically, unless the bytes are unchanged.
pub fn publish(
    path: &Path,
    fill: impl FnOnce(&mut CanonicalWriter<BufWriter<&mut File>>) -> Result<(), StoreError>,
) -> Result<Published, StoreError> {
    publish_again(path, &mut None, fill)
}

/// [`publish`], for a writer that publishes to `path` again and again: `last` is what its last
/// publish left there, and is updated. A current file that still is that one is not checked again
/// (a database read and checked whole costs as much as writing it).
pub fn publish_again(
    path: &Path,
    last: &mut Option<Stamp>,
    fill: impl FnOnce(&mut CanonicalWriter<BufWriter<&mut File>>) -> Result<(), StoreError>,
) -> Result<Published, StoreError> {
    let werr = |source| StoreError::Write { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    stale::sweep(dir, TEMP_PREFIX, ".tmp");
    let mut tmp = tempfile::Builder::new()
        .prefix(&stale::owner_prefix(TEMP_PREFIX))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(werr)?;
    let mut writer = CanonicalWriter::new(BufWriter::with_capacity(1 << 16, tmp.as_file_mut()), path)?;
    fill(&mut writer)?;
    let (models, failures) = (writer.models, writer.failures);
    writer.finish()?.flush().map_err(werr)?;
    let published = |changed| Published { changed, models, failures };
    match File::open(path) {
        Ok(mut old) => {
            if same_bytes(tmp.as_file_mut(), &mut old).map_err(werr)? {
                // These bytes are a database: the file needs no check next time either.
                *last = old.metadata().ok().map(|m| Stamp::of(&m));
                return Ok(published(false));
            }
            let ours = last.is_some() && old.metadata().ok().map(|m| Stamp::of(&m)) == *last;
            drop(old);
            // Any database may be replaced, whatever the times it holds (a build's --now may be
            // later than this clock); anything else is left alone.
            if !ours {
                json::for_each_entry_at(path, u64::MAX, |_, _| Ok(()))?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(StoreError::Read { path: path.to_owned(), source }),
    }
    tmp.as_file().sync_all().map_err(werr)?;
    let written = tmp.as_file().metadata().map(|m| Stamp::of(&m)).ok();
    tmp.persist(path).map_err(|e| werr(e.error))?;
    *last = written;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(published(true))
}

/// The start of a publish's temp file name.
const TEMP_PREFIX: &str = ".db.json.";

/// Whether two files hold the same bytes, compared a block at a time.
fn same_bytes(a: &mut File, b: &mut File) -> std::io::Result<bool> {
    if a.metadata()?.len() != b.metadata()?.len() {
        return Ok(false);
    }
    a.rewind()?;
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Db, Failure};

    fn publish_db(path: &Path, db: &Db) -> Result<Published, StoreError> {
        publish(path, |w| {
            for (id, f) in &db.failures {
                w.failure(id, f)?;
            }
            for (id, r) in &db.models {
                w.model(id, r)?;
            }
            Ok(())
        })
    }

    fn temp_files(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn corrupt_or_foreign_files_are_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        for (text, schema_error) in [
            ("{\"schema\": 1, \"models\": {", false),
            ("{\"schema\": 7, \"models\": {}}", true),
            ("{\"name\": \"someone else's\"}", false),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = publish_db(&path, &Db::default()).unwrap_err();
            assert_eq!(matches!(err, StoreError::Schema { .. }), schema_error, "{err}");
            assert!(err.to_string().contains("db.json"), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
            assert!(temp_files(dir.path()).is_empty());
        }
    }

    #[test]
    fn a_repeated_publish_skips_the_check_only_while_the_file_is_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let db = crate::store::embedded::load();
        let mut last = None;
        let again = |last: &mut Option<Stamp>, n: usize| {
            publish_again(&path, last, |w| {
                for (id, r) in db.models.iter().take(n) {
                    w.model(id, r)?;
                }
                Ok(())
            })
        };
        assert!(again(&mut last, 2).unwrap().changed);
        assert!(last.is_some());
        // Its own file: replaced without a check.
        assert!(again(&mut last, db.models.len()).unwrap().changed);
        // Someone else's file in its place (same length, written later): checked, and refused.
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        let foreign = format!("{{\"name\": \"x\"{}}}", " ".repeat(len - 13));
        assert_eq!(foreign.len(), len);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &foreign).unwrap();
        assert!(again(&mut last, 2).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), foreign);
    }

    #[test]
    fn unchanged_bytes_are_not_rewritten_and_changes_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let mut db = crate::store::embedded::load();
        let first = publish_db(&path, &db).unwrap();
        assert!(first.changed);
        assert_eq!(first.models as usize, db.models.len());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), db.to_canonical_json());
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        assert!(!publish_db(&path, &db).unwrap().changed);
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap()), inode);
        db.failures.insert(
            "a/b".into(),
            Failure { outcome: crate::record::Outcome::Gated, message: "m".into(), at: "t".into(), tried: vec![] },
        );
        assert!(publish_db(&path, &db).unwrap().changed);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), db.to_canonical_json());
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        publish_db(&path, &Db::default()).unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(publish_db(&dir.path().join("missing-dir").join("db.json"), &Db::default()).is_err());
        // The rename fails: the target is a directory.
        let as_dir = dir.path().join("isdir");
        std::fs::create_dir(&as_dir).unwrap();
        assert!(publish_db(&as_dir, &Db::default()).is_err());
        // The producer fails half-way.
        let err = publish(&path, |w| {
            w.failure(
                "a/b",
                &Failure { outcome: crate::record::Outcome::Gated, message: "m".into(), at: "t".into(), tried: vec![] },
            )?;
            Err(StoreError::Locked { path: path.clone(), lock: path.clone(), holder: "test".into() })
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn temp_files_of_a_killed_writer_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        // A pid that no process has (beyond the kernel's pid_max); and one that is alive (ours is
        // excluded, so take our parent's).
        let me = stale::host();
        let dead = dir.path().join(format!(".db.json.{me}.4294967.abc.tmp"));
        let parent = std::os::unix::process::parent_id();
        let alive = dir.path().join(format!(".db.json.{me}.{parent}.def.tmp"));
        let unrelated = dir.path().join("notes.tmp");
        for f in [&dead, &alive, &unrelated] {
            std::fs::write(f, "half a file").unwrap();
        }
        publish_db(&path, &Db::default()).unwrap();
        assert!(!dead.exists(), "a dead writer's temp file is swept");
        assert!(alive.exists(), "a live writer's is not");
        assert!(unrelated.exists());
    }
}
