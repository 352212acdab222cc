//! `pytorch`: PyTorch checkpoints (`pytorch_model.bin`, the shards of its index, other root
//! `*.bin` / `*.pt` / `*.pth` weights; an adapter's `.bin` only in an adapter-only repository),
//! each read by range through [`crate::format::pytorch`]
//! (`data.pkl`'s tensors, checked against what the file holds), counted together.

use super::adapter;
use super::checkpoint::{self, EachFile};
use super::{Ctx, Found, Miss};
use crate::count;
use crate::format::{TensorInfo, index, pytorch};

/// Root files that hold training state, not weights.
const NOT_WEIGHTS: &[&str] = &["training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt"];

pub fn run(ctx: &Ctx) -> Result<Found, Miss> {
    let files = weight_files(ctx)?;
    let per_file: Vec<Vec<TensorInfo>> = ctx.each_file(&files, |f| read_tensors(ctx, f))?;
    checkpoint::check(&files, &per_file, EachFile::HoldsTensors)?;
    let counts = count::count(per_file.iter().flatten(), ctx.count).map_err(|e| Miss::invalid("pickle", e))?;
    Ok(Found::exact(counts, files))
}

/// The checkpoint files this strategy would read (after reading any index).
pub fn weight_files(ctx: &Ctx) -> Result<Vec<String>, Miss> {
    let snap = ctx.snap;
    if snap.has("pytorch_model.bin.index.json") {
        let bytes = ctx.read_small("pytorch_model.bin.index.json", index::MAX_INDEX_BYTES)?;
        let idx = index::parse(&bytes, "pytorch_model.bin.index.json")
            .map_err(|e| Miss::invalid("pytorch_model.bin.index.json", e))?;
        return Ok(idx.shards.into_keys().collect());
    }
    if snap.has("pytorch_model.bin") {
        return Ok(vec!["pytorch_model.bin".into()]);
    }
    let others: Vec<String> = snap
        .files
        .iter()
        .filter(|f| root_checkpoint(f) && (ctx.adapter.is_some() || !adapter::WEIGHTS.contains(&f.as_str())))
        .cloned()
        .collect();
    if others.is_empty() {
        return Err(Miss::absent(format!("no PyTorch weights in {}", ctx.place())));
    }
    Ok(others)
}

/// Whether a root file may be a PyTorch checkpoint (not training state).
pub(super) fn root_checkpoint(path: &str) -> bool {
    !path.contains('/')
        && [".bin", ".pt", ".pth"].iter().any(|e| path.ends_with(e))
        && !NOT_WEIGHTS.contains(&path)
        && !path.starts_with("rng_state")
}

/// The tensors of one checkpoint file.
pub(super) fn read_tensors(ctx: &Ctx, path: &str) -> Result<Vec<TensorInfo>, Miss> {
    let file = ctx.file(path);
    let tensors = pytorch::read(&file).map_err(|e| file.miss(e))?;
    ctx.charge_tensors(path, tensors.len())?;
    Ok(tensors)
}
