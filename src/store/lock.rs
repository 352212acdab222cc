//! One build at a time per store: an advisory lock on `{store}.lock` holding the holder's pid and
//! start time. The OS releases it when the process ends, even on kill -9.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The lock file path for a store.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    store.with_file_name(name)
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
    Ok(StoreLock { _file: file })
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
}
