//! Local model folders: the Hugging Face cache layout (`models--{org}--{name}/snapshots/{sha}/`,
//! `refs/{revision}`, also under a `hub/` subfolder as in `$HF_HOME`) and plain `{root}/{org}/{name}/`
//! mirrors. Ranges are file reads. The revision is the snapshot sha where the layout has one; a
//! plain folder gets a fingerprint of every file's name, size, modification time and inode, which
//! changes when any file does.
//!
//! The folders are as untrusted as the Hub: only regular files are opened (a FIFO or a device
//! would hang or flood the run), a `refs/` file is read with a small cap and must hold a commit sha,
//! and its content never appears in an error.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Counters, Deadline, MAX_REPO_FILES, RangeRead, Snapshot, Source, SourceError};
use crate::id::{ModelId, check_repo_path};
use crate::record::Origin;

/// The largest `refs/` file read (a sha and a newline).
const MAX_REF: u64 = 256;

/// A folder of model folders.
pub struct LocalSource {
    root: PathBuf,
    counters: Counters,
    /// Stands in for the Hub (`HF_HUB_OFFLINE`): a model it lacks fails as `offline`.
    offline: bool,
}

impl LocalSource {
    pub fn new(root: impl Into<PathBuf>) -> LocalSource {
        LocalSource { root: root.into(), counters: Counters::default(), offline: false }
    }

    /// The local HF cache standing in for an offline Hub.
    pub fn offline(cache: impl Into<PathBuf>) -> LocalSource {
        LocalSource { offline: true, ..LocalSource::new(cache) }
    }

    /// `path` of `snap` in the HF cache layout, when it is there as a regular file.
    pub fn cached_file(&self, snap: &Snapshot, path: &str) -> Option<PathBuf> {
        check_repo_path(path).ok()?;
        self.cache_dirs(&snap.id)
            .into_iter()
            .map(|c| c.join("snapshots").join(&snap.sha).join(path))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// The folder holding `snap`'s files.
    pub fn snapshot_dir(&self, snap: &Snapshot) -> Result<PathBuf, SourceError> {
        let (org, name) = snap.id.parts();
        for cache in self.cache_dirs(&snap.id) {
            let dir = cache.join("snapshots").join(&snap.sha);
            if dir.is_dir() {
                return Ok(dir);
            }
        }
        let plain = self.root.join(org).join(name);
        if plain.is_dir() {
            return Ok(plain);
        }
        Err(SourceError::RepoNotFound { id: snap.id.to_string(), path: self.root.display().to_string() })
    }

    fn cache_dirs(&self, id: &ModelId) -> [PathBuf; 2] {
        let (org, name) = id.parts();
        let folder = format!("models--{org}--{name}");
        [self.root.join(&folder), self.root.join("hub").join(&folder)]
    }

    fn file(&self, snap: &Snapshot, path: &str) -> Result<(File, u64), SourceError> {
        let io = |message: String| SourceError::Io { id: snap.id.to_string(), path: path.into(), message };
        check_repo_path(path).map_err(io)?;
        let full = self.snapshot_dir(snap)?.join(path);
        let file = crate::file::open_regular(&full, u64::MAX).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SourceError::EntryNotFound { id: snap.id.to_string(), path: path.into() }
            } else {
                io(format!("{}: {e}", full.display()))
            }
        })?;
        let size = file.metadata().map_err(|e| io(format!("{}: {e}", full.display())))?.len();
        Ok((file, size))
    }

    /// The snapshot of `revision`: the HF cache layout's, else a plain `{org}/{name}` folder.
    fn find(&self, id: &ModelId, revision: &str) -> Result<Snapshot, SourceError> {
        let not_found = || SourceError::RepoNotFound { id: id.to_string(), path: self.root.display().to_string() };
        for cache in self.cache_dirs(id) {
            if !cache.is_dir() {
                continue;
            }
            let sha = match self.read_ref(id, &cache, revision)? {
                Some(sha) => sha,
                None if check_repo_path(revision).is_ok() && cache.join("snapshots").join(revision).is_dir() => {
                    revision.to_owned()
                }
                None => {
                    return Err(SourceError::RevisionNotFound {
                        id: id.to_string(),
                        revision: revision.into(),
                        path: cache.display().to_string(),
                    });
                }
            };
            let dir = cache.join("snapshots").join(&sha);
            if !dir.is_dir() || check_repo_path(&sha).is_err() {
                return Err(SourceError::RevisionNotFound {
                    id: id.to_string(),
                    revision: revision.into(),
                    path: dir.display().to_string(),
                });
            }
            let files = list_files(&dir).map_err(|message| SourceError::Io {
                id: id.to_string(),
                path: dir.display().to_string(),
                message,
            })?;
            return Ok(Snapshot::new(id.clone(), sha, files, None));
        }
        let (org, name) = id.parts();
        let plain = self.root.join(org).join(name);
        if !plain.is_dir() {
            return Err(not_found());
        }
        let files = list_files(&plain).map_err(|message| SourceError::Io {
            id: id.to_string(),
            path: plain.display().to_string(),
            message,
        })?;
        let sha = fingerprint(&plain, &files);
        Ok(Snapshot::new(id.clone(), sha, files, None))
    }

    /// The commit a `refs/{revision}` file names, `None` when there is no such file.
    fn read_ref(&self, id: &ModelId, cache: &Path, revision: &str) -> Result<Option<String>, SourceError> {
        let bad = |why: &str| SourceError::Io {
            id: id.to_string(),
            path: format!("refs/{revision}"),
            message: format!("{why} (a refs file holds one commit sha)"),
        };
        if check_repo_path(revision).is_err() {
            return Err(bad("unsafe revision"));
        }
        let file = match crate::file::open_regular(&cache.join("refs").join(revision), u64::MAX) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(&format!("unreadable: {}", e.kind()))),
        };
        let mut text = Vec::new();
        file.take(MAX_REF + 1).read_to_end(&mut text).map_err(|e| bad(&format!("unreadable: {}", e.kind())))?;
        if text.len() as u64 > MAX_REF {
            return Err(bad("longer than 256 bytes"));
        }
        let sha = std::str::from_utf8(&text).map(str::trim).unwrap_or("");
        if sha.is_empty() || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a commit sha"));
        }
        Ok(Some(sha.to_owned()))
    }
}

