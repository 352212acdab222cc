//! Sources: where a model's files come from. Strategies see only the [`Source`] trait: resolve a
//! revision to a snapshot (commit sha + file list), read a byte range of a file, read a small file
//! whole. Implementations: the Hugging Face Hub over HTTP ([`hub`]) and local folders ([`local`]);
//! the Hub's model listing ([`listing`]) finds models to build.

pub mod error;
pub mod hub;
pub mod listing;
pub mod local;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub use error::SourceError;

use crate::id::ModelId;

/// A model pinned at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: ModelId,
    /// The commit sha every file is read at (a local folder without one: its folder name).
    pub sha: String,
    /// Repository-relative paths of the snapshot's files.
    pub files: Vec<String>,
    /// The Hub's own `safetensors` parameter counts, when the source is the Hub and it has them.
    pub hub_parameters: Option<BTreeMap<String, u64>>,
}

impl Snapshot {
    pub fn has(&self, path: &str) -> bool {
        self.files.iter().any(|f| f == path)
    }
}

/// Bytes read from a range of a file, with the file's total size.
#[derive(Debug, Clone)]
pub struct RangeRead {
    pub bytes: Vec<u8>,
    pub file_size: u64,
}

/// Where model files come from.
pub trait Source: Send + Sync {
    /// Resolves `revision` to a commit and lists the snapshot's files.
    fn snapshot(&self, id: &ModelId, revision: &str) -> Result<Snapshot, SourceError>;

    /// The commit `revision` points at, as cheaply as the source can tell (for the Hub, a `HEAD` in
    /// the resolver rate-limit bucket rather than an API call).
    fn commit(&self, id: &ModelId, revision: &str) -> Result<String, SourceError> {
        self.snapshot(id, revision).map(|s| s.sha)
    }

    /// Reads up to `len` bytes at `start` (fewer at the end of the file).
    fn read_range(&self, snap: &Snapshot, path: &str, start: u64, len: u64) -> Result<RangeRead, SourceError>;

    /// A file's size, without reading it.
    fn file_size(&self, snap: &Snapshot, path: &str) -> Result<u64, SourceError>;

    /// The sizes of several files, in order (the Hub answers from one paginated tree listing).
    fn file_sizes(&self, snap: &Snapshot, paths: &[&str]) -> Result<Vec<u64>, SourceError> {
        paths.iter().map(|p| self.file_size(snap, p)).collect()
    }

    /// Reads a whole file of at most `cap` bytes; larger files are an error, not read.
    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64) -> Result<Vec<u8>, SourceError>;

    /// Requests made and bytes received so far.
    fn counters(&self) -> &Counters;
}

/// Request and byte counters, shared by every thread using a source.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    pub fn add(&self, requests: u64, bytes: u64) {
        self.requests.fetch_add(requests, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Validates a repository-relative path taken from the network or an index file: no `..`
/// component, no absolute path, no URL, no backslash or NUL.
pub fn check_repo_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains("://")
        || path.contains('\\')
        || path.contains('\0')
        || path.split('/').any(|c| c == ".." || c == "." || c.is_empty());
    if bad { Err(format!("unsafe file path {path:?} (absolute, URL, or `..`)")) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repo_paths() {
        for ok in ["model.safetensors", "unet/diffusion_pytorch_model.safetensors", "a.b/c"] {
            assert!(super::check_repo_path(ok).is_ok(), "{ok}");
        }
        for bad in ["../x.safetensors", "/etc/passwd", "a/../../b", "http://x/y", "a//b", "", "a\\b"] {
            assert!(super::check_repo_path(bad).is_err(), "{bad}");
        }
    }
}
