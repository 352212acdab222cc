//! `download` (opt-in, `--allow-download`; the `download` cargo feature): the last resort for repos
//! that cannot be read by range. Fetches the weight files the range strategies would have read,
//! and the small JSON files beside them, through the model's own source (its per-host limit, byte
//! counters, retries, token policy and the model's deadline) into the standard Hugging Face cache
//! ([`hf_cache`]: `{cache}/models--{org}--{name}/{blobs,snapshots/{sha},refs/{branch}}`), so files
//! already there are not fetched again and what is fetched is reused by transformers and vLLM;
//! then counts them with the same parsers, read locally and charged to the model's budget.
//!
//! Nothing the server says becomes a path or is trusted further than it can be checked: the
//! snapshot folder is named by the pinned commit (and a server answering from another commit is
//! refused), each blob by the SHA-256 of the bytes received (checked against an LFS file's ETag
//! when the server gives one), each link by a repository path already validated. The sizes it
//! lists are summed with overflow checks and compared with `max_bytes` and the free disk space
//! (which must be readable: the check fails closed) before any byte moves; a transfer that runs
//! past what was listed is cut off. Concurrent models share one disk reservation, and
//! `delete_after` removes only the links and blobs this download created.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::Digest;

use super::{Ctx, Found, Miss, gguf, pytorch, safetensors};
use crate::record::Outcome;
use crate::source::hf_cache::{BlobName, Commit, ModelCache};
use crate::source::local::LocalSource;
use crate::source::{Source, SourceError};

/// Attempts at one file whose transfer fails part-way for a reason worth retrying.
const ATTEMPTS: u32 = 3;

/// Reports download progress (the CLI draws a line per model, or logs).
pub trait Progress: Send + Sync {
    /// A download of `files` files, `bytes` in all, starts for `model`.
    fn start(&self, model: &str, files: usize, bytes: u64) -> Arc<dyn ProgressLine>;
}

/// One model's download progress.
pub trait ProgressLine: Send + Sync {
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// Disk space promised to downloads in flight, shared by all workers of a run.
#[derive(Debug, Default)]
pub struct DiskReservations {
    reserved: Mutex<u64>,
}

/// Space held for one download; given back on drop.
struct Reservation<'a> {
    pool: &'a DiskReservations,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut r = self.pool.reserved.lock().unwrap_or_else(|p| p.into_inner());
        *r = r.saturating_sub(self.bytes);
    }
}

/// Where and how much to download.
#[derive(Clone)]
pub struct Settings {
    /// The hub cache folder (`HF_HUB_CACHE`, else `$HF_HOME/hub`): nothing outside it is written.
    pub cache_dir: PathBuf,
    /// Refuse downloads larger than this (per model).
    pub max_bytes: u64,
    /// Remove what this run downloaded once it is counted.
    pub delete_after: bool,
    pub progress: Option<Arc<dyn Progress>>,
    pub disk: Arc<DiskReservations>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("cache_dir", &self.cache_dir)
            .field("max_bytes", &self.max_bytes)
            .field("delete_after", &self.delete_after)
            .finish_non_exhaustive()
    }
}

fn failed(message: String) -> Miss {
    Miss::new(Outcome::DownloadFailed, message)
}

/// The files to fetch: the weights the range strategies would read, and the small JSON files
/// (indexes, `model_index.json`, `modules.json`) that say how they fit together.
fn files_to_fetch(ctx: &Ctx, gguf_prefer: Option<&str>) -> Result<Vec<String>, Miss> {
    let weights = safetensors::weight_paths(ctx)
        .or_else(|_| pytorch::weight_files(ctx))
        .or_else(|_| gguf::choose(ctx, gguf_prefer).map(|(_, files, _)| files))
        .map_err(|_| Miss::absent("no weight files to download"))?;
    let dirs: HashSet<&str> = weights.iter().map(|w| w.rsplit_once('/').map_or("", |(d, _)| d)).collect();
    let mut out: Vec<String> = Vec::new();
    for f in ctx.snap.files.iter().filter(|f| f.ends_with(".json")) {
        ctx.check_deadline("the files to download")?;
        if dirs.contains(f.rsplit_once('/').map_or("", |(d, _)| d)) || !f.contains('/') {
            out.push(f.clone());
        }
    }
    out.extend(weights);
    out.sort();
    out.dedup();
    Ok(out)
}

