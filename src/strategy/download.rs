//! `download` (opt-in, `--allow-download`): the last resort for repos that cannot be read by range.
//! Fetches the weight files the range strategies would have read, through the `hf-hub` crate into
//! the standard Hugging Face cache (`{cache}/models--{org}--{name}/snapshots/{sha}/`), so files
//! already there are not fetched again and what is fetched is reused by transformers and vLLM.
//! The size is checked against `max_bytes` and the free disk space before any byte is fetched;
//! the files are then counted with the same parsers, read locally.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::reader::Budget;
use super::{Ctx, Found, Miss, gguf, pytorch, safetensors};
use crate::record::Outcome;
use crate::source::hub::Token;
use crate::source::local::LocalSource;
use crate::source::{Deadline, Source};

/// Reports download progress (the CLI draws a bar or logs lines).
pub trait Progress: Send + Sync {
    fn start(&self, model: &str, files: usize, bytes: u64);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// Where and how much to download.
#[derive(Clone)]
pub struct Settings {
    pub endpoint: String,
    pub token: Option<Token>,
    /// The hub cache folder (`$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// Refuse downloads larger than this.
    pub max_bytes: u64,
    /// Remove what this run downloaded once it is counted.
    pub delete_after: bool,
    pub progress: Option<Arc<dyn Progress>>,
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

fn miss(outcome: Outcome, message: String) -> Miss {
    Miss::new(outcome, message)
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

/// Refuses a download of `total` bytes over `max_bytes`, or that would leave less than 5% of it
/// spare on a disk with `free` bytes.
fn check_budget(id: &str, files: usize, total: u64, max_bytes: u64, free: u64, probe: &Path) -> Result<(), Miss> {
    if total > max_bytes {
        return Err(miss(
            Outcome::DownloadTooLarge,
            format!(
                "{id}: downloading {files} files is {total} bytes, over --max-download-bytes {max_bytes}; raise it to allow this download"
            ),
        ));
    }
    if total.saturating_add(total / 20) > free {
        return Err(miss(
            Outcome::NoDiskSpace,
            format!(
                "{id}: downloading needs {total} bytes but {} has {free} free; free some space or set HF_HOME",
                probe.display()
            ),
        ));
    }
    Ok(())
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
    let snapshot_dir = settings.cache_dir.join(format!("models--{org}--{name}")).join("snapshots").join(&ctx.snap.sha);
    let files = files_to_fetch(ctx, gguf_prefer)?;
    let missing: Vec<&String> = files.iter().filter(|f| !snapshot_dir.join(f).exists()).collect();
    let paths: Vec<&str> = missing.iter().map(|f| f.as_str()).collect();
    let total: u64 = ctx.file_sizes(&paths)?.iter().sum();
    let probe = existing_ancestor(&settings.cache_dir);
    let free = fs4::available_space(&probe).unwrap_or(u64::MAX);
    check_budget(id, missing.len(), total, settings.max_bytes, free, &probe)?;
    let mut fetched = Vec::new();
    if !missing.is_empty() {
        tracing::info!(model = id, files = missing.len(), bytes = total, "downloading");
        let mut builder =
            hf_hub::HFClientBuilder::new().endpoint(settings.endpoint.clone()).cache_dir(settings.cache_dir.clone());
        if let Some(t) = &settings.token {
            builder = builder.token(t.expose());
        }
        let client = builder.build_sync().map_err(|e| miss(Outcome::DownloadFailed, format!("{id}: {e}")))?;
        let repo = client.model(org, name);
        if let Some(p) = &settings.progress {
            p.start(id, missing.len(), total);
        }
        let handler = settings
            .progress
            .clone()
            .map(|sink| hf_hub::progress::Progress::new(Bytes { sink, seen: Default::default() }));
        for f in &missing {
            let result = repo
                .download_file()
                .filename(f.as_str())
                .revision(ctx.snap.sha.clone())
                .maybe_progress(handler.clone())
                .send();
            if let Err(e) = result {
                if let Some(p) = &settings.progress {
                    p.finish();
                }
                return Err(miss(Outcome::DownloadFailed, format!("{id}: downloading {f}: {e}")));
            }
            fetched.push((*f).clone());
        }
        if let Some(p) = &settings.progress {
            p.finish();
        }
    }
    let found = count_local(ctx, &settings.cache_dir, gguf_prefer);
    if settings.delete_after {
        for f in &fetched {
            remove_cached(&snapshot_dir.join(f));
        }
    }
    let mut found = found?;
    found.counts.notes.push(if fetched.is_empty() {
        format!("counted from files already in {}", settings.cache_dir.display())
    } else {
        format!("downloaded {} files ({total} bytes) into {}", fetched.len(), settings.cache_dir.display())
    });
    Ok(found)
}

/// Turns hf-hub's per-file progress (cumulative bytes per file) into byte deltas.
struct Bytes {
    sink: Arc<dyn Progress>,
    seen: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl hf_hub::progress::ProgressHandler for Bytes {
    fn on_progress(&self, event: &hf_hub::progress::ProgressEvent) {
        use hf_hub::progress::{DownloadEvent, ProgressEvent};
        if let ProgressEvent::Download(DownloadEvent::Progress { files }) = event {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            for f in files {
                let last = seen.entry(f.filename.clone()).or_default();
                if f.bytes_completed > *last {
                    self.sink.advance(f.bytes_completed - *last);
                    *last = f.bytes_completed;
                }
            }
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
        .map_err(|m| miss(Outcome::DownloadFailed, format!("the downloaded files could not be counted: {}", m.message)))
}

/// Removes a cached file: the snapshot link and the blob it points to.
fn remove_cached(path: &Path) {
    if let Ok(target) = std::fs::canonicalize(path)
        && target != path
    {
        let _ = std::fs::remove_file(&target);
    }
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_over_the_limit_or_the_free_space_are_refused() {
        let p = Path::new("/cache");
        assert!(check_budget("a/b", 2, 1_000, 10_000, 1 << 40, p).is_ok());
        let m = check_budget("a/b", 2, 20_000, 10_000, 1 << 40, p).unwrap_err();
        assert_eq!(m.outcome, Outcome::DownloadTooLarge);
        assert!(m.message.contains("--max-download-bytes"));
        let m = check_budget("a/b", 2, 1_000, 10_000, 1_020, p).unwrap_err();
        assert_eq!(m.outcome, Outcome::NoDiskSpace);
        assert!(m.message.contains("/cache") && m.message.contains("1020 free"), "{}", m.message);
        assert!(existing_ancestor(Path::new("/definitely/not/here/at/all")).exists());
    }
}