impl Source for LocalSource {
    fn snapshot(&self, id: &ModelId, revision: &str, deadline: Deadline) -> Result<Snapshot, SourceError> {
        let _ = deadline; // local reads do not wait on anyone
        match self.find(id, revision) {
            Err(SourceError::RepoNotFound { .. } | SourceError::RevisionNotFound { .. }) if self.offline => {
                Err(SourceError::Offline {
                    id: id.to_string(),
                    revision: revision.into(),
                    cache: self.root.display().to_string(),
                })
            }
            other => other,
        }
    }

    fn read_range(
        &self,
        snap: &Snapshot,
        path: &str,
        start: u64,
        len: u64,
        _: Deadline,
    ) -> Result<RangeRead, SourceError> {
        let (mut file, file_size) = self.file(snap, path)?;
        let io =
            |e: std::io::Error| SourceError::Io { id: snap.id.to_string(), path: path.into(), message: e.to_string() };
        let want = len.min(file_size.saturating_sub(start));
        let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        file.take(want).read_to_end(&mut bytes).map_err(io)?;
        self.counters.add(1, bytes.len() as u64);
        Ok(RangeRead { bytes, file_size })
    }

    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64, _: Deadline) -> Result<Vec<u8>, SourceError> {
        let (file, size) = self.file(snap, path)?;
        if size > cap {
            return Err(SourceError::TooLarge { id: snap.id.to_string(), path: path.into(), size, cap });
        }
        let mut bytes = Vec::new();
        file.take(cap).read_to_end(&mut bytes).map_err(|e| SourceError::Io {
            id: snap.id.to_string(),
            path: path.into(),
            message: e.to_string(),
        })?;
        self.counters.add(1, bytes.len() as u64);
        Ok(bytes)
    }

    fn file_size(&self, snap: &Snapshot, path: &str, _: Deadline) -> Result<u64, SourceError> {
        self.file(snap, path).map(|(_, size)| size)
    }

    fn origin(&self) -> Origin {
        Origin::Local
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn parallelism(&self) -> usize {
        std::thread::available_parallelism().map_or(4, usize::from)
    }
}

