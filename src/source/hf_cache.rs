//! Writing the Hugging Face cache layout (`{cache}/models--{org}--{name}/{blobs,snapshots,refs}`),
//! as huggingface_hub leaves it, from names capcache has validated itself: the model id (already a
//! [`ModelId`]), a commit sha of 40 or 64 hex digits, repository paths that pass
//! [`check_repo_path`], blob names that are the SHA-256 of the bytes written (computed here, not
//! taken from a server), and branch names that pass [`check_revision`]. No name a server sends
//! ever becomes a path.
//!
//! Nothing outside the cache folder is created, removed or replaced: every folder below it is
//! created one level at a time and must be a real folder (a symbolic link where a folder is
//! expected is refused, never followed); files are written to a temp file in their final folder
//! and renamed into place, which replaces a directory entry itself, never what a link points at.
//! The only links written are the snapshot's, to `../../blobs/{sha256}` inside the same model
//! folder.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::id::{ModelId, check_repo_path, check_revision};
use crate::stale;

/// How the temp files of unfinished downloads are named among the blobs: huggingface_hub names its
/// own `{sha256}.incomplete`, which this never matches.
const TEMP_PREFIX: &str = ".capcache-";
const TEMP_SUFFIX: &str = ".incomplete";

/// A commit sha: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit(String);