/// Refuses a download of `total` bytes (`None`: the listed sizes overflow) over `max_bytes`.
fn check_size(id: &str, files: usize, total: Option<u64>, max_bytes: u64) -> Result<u64, Miss> {
    match total {
        Some(total) if total <= max_bytes => Ok(total),
        _ => Err(Miss::new(
            Outcome::DownloadTooLarge,
            format!(
                "{id}: downloading {files} files is {} bytes, over --max-download-bytes {max_bytes}; raise it to allow this download",
                total.map_or("more than 2^64".into(), |t| t.to_string())
            ),
        )),
    }
}

/// Reserves `total` bytes (and 5% spare) of a disk with `free` bytes (`Err`: unknown, which
/// refuses) against what other downloads hold already.
fn reserve<'a>(
    pool: &'a DiskReservations,
    id: &str,
    total: u64,
    free: std::io::Result<u64>,
    probe: &Path,
) -> Result<Reservation<'a>, Miss> {
    let no_space = |message: String| Miss::new(Outcome::NoDiskSpace, message);
    let free = free.map_err(|e| {
        no_space(format!("{id}: cannot tell how much space is free at {}: {e}; not downloading", probe.display()))
    })?;
    let need = total.saturating_add(total / 20);
    let mut reserved = pool.reserved.lock().unwrap_or_else(|p| p.into_inner());
    if reserved.saturating_add(need) > free {
        return Err(no_space(format!(
            "{id}: downloading needs {total} bytes but {} has {free} free ({} promised to other downloads); free some space or set HF_HOME",
            probe.display(),
            *reserved
        )));
    }
    *reserved += need;
    Ok(Reservation { pool, bytes: need })
}

/// The closest existing folder at or above `path` (for the free-space check).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return PathBuf::from(".");
        }
    }
    p
}

/// What this run put into the cache, so that a failure or `delete_after` removes exactly that.
#[derive(Default)]
struct Made {
    links: Vec<(String, BlobName)>,
    blobs: Vec<BlobName>,
}

impl Made {
    fn undo(&self, cache: &ModelCache, commit: &Commit) {
        for (path, blob) in &self.links {
            cache.unlink(commit, path, blob);
        }
        for blob in &self.blobs {
            cache.remove_blob_if_unused(blob);
        }
    }
}

pub fn run(ctx: &Ctx, settings: &Settings, gguf_prefer: Option<&str>) -> Result<Found, Miss> {
    let id = ctx.snap.id.as_str();
    let commit = Commit::parse(&ctx.snap.sha)
        .ok_or_else(|| failed(format!("{id}: the pinned revision is not a commit sha; not downloading")))?;
    let files = files_to_fetch(ctx, gguf_prefer)?;
    let local = LocalSource::new(&settings.cache_dir);
    let mut missing: Vec<&str> = Vec::new();
    for f in &files {
        ctx.check_deadline("the files to download")?;
        if local.cached_file(ctx.snap, f).is_none() {
            missing.push(f);
        }
    }
    let sizes = ctx.file_sizes(&missing)?;
    let total =
        check_size(id, missing.len(), sizes.iter().try_fold(0u64, |a, s| a.checked_add(*s)), settings.max_bytes)?;
    let io = |what: &str, e: std::io::Error| failed(format!("{id}: {what} in {}: {e}", settings.cache_dir.display()));
    let probe = existing_ancestor(&settings.cache_dir);
    let _reservation = match missing.is_empty() {
        true => None,
        false => Some(reserve(&settings.disk, id, total, fs4::available_space(&probe), &probe)?),
    };
    let cache =
        ModelCache::open(&settings.cache_dir, &ctx.snap.id).map_err(|e| io("cannot open the model's folder", e))?;
    let mut made = Made::default();
    if !missing.is_empty() {
        tracing::info!(model = id, files = missing.len(), bytes = total, "downloading");
        let line = settings.progress.as_ref().map(|p| p.start(id, missing.len(), total));
        let result = fetch_all(ctx, &cache, &commit, &missing, &sizes, line.as_deref(), &mut made);
        if let Some(line) = &line {
            line.finish();
        }
        if let Err(miss) = result {
            made.undo(&cache, &commit);
            return Err(miss);
        }
    }
    // The branch asked for now names this commit, as huggingface_hub records it: offline tools
    // (HF_HUB_OFFLINE, transformers) find the snapshot by `main`.
    if let Err(e) = cache.write_ref(ctx.revision, &commit) {
        made.undo(&cache, &commit);
        return Err(io(&format!("cannot write refs/{}", ctx.revision), e));
    }
    let found = count_local(ctx, &local, gguf_prefer);
    if settings.delete_after {
        made.undo(&cache, &commit);
    }
    let mut found = found?;
    found.counts.notes.push(if made.links.is_empty() {
        format!("counted from files already in {}", settings.cache_dir.display())
    } else {
        format!("downloaded {} files ({total} bytes) into {}", made.links.len(), settings.cache_dir.display())
    });
    Ok(found)
}

