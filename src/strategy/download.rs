//! `download` (opt-in, `--allow-download`; the `download` cargo feature): the last resort for repos
//! that cannot be read by range. Fetches the weight files the range strategies would have read,
//! through the `hf-hub` crate into the standard Hugging Face cache
//! (`{cache}/models--{org}--{name}/snapshots/{sha}/`), so files already there are not fetched again
//! and what is fetched is reused by transformers and vLLM; then counts them with the same parsers,
//! read locally.
//!
//! Nothing the server says is trusted further than it can be checked: the sizes it lists are summed
//! with overflow checks and compared with `max_bytes` and the free disk space (which must be
//! readable: the check fails closed) before any byte moves; a transfer that runs past what was
//! listed is cut off. Concurrent models share one disk reservation, each file holds one of the
//! source's request slots (the per-host limit) and its bytes are counted with the source's, and
//! `delete_after` removes only the blobs this download created.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::reader::Budget;
use super::{Ctx, Found, Miss, gguf, pytorch, safetensors};
use crate::record::Outcome;
use crate::source::hub::Token;
use crate::source::local::LocalSource;
use crate::source::{Deadline, Source};

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
    pub endpoint: String,
    pub token: Option<Token>,
    /// The hub cache folder (`$HF_HOME/hub`).
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
            .field("endpoint", &self.endpoint)
            .field("token", &self.token)
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
    let dirs: Vec<&str> = weights.iter().map(|w| w.rsplit_once('/').map_or("", |(d, _)| d)).collect();
    let mut out: Vec<String> = ctx
        .snap
        .files
        .iter()
        .filter(|f| f.ends_with(".json"))
        .filter(|f| {
            let dir = f.rsplit_once('/').map_or("", |(d, _)| d);
            dir.is_empty() || dirs.contains(&dir)
        })
        .cloned()
        .collect();
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

pub fn run(ctx: &Ctx, settings: &Settings, gguf_prefer: Option<&str>) -> Result<Found, Miss> {
    let id = ctx.snap.id.as_str();
    let (org, name) = ctx.snap.id.parts();
    let model_dir = settings.cache_dir.join(format!("models--{org}--{name}"));
    let snapshot_dir = model_dir.join("snapshots").join(&ctx.snap.sha);
    let files = files_to_fetch(ctx, gguf_prefer)?;
    let missing: Vec<&String> = files.iter().filter(|f| !snapshot_dir.join(f).exists()).collect();
    let paths: Vec<&str> = missing.iter().map(|f| f.as_str()).collect();
    let sizes = ctx.file_sizes(&paths)?;
    let total =
        check_size(id, missing.len(), sizes.iter().try_fold(0u64, |a, s| a.checked_add(*s)), settings.max_bytes)?;
    let mut fetched = Vec::new();
    let mut created_blobs = HashSet::new();
    if !missing.is_empty() {
        let probe = existing_ancestor(&settings.cache_dir);
        let _reservation = reserve(&settings.disk, id, total, fs4::available_space(&probe), &probe)?;
        let blobs_before = blobs(&model_dir);
        tracing::info!(model = id, files = missing.len(), bytes = total, "downloading");
        let line = settings.progress.as_ref().map(|p| p.start(id, missing.len(), total));
        let result = fetch(ctx, settings, &missing, total, line.clone(), &mut fetched);
        if let Some(line) = &line {
            line.finish();
        }
        created_blobs = blobs(&model_dir).difference(&blobs_before).cloned().collect();
        if let Err(miss) = result {
            remove_fetched(&model_dir, &snapshot_dir, &fetched, &created_blobs);
            return Err(miss);
        }
    }
    let found = count_local(ctx, &settings.cache_dir, gguf_prefer);
    if settings.delete_after {
        remove_fetched(&model_dir, &snapshot_dir, &fetched, &created_blobs);
    }
    let mut found = found?;
    found.counts.notes.push(if fetched.is_empty() {
        format!("counted from files already in {}", settings.cache_dir.display())
    } else {
        format!("downloaded {} files ({total} bytes) into {}", fetched.len(), settings.cache_dir.display())
    });
    Ok(found)
}

