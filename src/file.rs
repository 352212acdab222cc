//! Opening a file capcache reads whole or by range (`get --db`, a `--seed`, a merge input,
//! `estimate`'s config, a local model folder's files, following symlinks as HF cache snapshots
//! link to blobs): only a regular file, with a size cap, and never a wait. The path is opened with `O_NONBLOCK` (a FIFO
//! opens at once instead of waiting for a writer) and the open file checked with `fstat`, so a
//! FIFO, a device (`/dev/zero`) or a folder is refused at once, whatever was swapped in between.

use std::fs::File;
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The largest db.json read (a look-up holds it in memory): about 300,000 records.
pub const MAX_STORE_BYTES: u64 = 1 << 30;

/// Opens `path` for reading if it is a regular file (symlinks followed) of at most `cap` bytes.
pub fn open_regular(path: &Path, cap: u64) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a folder" } else { "not a regular file (a FIFO, a device or a socket)" };
        return Err(Error::new(ErrorKind::InvalidInput, format!("it is {what}")));
    }
    if meta.len() > cap {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("it is {} bytes, more than the {cap} bytes capcache reads", meta.len()),
        ));
    }
    Ok(file)
}

/// Reads a regular file of at most `cap` bytes whole (a file growing while read stops at the cap).
pub fn read_regular(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path, cap)?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(Error::new(ErrorKind::InvalidInput, format!("it grew past the {cap} bytes capcache reads")));
    }
    Ok(bytes)
}

/// `O_NONBLOCK` on Linux and the BSDs (no libc dependency for one constant).
#[cfg(unix)]
const O_NONBLOCK: i32 = if cfg!(any(target_os = "linux", target_os = "android")) { 0o4000 } else { 0x0004 };

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn only_regular_files_under_the_cap_are_read_and_nothing_waits() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let started = Instant::now();
        for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let e = read_regular(path, 1 << 20).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}: {e}", path.display());
        }
        assert!(started.elapsed() < Duration::from_secs(2), "refused at once: {:?}", started.elapsed());
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert!(read_regular(&file, 4).unwrap_err().to_string().contains("more than the 4 bytes"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 5).unwrap(), b"12345");
    }
}