/// Fetches each missing file into a blob and links it into the snapshot.
fn fetch_all(
    ctx: &Ctx,
    cache: &ModelCache,
    commit: &Commit,
    missing: &[&str],
    sizes: &[u64],
    line: Option<&dyn ProgressLine>,
    made: &mut Made,
) -> Result<(), Miss> {
    let id = ctx.snap.id.as_str();
    for (path, size) in missing.iter().zip(sizes) {
        let (tmp, blob) = fetch_retried(ctx, cache, path, *size, line)?;
        let io = |e: std::io::Error| failed(format!("{id}: storing {path} in {}: {e}", cache.dir().display()));
        if cache.store_blob(tmp, &blob).map_err(io)? {
            made.blobs.push(blob.clone());
        }
        if cache.link(commit, path, &blob).map_err(io)? {
            made.links.push(((*path).to_owned(), blob));
        }
    }
    Ok(())
}

/// One file into a temp blob, retried from its start when the transfer breaks part-way.
fn fetch_retried(
    ctx: &Ctx,
    cache: &ModelCache,
    path: &str,
    size: u64,
    line: Option<&dyn ProgressLine>,
) -> Result<(tempfile::NamedTempFile, BlobName), Miss> {
    let mut attempt = 1;
    loop {
        match fetch_one(ctx, cache, path, size, line) {
            Err(Fail::Source(e)) if e.is_retryable() && attempt < ATTEMPTS && !ctx.budget.deadline.passed() => {
                tracing::warn!(model = %ctx.snap.id, path, error = %e, "download broken off; starting the file again");
                attempt += 1;
            }
            Err(Fail::Source(SourceError::TooLarge { .. })) => {
                return Err(Miss::new(
                    Outcome::DownloadTooLarge,
                    format!(
                        "{}: the server sent more than the {size} bytes it listed for {path}; download stopped",
                        ctx.snap.id
                    ),
                ));
            }
            Err(Fail::Source(e)) => return Err(e.into()),
            Err(Fail::Miss(m)) => return Err(m),
            Ok(done) => return Ok(done),
        }
    }
}

enum Fail {
    Source(SourceError),
    Miss(Miss),
}

