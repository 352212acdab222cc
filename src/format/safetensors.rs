//! safetensors headers: the 8-byte little-endian length, then that many bytes of JSON
//! (`{"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets"}, ..}`), validated by the rules
//! of the `safetensors` crate: no duplicate names, data offsets contiguous from 0 without gaps or
//! overlaps, each tensor's span exactly its shape times its dtype size (whole bytes), the last span
//! ending where the file ends. A dtype this build does not know must still fit its span (at least
//! one bit per element). The header is streamed into tensor infos, never into a JSON tree, and every
//! length is capped, the number of tensors by the caller (what a parsed tensor holds in memory is
//! several times its JSON). One error variant per validation failure.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::{ReadAt, ReadError, TensorInfo};
use crate::dtype;

/// The largest header the format allows (100 MB); larger lengths are rejected unread.
pub const MAX_HEADER: u64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetensorsError {
    #[error("file is {0} bytes, too short for the 8-byte header length")]
    TooShort(u64),
    #[error("header length {0} is over the {MAX_HEADER}-byte limit of the format")]
    HeaderTooLarge(u64),
    #[error("header length {len} runs past the end of the {file_size}-byte file")]
    HeaderPastEnd { len: u64, file_size: u64 },
    #[error("header is not valid JSON: {0}")]
    Json(String),
    #[error("the header declares more than {0} tensors")]
    TooManyTensors(usize),
    #[error("tensor {0:?} is declared twice")]
    Duplicate(String),
    #[error("tensor {name:?}: {dtype} {shape:?} has more elements than fit in 64 bits")]
    Overflow { name: String, dtype: String, shape: Vec<u64> },
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] are reversed")]
    ReversedOffsets { name: String, begin: u64, end: u64 },
    #[error("tensor {name:?}: {dtype} {shape:?} needs {expected} bytes but data_offsets span {actual}")]
    ShapeMismatch { name: String, dtype: String, shape: Vec<u64>, expected: u64, actual: u64 },
    #[error("tensor {name:?}: {elements} {dtype} elements do not fill whole bytes")]
    Misaligned { name: String, dtype: String, elements: u64 },
    #[error("tensor {name:?}: {elements} elements of unknown dtype {dtype} cannot fit in {bytes} bytes")]
    UnknownDtypeTooLarge { name: String, dtype: String, elements: u64, bytes: u64 },
    #[error("tensor {name:?} starts at byte {begin} of the data section, expected {expected} (a gap or an overlap)")]
    NotContiguous { name: String, begin: u64, expected: u64 },
    #[error("the tensors end at byte {end} of the data section, but it is {data_len} bytes long")]
    DataLength { end: u64, data_len: u64 },
    #[error("reading the file: {0}")]
    Read(#[from] ReadError),
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
    /// Dtype names this build does not know (kept in `tensors`, checked only to fit their bytes).
    pub unknown_dtypes: Vec<String>,
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header's JSON object as it streams by: tensors in file order and string metadata.
struct Entries {
    tensors: Vec<(String, RawTensor)>,
    metadata: BTreeMap<String, String>,
}

/// Streams the header into [`Entries`], stopping past `max_tensors` (and saying so in `over`).
struct EntriesSeed<'a> {
    max_tensors: usize,
    over: &'a std::cell::Cell<bool>,
}

impl<'de> de::DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Entries;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Entries, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let mut e = Entries { tensors: Vec::new(), metadata: BTreeMap::new() };
        let mut metadata_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                if metadata_seen {
                    return Err(de::Error::custom("__metadata__ is declared twice"));
                }
                metadata_seen = true;
                let m: Option<BTreeMap<String, serde_json::Value>> = map.next_value()?;
                e.metadata = m
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                    .collect();
            } else {
                if e.tensors.len() == self.max_tensors {
                    self.over.set(true);
                    return Err(de::Error::custom("too many tensors"));
                }
                let t: RawTensor =
                    map.next_value().map_err(|err| de::Error::custom(format!("tensor {key:?}: {err}")))?;
                e.tensors.push((key, t));
            }
        }
        Ok(e)
    }
}

/// The header length from the first 8 bytes, checked against the cap and the file size.
pub fn header_len(first: &[u8], file_size: u64) -> Result<u64, SafetensorsError> {
    let Some(len_bytes) = first.get(..8) else { return Err(SafetensorsError::TooShort(first.len() as u64)) };
    let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if len > MAX_HEADER {
        return Err(SafetensorsError::HeaderTooLarge(len));
    }
    if len.checked_add(8).is_none_or(|end| end > file_size) {
        return Err(SafetensorsError::HeaderPastEnd { len, file_size });
    }
    Ok(len)
}

