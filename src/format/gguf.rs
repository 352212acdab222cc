//! GGUF headers: magic, version, tensor and metadata counts, typed metadata (skipped: fixed-size
//! arrays without reading them, string arrays by their lengths), then tensor infos (name, dims,
//! ggml type, offset). The parser sees only a range reader and pulls bytes through a
//! [`Window`], so a multi-GB file costs its header. Checked as ggml's own `gguf.cpp` checks
//! (the reference readers): counts and lengths capped, arithmetic checked, no key or tensor name
//! twice, `general.alignment` a u32 power of two, a ggml type id ggml defines, a first dimension
//! that is a whole number of the type's blocks, every tensor's data inside the file, aligned,
//! without overlapping another.

use std::collections::HashSet;

use super::window::Window;
use super::{ReadAt, ReadError, TensorInfo};
use crate::dtype;

/// Caps on what a header may declare.
const MAX_TENSORS: u64 = 1_000_000;
const MAX_KV: u64 = 1_000_000;
const MAX_STRING: u64 = 64 << 20;
/// Longest metadata key or tensor name (llama.cpp allows 64-byte tensor names).
const MAX_NAME: u64 = 4096;
/// Longest metadata string value kept (longer ones, such as chat templates, are skipped).
const MAX_KEPT_STRING: u64 = 1024;
const MAX_DIMS: u32 = 8;
/// Arrays of arrays are followed this deep (ggml reads none; gguf-py any).
const MAX_ARRAY_DEPTH: u32 = 2;
/// Total header bytes read at the most.
pub const MAX_HEADER_BYTES: u64 = 512 << 20;
/// Data alignment when `general.alignment` does not say.
const DEFAULT_ALIGNMENT: u64 = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GgufError {
    #[error("not a GGUF file (magic {0:?})")]
    BadMagic([u8; 4]),
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    Version(u32),
    #[error("a big-endian GGUF file (version {0} read byte-swapped); only little-endian files are supported")]
    BigEndian(u32),
    #[error("metadata arrays nested more than {MAX_ARRAY_DEPTH} deep at byte {0}")]
    NestedTooDeep(u64),
    #[error("a string at byte {0} is not UTF-8")]
    NotUtf8(u64),
    #[error("metadata key {0:?} is declared twice")]
    DuplicateKey(String),
    #[error("tensor {0:?} is declared twice")]
    DuplicateTensor(String),
    #[error("general.alignment is stored as metadata type {0}, not u32 (4)")]
    AlignmentType(u32),
    #[error("tensor {name:?}: unknown ggml type {id}")]
    UnknownType { name: String, id: u32 },
    #[error("tensor {name:?}: first dimension {ne0} is not a multiple of the {dtype} block size {block}")]
    BlockSize { name: String, dtype: String, ne0: u64, block: u64 },
    #[error("the header declares {n} {what}, over the limit of {cap}")]
    TooMany { what: &'static str, n: u64, cap: u64 },
    #[error("a string of {0} bytes at byte {1}, over the limit")]
    StringTooLong(u64, u64),
    #[error("unknown metadata value type {0} at byte {1}")]
    BadValueType(u32, u64),
    #[error("tensor {name:?} has {n} dimensions (at most {MAX_DIMS})")]
    Dims { name: String, n: u32 },
    #[error("the header runs past the end of the {0}-byte file")]
    Truncated(u64),
    #[error("the header is larger than {MAX_HEADER_BYTES} bytes")]
    HeaderTooLarge,
    #[error("tensor {0:?}: element count overflows 64 bits")]
    Overflow(String),
    #[error("general.alignment {0} is not a power of two")]
    Alignment(u64),
    #[error("tensor {name:?}: data offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned { name: String, offset: u64, alignment: u64 },
    #[error("tensor {name:?}: its {bytes} bytes at data offset {offset} run past the end of the {file_size}-byte file")]
    DataPastEnd { name: String, offset: u64, bytes: u64, file_size: u64 },
    #[error("tensors {first:?} and {second:?} overlap in the data section")]
    Overlap { first: String, second: String },
    #[error("reading the file: {0}")]
    Read(#[from] ReadError),
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub version: u32,
    pub tensors: Vec<TensorInfo>,
    /// Metadata values that are integers, booleans or short strings (`general.architecture`,
    /// `split.count`, ...), as text.
    pub metadata: Vec<(String, String)>,
}

impl Header {
    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A cursor over the file through a [`Window`].
struct Cursor<'r> {
    w: Window<'r>,
    file_size: u64,
    pos: u64,
}

impl Cursor<'_> {
    /// Makes `[pos, pos + n)` available.
    fn need(&mut self, n: u64) -> Result<&[u8], GgufError> {
        let file_size = self.file_size;
        let Some(end) = self.pos.checked_add(n).filter(|end| *end <= file_size) else {
            return Err(GgufError::Truncated(file_size));
        };
        if end > MAX_HEADER_BYTES {
            return Err(GgufError::HeaderTooLarge);
        }
        match self.w.get(self.pos, n, None) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(GgufError::Truncated(file_size)),
            Err(e) => Err(e.into()),
        }
    }
    fn take(&mut self, n: u64) -> Result<Vec<u8>, GgufError> {
        let v = self.need(n)?.to_vec();
        self.pos += n;
        Ok(v)
    }
    /// `N` bytes, copied (no allocation: metadata arrays hold tens of thousands of strings, each
    /// behind a length).
    fn array<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let b: [u8; N] = self.need(N as u64)?.try_into().expect("N bytes");
        self.pos += N as u64;
        Ok(b)
    }
    fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        match self.pos.checked_add(n).filter(|e| *e <= self.file_size) {
            Some(end) => {
                self.pos = end;
                Ok(())
            }
            None => Err(GgufError::Truncated(self.file_size)),
        }
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        self.array().map(u64::from_le_bytes)
    }
    /// Skips up to `n` strings that lie wholly in the bytes already held, each within the caps
    /// [`Cursor::string_len`] and [`Cursor::need`] check (a vocabulary is a hundred thousand
    /// strings: one bounds check each, not a window look-up); returns how many. The first string
    /// that is not held, or not within the caps, is left to the checked path.
    fn skip_held_strings(&mut self, n: u64) -> u64 {
        let held = self.w.held_from(self.pos);
        let (mut at, mut done) = (0usize, 0u64);
        while done < n {
            let Some(len) = held.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))) else {
                break;
            };
            let end = (at as u64).checked_add(8).and_then(|e| e.checked_add(len));
            match end {
                Some(end)
                    if len <= MAX_STRING
                        && end <= held.len() as u64
                        && self.pos + at as u64 + 8 <= MAX_HEADER_BYTES
                        && self.pos + end <= self.file_size =>
                {
                    at = end as usize;
                    done += 1;
                }
                _ => break,
            }
        }
        self.pos += at as u64;
        done
    }
    fn string_len(&mut self, cap: u64) -> Result<u64, GgufError> {
        let at = self.pos;
        let len = self.u64()?;
        if len > cap {
            return Err(GgufError::StringTooLong(len, at));
        }
        Ok(len)
    }
    /// A key or a tensor name.
    fn name(&mut self) -> Result<String, GgufError> {
        let len = self.string_len(MAX_NAME)?;
        self.text(len)
    }
    /// `len` bytes of UTF-8 text (as gguf-py decodes them).
    fn text(&mut self, len: u64) -> Result<String, GgufError> {
        let at = self.pos;
        String::from_utf8(self.take(len)?).map_err(|_| GgufError::NotUtf8(at))
    }
}

