//! PyTorch checkpoints (`torch.save`) over a range reader, checked as `torch.load(weights_only=True)`
//! (the reference reader) checks them before it reads a byte of tensor data:
//! - a zip: the end-of-central-directory (and ZIP64) records and the whole central directory, well
//!   formed; `data.pkl` (read from offset 0 in the same first read, where torch writes it) stored,
//!   its local header naming it, its CRC-32 matching; each storage's record `data/<key>` present,
//!   stored, and exactly the storage's size;
//! - a legacy (pre-zip) file: the magic number, protocol version 1001, the system info, the object,
//!   the storage keys, and each storage's element count in the file equal to the pickle's.
//!
//! Then the pickle's tensors: a view identical to another (a tied weight: same storage, offset,
//! shape, stride, dtype) once, every view within its storage (views may overlap: `w` beside
//! `w.t()`, `expand`, overlapping slices), every storage once within the file. A checkpoint with no
//! tensor is refused: a record of 0 parameters is never an answer.

use std::collections::{BTreeMap, HashSet};

use super::pickle::{self, PickleError, PickledTensor};
use super::window::Window;
use super::zip::{self, ZipError};
use super::{ReadAt, ReadError, TensorInfo};

/// The first read of a checkpoint; `data.pkl` of most checkpoints fits (OPT-125m's is 37 KB). A
/// longer one is read in one more request (the central directory says how long it is).
pub const FIRST_READ: u64 = 64 << 10;
/// The largest pickle read.
pub const MAX_PICKLE: u64 = 64 << 20;
/// The tail read for the end-of-central-directory records.
const TAIL: u64 = 64 << 10;
/// A legacy checkpoint starts with the pickled magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
/// The only legacy protocol version torch reads.
const LEGACY_PROTOCOL: i64 = 1001;

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
    #[error("the record at byte {offset} is named {found:?}, outside the archive's folder {expected:?}")]
    EntryMismatch { expected: String, offset: u64, found: String },
    #[error("the central directory is {0} bytes, over the {MAX_PICKLE}-byte limit")]
    DirectoryTooLarge(u64),
    #[error("data.pkl's CRC-32 is {found:08x}, the central directory says {expected:08x}: the file is corrupt")]
    PickleCrc { expected: u32, found: u32 },
    #[error("storage {key:?} has no record {record:?} in the zip")]
    MissingRecord { key: String, record: String },
    #[error("storage {key:?}: its record is {found} bytes, the pickle declares {expected}")]
    RecordSize { key: String, expected: u64, found: u64 },
    #[error("storage {key:?} is declared as {first} ({first_numel} elements) and as {second} ({second_numel})")]
    StorageRedeclared { key: String, first: String, first_numel: u64, second: String, second_numel: u64 },
    #[error("the storages the pickle declares need {bytes} bytes, more than the {file_size}-byte file holds")]
    StoragesExceedFile { bytes: u64, file_size: u64 },
    #[error("legacy checkpoint: protocol version {0:?}, torch reads only {LEGACY_PROTOCOL}")]
    LegacyProtocol(Option<i64>),
    #[error("legacy checkpoint: {0}")]
    Legacy(String),
    #[error("the checkpoint holds no tensor")]
    NoTensors,
    #[error("reading the file: {0}")]
    Read(#[from] ReadError),
}

/// The tensors of one checkpoint file, a tied view once, with safetensors dtype names.
pub fn read(r: &dyn ReadAt) -> Result<Vec<TensorInfo>, CheckpointError> {
    let w = Window::open(r, 0, FIRST_READ)?;
    let size = w.file_size();
    let tensors = if w.held().starts_with(b"PK\x03\x04") {
        zip_checkpoint(r, w)?
    } else if w.held().starts_with(LEGACY_MAGIC) {
        legacy(r, w)?
    } else {
        return Err(CheckpointError::NotACheckpoint);
    };
    checked(tensors, size)
}