/// Parses the JSON header (`json` = the bytes after the length prefix) of a file whose data section
/// is `data_len` bytes long, holding at most `max_tensors` tensors.
pub fn parse_header(json: &[u8], data_len: u64, max_tensors: usize) -> Result<Header, SafetensorsError> {
    let over = std::cell::Cell::new(false);
    let mut d = serde_json::Deserializer::from_slice(json);
    let entries = de::DeserializeSeed::deserialize(EntriesSeed { max_tensors, over: &over }, &mut d)
        .and_then(|e| d.end().map(|()| e))
        .map_err(|e| {
            if over.get() {
                SafetensorsError::TooManyTensors(max_tensors)
            } else {
                SafetensorsError::Json(e.to_string())
            }
        })?;
    let mut names: Vec<&str> = entries.tensors.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(SafetensorsError::Duplicate(w[0].to_owned()));
    }
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(entries.tensors.len());
    let mut tensors = Vec::with_capacity(entries.tensors.len());
    let mut unknown = Vec::new();
    for (name, t) in entries.tensors {
        let info = TensorInfo { name, dtype: t.dtype, shape: t.shape };
        let (begin, end) = t.data_offsets;
        let overflow = || SafetensorsError::Overflow {
            name: info.name.clone(),
            dtype: info.dtype.clone(),
            shape: info.shape.clone(),
        };
        let elems = info.elements().ok_or_else(overflow)?;
        if end < begin {
            return Err(SafetensorsError::ReversedOffsets { name: info.name, begin, end });
        }
        let span = end - begin;
        match dtype::lookup(&info.dtype) {
            Some(d) => {
                if elems.checked_mul(d.block_bytes).ok_or_else(overflow)? % d.block_elems != 0 {
                    return Err(SafetensorsError::Misaligned { name: info.name, dtype: info.dtype, elements: elems });
                }
                let expected = d.bytes_for(elems).ok_or_else(overflow)?;
                if expected != span {
                    return Err(SafetensorsError::ShapeMismatch {
                        name: info.name,
                        dtype: info.dtype,
                        shape: info.shape,
                        expected,
                        actual: span,
                    });
                }
            }
            None => {
                if span.checked_mul(8).is_some_and(|bits| elems > bits) {
                    return Err(SafetensorsError::UnknownDtypeTooLarge {
                        name: info.name,
                        dtype: info.dtype,
                        elements: elems,
                        bytes: span,
                    });
                }
                if !unknown.contains(&info.dtype) {
                    unknown.push(info.dtype.clone());
                }
            }
        }
        spans.push((begin, end, tensors.len()));
        tensors.push(info);
    }
    spans.sort_unstable();
    let mut expected = 0u64;
    for (begin, end, i) in spans {
        if begin != expected {
            return Err(SafetensorsError::NotContiguous { name: tensors[i].name.clone(), begin, expected });
        }
        expected = end;
    }
    if expected != data_len {
        return Err(SafetensorsError::DataLength { end: expected, data_len });
    }
    Ok(Header { tensors, metadata: entries.metadata, unknown_dtypes: unknown })
}

/// Parses a whole header from a buffer that starts at file offset 0 and holds at least the header.
pub fn parse_prefix(bytes: &[u8], file_size: u64, max_tensors: usize) -> Result<Header, SafetensorsError> {
    let len = header_len(bytes, file_size)?;
    let end = 8 + len as usize;
    let json = bytes.get(8..end).ok_or(SafetensorsError::HeaderPastEnd { len, file_size: bytes.len() as u64 })?;
    parse_header(json, file_size - 8 - len, max_tensors)
}