/// Size of a fixed-size metadata value type, `None` for strings and arrays.
fn fixed_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),
        4..=6 => Some(4),   // u32, i32, f32
        10..=12 => Some(8), // u64, i64, f64
        _ => None,
    }
}

/// Reads one metadata value, returning it as text for scalars and short strings.
fn value(c: &mut Cursor, t: u32, depth: u32) -> Result<Option<String>, GgufError> {
    let at = c.pos;
    match t {
        8 => {
            let len = c.string_len(MAX_STRING)?;
            if len > MAX_KEPT_STRING {
                c.skip(len)?;
                return Ok(None);
            }
            Ok(Some(c.text(len)?))
        }
        9 => {
            if depth > MAX_ARRAY_DEPTH {
                return Err(GgufError::NestedTooDeep(at));
            }
            let elem = c.u32()?;
            let n = c.u64()?;
            match fixed_size(elem) {
                Some(size) => match n.checked_mul(size) {
                    Some(bytes) => c.skip(bytes)?,
                    None => return Err(GgufError::Truncated(c.file_size)),
                },
                None => {
                    if n > c.file_size {
                        return Err(GgufError::TooMany { what: "array elements", n, cap: c.file_size });
                    }
                    let mut left = n;
                    while left > 0 {
                        if elem == 8 {
                            left -= c.skip_held_strings(left);
                            if left == 0 {
                                break;
                            }
                            let len = c.string_len(MAX_STRING)?;
                            c.skip(len)?;
                        } else {
                            value(c, elem, depth + 1)?;
                        }
                        left -= 1;
                    }
                }
            }
            Ok(None)
        }
        t => {
            let size = fixed_size(t).ok_or(GgufError::BadValueType(t, at))?;
            let b = c.take(size)?;
            Ok(Some(match t {
                0 => b[0].to_string(),
                1 => (b[0] as i8).to_string(),
                7 => (b[0] != 0).to_string(),
                2 => u16::from_le_bytes([b[0], b[1]]).to_string(),
                3 => i16::from_le_bytes([b[0], b[1]]).to_string(),
                4 => u32::from_le_bytes(b[..4].try_into().expect("4")).to_string(),
                5 => i32::from_le_bytes(b[..4].try_into().expect("4")).to_string(),
                10 => u64::from_le_bytes(b[..8].try_into().expect("8")).to_string(),
                11 => i64::from_le_bytes(b[..8].try_into().expect("8")).to_string(),
                _ => return Ok(None), // floats are not needed
            }))
        }
    }
}