/// One attempt at one file: streamed into a temp file among the blobs while its SHA-256 is
/// computed; then checked (its size as listed, the commit the server answered from, an LFS
/// ETag against the digest).
fn fetch_one(
    ctx: &Ctx,
    cache: &ModelCache,
    path: &str,
    size: u64,
    line: Option<&dyn ProgressLine>,
) -> Result<(tempfile::NamedTempFile, BlobName), Fail> {
    let id = ctx.snap.id.as_str();
    let bad = |message: String| Fail::Miss(failed(format!("{id}: {path}: {message}")));
    let mut tmp =
        cache.temp_blob().map_err(|e| bad(format!("cannot make a temp file in {}: {e}", cache.dir().display())))?;
    let (fetched, digest) = {
        let mut sink = Sink { out: std::io::BufWriter::new(tmp.as_file_mut()), hash: sha2::Sha256::new(), line };
        let fetched =
            ctx.source.fetch_file(ctx.snap, path, size, &mut sink, ctx.budget.deadline).map_err(Fail::Source)?;
        sink.out.flush().map_err(|e| bad(format!("writing {}: {e}", cache.dir().display())))?;
        let digest: [u8; 32] = sink.hash.finalize().into();
        (fetched, digest)
    };
    let blob = BlobName::from_digest(&digest);
    if fetched.bytes != size {
        return Err(bad(format!("the server sent {} bytes of a file it listed as {size}", fetched.bytes)));
    }
    if let Some(c) = fetched.commit.as_deref().filter(|c| *c != ctx.snap.sha) {
        return Err(bad(format!(
            "the server answered from commit {}, not the pinned {}; not stored",
            quote(c),
            ctx.snap.sha
        )));
    }
    if let Some(etag) = fetched.etag.as_deref().map(|e| e.trim_start_matches("W/").trim_matches('"'))
        && etag.len() == 64
        && etag.bytes().all(|b| b.is_ascii_hexdigit())
        && !etag.eq_ignore_ascii_case(blob.as_str())
    {
        return Err(bad(format!("the bytes received have SHA-256 {}, the server's ETag says {etag}", blob.as_str())));
    }
    Ok((tmp, blob))
}

/// `s` quoted, at most 80 characters of it (a server's text in a message).
fn quote(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() { format!("{cut:?}...") } else { format!("{cut:?}") }
}

/// Where a transfer's bytes go: the temp blob, the digest, the progress line.
struct Sink<'a, W: Write> {
    out: W,
    hash: sha2::Sha256,
    line: Option<&'a dyn ProgressLine>,
}

impl<W: Write> Write for Sink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        if let Some(line) = self.line {
            line.advance(n as u64);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Counts the snapshot in the cache with the range strategies, reading local files within the
/// model's deadline and budget.
fn count_local(ctx: &Ctx, local: &LocalSource, gguf_prefer: Option<&str>) -> Result<Found, Miss> {
    let snap = local.snapshot(&ctx.snap.id, &ctx.snap.sha, ctx.budget.deadline).map_err(Miss::from)?;
    let local_ctx = Ctx { source: local, snap: &snap, ..*ctx };
    safetensors::run(&local_ctx)
        .or_else(|_| pytorch::run(&local_ctx))
        .or_else(|_| gguf::run(&local_ctx, gguf_prefer))
        .map_err(|m| failed(format!("the downloaded files could not be counted: {}", m.message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_over_the_limit_or_past_2_64_are_refused() {
        assert_eq!(check_size("a/b", 2, Some(1_000), 10_000).unwrap(), 1_000);
        let m = check_size("a/b", 2, Some(20_000), 10_000).unwrap_err();
        assert_eq!(m.outcome, Outcome::DownloadTooLarge);
        assert!(m.message.contains("--max-download-bytes"));
        let sizes = [u64::MAX, 2];
        let m = check_size("a/b", 2, sizes.iter().try_fold(0u64, |a, s| a.checked_add(*s)), u64::MAX).unwrap_err();
        assert!(m.message.contains("more than 2^64"), "{}", m.message);
    }

    #[test]
    fn disk_reservations_are_shared_and_fail_closed() {
        let p = Path::new("/cache");
        let pool = DiskReservations::default();
        let first = reserve(&pool, "a/b", 1_000, Ok(3_000), p).unwrap();
        // The second model sees what the first holds: 1,050 + 1,050 <= 3,000 but not a third.
        let second = reserve(&pool, "c/d", 1_000, Ok(3_000), p).unwrap();
        let m = reserve(&pool, "e/f", 1_000, Ok(3_000), p).err().unwrap();
        assert_eq!(m.outcome, Outcome::NoDiskSpace);
        assert!(m.message.contains("/cache") && m.message.contains("2100 promised"), "{}", m.message);
        drop((first, second));
        assert!(reserve(&pool, "e/f", 1_000, Ok(3_000), p).is_ok(), "given back on drop");
        let unknown = reserve(&pool, "e/f", 1, Err(std::io::Error::other("statvfs failed")), p).err().unwrap();
        assert!(unknown.message.contains("cannot tell"), "{}", unknown.message);
        assert!(existing_ancestor(Path::new("/definitely/not/here/at/all")).exists());
    }
}