/// Reads and parses a file's header: one read of `first_len` bytes, and one more for the rest of a
/// longer header.
pub fn read_header(r: &dyn ReadAt, first_len: u64, max_tensors: usize) -> Result<Header, SafetensorsError> {
    let first = r.read_at(0, first_len.max(8))?;
    let len = header_len(&first.bytes, first.file_size)?;
    let end = 8 + len;
    let mut bytes = first.bytes;
    let have = bytes.len() as u64;
    if have < end {
        let rest = r.read_at(have, end - have)?;
        if rest.bytes.len() as u64 != end - have {
            return Err(SafetensorsError::HeaderPastEnd { len, file_size: have + rest.bytes.len() as u64 });
        }
        bytes.extend_from_slice(&rest.bytes);
    }
    parse_prefix(&bytes, first.file_size, max_tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn parse(json: &str, data: usize) -> Result<Header, SafetensorsError> {
        let f = file(json, data);
        parse_prefix(&f, f.len() as u64, usize::MAX)
    }

    #[test]
    fn parses_metadata_scalars_and_unknown_dtypes() {
        let h = parse(
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},
               "s":{"dtype":"F32","shape":[],"data_offsets":[12,16]},"u":{"dtype":"F3_X","shape":[4],"data_offsets":[16,18]}}"#,
            18,
        )
        .unwrap();
        assert_eq!(h.metadata["format"], "pt");
        assert_eq!(h.tensors.len(), 3);
        assert_eq!(h.tensors.iter().find(|t| t.name == "s").unwrap().elements(), Some(1));
        assert_eq!(h.unknown_dtypes, vec!["F3_X"]);
    }

    #[test]
    fn padded_headers_and_split_reads_parse() {
        let json = format!("{}{}", r#"{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}"#, "    ");
        assert_eq!(parse(&json, 2).unwrap().tensors[0].shape, vec![4]);
        let f = file(&json, 2);
        assert_eq!(read_header(&&f[..], 10, usize::MAX).unwrap(), parse(&json, 2).unwrap());
    }

    #[test]
    fn the_tensor_cap_stops_the_parse() {
        let json = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},
                       "__metadata__":{"format":"pt"}}"#;
        let f = file(json, 2);
        assert_eq!(parse_prefix(&f, f.len() as u64, 2).unwrap().tensors.len(), 2);
        assert_eq!(parse_prefix(&f, f.len() as u64, 1), Err(SafetensorsError::TooManyTensors(1)));
        // Bad JSON before the cap is still bad JSON.
        let bad = file(r#"{"a":{"dtype":"U8"}}"#, 0);
        assert!(matches!(parse_prefix(&bad, bad.len() as u64, 1), Err(SafetensorsError::Json(_))));
    }

    #[test]
    fn each_malformation_has_its_own_error() {
        assert!(matches!(parse_prefix(&[1, 2, 3], 3, usize::MAX), Err(SafetensorsError::TooShort(3))));
        let mut big = (200_000_000u64).to_le_bytes().to_vec();
        big.extend_from_slice(b"{}");
        assert!(matches!(parse_prefix(&big, 1 << 40, usize::MAX), Err(SafetensorsError::HeaderTooLarge(200_000_000))));
        let past = (1000u64).to_le_bytes().to_vec();
        assert!(matches!(parse_prefix(&past, 500, usize::MAX), Err(SafetensorsError::HeaderPastEnd { len: 1000, .. })));
        assert!(matches!(header_len(&u64::MAX.to_le_bytes(), u64::MAX), Err(SafetensorsError::HeaderTooLarge(_))));
        assert!(matches!(parse("{\"a\": ", 0), Err(SafetensorsError::Json(_))));
        let e = parse(r#"{"a":{"dtype":"F16"}}"#, 0).unwrap_err();
        assert!(matches!(&e, SafetensorsError::Json(m) if m.contains("tensor \"a\"")), "{e}");
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[4,0]}}"#, 4),
            Err(SafetensorsError::ReversedOffsets { .. })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#, 4),
            Err(SafetensorsError::ShapeMismatch { expected: 6, actual: 4, .. })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, 2),
            Err(SafetensorsError::DataLength { end: 4, data_len: 2 })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, 8),
            Err(SafetensorsError::DataLength { end: 4, data_len: 8 })
        ));
        assert!(matches!(
            parse(
                r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#,
                6
            ),
            Err(SafetensorsError::NotContiguous { begin: 2, expected: 4, .. })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F16","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}"#, 4),
            Err(SafetensorsError::Overflow { .. })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, 2),
            Err(SafetensorsError::Misaligned { elements: 3, .. })
        ));
    }

    #[test]
    fn lies_the_safetensors_crate_rejects_are_rejected() {
        // The same name twice: serde_json would keep the second silently.
        assert_eq!(
            parse(
                r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"a":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#,
                8
            ),
            Err(SafetensorsError::Duplicate("a".into()))
        );
        // An overlap hidden behind a zero-size tensor.
        assert!(matches!(
            parse(
                r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[0],"data_offsets":[4,4]},
                   "b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#,
                8
            ),
            Err(SafetensorsError::NotContiguous { .. })
        ));
        // 1e15 elements of an unknown dtype in 4 bytes.
        assert!(matches!(
            parse(r#"{"a":{"dtype":"X9","shape":[1000000000000000],"data_offsets":[0,4]}}"#, 4),
            Err(SafetensorsError::UnknownDtypeTooLarge { elements: 1_000_000_000_000_000, bytes: 4, .. })
        ));
    }
}