/// Parses a GGUF header through `r`; `first_chunk` is the size of the first read.
pub fn parse(r: &dyn ReadAt, first_chunk: u64) -> Result<Header, GgufError> {
    let w = Window::open(r, 0, first_chunk.max(64))?;
    let mut c = Cursor { file_size: w.file_size(), w, pos: 0 };
    let magic: [u8; 4] = c.array()?;
    if &magic != b"GGUF" {
        return Err(GgufError::BadMagic(magic));
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        if (2..=3).contains(&version.swap_bytes()) {
            return Err(GgufError::BigEndian(version.swap_bytes()));
        }
        return Err(GgufError::Version(version));
    }
    let n_tensors = c.u64()?;
    if n_tensors > MAX_TENSORS {
        return Err(GgufError::TooMany { what: "tensors", n: n_tensors, cap: MAX_TENSORS });
    }
    let n_kv = c.u64()?;
    if n_kv > MAX_KV {
        return Err(GgufError::TooMany { what: "metadata entries", n: n_kv, cap: MAX_KV });
    }
    let mut metadata = Vec::new();
    let mut keys = HashSet::new();
    for _ in 0..n_kv {
        let key = c.name()?;
        let t = c.u32()?;
        if key == "general.alignment" && t != 4 {
            return Err(GgufError::AlignmentType(t));
        }
        let v = value(&mut c, t, 0)?;
        if !keys.insert(key.clone()) {
            return Err(GgufError::DuplicateKey(key));
        }
        if let Some(v) = v {
            metadata.push((key, v));
        }
    }
    let mut names = HashSet::new();
    let mut tensors = Vec::with_capacity(n_tensors.min(65_536) as usize);
    let mut spans = Vec::with_capacity(tensors.capacity());
    for _ in 0..n_tensors {
        let name = c.name()?;
        let n_dims = c.u32()?;
        if n_dims > MAX_DIMS {
            return Err(GgufError::Dims { name, n: n_dims });
        }
        let mut shape = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            shape.push(c.u64()?);
        }
        let ggml = c.u32()?;
        let offset = c.u64()?;
        let Some(d) = dtype::from_ggml(ggml) else { return Err(GgufError::UnknownType { name, id: ggml }) };
        let ne0 = shape.first().copied().unwrap_or(1);
        if ne0 % d.block_elems != 0 {
            return Err(GgufError::BlockSize { name, dtype: d.name.to_owned(), ne0, block: d.block_elems });
        }
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor(name));
        }
        let info = TensorInfo { name, dtype: d.name.to_owned(), shape };
        let elems = info.elements().ok_or_else(|| GgufError::Overflow(info.name.clone()))?;
        let bytes = d.bytes_for(elems).ok_or_else(|| GgufError::Overflow(info.name.clone()))?;
        spans.push((offset, bytes, tensors.len()));
        tensors.push(info);
    }
    let header = Header { version, tensors, metadata };
    check_data(&header, &mut spans, c.pos, c.file_size)?;
    Ok(header)
}