impl Commit {
    pub fn parse(s: &str) -> Option<Commit> {
        (matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Commit(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A blob's name: the SHA-256 of its bytes, 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobName(String);

impl BlobName {
    /// The name of bytes whose SHA-256 digest is `digest`.
    pub fn from_digest(digest: &[u8; 32]) -> BlobName {
        BlobName(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The cache folder of one model, its `blobs`, `snapshots` and `refs` folders made.
#[derive(Debug)]
pub struct ModelCache {
    dir: PathBuf,
}

impl ModelCache {
    /// Opens (making what is missing) `{cache}/models--{org}--{name}`. The cache folder itself is
    /// the user's (`HF_HUB_CACHE`) and may be a link; nothing below it may be.
    pub fn open(cache: &Path, id: &ModelId) -> io::Result<ModelCache> {
        std::fs::create_dir_all(cache)?;
        let (org, name) = id.parts();
        let dir = subdir(cache, &format!("models--{org}--{name}"))?;
        for d in ["blobs", "snapshots", "refs"] {
            subdir(&dir, d)?;
        }
        // What a killed download of this model left among the blobs: this host's files whose
        // process is gone, other hosts' after a day ([`stale::sweep`]).
        stale::sweep(&dir.join("blobs"), TEMP_PREFIX, TEMP_SUFFIX);
        Ok(ModelCache { dir })
    }

    /// The model's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, blob: &BlobName) -> PathBuf {
        self.dir.join("blobs").join(blob.as_str())
    }

    /// A new temp file among the blobs (`.capcache-{host}.{pid}.*.incomplete`), removed on drop
    /// unless stored; [`ModelCache::open`] swept what killed downloads left.
    pub fn temp_blob(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(&stale::owner_prefix(TEMP_PREFIX))
            .suffix(TEMP_SUFFIX)
            .tempfile_in(self.dir.join("blobs"))
    }

    /// Stores a finished temp file as blob `name` (flushed to disk first). Returns whether it was
    /// new: a regular file already under that name holds the same bytes and is kept.
    pub fn store_blob(&self, tmp: tempfile::NamedTempFile, name: &BlobName) -> io::Result<bool> {
        let path = self.blob_path(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Ok(false);
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(true)
    }

    /// Links `snapshots/{commit}/{path}` to blob `blob`. Returns whether the link was made (false:
    /// it was there already).
    pub fn link(&self, commit: &Commit, path: &str, blob: &BlobName) -> io::Result<bool> {
        check_repo_path(path).map_err(io::Error::other)?;
        let mut dir = subdir(&self.dir.join("snapshots"), commit.as_str())?;
        let mut parts: Vec<&str> = path.split('/').collect();
        let file = parts.pop().unwrap_or(path);
        for p in &parts {
            dir = subdir(&dir, p)?;
        }
        let target: PathBuf =
            std::iter::repeat_n("..", 2 + parts.len()).collect::<PathBuf>().join("blobs").join(blob.as_str());
        let at = dir.join(file);
        match std::fs::read_link(&at) {
            Ok(t) if t == target => return Ok(false),
            _ => {}
        }
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::other(format!("{} is a folder", at.display())));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".capcache-")
            .suffix(".link")
            .make_in(&dir, |p| std::os::unix::fs::symlink(&target, p))?;
        tmp.persist(&at).map_err(|e| e.error)?;
        Ok(true)
    }

    /// Removes a snapshot link this run made, if it still links to `blob`.
    pub fn unlink(&self, commit: &Commit, path: &str, blob: &BlobName) {
        if check_repo_path(path).is_err() {
            return;
        }
        let at = self.dir.join("snapshots").join(commit.as_str()).join(path);
        if std::fs::read_link(&at).is_ok_and(|t| t.ends_with(Path::new("blobs").join(blob.as_str()))) {
            let _ = std::fs::remove_file(at);
        }
    }

    /// Removes a blob this run stored, unless a snapshot of any revision still links to it.
    pub fn remove_blob_if_unused(&self, blob: &BlobName) {
        if !self.linked_blobs().contains(blob.as_str()) {
            let path = self.blob_path(blob);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The blob names the snapshots' links point at (walking real folders only).
    fn linked_blobs(&self) -> std::collections::HashSet<String> {
        let mut out = std::collections::HashSet::new();
        let mut stack = vec![self.dir.join("snapshots")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let Ok(kind) = e.file_type() else { continue };
                if kind.is_dir() {
                    stack.push(e.path());
                } else if kind.is_symlink()
                    && let Ok(target) = std::fs::read_link(e.path())
                    && let Some(name) = target.file_name()
                {
                    out.insert(name.to_string_lossy().into_owned());
                }
            }
        }
        out
    }

    /// Writes `refs/{revision}` = `commit`, as huggingface_hub does for a branch or tag, so that
    /// offline tools find the snapshot by the name it was asked for. A revision that is a commit
    /// itself has no ref.
    pub fn write_ref(&self, revision: &str, commit: &Commit) -> io::Result<()> {
        if Commit::parse(revision).is_some() {
            return Ok(());
        }
        check_revision(revision).map_err(io::Error::other)?;
        let mut dir = self.dir.join("refs");
        let mut parts: Vec<&str> = revision.split('/').collect();
        let name = parts.pop().unwrap_or(revision);
        for p in parts {
            dir = subdir(&dir, p)?;
        }
        let at = dir.join(name);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::other(format!("{} is a folder", at.display())));
        }
        let mut tmp = tempfile::Builder::new().prefix(".capcache-").suffix(".ref").tempfile_in(&dir)?;
        tmp.write_all(commit.as_str().as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&at).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `parent/name`, a real folder, made when missing. `name` is one plain path component; a link,
/// file or anything else under that name is refused.
fn subdir(parent: &Path, name: &str) -> io::Result<PathBuf> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(io::Error::other(format!("{name:?} is not a folder name")));
    }
    let dir = parent.join(name);
    loop {
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => return Ok(dir),
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a folder (a link or a file); refusing to write through it",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ModelId {
        ModelId::parse("org/name").unwrap()
    }

    #[test]
    fn names_are_validated() {
        assert!(Commit::parse(&"a".repeat(40)).is_some());
        assert!(Commit::parse(&"0".repeat(64)).is_some());
        for bad in ["../../..", &"A".repeat(40), &"a".repeat(41), "", &format!("{}/", "a".repeat(39))] {
            assert!(Commit::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(BlobName::from_digest(&[0xab; 32]).as_str(), "ab".repeat(32));
    }

    #[test]
    fn writes_the_hf_layout_and_relative_links() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("hub");
        let m = ModelCache::open(&cache, &id()).unwrap();
        let commit = Commit::parse(&"c".repeat(40)).unwrap();
        let blob = BlobName::from_digest(&[1; 32]);
        let mut tmp = m.temp_blob().unwrap();
        tmp.write_all(b"weights").unwrap();
        assert!(m.store_blob(tmp, &blob).unwrap());
        assert!(m.link(&commit, "unet/model.safetensors", &blob).unwrap());
        assert!(!m.link(&commit, "unet/model.safetensors", &blob).unwrap(), "already linked");
        let link = cache.join("models--org--name/snapshots").join(commit.as_str()).join("unet/model.safetensors");
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("../../../blobs").join(blob.as_str()));
        assert_eq!(std::fs::read(&link).unwrap(), b"weights");
        m.write_ref("main", &commit).unwrap();
        assert_eq!(std::fs::read_to_string(cache.join("models--org--name/refs/main")).unwrap(), commit.as_str());
        m.write_ref(commit.as_str(), &commit).unwrap();
        assert!(!cache.join("models--org--name/refs").join(commit.as_str()).exists(), "a commit has no ref");
        assert!(m.write_ref("../x", &commit).is_err());
        assert!(m.link(&commit, "../x", &blob).is_err());
        // Removal: the link, then the blob once nothing links to it.
        m.remove_blob_if_unused(&blob);
        assert!(m.blob_path(&blob).exists(), "still linked");
        m.unlink(&commit, "unet/model.safetensors", &blob);
        m.remove_blob_if_unused(&blob);
        assert!(!m.blob_path(&blob).exists());
        let leftovers: Vec<_> = std::fs::read_dir(cache.join("models--org--name/blobs")).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_killed_downloads_temp_blob_is_swept_by_the_next_download() {
        let root = tempfile::tempdir().unwrap();
        let blobs = ModelCache::open(root.path(), &id()).unwrap().dir().join("blobs");
        // What a killed process of this host left (a pid no process has), huggingface_hub's own
        // unfinished download, and this process's live temp file.
        let dead = blobs.join(format!("{TEMP_PREFIX}{}.4294967.abc{TEMP_SUFFIX}", stale::host()));
        let theirs = blobs.join(format!("{}.incomplete", "e".repeat(64)));
        std::fs::write(&dead, "half a blob").unwrap();
        std::fs::write(&theirs, "half a blob").unwrap();
        // The next download of the model opens its folder.
        let m = ModelCache::open(root.path(), &id()).unwrap();
        let live = m.temp_blob().unwrap();
        let name = live.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with(&stale::owner_prefix(TEMP_PREFIX)) && name.ends_with(TEMP_SUFFIX), "{name}");
        assert!(!dead.exists(), "the killed download's temp file is swept");
        assert!(theirs.exists(), "huggingface_hub's own files are not capcache's to sweep");
        let _again = ModelCache::open(root.path(), &id()).unwrap();
        assert!(live.path().exists(), "a live temp file of this process stays");
    }

    #[test]
    fn links_inside_the_cache_are_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let cache = root.path().join("hub");
        std::fs::create_dir(&cache).unwrap();
        // The model folder is a link out of the cache: refused.
        std::os::unix::fs::symlink(&outside, cache.join("models--org--name")).unwrap();
        let e = ModelCache::open(&cache, &id()).unwrap_err();
        assert!(e.to_string().contains("not a folder"), "{e}");
        std::fs::remove_file(cache.join("models--org--name")).unwrap();
        let m = ModelCache::open(&cache, &id()).unwrap();
        let commit = Commit::parse(&"c".repeat(40)).unwrap();
        // A snapshot folder that is a link out: refused.
        std::os::unix::fs::symlink(&outside, m.dir().join("snapshots").join(commit.as_str())).unwrap();
        let blob = BlobName::from_digest(&[2; 32]);
        assert!(m.link(&commit, "a.json", &blob).is_err());
        std::fs::remove_file(m.dir().join("snapshots").join(commit.as_str())).unwrap();
        // A ref and a blob that are links out are replaced as entries; their targets are untouched.
        let victim = outside.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, m.dir().join("refs/main")).unwrap();
        m.write_ref("main", &commit).unwrap();
        assert!(!m.dir().join("refs/main").is_symlink());
        std::os::unix::fs::symlink(&victim, m.blob_path(&blob)).unwrap();
        let mut tmp = m.temp_blob().unwrap();
        tmp.write_all(b"new").unwrap();
        assert!(m.store_blob(tmp, &blob).unwrap());
        assert!(!m.blob_path(&blob).is_symlink());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    }
}