/// The storages the tensors view: key -> (class, declared numel, bytes).
fn storages(tensors: &[PickledTensor]) -> Result<BTreeMap<&str, (&str, u64, u64)>, CheckpointError> {
    let mut out: BTreeMap<&str, (&str, u64, u64)> = BTreeMap::new();
    for t in tensors {
        let e = out.entry(&t.storage_key).or_insert((&t.storage_type, t.storage_numel, t.storage_bytes));
        // Every reference to a storage names the same class and size: one sized with one class
        // must not back views of another.
        if e.0 != t.storage_type || e.1 != t.storage_numel {
            return Err(CheckpointError::StorageRedeclared {
                key: t.storage_key.clone(),
                first: e.0.to_owned(),
                first_numel: e.1,
                second: t.storage_type.clone(),
                second_numel: t.storage_numel,
            });
        }
    }
    Ok(out)
}

/// Drops tied views, checks the storages against the file, and names dtypes.
fn checked(tensors: Vec<PickledTensor>, file_size: u64) -> Result<Vec<TensorInfo>, CheckpointError> {
    let bytes = storages(&tensors)?.values().fold(0u64, |a, s| a.saturating_add(s.2));
    if bytes > file_size {
        return Err(CheckpointError::StoragesExceedFile { bytes, file_size });
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert((t.storage_key.clone(), t.offset, t.shape.clone(), t.stride.clone(), t.dtype)) {
            continue; // the same view again: a tied weight
        }
        let mut shape = t.shape;
        if t.per_element > 1 {
            // Two float4 values a byte: counted as F4 values, the last dimension doubled.
            match shape.last_mut() {
                Some(d) => *d = d.saturating_mul(t.per_element),
                None => shape.push(t.per_element),
            }
        }
        out.push(TensorInfo { name: t.name, dtype: t.dtype.to_owned(), shape });
    }
    if out.is_empty() {
        return Err(CheckpointError::NoTensors);
    }
    Ok(out)
}

/// A zip checkpoint: the central directory, then `data.pkl`, then the storages' records.
fn zip_checkpoint(r: &dyn ReadAt, mut w: Window) -> Result<Vec<PickledTensor>, CheckpointError> {
    let size = w.file_size();
    let entries = central_directory(r, &w, size)?;
    // torch names every record under one folder, the first record's.
    let prefix = entries.first().and_then(|e| e.name.split_once('/')).map(|(d, _)| format!("{d}/")).unwrap_or_default();
    if let Some(e) = entries.iter().find(|e| !e.name.starts_with(&prefix)) {
        return Err(CheckpointError::EntryMismatch {
            expected: format!("{prefix}..."),
            offset: e.local_offset,
            found: e.name.clone(),
        });
    }
    // Records are looked up as miniz looks them up: ASCII case ignored.
    let find = |name: &str| entries.iter().find(|e| e.name.eq_ignore_ascii_case(name));
    let pkl_name = format!("{prefix}data.pkl");
    let pkl = find(&pkl_name).filter(|e| !e.is_dir).ok_or_else(|| ZipError::NoEntry(pkl_name.clone()))?;

    if pkl.method != 0 {
        return Err(ZipError::Compressed { name: pkl.name.clone(), method: pkl.method }.into());
    }
    if pkl.size > MAX_PICKLE {
        return Err(CheckpointError::PickleTooLarge(pkl.size));
    }
    let at = pkl.local_offset;
    let fixed = w.get(at, 30, None)?.ok_or(ZipError::NotLocalHeader(at))?.to_vec();
    let name_len = u16::from_le_bytes([fixed[26], fixed[27]]) as u64;
    let extra_len = u16::from_le_bytes([fixed[28], fixed[29]]) as u64;
    let head = w.get(at, 30 + name_len + extra_len, Some(at))?.ok_or(ZipError::NotLocalHeader(at))?;
    // The local header's signature and lengths, as torch's reader checks them (not its name).
    let local = zip::local_entry(head, at)?;
    let data = w.get(at + local.data_start, pkl.size, Some(at))?.ok_or(ZipError::EntryPastEnd {
        name: pkl.name.clone(),
        offset: at,
        size: pkl.size,
        file_size: size,
    })?;
    let found = zip::crc32(data);
    if found != pkl.crc32 {
        return Err(CheckpointError::PickleCrc { expected: pkl.crc32, found });
    }
    let tensors = pickle::parse(data)?.tensors()?;
    if find(&format!("{prefix}version")).or_else(|| find(&format!("{prefix}.data/version"))).is_none() {
        return Err(ZipError::NoEntry(format!("{prefix}version")).into());
    }
    let records: BTreeMap<String, &zip::CdEntry> = entries.iter().map(|e| (e.name.to_ascii_lowercase(), e)).collect();
    for (key, (_, _, bytes)) in storages(&tensors)? {
        let record = format!("{prefix}data/{key}");
        let Some(e) = records.get(&record.to_ascii_lowercase()) else {
            return Err(CheckpointError::MissingRecord { key: key.to_owned(), record });
        };
        if e.method != 0 {
            return Err(ZipError::Compressed { name: record, method: e.method }.into());
        }
        if e.size != bytes {
            return Err(CheckpointError::RecordSize { key: key.to_owned(), expected: bytes, found: e.size });
        }
    }
    Ok(tensors)
}