/// Every tensor's data inside the file, aligned, and no two overlapping. `spans` holds
/// `(offset, bytes, tensor index)`; `header_end` is where the tensor infos end.
fn check_data(h: &Header, spans: &mut [(u64, u64, usize)], header_end: u64, file_size: u64) -> Result<(), GgufError> {
    let alignment = match h.get("general.alignment") {
        Some(a) => {
            let a: u64 = a.parse().map_err(|_| GgufError::Alignment(0))?;
            if !a.is_power_of_two() {
                return Err(GgufError::Alignment(a));
            }
            a
        }
        None => DEFAULT_ALIGNMENT,
    };
    let data_start = header_end.div_ceil(alignment).saturating_mul(alignment);
    let name = |i: usize| h.tensors[i].name.clone();
    for &(offset, bytes, i) in spans.iter() {
        if offset % alignment != 0 {
            return Err(GgufError::Misaligned { name: name(i), offset, alignment });
        }
        let end = data_start.checked_add(offset).and_then(|s| s.checked_add(bytes));
        if end.is_none_or(|e| e > file_size) {
            return Err(GgufError::DataPastEnd { name: name(i), offset, bytes, file_size });
        }
    }
    // In offset order, each tensor with data starts at or after the end of the previous tensor
    // with data: empty tensors are left out, so one between two cannot hide their overlap.
    spans.sort_unstable();
    let mut previous: Option<(u64, usize)> = None;
    for &(offset, bytes, i) in spans.iter().filter(|s| s.1 > 0) {
        if let Some((end, before)) = previous
            && offset < end
        {
            return Err(GgufError::Overlap { first: name(before), second: name(i) });
        }
        previous = Some((offset + bytes, i)); // within the file: checked above
    }
    Ok(())
}

