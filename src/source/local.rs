//! Local model folders: the Hugging Face cache layout (`models--{org}--{name}/snapshots/{sha}/`,
//! `refs/{revision}`, also under a `hub/` subfolder as in `$HF_HOME`) and plain `{root}/{org}/{name}/`
//! mirrors. Ranges are file reads. The revision is the snapshot sha where the layout has one; a
//! plain folder gets a fingerprint of its file names, sizes and first 64 KiB, the same on every
//! machine that holds the same files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Counters, RangeRead, Snapshot, Source, SourceError, check_repo_path};
use crate::id::ModelId;

/// Files listed per model at most.
const MAX_FILES: usize = 100_000;

/// A folder of model folders.
pub struct LocalSource {
    root: PathBuf,
    counters: Counters,
}

impl LocalSource {
    pub fn new(root: impl Into<PathBuf>) -> LocalSource {
        LocalSource { root: root.into(), counters: Counters::default() }
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
        let file = File::open(&full).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SourceError::EntryNotFound { id: snap.id.to_string(), path: path.into() }
            } else {
                io(format!("{}: {e}", full.display()))
            }
        })?;
        let size = file.metadata().map_err(|e| io(format!("{}: {e}", full.display())))?.len();
        Ok((file, size))
    }
}

impl Source for LocalSource {
    fn snapshot(&self, id: &ModelId, revision: &str) -> Result<Snapshot, SourceError> {
        let not_found = || SourceError::RepoNotFound { id: id.to_string(), path: self.root.display().to_string() };
        for cache in self.cache_dirs(id) {
            if !cache.is_dir() {
                continue;
            }
            let sha = match std::fs::read_to_string(cache.join("refs").join(revision)) {
                Ok(s) => s.trim().to_owned(),
                Err(_) if cache.join("snapshots").join(revision).is_dir() => revision.to_owned(),
                Err(_) => {
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
            return Ok(Snapshot { id: id.clone(), sha, files, hub_parameters: None });
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
        Ok(Snapshot { id: id.clone(), sha, files, hub_parameters: None })
    }

    fn read_range(&self, snap: &Snapshot, path: &str, start: u64, len: u64) -> Result<RangeRead, SourceError> {
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

    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64) -> Result<Vec<u8>, SourceError> {
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

    fn file_size(&self, snap: &Snapshot, path: &str) -> Result<u64, SourceError> {
        self.file(snap, path).map(|(_, size)| size)
    }

    fn counters(&self) -> &Counters {
        &self.counters
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
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if check_repo_path(&rel).is_ok() {
                    out.push(rel);
                }
            }
            if out.len() > MAX_FILES {
                return Err(format!("more than {MAX_FILES} files"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A stable fingerprint of a plain folder: FNV-1a over each file's name, size and first 64 KiB.
fn fingerprint(dir: &Path, files: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in files {
        feed(f.as_bytes());
        if let Ok(file) = File::open(dir.join(f)) {
            feed(&file.metadata().map(|m| m.len()).unwrap_or(0).to_le_bytes());
            let mut head = Vec::with_capacity(64 << 10);
            if file.take(64 << 10).read_to_end(&mut head).is_ok() {
                feed(&head);
            }
        }
    }
    format!("local-{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let sa = a.snapshot(&id, "main").unwrap();
        let sb = b.snapshot(&id, "main").unwrap();
        assert_eq!(sa.sha, sha);
        assert!(sb.sha.starts_with("local-"));
        assert_eq!(sa.files, sb.files);
        for path in &sa.files {
            assert_eq!(a.read_small(&sa, path, 100).unwrap(), b.read_small(&sb, path, 100).unwrap());
        }
        let ra = a.read_range(&sa, "sub/w.bin", 3, 4).unwrap();
        let rb = b.read_range(&sb, "sub/w.bin", 3, 4).unwrap();
        assert_eq!((ra.bytes.as_slice(), ra.file_size), (&b"3456"[..], 10));
        assert_eq!((rb.bytes, rb.file_size), (ra.bytes, ra.file_size));
        assert!(matches!(a.read_small(&sa, "sub/w.bin", 5), Err(SourceError::TooLarge { .. })));
        assert!(matches!(a.read_small(&sa, "missing", 5), Err(SourceError::EntryNotFound { .. })));
        assert!(matches!(a.read_small(&sa, "../refs/main", 500), Err(SourceError::Io { .. })));
        assert!(matches!(a.snapshot(&id, "v2"), Err(SourceError::RevisionNotFound { .. })));
        assert!(matches!(a.snapshot(&ModelId::parse("x/y").unwrap(), "main"), Err(SourceError::RepoNotFound { .. })));
    }
}