/// Every entry of the central directory, found through the end-of-central-directory (and ZIP64)
/// records (from the first read when it holds the whole file).
fn central_directory(r: &dyn ReadAt, w: &Window, size: u64) -> Result<Vec<zip::CdEntry>, CheckpointError> {
    let tail_start = size.saturating_sub(TAIL);
    let tail = match w.held_at(tail_start, size - tail_start) {
        Some(held) => held.to_vec(),
        None => r.read_at(tail_start, size - tail_start)?.bytes,
    };
    let cd = match zip::eocd(&tail, size)? {
        zip::Eocd::Cd(cd) => cd,
        zip::Eocd::Zip64At(at) => match zip::zip64_eocd(&record_at(r, &tail, tail_start, at, 56)?, size) {
            Err(ZipError::BadZip64) => match zip::eocd32(&tail, size)? {
                zip::Eocd::Cd(cd) => cd,
                zip::Eocd::Zip64At(_) => return Err(ZipError::BadZip64.into()),
            },
            other => other?,
        },
    };
    if cd.size > MAX_PICKLE {
        return Err(CheckpointError::DirectoryTooLarge(cd.size));
    }
    let bytes = record_at(r, &tail, tail_start, cd.offset, cd.size)?;
    if bytes.len() as u64 != cd.size {
        return Err(ZipError::CdPastEnd { offset: cd.offset, size: cd.size, file_size: size }.into());
    }
    if cd.entries.saturating_mul(46) > cd.size {
        return Err(ZipError::EntryCount { declared: cd.entries, size: cd.size }.into());
    }
    Ok(zip::entries(&bytes, cd.entries, size)?)
}

/// `n` bytes at `at`, from `tail` (the file's bytes from `tail_start` on) when it holds them.
fn record_at(r: &dyn ReadAt, tail: &[u8], tail_start: u64, at: u64, n: u64) -> Result<Vec<u8>, ReadError> {
    let held = at.checked_sub(tail_start).and_then(|from| tail.get(from as usize..(from + n) as usize));
    match held {
        Some(b) => Ok(b.to_vec()),
        None => Ok(r.read_at(at, n)?.bytes),
    }
}