/// Parses a header held in memory.
pub fn parse_bytes(bytes: &[u8]) -> Result<Header, GgufError> {
    parse(&bytes, 1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
        let mut v = b"GGUF".to_vec();
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&n_tensors.to_le_bytes());
        v.extend_from_slice(&n_kv.to_le_bytes());
        v
    }

    #[test]
    fn hostile_counts_and_lengths_are_refused_without_reading_them() {
        assert!(matches!(parse_bytes(&header(1 << 60, 0)), Err(GgufError::TooMany { what: "tensors", .. })));
        assert!(matches!(parse_bytes(&header(0, 1 << 60)), Err(GgufError::TooMany { .. })));
        let mut long_key = header(0, 1);
        long_key.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(parse_bytes(&long_key), Err(GgufError::StringTooLong(..))));
        let mut array = header(0, 1);
        array.extend_from_slice(&1u64.to_le_bytes());
        array.push(b'k');
        array.extend_from_slice(&9u32.to_le_bytes()); // array
        array.extend_from_slice(&4u32.to_le_bytes()); // of u32
        array.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(matches!(parse_bytes(&array), Err(GgufError::Truncated(_))));
        assert_eq!(parse_bytes(b"GGML\x03\0\0\0"), Err(GgufError::BadMagic(*b"GGML")));
        let mut v1 = b"GGUF".to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(parse_bytes(&v1), Err(GgufError::Version(1)));
    }

    #[test]
    fn string_arrays_are_skipped_alike_whatever_the_reads_hold() {
        // A vocabulary of strings of varied lengths, then a key after it: read with a first chunk
        // that splits the strings anywhere, and with one that holds the whole file.
        let mut v = header(0, 2);
        v.extend_from_slice(&5u64.to_le_bytes());
        v.extend_from_slice(b"vocab");
        v.extend_from_slice(&9u32.to_le_bytes());
        v.extend_from_slice(&8u32.to_le_bytes());
        v.extend_from_slice(&3000u64.to_le_bytes());
        for i in 0..3000u64 {
            v.extend_from_slice(&(i % 13).to_le_bytes());
            v.extend(std::iter::repeat_n(b'a', (i % 13) as usize));
        }
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(b"k");
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(&7u32.to_le_bytes());
        for first in [64, 100, 777, v.len() as u64] {
            let h = parse(&v.as_slice(), first).unwrap();
            assert_eq!(h.get("k"), Some("7"), "first read {first}");
        }
        // Strings too many: the array runs into the key after it, and a name or a string too long
        // is read at the same offset however the file is read.
        let n_at = 4 + 4 + 8 + 8 + 8 + 5 + 4 + 4;
        let key_len_at = v.len() as u64 - 8;
        for n in [3001u64, 3002] {
            let want = GgufError::StringTooLong(7 << 32 | 4, key_len_at);
            v[n_at..n_at + 8].copy_from_slice(&n.to_le_bytes());
            for first in [64, 777, v.len() as u64] {
                assert_eq!(parse(&v.as_slice(), first).unwrap_err(), want, "{n} strings, first read {first}");
            }
        }
    }

    /// A header of tensors `(name, dims, ggml type, offset)`, then `data` bytes of data section.
    fn file(tensors: &[(&str, &[u64], u32, u64)], data: usize) -> Vec<u8> {
        let mut h = header(tensors.len() as u64, 0);
        for (name, dims, ggml, offset) in tensors {
            h.extend_from_slice(&(name.len() as u64).to_le_bytes());
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in *dims {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&ggml.to_le_bytes());
            h.extend_from_slice(&offset.to_le_bytes());
        }
        h.resize(h.len().div_ceil(32) * 32 + data, 0);
        h
    }

    #[test]
    fn refuses_what_ggml_refuses() {
        assert!(matches!(
            parse_bytes(&file(&[("w.0", &[64, 8], 777, 0)], 64)),
            Err(GgufError::UnknownType { id: 777, .. })
        ));
        for id in [4, 5, 31, 36, 42, 99, 1 << 31] {
            assert!(matches!(parse_bytes(&file(&[("w", &[256], id, 0)], 4096)), Err(GgufError::UnknownType { .. })));
        }
        // Q4_K (12): blocks of 256 along the first dimension.
        assert!(parse_bytes(&file(&[("q", &[256, 2], 12, 0)], 288)).is_ok());
        for dims in [&[100u64, 256][..], &[][..]] {
            assert!(matches!(parse_bytes(&file(&[("q", dims, 12, 0)], 4096)), Err(GgufError::BlockSize { .. })));
        }
        assert!(matches!(
            parse_bytes(&file(&[("a", &[8], 0, 0), ("a", &[8], 0, 32)], 64)),
            Err(GgufError::DuplicateTensor(n)) if n == "a"
        ));
        let mut be = b"GGUF".to_vec();
        be.extend_from_slice(&3u32.to_be_bytes());
        be.resize(64, 0);
        assert_eq!(parse_bytes(&be), Err(GgufError::BigEndian(3)));
    }

    /// A header with metadata entries `(key, type, value bytes)` and no tensors.
    fn with_kv(kv: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut h = header(0, kv.len() as u64);
        for (k, t, v) in kv {
            h.extend_from_slice(&(k.len() as u64).to_le_bytes());
            h.extend_from_slice(k.as_bytes());
            h.extend_from_slice(&t.to_le_bytes());
            h.extend_from_slice(v);
        }
        h.resize(h.len().div_ceil(32) * 32, 0);
        h
    }

    #[test]
    fn metadata_keys_once_and_alignment_as_u32() {
        assert!(parse_bytes(&with_kv(&[("general.alignment", 4, &64u32.to_le_bytes())])).is_ok());
        assert_eq!(
            parse_bytes(&with_kv(&[("general.alignment", 10, &64u64.to_le_bytes())])),
            Err(GgufError::AlignmentType(10))
        );
        assert_eq!(parse_bytes(&with_kv(&[("k", 0, &[1]), ("k", 0, &[2])])), Err(GgufError::DuplicateKey("k".into())));
        // An array of arrays of arrays of arrays.
        let mut nested = Vec::new();
        for _ in 0..4 {
            nested.extend_from_slice(&9u32.to_le_bytes());
            nested.extend_from_slice(&1u64.to_le_bytes());
        }
        let mut v = 9u32.to_le_bytes().to_vec();
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&nested);
        assert!(matches!(parse_bytes(&with_kv(&[("n", 9, &v)])), Err(GgufError::NestedTooDeep(_))));
    }

    #[test]
    fn tensor_data_must_lie_in_the_file_aligned_and_apart() {
        // F32 (type 0): 16 elements = 64 bytes each.
        let ok = file(&[("a", &[16], 0, 0), ("b", &[16], 0, 64)], 128);
        assert_eq!(parse_bytes(&ok).unwrap().tensors.len(), 2);
        assert!(matches!(parse_bytes(&file(&[("a", &[1 << 40], 0, 0)], 128)), Err(GgufError::DataPastEnd { .. })));
        assert!(matches!(
            parse_bytes(&file(&[("a", &[16], 0, 0), ("b", &[16], 0, 32)], 128)),
            Err(GgufError::Overlap { .. })
        ));
        // An empty tensor between two that overlap does not hide them.
        assert!(matches!(
            parse_bytes(&file(&[("a", &[16], 0, 0), ("z", &[0], 0, 32), ("b", &[8], 0, 32)], 128)),
            Err(GgufError::Overlap { first, second }) if first == "a" && second == "b"
        ));
        assert!(matches!(
            parse_bytes(&file(&[("a", &[16], 0, 8)], 128)),
            Err(GgufError::Misaligned { offset: 8, alignment: 32, .. })
        ));
        assert!(matches!(
            parse_bytes(&file(&[("a", &[16], 0, u64::MAX - 31)], 128)),
            Err(GgufError::DataPastEnd { .. })
        ));
    }
}
