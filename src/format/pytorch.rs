//! PyTorch checkpoints (`torch.save`) over a range reader: the zip's `data.pkl` from offset 0
//! (torch writes it first), with the end-of-central-directory (and ZIP64) records as the fallback,
//! or the pickles at the head of a legacy (pre-zip) file; then the pickle's tensors, a second view
//! of the same storage (a tied weight) once, each checked against what the file can hold: a view
//! within its storage, the views of a storage within its size, all storages within the file.

use std::collections::{BTreeMap, HashSet};

use super::pickle::{self, PickleError, PickledTensor};
use super::zip::{self, ZipError};
use super::{ReadAt, ReadError, TensorInfo};
use crate::dtype;

/// The first read of a checkpoint; `data.pkl` of most checkpoints fits (OPT-125m's is 37 KB). A
/// longer one whose size the zip states is read in one more request.
pub const FIRST_READ: u64 = 64 << 10;
/// The largest pickle read.
pub const MAX_PICKLE: u64 = 64 << 20;
/// The tail read for the end-of-central-directory records.
const TAIL: u64 = 64 << 10;
/// A legacy checkpoint starts with the pickled magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a PyTorch checkpoint (neither a zip nor a legacy torch file)")]
    NotACheckpoint,
    #[error(transparent)]
    Zip(#[from] ZipError),
    #[error(transparent)]
    Pickle(#[from] PickleError),
    #[error("data.pkl is {0} bytes, over the {MAX_PICKLE}-byte limit")]
    PickleTooLarge(u64),
    #[error("the pickle runs past the {MAX_PICKLE}-byte limit")]
    PickleUnbounded,
    #[error("the central directory says {expected:?} at byte {offset}, the file has {found:?} there")]
    EntryMismatch { expected: String, offset: u64, found: String },
    #[error("the central directory is {0} bytes, over the {MAX_PICKLE}-byte limit")]
    DirectoryTooLarge(u64),
    #[error("tensors viewing storage {key:?} cover {elements} elements, but it holds {numel}")]
    ViewsExceedStorage { key: String, elements: u64, numel: u64 },
    #[error("storage {key:?} is declared as {first} ({first_numel} elements) and as {second} ({second_numel})")]
    StorageRedeclared { key: String, first: String, first_numel: u64, second: String, second_numel: u64 },
    #[error("the storages the pickle declares need {bytes} bytes, more than the {file_size}-byte file holds")]
    StoragesExceedFile { bytes: u64, file_size: u64 },
    #[error("reading the file: {0}")]
    Read(#[from] ReadError),
}

/// The tensors of one checkpoint file, a shared storage view once, with safetensors dtype names
/// (unknown storage classes kept under their class name).
pub fn read(r: &dyn ReadAt) -> Result<Vec<TensorInfo>, CheckpointError> {
    let first = r.read_at(0, FIRST_READ)?;
    let size = first.file_size;
    let tensors = if first.bytes.starts_with(b"PK\x03\x04") {
        match zip::local_entry(&first.bytes, 0) {
            Ok(e) if e.name.ends_with("data.pkl") => {
                if e.method != 0 {
                    return Err(ZipError::Compressed { name: e.name, method: e.method }.into());
                }
                let mut buf = first.bytes.get(e.data_start as usize..).unwrap_or(&[]).to_vec();
                parse_growing(r, size, e.data_start, e.size, &mut buf, |p| p.tensors())?
            }
            _ => pickle::parse(&via_central_directory(r, size)?)?.tensors()?,
        }
    } else if first.bytes.starts_with(LEGACY_MAGIC) {
        legacy(r, size, first.bytes)?
    } else {
        return Err(CheckpointError::NotACheckpoint);
    };
    checked(tensors, size)
}

/// Drops second views of a storage, checks the views and storages against what the file holds, and
/// names dtypes.
fn checked(tensors: Vec<PickledTensor>, file_size: u64) -> Result<Vec<TensorInfo>, CheckpointError> {
    let mut seen = HashSet::new();
    // Per storage: its declared size, its dtype, and the elements its distinct views cover.
    let mut storages: BTreeMap<String, (u64, String, u64)> = BTreeMap::new();
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert((t.storage_key.clone(), t.offset, t.shape.clone())) {
            continue; // a second view of the same storage: a tied weight
        }
        let dtype = dtype::from_torch_storage(&t.storage_type).map(str::to_owned).unwrap_or(t.storage_type);
        let elements = t.shape.iter().try_fold(1u64, |a, d| a.checked_mul(*d)).unwrap_or(u64::MAX);
        let entry = storages.entry(t.storage_key.clone()).or_insert((t.storage_numel, dtype.clone(), 0));
        // Every reference to a storage names the same class and size: one sized with one class
        // must not back views of another.
        if entry.0 != t.storage_numel || entry.1 != dtype {
            return Err(CheckpointError::StorageRedeclared {
                key: t.storage_key,
                first: entry.1.clone(),
                first_numel: entry.0,
                second: dtype,
                second_numel: t.storage_numel,
            });
        }
        entry.2 = entry.2.saturating_add(elements);
        out.push(TensorInfo { name: t.name, dtype, shape: t.shape });
    }
    let mut bytes = 0u64;
    for (key, (numel, dtype, elements)) in storages {
        if elements > numel {
            return Err(CheckpointError::ViewsExceedStorage { key, elements, numel });
        }
        // An unknown storage class still takes at least one bit per element.
        let b = dtype::lookup(&dtype).and_then(|d| d.bytes_for(numel)).unwrap_or(numel.div_ceil(8));
        bytes = bytes.saturating_add(b);
    }
    if bytes > file_size {
        return Err(CheckpointError::StoragesExceedFile { bytes, file_size });
    }
    Ok(out)
}

/// Parses the pickle at `start` and hands it to `f`, reading more while it is truncated. `buf`
/// holds the file's bytes from `start` on (as many as were read already) and keeps what was read;
/// `known_len` is the zip entry's size, when known.
fn parse_growing<T>(
    r: &dyn ReadAt,
    file_size: u64,
    start: u64,
    known_len: Option<u64>,
    buf: &mut Vec<u8>,
    f: impl Fn(pickle::Pickle) -> Result<T, PickleError>,
) -> Result<T, CheckpointError> {
    if let Some(n) = known_len
        && n > MAX_PICKLE
    {
        return Err(CheckpointError::PickleTooLarge(n));
    }
    let limit = known_len.unwrap_or(MAX_PICKLE).min(file_size.saturating_sub(start));
    loop {
        match pickle::parse(buf) {
            Ok(p) => return Ok(f(p)?),
            Err(PickleError::Truncated(got)) if (got as u64) < limit => {
                let have = buf.len() as u64;
                // The rest at once when the zip says how long it is; else double.
                let want = if known_len.is_some() { limit - have } else { have.max(FIRST_READ).min(limit - have) };
                let next = r.read_at(start + have, want)?;
                if next.bytes.is_empty() {
                    return Err(PickleError::Truncated(got).into());
                }
                buf.extend_from_slice(&next.bytes);
            }
            Err(PickleError::Truncated(got)) if (got as u64) >= MAX_PICKLE => {
                return Err(CheckpointError::PickleUnbounded);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `data.pkl`'s bytes, found through the end-of-central-directory (and ZIP64) records.
fn via_central_directory(r: &dyn ReadAt, size: u64) -> Result<Vec<u8>, CheckpointError> {
    let tail_start = size.saturating_sub(TAIL);
    let tail = r.read_at(tail_start, size - tail_start)?.bytes;
    let cd = match zip::eocd(&tail, size)? {
        zip::Eocd::Cd(cd) => cd,
        zip::Eocd::Zip64At(at) => zip::zip64_eocd(&r.read_at(at, 56)?.bytes, size)?,
    };
    if cd.size > MAX_PICKLE {
        return Err(CheckpointError::DirectoryTooLarge(cd.size));
    }
    let cd_bytes = r.read_at(cd.offset, cd.size)?.bytes;
    let entry = zip::find_entry(&cd_bytes, "data.pkl", size)?;
    if entry.method != 0 {
        return Err(ZipError::Compressed { name: entry.name, method: entry.method }.into());
    }
    if entry.size > MAX_PICKLE {
        return Err(CheckpointError::PickleTooLarge(entry.size));
    }
    let head = r.read_at(entry.local_offset, 30 + 1024 + entry.size)?.bytes;
    let local = zip::local_entry(&head, entry.local_offset)?;
    if local.name != entry.name {
        return Err(CheckpointError::EntryMismatch {
            expected: entry.name,
            offset: entry.local_offset,
            found: local.name,
        });
    }
    // The first read guessed 1 KiB for the local name and extra fields; fetch what a longer one hid.
    let mut pkl = head.get(local.data_start as usize..).unwrap_or(&[]).to_vec();
    if (pkl.len() as u64) < entry.size {
        let at = entry.local_offset + local.data_start + pkl.len() as u64;
        pkl.extend_from_slice(&r.read_at(at, entry.size - pkl.len() as u64)?.bytes);
    }
    pkl.truncate(entry.size as usize);
    Ok(pkl)
}

/// A legacy checkpoint: magic number, protocol version and system info pickles, then the object.
fn legacy(r: &dyn ReadAt, size: u64, mut buf: Vec<u8>) -> Result<Vec<PickledTensor>, CheckpointError> {
    let mut offset = 0u64;
    for _ in 0..3 {
        let consumed = parse_growing(r, size, offset, None, &mut buf, |p| Ok(p.consumed))?;
        buf.drain(..consumed);
        offset += consumed as u64;
    }
    parse_growing(r, size, offset, None, &mut buf, |p| p.tensors())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, class: &str, key: &str, numel: u64, shape: &[u64]) -> PickledTensor {
        PickledTensor {
            name: name.into(),
            storage_type: class.into(),
            storage_key: key.into(),
            storage_numel: numel,
            offset: 0,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn views_are_checked_against_their_storage_and_the_file() {
        let tied = [view("a", "FloatStorage", "0", 8, &[8]), view("b", "FloatStorage", "0", 8, &[8])];
        assert_eq!(checked(tied.to_vec(), 32).unwrap().len(), 1, "a second view of one storage is a tie");
        assert!(matches!(
            checked(vec![view("a", "FloatStorage", "0", 8, &[9])], 1 << 20),
            Err(CheckpointError::ViewsExceedStorage { elements: 9, numel: 8, .. })
        ));
        assert!(matches!(
            checked(vec![view("a", "FloatStorage", "0", 8, &[8])], 31),
            Err(CheckpointError::StoragesExceedFile { bytes: 32, file_size: 31 })
        ));
        // One key sized as 1 byte (or 1 bit) an element must not back 8-byte views.
        for first in ["ByteStorage", "WeirdStorage"] {
            let redeclared =
                vec![view("a", first, "0", 1 << 20, &[0]), view("b", "DoubleStorage", "0", 1 << 20, &[1 << 20])];
            assert!(matches!(checked(redeclared, 1 << 20), Err(CheckpointError::StorageRedeclared { .. })), "{first}");
        }
        let resized = vec![view("a", "FloatStorage", "0", 1, &[1]), view("b", "FloatStorage", "0", 1 << 20, &[8])];
        assert!(matches!(checked(resized, 1 << 30), Err(CheckpointError::StorageRedeclared { .. })));
    }
}
