//! Sources: where a model's files come from. Strategies see only the [`Source`] trait: resolve a
//! revision to a snapshot (commit sha + file list), read a byte range of a file, read a small file
//! whole. Implementations: the Hugging Face Hub over HTTP ([`hub`]) and local folders ([`local`]).
//! Every call takes the model's [`Deadline`]: no request outlives it.

pub mod cached;
pub mod error;
#[cfg(feature = "download")]
pub mod hf_cache;
pub mod hub;
pub mod local;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use error::SourceError;

use crate::id::ModelId;
use crate::record::Origin;

/// The most files one repository may have, however a source learns them (a local folder, the
/// Hub's file list or tree listing): more is refused, so that no repository holds memory without
/// bound.
pub const MAX_REPO_FILES: usize = 100_000;

/// The Hub's own endpoint: records read there do not name it.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// When a model's work must be done by: every request of the model stops at it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline.
    pub const NONE: Deadline = Deadline(None);

    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// Time left (zero once passed); `None` without a deadline.
    pub fn remaining(self) -> Option<Duration> {
        self.0.map(|at| at.saturating_duration_since(Instant::now()))
    }

    pub fn passed(self) -> bool {
        self.remaining().is_some_and(|d| d.is_zero())
    }

    /// `limit` capped by the time left.
    pub fn cap(self, limit: Duration) -> Duration {
        self.remaining().map_or(limit, |left| left.min(limit))
    }
}

/// A model pinned at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: ModelId,
    /// The commit sha every file is read at (a local folder without one: its folder name).
    pub sha: String,
    /// Repository-relative paths of the snapshot's files (not to be changed once [`has`](Self::has)
    /// has been asked: its index is built from them once).
    pub files: Vec<String>,
    /// The Hub's own `safetensors` parameter counts, when the source is the Hub and it has them.
    pub hub_parameters: Option<BTreeMap<String, u64>>,
    /// `files` in a hashed set, built on first use: a repository lists up to [`MAX_REPO_FILES`]
    /// files and a strategy may look up as many names (diffusers components), so a look-up must
    /// not be a scan.
    pub index: FileIndex,
}

impl Snapshot {
    pub fn new(
        id: ModelId,
        sha: String,
        files: Vec<String>,
        hub_parameters: Option<BTreeMap<String, u64>>,
    ) -> Snapshot {
        Snapshot { id, sha, files, hub_parameters, index: FileIndex::default() }
    }

    /// Whether the snapshot has the file `path` (a hashed look-up).
    pub fn has(&self, path: &str) -> bool {
        self.index.0.get_or_init(|| self.files.iter().cloned().collect()).contains(path)
    }
}

/// A snapshot's files in a hashed set (see [`Snapshot::index`]); equal whatever it holds.
#[derive(Debug, Clone, Default)]
pub struct FileIndex(std::sync::OnceLock<std::collections::HashSet<String>>);

impl PartialEq for FileIndex {
    fn eq(&self, _: &FileIndex) -> bool {
        true
    }
}

impl Eq for FileIndex {}

/// Bytes read from a range of a file, with the file's total size.
#[derive(Debug, Clone)]
pub struct RangeRead {
    pub bytes: Vec<u8>,
    pub file_size: u64,
}

/// Where model files come from.
pub trait Source: Send + Sync {
    /// Resolves `revision` to a commit and lists the snapshot's files.
    fn snapshot(&self, id: &ModelId, revision: &str, deadline: Deadline) -> Result<Snapshot, SourceError>;

    /// The commit `revision` points at, as cheaply as the source can tell: for the Hub, one `HEAD`
    /// of `probe` (a file the model is known to have, such as one its record was read from) in the
    /// resolver rate-limit bucket, not following a redirect, rather than an API call.
    fn commit(&self, id: &ModelId, revision: &str, probe: &str, deadline: Deadline) -> Result<String, SourceError> {
        let _ = probe;
        self.snapshot(id, revision, deadline).map(|s| s.sha)
    }

    /// Reads up to `len` bytes at `start` (fewer at the end of the file).
    fn read_range(
        &self,
        snap: &Snapshot,
        path: &str,
        start: u64,
        len: u64,
        deadline: Deadline,
    ) -> Result<RangeRead, SourceError>;

    /// A file's size, without reading it.
    fn file_size(&self, snap: &Snapshot, path: &str, deadline: Deadline) -> Result<u64, SourceError>;

    /// The sizes of several files, in order (the Hub answers from one paginated tree listing).
    fn file_sizes(&self, snap: &Snapshot, paths: &[&str], deadline: Deadline) -> Result<Vec<u64>, SourceError> {
        paths.iter().map(|p| self.file_size(snap, p, deadline)).collect()
    }

    /// Reads a whole file of at most `cap` bytes; larger files are an error, not read.
    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64, deadline: Deadline) -> Result<Vec<u8>, SourceError>;

    /// Requests made and bytes received so far.
    fn counters(&self) -> &Counters;

    /// Where this source reads models from, as its records say.
    fn origin(&self) -> Origin;

    /// The Hub endpoint a [`Origin::Hub`] source reads, when it is not [`DEFAULT_ENDPOINT`].
    fn endpoint(&self) -> Option<String> {
        None
    }

    /// How many reads of one model are worth running at once (for the Hub: its per-host limit).
    fn parallelism(&self) -> usize {
        4
    }

    /// Streams the whole of a file into `out`: at most `max` bytes (more is
    /// [`SourceError::TooLarge`], cut off as it arrives), within the model's `deadline`, through the
    /// source's per-host limit and byte counters. One attempt at the body: a failure part-way
    /// leaves `out` holding part of the file, for the caller to throw away.
    fn fetch_file(
        &self,
        snap: &Snapshot,
        path: &str,
        max: u64,
        out: &mut dyn std::io::Write,
        deadline: Deadline,
    ) -> Result<Fetched, SourceError> {
        let _ = (max, out, deadline);
        Err(SourceError::Io {
            id: snap.id.to_string(),
            path: path.into(),
            message: "this source has nothing to download".into(),
        })
    }
}

/// What a whole-file transfer learned from the server, unchecked: the caller validates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes written.
    pub bytes: u64,
    /// The file's ETag (`X-Linked-Etag` for a file stored with LFS: its SHA-256), quotes removed.
    pub etag: Option<String>,
    /// The commit the server says it answered from (`X-Repo-Commit`).
    pub commit: Option<String>,
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
