//! `safetensors`: the JSON header of each weight file, read by range: `model.safetensors`, the
//! shards of `model.safetensors.index.json`, `consolidated.safetensors` (Mistral), diffusers
//! components (`model_index.json`, chosen by [`super::diffusers`]; a component stored only as a
//! `.bin` is read as the `pytorch` strategy reads it), sentence-transformers Dense modules
//! (`modules.json`), and adapter-only repos' adapter weights. One range request per
//! file, sized from the tensor count the index (for shards) or the config's architecture (for a
//! single file) predicts, else small; a second only for the rest of a longer header, so the bytes
//! read stay close to the header's. Shards are read side by side.

use super::checkpoint::{self, EachFile};
use super::{Ctx, Found, Miss};
use crate::count;
use crate::format::{TensorInfo, index, safetensors};
use crate::id::check_repo_path;

/// The first range when nothing says how long the header is.
const SMALL_FIRST_READ: u64 = 16 << 10;
/// Bytes of header JSON per tensor, generously (a name, dtype, shape and two offsets: ~100-150).
const BYTES_PER_TENSOR: u64 = 192;

/// A weight file to read, with the number of tensors an index says it holds.
pub(super) struct WeightFile {
    pub path: String,
    pub tensors: Option<usize>,
    /// A PyTorch checkpoint (a diffusers component stored only as `.bin`), read as the `pytorch`
    /// strategy reads one.
    pub pickle: bool,
}

pub fn run(ctx: &Ctx) -> Result<Found, Miss> {
    let (files, notes) = weight_files(ctx)?;
    let headers: Vec<Vec<TensorInfo>> = ctx.each_file(&files, |f| match f.pickle {
        true => super::pytorch::read_tensors(ctx, &f.path),
        false => read_header(ctx, &f.path, f.tensors).map(|h| h.tensors),
    })?;
    let paths: Vec<String> = files.into_iter().map(|f| f.path).collect();
    checkpoint::check(&paths, &headers, EachFile::HoldsTensors)?;
    let mut counts =
        count::count(headers.iter().flatten(), ctx.count).map_err(|e| Miss::invalid("safetensors headers", e))?;
    counts.notes.extend(notes);
    Ok(Found::exact(counts, paths))
}

/// Reads and parses one header: one range sized to the expected header, and the remainder if needed.
pub fn read_header(ctx: &Ctx, path: &str, tensors: Option<usize>) -> Result<safetensors::Header, Miss> {
    let first_len = match tensors {
        Some(n) => (n as u64).saturating_mul(BYTES_PER_TENSOR).saturating_add(1024),
        None => SMALL_FIRST_READ,
    };
    let file = ctx.file(path);
    let room = ctx.tensors_left();
    let header = safetensors::read_header(&file, first_len, room).map_err(|e| match e {
        safetensors::SafetensorsError::TooManyTensors { found, .. } => ctx.tensors_over(path, found),
        e => file.miss(e),
    })?;
    ctx.charge_tensors(path, header.tensors.len())?;
    Ok(header)
}

/// Reads an index and lists its shards.
pub(super) fn shards_of(ctx: &Ctx, index_path: &str) -> Result<Vec<WeightFile>, Miss> {
    let bytes = ctx.read_small(index_path, index::MAX_INDEX_BYTES)?;
    let idx = index::parse(&bytes, index_path).map_err(|e| Miss::invalid(index_path, e))?;
    Ok(idx.shards.into_iter().map(|(path, n)| WeightFile { path, tensors: Some(n), pickle: false }).collect())
}

/// The weights of a folder (`""` for the root): its sharded index, else its single file.
fn folder_weights(ctx: &Ctx, dir: &str, names: &[&str]) -> Result<Option<Vec<WeightFile>>, Miss> {
    for name in names {
        let index = format!("{dir}{name}.index.json");
        if ctx.snap.has(&index) {
            return shards_of(ctx, &index).map(Some);
        }
        let file = format!("{dir}{name}");
        if ctx.snap.has(&file) {
            let tensors = if dir.is_empty() { expected_tensors(ctx) } else { None };
            return Ok(Some(vec![WeightFile { path: file, tensors, pickle: false }]));
        }
    }
    Ok(None)
}

/// How many tensors the config's architecture says a single-file checkpoint holds (tripled for a
/// quantized one: scales and zero points beside each weight).
fn expected_tensors(ctx: &Ctx) -> Option<usize> {
    let config = ctx.config?;
    let model = crate::arch::model(config).ok()?;
    let n: u64 = model.params.iter().map(|p| p.repeat).try_fold(0u64, u64::checked_add)?;
    let quantized = matches!(crate::arch::quant::quantization(config), Ok(Some(_)));
    let n = if quantized { n.checked_mul(3)? } else { n };
    usize::try_from(n).ok().filter(|n| *n <= 1_000_000)
}

/// The weight files this strategy would read (after reading any index).
#[cfg(feature = "download")]
pub fn weight_paths(ctx: &Ctx) -> Result<Vec<String>, Miss> {
    Ok(weight_files(ctx)?.0.into_iter().map(|f| f.path).collect())
}

/// The weight files to read, and notes on what was chosen among several forms.
fn weight_files(ctx: &Ctx) -> Result<super::diffusers::Weights, Miss> {
    let snap = ctx.snap;
    let mut files = folder_weights(ctx, "", &["model.safetensors", "consolidated.safetensors"])?.unwrap_or_default();
    let mut notes = Vec::new();
    if files.is_empty() && snap.has("model_index.json") {
        // diffusers: one folder per component.
        (files, notes) = super::diffusers::weight_files(ctx)?;
    } else if files.is_empty()
        && let Some(root) = super::diffusers::root_weights(ctx)?
    {
        (files, notes) = root;
    }
    let module_weights = snap.files.iter().any(|f| f.contains('/') && f.ends_with("/model.safetensors"));
    if snap.has("modules.json") && !files.is_empty() && module_weights {
        // sentence-transformers: Dense layers live in their own module folders.
        let bytes = ctx.read_small("modules.json", 1 << 20)?;
        ctx.charge_json("modules.json", &bytes)?;
        let modules: Vec<serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|e| Miss::invalid("modules.json", e))?;
        for m in modules {
            ctx.check_deadline("modules.json's modules")?;
            let (Some(path), Some(kind)) =
                (m.get("path").and_then(|p| p.as_str()), m.get("type").and_then(|t| t.as_str()))
            else {
                continue;
            };
            if path.is_empty() || !kind.contains("Dense") || check_repo_path(path).is_err() {
                continue;
            }
            if let Some(f) = folder_weights(ctx, &format!("{path}/"), &["model.safetensors"])? {
                files.extend(f);
            }
        }
    }
    if files.is_empty() && ctx.adapter.is_some() {
        let adapter = super::adapter::WEIGHTS.iter().filter(|w| w.ends_with(".safetensors") && snap.has(w));
        files.extend(adapter.map(|w| WeightFile { path: (*w).to_owned(), tensors: None, pickle: false }));
    }
    if files.is_empty() {
        return Err(Miss::absent(format!("no safetensors weights in {}", ctx.place())));
    }
    // Each file is read and counted once, however many of the lists above name it (modules.json
    // may repeat a folder; an index may name a module's file too).
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.path.clone()));
    Ok((files, notes))
}