/// Parses the pickle at the start of the window, growing it while the pickle is truncated.
fn parse_growing<T>(
    w: &mut Window,
    f: impl Fn(pickle::Pickle) -> Result<T, CheckpointError>,
) -> Result<T, CheckpointError> {
    loop {
        match pickle::parse(w.held()) {
            Ok(p) => return f(p),
            Err(PickleError::Truncated(got)) => {
                if (got as u64) >= MAX_PICKLE {
                    return Err(CheckpointError::PickleUnbounded);
                }
                if !w.grow(MAX_PICKLE)? {
                    return Err(PickleError::Truncated(got).into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A legacy checkpoint: magic number, protocol version, system info, the object, the storage keys,
/// then each storage as its element count (8 bytes) and its data.
fn legacy(r: &dyn ReadAt, mut w: Window) -> Result<Vec<PickledTensor>, CheckpointError> {
    let size = w.file_size();
    let skip = |w: &mut Window| -> Result<(), CheckpointError> {
        let n = parse_growing(w, |p| Ok(p.consumed))?;
        w.consume(n);
        Ok(())
    };
    skip(&mut w)?; // the magic number, matched by its bytes
    let (protocol, n) = parse_growing(&mut w, |p| Ok((p.root_int(), p.consumed)))?;
    if protocol != Some(LEGACY_PROTOCOL) {
        return Err(CheckpointError::LegacyProtocol(protocol));
    }
    w.consume(n);
    skip(&mut w)?; // system info
    let (tensors, n) = parse_growing(&mut w, |p| Ok((p.tensors()?, p.consumed)))?;
    w.consume(n);
    let (keys, n) = parse_growing(&mut w, |p| Ok((p.root_strings(), p.consumed)))?;
    let keys = keys.ok_or_else(|| CheckpointError::Legacy("the storage keys are not a list of strings".into()))?;
    let mut at = w.start() + n as u64;
    let known = storages(&tensors)?;
    for key in &keys {
        let Some((_, numel, bytes)) = known.get(key.as_str()) else {
            return Err(CheckpointError::Legacy(format!("storage {key:?} is listed but no tensor declares it")));
        };
        let head = match w.held_at(at, 8) {
            Some(held) => held.to_vec(),
            None => r.read_at(at, 8)?.bytes,
        };
        let Ok(head) = <[u8; 8]>::try_from(head.as_slice()) else {
            return Err(CheckpointError::Legacy(format!("the file ends before storage {key:?}")));
        };
        let found = u64::from_le_bytes(head);
        if found != *numel {
            return Err(CheckpointError::Legacy(format!(
                "storage {key:?} holds {found} elements in the file, the pickle declares {numel}"
            )));
        }
        at = at.checked_add(8 + bytes).filter(|e| *e <= size).ok_or_else(|| {
            CheckpointError::Legacy(format!("storage {key:?} runs past the end of the {size}-byte file"))
        })?;
    }
    if keys.len() != known.len() {
        return Err(CheckpointError::Legacy("a tensor's storage is not in the storage keys".into()));
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, class: &str, key: &str, numel: u64, shape: &[u64]) -> PickledTensor {
        let bytes = if class == "DoubleStorage" { 8 } else { 4 };
        PickledTensor {
            name: name.into(),
            dtype: if class == "DoubleStorage" { "F64" } else { "F32" },
            per_element: 1,
            storage_type: class.into(),
            storage_key: key.into(),
            storage_numel: numel,
            storage_bytes: numel * bytes,
            offset: 0,
            shape: shape.to_vec(),
            stride: vec![1; shape.len()],
        }
    }

    #[test]
    fn views_are_checked_against_their_storage_and_the_file() {
        let tied = [view("a", "FloatStorage", "0", 8, &[8]), view("b", "FloatStorage", "0", 8, &[8])];
        assert_eq!(checked(tied.to_vec(), 32).unwrap().len(), 1, "a second view of one storage is a tie");
        let mut t = view("t", "FloatStorage", "0", 8, &[8]);
        t.stride = vec![2];
        assert_eq!(checked(vec![tied[0].clone(), t], 32).unwrap().len(), 2, "another view of the storage counts");
        assert!(matches!(
            checked(vec![view("a", "FloatStorage", "0", 8, &[8])], 31),
            Err(CheckpointError::StoragesExceedFile { bytes: 32, file_size: 31 })
        ));
        let redeclared =
            vec![view("a", "FloatStorage", "0", 1 << 20, &[0]), view("b", "DoubleStorage", "0", 1 << 20, &[1 << 20])];
        assert!(matches!(checked(redeclared, 1 << 30), Err(CheckpointError::StorageRedeclared { .. })));
        let resized = vec![view("a", "FloatStorage", "0", 1, &[1]), view("b", "FloatStorage", "0", 1 << 20, &[8])];
        assert!(matches!(checked(resized, 1 << 30), Err(CheckpointError::StorageRedeclared { .. })));
        assert_eq!(checked(Vec::new(), 10), Err(CheckpointError::NoTensors));
    }
}
