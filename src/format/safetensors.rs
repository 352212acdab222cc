//! safetensors headers: the 8-byte little-endian length, then that many bytes of JSON
//! (`{"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets"}, ..}`). Parsed from bytes with
//! every length capped and every offset checked against the shape, the dtype size and the file size.
//! One error variant per validation failure.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::TensorInfo;
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
    #[error("tensor {name:?}: {dtype} {shape:?} has more elements than fit in 64 bits")]
    Overflow { name: String, dtype: String, shape: Vec<u64> },
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] are reversed")]
    ReversedOffsets { name: String, begin: u64, end: u64 },
    #[error("tensor {name:?}: {dtype} {shape:?} needs {expected} bytes but data_offsets span {actual}")]
    ShapeMismatch { name: String, dtype: String, shape: Vec<u64>, expected: u64, actual: u64 },
    #[error("tensor {name:?}: data ends at byte {end}, past the {data_len}-byte data section")]
    OutOfRange { name: String, end: u64, data_len: u64 },
    #[error("tensors {first:?} and {second:?} overlap")]
    Overlap { first: String, second: String },
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
    /// Dtype names this build does not know (kept in `tensors`, not size-checked).
    pub unknown_dtypes: Vec<String>,
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
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

/// Parses the JSON header (`json` = the `len` bytes after the length prefix). `data_len`, when
/// known, is the size of the data section (file size - 8 - header length).
pub fn parse_header(json: &[u8], data_len: Option<u64>) -> Result<Header, SafetensorsError> {
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(json).map_err(|e| SafetensorsError::Json(e.to_string()))?;
    let mut metadata = BTreeMap::new();
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(raw.len());
    let mut tensors = Vec::with_capacity(raw.len());
    let mut unknown = Vec::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            if let serde_json::Value::Object(m) = value {
                metadata = m.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect();
            }
            continue;
        }
        let t: RawTensor =
            serde_json::from_value(value).map_err(|e| SafetensorsError::Json(format!("tensor {name:?}: {e}")))?;
        let info = TensorInfo { name, dtype: t.dtype, shape: t.shape };
        let (begin, end) = t.data_offsets;
        let elems = info.elements().ok_or_else(|| SafetensorsError::Overflow {
            name: info.name.clone(),
            dtype: info.dtype.clone(),
            shape: info.shape.clone(),
        })?;
        if end < begin {
            return Err(SafetensorsError::ReversedOffsets { name: info.name, begin, end });
        }
        match dtype::lookup(&info.dtype) {
            Some(d) => {
                let expected = d.bytes_for(elems).ok_or_else(|| SafetensorsError::Overflow {
                    name: info.name.clone(),
                    dtype: info.dtype.clone(),
                    shape: info.shape.clone(),
                })?;
                if expected != end - begin {
                    return Err(SafetensorsError::ShapeMismatch {
                        name: info.name,
                        dtype: info.dtype,
                        shape: info.shape,
                        expected,
                        actual: end - begin,
                    });
                }
            }
            None => {
                if !unknown.contains(&info.dtype) {
                    unknown.push(info.dtype.clone());
                }
            }
        }
        if let Some(data_len) = data_len
            && end > data_len
        {
            return Err(SafetensorsError::OutOfRange { name: info.name, end, data_len });
        }
        spans.push((begin, end, tensors.len()));
        tensors.push(info);
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        let ((_, prev_end, a), (begin, end, b)) = (w[0], w[1]);
        if begin < prev_end && begin != end {
            return Err(SafetensorsError::Overlap { first: tensors[a].name.clone(), second: tensors[b].name.clone() });
        }
    }
    Ok(Header { tensors, metadata, unknown_dtypes: unknown })
}

/// Parses a whole header from a buffer that starts at file offset 0 and holds at least the header.
pub fn parse_prefix(bytes: &[u8], file_size: u64) -> Result<Header, SafetensorsError> {
    let len = header_len(bytes, file_size)?;
    let end = 8 + len as usize;
    let json = bytes.get(8..end).ok_or(SafetensorsError::HeaderPastEnd { len, file_size: bytes.len() as u64 })?;
    parse_header(json, Some(file_size - 8 - len))
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
        parse_prefix(&f, f.len() as u64)
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
    fn padded_headers_parse() {
        let json = format!("{}{}", r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, "    ");
        assert_eq!(parse(&json, 2).unwrap().tensors[0].shape, vec![3]);
    }

    #[test]
    fn each_malformation_has_its_own_error() {
        assert!(matches!(parse_prefix(&[1, 2, 3], 3), Err(SafetensorsError::TooShort(3))));
        let mut big = (200_000_000u64).to_le_bytes().to_vec();
        big.extend_from_slice(b"{}");
        assert!(matches!(parse_prefix(&big, 1 << 40), Err(SafetensorsError::HeaderTooLarge(200_000_000))));
        let past = (1000u64).to_le_bytes().to_vec();
        assert!(matches!(parse_prefix(&past, 500), Err(SafetensorsError::HeaderPastEnd { len: 1000, .. })));
        assert!(matches!(header_len(&u64::MAX.to_le_bytes(), u64::MAX), Err(SafetensorsError::HeaderTooLarge(_))));
        assert!(matches!(parse("{\"a\": ", 0), Err(SafetensorsError::Json(_))));
        assert!(matches!(parse(r#"{"a":{"dtype":"F16"}}"#, 0), Err(SafetensorsError::Json(_))));
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
            Err(SafetensorsError::OutOfRange { end: 4, data_len: 2, .. })
        ));
        assert!(matches!(
            parse(
                r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#,
                6
            ),
            Err(SafetensorsError::Overlap { .. })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F16","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}"#, 4),
            Err(SafetensorsError::Overflow { .. })
        ));
    }
}
