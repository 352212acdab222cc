//! Sources: where a model's files come from. Strategies see only the [`Source`] trait: resolve a
//! revision to a snapshot (commit sha + file list), read a byte range of a file, read a small file
//! whole. Implementations: the Hugging Face Hub over HTTP ([`hub`]) and local folders ([`local`]).
//! Every call takes the model's [`Deadline`]: no request outlives it.

pub mod cached;
pub mod error;
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

    /// Holds one of the source's request slots (its per-host limit) for work done outside it, such
    /// as a download through another client; given back on drop. `None` where there is no limit.
    fn hold_slot(&self) -> Option<Box<dyn Send>> {
        None
    }
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