/// Downloads `missing` through hf-hub, each file in one of the source's request slots, cut off
/// when more than `total` bytes arrive.
fn fetch(
    ctx: &Ctx,
    settings: &Settings,
    missing: &[&String],
    total: u64,
    line: Option<Arc<dyn ProgressLine>>,
    fetched: &mut Vec<String>,
) -> Result<(), Miss> {
    let id = ctx.snap.id.as_str();
    let (org, name) = ctx.snap.id.parts();
    let mut builder =
        hf_hub::HFClientBuilder::new().endpoint(settings.endpoint.clone()).cache_dir(settings.cache_dir.clone());
    if let Some(t) = &settings.token {
        builder = builder.token(t.expose());
    }
    let client = builder.build().map_err(|e| failed(format!("{id}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failed(format!("{id}: cannot start the download runtime: {e}")))?;
    let repo = client.model(org, name);
    let meter = Arc::new(Meter {
        limit: total,
        done: AtomicU64::new(0),
        seen: Mutex::new(Default::default()),
        over: AtomicBool::new(false),
        stop: tokio::sync::Notify::new(),
        line,
    });
    let mut counted = 0;
    for f in missing {
        let _slot = ctx.source.hold_slot();
        let download = repo
            .download_file()
            .filename(f.as_str())
            .revision(ctx.snap.sha.clone())
            .progress(Arc::clone(&meter))
            .send();
        let result = runtime.block_on(async {
            tokio::select! {
                r = download => Some(r),
                () = meter.stop.notified() => None,
            }
        });
        let done = meter.done.load(Ordering::Relaxed);
        ctx.source.counters().add(1, done - counted);
        counted = done;
        match result {
            Some(Ok(_)) => fetched.push((*f).clone()),
            Some(Err(e)) => return Err(failed(format!("{id}: downloading {f}: {e}"))),
            None => {
                return Err(Miss::new(
                    Outcome::DownloadTooLarge,
                    format!("{id}: the server sent more than the {total} bytes it listed for {f}; download stopped"),
                ));
            }
        }
    }
    Ok(())
}

/// Counts what hf-hub reports downloaded against the limit, and feeds the progress line.
struct Meter {
    limit: u64,
    done: AtomicU64,
    /// Bytes reported so far per file (hf-hub reports cumulative figures).
    seen: Mutex<std::collections::HashMap<String, u64>>,
    over: AtomicBool,
    stop: tokio::sync::Notify,
    line: Option<Arc<dyn ProgressLine>>,
}

impl hf_hub::progress::ProgressHandler for Meter {
    fn on_progress(&self, event: &hf_hub::progress::ProgressEvent) {
        use hf_hub::progress::{DownloadEvent, ProgressEvent};
        let ProgressEvent::Download(DownloadEvent::Progress { files }) = event else { return };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for f in files {
            let last = seen.entry(f.filename.clone()).or_default();
            if f.bytes_completed > *last {
                let delta = f.bytes_completed - *last;
                *last = f.bytes_completed;
                if let Some(line) = &self.line {
                    line.advance(delta);
                }
                if self.done.fetch_add(delta, Ordering::Relaxed) + delta > self.limit
                    && !self.over.swap(true, Ordering::Relaxed)
                {
                    self.stop.notify_one();
                }
            }
        }
    }
}

/// The blobs of a model folder of the cache.
fn blobs(model_dir: &Path) -> HashSet<PathBuf> {
    std::fs::read_dir(model_dir.join("blobs")).into_iter().flatten().flatten().map(|e| e.path()).collect()
}

/// Removes the snapshot links this run made, and the blobs it created that no other snapshot
/// (another revision of the same model) links to.
fn remove_fetched(model_dir: &Path, snapshot_dir: &Path, fetched: &[String], created: &HashSet<PathBuf>) {
    for f in fetched {
        let _ = std::fs::remove_file(snapshot_dir.join(f));
    }
    let mut linked = HashSet::new();
    let mut stack = vec![model_dir.join("snapshots")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if let Ok(target) = std::fs::canonicalize(&p) {
                linked.insert(target);
            }
        }
    }
    for blob in created {
        let canonical = std::fs::canonicalize(blob).unwrap_or_else(|_| blob.clone());
        if !linked.contains(&canonical) {
            let _ = std::fs::remove_file(blob);
        }
    }
}

/// Counts the snapshot in the cache with the range strategies, reading local files.
fn count_local(ctx: &Ctx, cache_dir: &Path, gguf_prefer: Option<&str>) -> Result<Found, Miss> {
    let local = LocalSource::new(cache_dir);
    let snap = local.snapshot(&ctx.snap.id, &ctx.snap.sha, Deadline::NONE).map_err(Miss::from)?;
    let budget = Budget::new(Deadline::NONE, u64::MAX);
    let local_ctx = Ctx { source: &local, snap: &snap, budget: &budget, ..*ctx };
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

    #[test]
    fn only_blobs_this_run_created_and_no_other_snapshot_links_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("models--o--m");
        let blobs_dir = model.join("blobs");
        std::fs::create_dir_all(&blobs_dir).unwrap();
        for b in ["old", "new", "shared"] {
            std::fs::write(blobs_dir.join(b), b).unwrap();
        }
        let snap = |rev: &str, file: &str, blob: &str| {
            let d = model.join("snapshots").join(rev);
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::symlink(blobs_dir.join(blob), d.join(file)).unwrap();
        };
        snap("r1", "a.safetensors", "old");
        snap("r1", "b.safetensors", "new");
        snap("r1", "c.safetensors", "shared");
        snap("r2", "c.safetensors", "shared");
        let created: HashSet<PathBuf> = [blobs_dir.join("new"), blobs_dir.join("shared")].into();
        let fetched = ["b.safetensors".to_owned(), "c.safetensors".to_owned()];
        remove_fetched(&model, &model.join("snapshots/r1"), &fetched, &created);
        assert!(blobs_dir.join("old").exists(), "a blob that was there before stays");
        assert!(!blobs_dir.join("new").exists());
        assert!(blobs_dir.join("shared").exists(), "another revision links it");
        assert!(model.join("snapshots/r1/a.safetensors").exists());
        assert!(!model.join("snapshots/r1/b.safetensors").exists());
    }
}