/// Relative paths of the files below `dir` (hidden entries skipped), sorted.
fn list_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Follows symlinks: HF cache snapshots link to ../../blobs.
            let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_dir() {
                stack.push(path);
            } else if !meta.is_file() {
                continue; // FIFOs, sockets, devices: never a model file
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if check_repo_path(&rel).is_ok() {
                    out.push(rel);
                }
            }
            if out.len() > MAX_REPO_FILES {
                return Err(format!("more than {MAX_REPO_FILES} files"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A fingerprint of a plain folder: FNV-1a over each file's name, size, modification time and
/// inode, so that a rewritten weight file (anywhere in it, not just its first bytes) changes it.
fn fingerprint(dir: &Path, files: &[String]) -> String {
    let mut h = crate::fnv::Fnv1a::new();
    let mut feed = |bytes: &[u8]| h.write(bytes);
    for f in files {
        feed(f.as_bytes());
        feed(&[0]);
        if let Ok(meta) = std::fs::metadata(dir.join(f)) {
            feed(&meta.len().to_le_bytes());
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            feed(&mtime.map_or(0, |d| d.as_nanos()).to_le_bytes());
            #[cfg(unix)]
            feed(&std::os::unix::fs::MetadataExt::ino(&meta).to_le_bytes());
        }
    }
    format!("local-{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Deadline = Deadline::NONE;

    fn write(p: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    #[test]
    fn cache_layout_and_plain_folder_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let id = ModelId::parse("org/model").unwrap();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let cache = dir.path().join("cache");
        let snap_dir = cache.join("models--org--model/snapshots").join(sha);
        write(&cache.join("models--org--model/refs/main"), sha.as_bytes());
        write(&snap_dir.join("config.json"), b"{\"a\": 1}");
        write(&snap_dir.join("sub/w.bin"), b"0123456789");
        let plain = dir.path().join("plain");
        write(&plain.join("org/model/config.json"), b"{\"a\": 1}");
        write(&plain.join("org/model/sub/w.bin"), b"0123456789");

        let a = LocalSource::new(&cache);
        let b = LocalSource::new(&plain);
        let sa = a.snapshot(&id, "main", N).unwrap();
        let sb = b.snapshot(&id, "main", N).unwrap();
        assert_eq!(sa.sha, sha);
        assert!(sb.sha.starts_with("local-"));
        assert_eq!(sa.files, sb.files);
        for path in &sa.files {
            assert_eq!(a.read_small(&sa, path, 100, N).unwrap(), b.read_small(&sb, path, 100, N).unwrap());
        }
        let ra = a.read_range(&sa, "sub/w.bin", 3, 4, N).unwrap();
        let rb = b.read_range(&sb, "sub/w.bin", 3, 4, N).unwrap();
        assert_eq!((ra.bytes.as_slice(), ra.file_size), (&b"3456"[..], 10));
        assert_eq!((rb.bytes, rb.file_size), (ra.bytes, ra.file_size));
        assert!(matches!(a.read_small(&sa, "sub/w.bin", 5, N), Err(SourceError::TooLarge { .. })));
        assert!(matches!(a.read_small(&sa, "missing", 5, N), Err(SourceError::EntryNotFound { .. })));
        assert!(matches!(a.read_small(&sa, "../refs/main", 500, N), Err(SourceError::Io { .. })));
        assert!(matches!(a.snapshot(&id, "v2", N), Err(SourceError::RevisionNotFound { .. })));
        assert!(matches!(
            a.snapshot(&ModelId::parse("x/y").unwrap(), "main", N),
            Err(SourceError::RepoNotFound { .. })
        ));
    }

    #[test]
    fn hostile_folders_neither_hang_nor_leak() {
        let dir = tempfile::tempdir().unwrap();
        let id = ModelId::parse("org/model").unwrap();
        let cache = dir.path().join("models--org--model");
        let sha = "0123456789abcdef0123456789abcdef01234567";
        write(&cache.join("snapshots").join(sha).join("config.json"), b"{}");
        let src = LocalSource::new(dir.path());
        // A refs file that is not a sha (here: a secret) is refused without quoting it.
        write(&cache.join("refs/main"), b"hf_SECRETTOKEN\n");
        let e = src.snapshot(&id, "main", N).unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
        // A huge one is not read past the cap.
        write(&cache.join("refs/main"), &vec![b'a'; 10_000]);
        assert!(src.snapshot(&id, "main", N).unwrap_err().to_string().contains("256 bytes"));
        write(&cache.join("refs/main"), sha.as_bytes());
        #[cfg(unix)]
        {
            // A FIFO among the files is skipped, and opening one by name is refused, not a hang.
            let fifo = cache.join("snapshots").join(sha).join("model.safetensors");
            let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
            assert!(status.success());
            let snap = src.snapshot(&id, "main", N).unwrap();
            assert_eq!(snap.files, ["config.json"]);
            let e = src.read_range(&snap, "model.safetensors", 0, 10, N).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn plain_folder_fingerprints_change_with_any_byte_of_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let id = ModelId::parse("org/model").unwrap();
        let weights = dir.path().join("org/model/model.safetensors");
        write(&weights, &vec![0u8; 200_000]);
        let src = LocalSource::new(dir.path());
        let before = src.snapshot(&id, "main", N).unwrap().sha;
        assert_eq!(src.snapshot(&id, "main", N).unwrap().sha, before, "stable while nothing changes");
        let mut bytes = std::fs::read(&weights).unwrap();
        bytes[150_000] = 1; // past the first 64 KiB, same size
        std::fs::remove_file(&weights).unwrap();
        write(&weights, &bytes);
        assert_ne!(src.snapshot(&id, "main", N).unwrap().sha, before);
    }
}
