//! One build at a time per store: an advisory lock on `{store}.lock` holding the holder's pid and
//! start time, beside the store's canonical path (symlinks resolved, a dangling one included), so
//! that two names of one store share one lock. The OS releases it when the process ends, even on
//! kill -9.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    /// The lock file held (beside the store's canonical path).
    pub path: PathBuf,
}

/// The lock file path for a store: beside its canonical path.
pub fn lock_path(store: &Path) -> PathBuf {
    let store = canonical(store).unwrap_or_else(|_| store.to_owned());
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    store.with_file_name(name)
}

/// The path a store is reached by with every symlink resolved, the last one even when it points at
/// nothing yet (the store a build is about to create): its folder canonicalized, then each link
/// followed, at most 40 of them.
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = std::path::absolute(path)?;
    for _ in 0..40 {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return Ok(path) };
        let here = std::fs::canonicalize(dir)?.join(name);
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => path = here.parent().unwrap_or(dir).join(std::fs::read_link(&here)?),
            _ => return Ok(here),
        }
    }
    Err(std::io::Error::other("more than 40 symbolic links"))
}

/// Takes the lock for `store`, or says who holds it.
pub fn acquire(store: &Path, started_at: &str) -> Result<StoreLock, StoreError> {
    let path = lock_path(store);
    let werr = |source| StoreError::Write { path: path.clone(), source };
    let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(werr)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() { "holder unknown".to_owned() } else { holder.trim().to_owned() };
            return Err(StoreError::Locked { path: store.to_owned(), lock: path, holder });
        }
        Err(TryLockError::Error(e)) => return Err(werr(e)),
    }
    file.set_len(0).map_err(werr)?;
    file.rewind().map_err(werr)?;
    write!(file, "pid {} since {}", std::process::id(), started_at).map_err(werr)?;
    file.flush().map_err(werr)?;
    Ok(StoreLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.sqlite");
        let held = acquire(&store, "2026-11-26T00:00:00Z").unwrap();
        let err = acquire(&store, "later").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        assert!(msg.contains("2026-11-26T00:00:00Z"), "{msg}");
        drop(held);
        acquire(&store, "again").unwrap();
    }

    #[test]
    fn two_names_of_one_store_share_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.sqlite");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        // A link made before the store exists (dangling), a link to a link, and a relative one.
        let link = sub.join("link.sqlite");
        std::os::unix::fs::symlink(&store, &link).unwrap();
        let chain = dir.path().join("chain.sqlite");
        std::os::unix::fs::symlink("sub/link.sqlite", &chain).unwrap();
        let held = acquire(&store, "first").unwrap();
        for other in [&link, &chain, &sub.join("..").join("s.sqlite")] {
            let err = acquire(other, "second").unwrap_err();
            assert!(matches!(err, StoreError::Locked { .. }), "{}: {err}", other.display());
        }
        assert_eq!(held.path, lock_path(&chain));
        drop(held);
        std::fs::write(&store, "").unwrap();
        let held = acquire(&link, "via the link").unwrap();
        assert!(acquire(&store, "direct").is_err());
        drop(held);
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        assert!(canonical(&looped).is_err());
    }
}
