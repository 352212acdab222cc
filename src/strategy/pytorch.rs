//! `pytorch`: PyTorch checkpoints (`pytorch_model.bin`, the shards of its index, other root
//! `*.bin` / `*.pt` / `*.pth` weights) read by range: the zip's `data.pkl` from offset 0 (torch
//! writes it first), with the end-of-central-directory as the fallback, or the pickles at the head
//! of a legacy (pre-zip) file; then the pickle's tensors, tied weights (a shared storage view)
//! counted once.

use std::collections::HashSet;

use rayon::prelude::*;

use super::{Ctx, Found, Miss};
use crate::count;
use crate::dtype;
use crate::format::pickle::{self, PickleError};
use crate::format::{TensorInfo, index, zip};
use crate::source::{Snapshot, Source};

/// The first read of a checkpoint; `data.pkl` of most checkpoints fits.
const FIRST_READ: u64 = 256 << 10;
/// The largest pickle read.
const MAX_PICKLE: u64 = 64 << 20;
/// The tail read for the end-of-central-directory records.
const TAIL: u64 = 64 << 10;
/// A legacy checkpoint starts with the pickled magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
/// Root files that hold training state, not weights.
const NOT_WEIGHTS: &[&str] = &["training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt"];

pub fn run(ctx: &Ctx) -> Result<Found, Miss> {
    let files = weight_files(ctx)?;
    let per_file: Vec<Vec<TensorInfo>> =
        files.par_iter().map(|f| read_tensors(ctx.source, ctx.snap, f)).collect::<Result<_, Miss>>()?;
    let counts = count::count(per_file.iter().flatten(), ctx.count).map_err(|e| Miss::invalid("pickle", e))?;
    Ok(Found::exact(counts, files))
}

/// The checkpoint files this strategy would read (after reading any index).
pub fn weight_files(ctx: &Ctx) -> Result<Vec<String>, Miss> {
    let snap = ctx.snap;
    if snap.has("pytorch_model.bin.index.json") {
        let bytes = ctx.source.read_small(snap, "pytorch_model.bin.index.json", index::MAX_INDEX_BYTES)?;
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
        .filter(|f| !f.contains('/') && [".bin", ".pt", ".pth"].iter().any(|e| f.ends_with(e)))
        .filter(|f| !NOT_WEIGHTS.contains(&f.as_str()) && !f.starts_with("rng_state"))
        .cloned()
        .collect();
    if others.is_empty() {
        return Err(Miss::absent("no PyTorch weights in the repository"));
    }
    Ok(others)
}

/// The tensors of one checkpoint file, tied views once, with safetensors dtype names.
fn read_tensors(source: &dyn Source, snap: &Snapshot, path: &str) -> Result<Vec<TensorInfo>, Miss> {
    let first = source.read_range(snap, path, 0, FIRST_READ)?;
    let size = first.file_size;
    let found = if first.bytes.starts_with(b"PK\x03\x04") {
        match zip::local_entry(&first.bytes, 0) {
            Ok(e) if e.name.ends_with("data.pkl") => {
                if e.method != 0 {
                    return Err(Miss::invalid(path, zip::ZipError::Compressed { name: e.name, method: e.method }));
                }
                let buf = first.bytes.get(e.data_start as usize..).unwrap_or(&[]).to_vec();
                pickle_from(source, snap, path, size, e.data_start, e.size, buf)?.0.tensors()
            }
            _ => via_central_directory(source, snap, path, size)?.tensors(),
        }
    } else if first.bytes.starts_with(LEGACY_MAGIC) {
        legacy(source, snap, path, size, first.bytes)?.tensors()
    } else {
        return Err(Miss::invalid(path, "not a PyTorch checkpoint (neither a zip nor a legacy torch file)"));
    };
    let tensors = found.map_err(|e| Miss::invalid(path, e))?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert((t.storage_key.clone(), t.offset, t.shape.clone())) {
            continue; // a second view of the same storage: a tied weight
        }
        let dtype = dtype::from_torch_storage(&t.storage_type).map(str::to_owned).unwrap_or(t.storage_type);
        out.push(TensorInfo { name: t.name, dtype, shape: t.shape });
    }
    Ok(out)
}

