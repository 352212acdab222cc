//! The local Hugging Face cache in front of a network source: the revision is pinned upstream (one
//! API call), and every file of that commit that is already in the cache
//! (`{cache}/models--{org}--{name}/snapshots/{sha}/{path}`, as transformers, vLLM and the `download`
//! strategy leave it) is read there, with no request. A model downloaded once resolves again with
//! no weight bytes from the network.

use super::local::LocalSource;
use super::{Counters, Deadline, RangeRead, Snapshot, Source, SourceError};
use crate::id::ModelId;
use crate::record::Origin;

pub struct CachedSource<S> {
    upstream: S,
    cache: LocalSource,
}

impl<S: Source> CachedSource<S> {
    pub fn new(upstream: S, cache: LocalSource) -> CachedSource<S> {
        CachedSource { upstream, cache }
    }

    /// The network source behind the cache.
    pub fn upstream(&self) -> &S {
        &self.upstream
    }

    fn cached(&self, snap: &Snapshot, path: &str) -> bool {
        self.cache.cached_file(snap, path).is_some()
    }
}

impl<S: Source> Source for CachedSource<S> {
    fn snapshot(&self, id: &ModelId, revision: &str, deadline: Deadline) -> Result<Snapshot, SourceError> {
        self.upstream.snapshot(id, revision, deadline)
    }

    fn commit(&self, id: &ModelId, revision: &str, probe: &str, deadline: Deadline) -> Result<String, SourceError> {
        self.upstream.commit(id, revision, probe, deadline)
    }

    fn read_range(
        &self,
        snap: &Snapshot,
        path: &str,
        start: u64,
        len: u64,
        deadline: Deadline,
    ) -> Result<RangeRead, SourceError> {
        if self.cached(snap, path) {
            return self.cache.read_range(snap, path, start, len, deadline);
        }
        self.upstream.read_range(snap, path, start, len, deadline)
    }

    fn file_size(&self, snap: &Snapshot, path: &str, deadline: Deadline) -> Result<u64, SourceError> {
        if self.cached(snap, path) {
            return self.cache.file_size(snap, path, deadline);
        }
        self.upstream.file_size(snap, path, deadline)
    }

    fn file_sizes(&self, snap: &Snapshot, paths: &[&str], deadline: Deadline) -> Result<Vec<u64>, SourceError> {
        let remote: Vec<&str> = paths.iter().copied().filter(|p| !self.cached(snap, p)).collect();
        let mut remote_sizes = self.upstream.file_sizes(snap, &remote, deadline)?.into_iter();
        paths
            .iter()
            .map(|p| match self.cached(snap, p) {
                true => self.cache.file_size(snap, p, deadline),
                false => remote_sizes.next().ok_or_else(|| SourceError::Io {
                    id: snap.id.to_string(),
                    path: (*p).into(),
                    message: "no size listed".into(),
                }),
            })
            .collect()
    }

    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64, deadline: Deadline) -> Result<Vec<u8>, SourceError> {
        if self.cached(snap, path) {
            return self.cache.read_small(snap, path, cap, deadline);
        }
        self.upstream.read_small(snap, path, cap, deadline)
    }

    fn origin(&self) -> Origin {
        self.upstream.origin()
    }

    fn endpoint(&self) -> Option<String> {
        self.upstream.endpoint()
    }

    fn counters(&self) -> &Counters {
        self.upstream.counters()
    }

    fn parallelism(&self) -> usize {
        self.upstream.parallelism()
    }

    fn fetch_file(
        &self,
        snap: &Snapshot,
        path: &str,
        max: u64,
        out: &mut dyn std::io::Write,
        deadline: Deadline,
    ) -> Result<super::Fetched, SourceError> {
        self.upstream.fetch_file(snap, path, max, out, deadline)
    }
}