/// Parses the pickle at `start`, reading more while it is truncated. `buf` holds the file's bytes
/// from `start` on (as many as were read already); the grown buffer is returned with the pickle.
fn pickle_from(
    source: &dyn Source,
    snap: &Snapshot,
    path: &str,
    file_size: u64,
    start: u64,
    known_len: Option<u64>,
    mut buf: Vec<u8>,
) -> Result<(pickle::Pickle, Vec<u8>), Miss> {
    if let Some(n) = known_len
        && n > MAX_PICKLE
    {
        return Err(Miss::invalid(path, format!("data.pkl is {n} bytes, over the {MAX_PICKLE}-byte limit")));
    }
    let limit = known_len.unwrap_or(MAX_PICKLE).min(file_size.saturating_sub(start));
    loop {
        match pickle::parse(&buf) {
            Ok(p) => return Ok((p, buf)),
            Err(PickleError::Truncated(got)) if (got as u64) < limit => {
                let have = buf.len() as u64;
                let want = have.max(FIRST_READ).min(limit - have);
                let next = source.read_range(snap, path, start + have, want)?;
                if next.bytes.is_empty() {
                    return Err(Miss::invalid(path, PickleError::Truncated(got)));
                }
                buf.extend_from_slice(&next.bytes);
            }
            Err(PickleError::Truncated(got)) if (got as u64) >= MAX_PICKLE => {
                return Err(Miss::invalid(path, format!("the pickle runs past the {MAX_PICKLE}-byte limit")));
            }
            Err(e) => return Err(Miss::invalid(path, e)),
        }
    }
}

/// Finds `data.pkl` through the end-of-central-directory (and ZIP64) records.
fn via_central_directory(source: &dyn Source, snap: &Snapshot, path: &str, size: u64) -> Result<pickle::Pickle, Miss> {
    let bad = |e: zip::ZipError| Miss::invalid(path, e);
    let tail_start = size.saturating_sub(TAIL);
    let tail = source.read_range(snap, path, tail_start, size - tail_start)?.bytes;
    let cd = match zip::eocd(&tail, size).map_err(bad)? {
        zip::Eocd::Cd(cd) => cd,
        zip::Eocd::Zip64At(at) => {
            let rec = source.read_range(snap, path, at, 56)?.bytes;
            zip::zip64_eocd(&rec, size).map_err(bad)?
        }
    };
    if cd.size > MAX_PICKLE {
        return Err(Miss::invalid(path, format!("central directory of {} bytes, over the limit", cd.size)));
    }
    let cd_bytes = source.read_range(snap, path, cd.offset, cd.size)?.bytes;
    let entry = zip::find_entry(&cd_bytes, "data.pkl", size).map_err(bad)?;
    if entry.method != 0 {
        return Err(bad(zip::ZipError::Compressed { name: entry.name, method: entry.method }));
    }
    if entry.size > MAX_PICKLE {
        return Err(Miss::invalid(path, format!("data.pkl is {} bytes, over the limit", entry.size)));
    }
    let head = source.read_range(snap, path, entry.local_offset, 30 + 1024 + entry.size)?.bytes;
    let local = zip::local_entry(&head, entry.local_offset).map_err(bad)?;
    if local.name != entry.name {
        return Err(Miss::invalid(
            path,
            format!(
                "the central directory says {:?} at {}, the file has {:?} there",
                entry.name, entry.local_offset, local.name
            ),
        ));
    }
    // The first read guessed 1 KiB for the local name and extra fields; fetch what a longer one hid.
    let mut pkl = head.get(local.data_start as usize..).unwrap_or(&[]).to_vec();
    if (pkl.len() as u64) < entry.size {
        let more = source.read_range(
            snap,
            path,
            entry.local_offset + local.data_start + pkl.len() as u64,
            entry.size - pkl.len() as u64,
        )?;
        pkl.extend_from_slice(&more.bytes);
    }
    pkl.truncate(entry.size as usize);
    pickle::parse(&pkl).map_err(|e| Miss::invalid(path, e))
}

/// A legacy checkpoint: magic number, protocol version and system info pickles, then the object.
fn legacy(
    source: &dyn Source,
    snap: &Snapshot,
    path: &str,
    size: u64,
    mut buf: Vec<u8>,
) -> Result<pickle::Pickle, Miss> {
    let mut offset = 0u64;
    for _ in 0..3 {
        let (p, rest) = pickle_from(source, snap, path, size, offset, None, buf)?;
        buf = rest;
        buf.drain(..p.consumed);
        offset += p.consumed as u64;
    }
    pickle_from(source, snap, path, size, offset, None, buf).map(|(p, _)| p)
}
