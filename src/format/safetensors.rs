//! safetensors headers: the 8-byte little-endian length, then that many bytes of JSON
//! (`{"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets"}, ..}`), validated by the rules
//! of the `safetensors` crate (0.8, the reference reader): no duplicate names, a dtype the format
//! defines, `__metadata__` a map of strings, data offsets contiguous from 0 without gaps or
//! overlaps, each tensor's span exactly its shape times its dtype size (whole bytes), the last span
//! ending where the file ends. The header is streamed into tensor infos, never into a JSON tree:
//! `__metadata__` and fields the format ignores are checked as they stream by (UTF-8, numbers in
//! range, nesting within serde_json's limit, as the reference's parse checks them) and dropped.
//! Every length is capped, the number of tensors by the caller (what a parsed tensor holds in
//! memory is several times its JSON); past the cap the rest is only counted, so the error states
//! the header's real count. One error variant per validation failure.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::window::Window;
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
    #[error("the header declares {found} tensors, over the cap of {cap}")]
    TooManyTensors { cap: usize, found: usize },
    #[error("tensor {0:?} is declared twice")]
    Duplicate(String),
    #[error("tensor {name:?}: unknown dtype {dtype:?} (not one the safetensors format defines)")]
    UnknownDtype { name: String, dtype: String },
    #[error("tensor {name:?}: {dtype} {shape:?} has more elements than fit in 64 bits")]
    Overflow { name: String, dtype: String, shape: Vec<u64> },
    #[error("tensor {name:?}: data_offsets [{begin}, {end}] are reversed")]
    ReversedOffsets { name: String, begin: u64, end: u64 },
    #[error("tensor {name:?}: {dtype} {shape:?} needs {expected} bytes but data_offsets span {actual}")]
    ShapeMismatch { name: String, dtype: String, shape: Vec<u64>, expected: u64, actual: u64 },
    #[error("tensor {name:?}: {elements} {dtype} elements do not fill whole bytes")]
    Misaligned { name: String, dtype: String, elements: u64 },
    #[error("tensor {name:?} starts at byte {begin} of the data section, expected {expected} (a gap or an overlap)")]
    NotContiguous { name: String, begin: u64, expected: u64 },
    #[error("the tensors end at byte {end} of the data section, but it is {data_len} bytes long")]
    DataLength { end: u64, data_len: u64 },
    #[error("reading the file: {0}")]
    Read(#[from] ReadError),
}

/// A parsed header: its tensors in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub tensors: Vec<TensorInfo>,
}

struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Any JSON value, checked as serde_json parses it (UTF-8 strings, numbers in range, nesting under
/// the recursion limit) and kept nowhere.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// `__metadata__`: null, or a map whose values are all strings (checked, not kept).
struct Metadata;

impl<'de> de::Deserialize<'de> for Metadata {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Metadata, D::Error> {
        d.deserialize_option(MetadataVisitor)
    }
}

struct MetadataVisitor;

/// A JSON string, checked and dropped.
struct Text;

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E>(self, _: &str) -> Result<Text, E> {
        Ok(Text)
    }
}

impl<'de> Visitor<'de> for MetadataVisitor {
    type Value = Metadata;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("__metadata__ as a map of strings")
    }
    fn visit_none<E>(self) -> Result<Metadata, E> {
        Ok(Metadata)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Metadata, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<Text>().map_err(|e| de::Error::custom(format!("__metadata__ {key:?}: {e}")))?;
        }
        Ok(Metadata)
    }
}

/// One tensor entry: the three fields the format defines, each once; others checked and dropped.
impl<'de> de::Deserialize<'de> for RawTensor {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<RawTensor, D::Error> {
        d.deserialize_map(RawTensorVisitor)
    }
}

struct RawTensorVisitor;

impl<'de> Visitor<'de> for RawTensorVisitor {
    type Value = RawTensor;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tensor entry {dtype, shape, data_offsets}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTensor, A::Error> {
        let (mut dtype, mut shape, mut offsets) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            let dup = |f: &'static str| de::Error::duplicate_field(f);
            match key.as_str() {
                "dtype" if dtype.is_some() => return Err(dup("dtype")),
                "dtype" => dtype = Some(map.next_value::<String>()?),
                "shape" if shape.is_some() => return Err(dup("shape")),
                "shape" => shape = Some(map.next_value::<Vec<u64>>()?),
                "data_offsets" if offsets.is_some() => return Err(dup("data_offsets")),
                "data_offsets" => offsets = Some(map.next_value::<(u64, u64)>()?),
                _ => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(RawTensor {
            dtype: dtype.ok_or_else(|| de::Error::missing_field("dtype"))?,
            shape: shape.ok_or_else(|| de::Error::missing_field("shape"))?,
            data_offsets: offsets.ok_or_else(|| de::Error::missing_field("data_offsets"))?,
        })
    }
}

/// Streams the header into its tensors in file order, keeping at most `max_tensors` and only
/// counting (and checking) the rest, whose number lands in `found`.
struct EntriesSeed<'a> {
    max_tensors: usize,
    found: &'a std::cell::Cell<usize>,
}

impl<'de> de::DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Vec<(String, RawTensor)>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Vec<(String, RawTensor)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tensors = Vec::new();
        let mut metadata_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                if metadata_seen {
                    return Err(de::Error::custom("__metadata__ is declared twice"));
                }
                metadata_seen = true;
                map.next_value::<Metadata>()?;
                continue;
            }
            self.found.set(self.found.get() + 1);
            let t = map.next_value::<RawTensor>().map_err(|err| de::Error::custom(format!("tensor {key:?}: {err}")))?;
            if tensors.len() < self.max_tensors {
                tensors.push((key, t));
            }
        }
        Ok(tensors)
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
    let found = std::cell::Cell::new(0usize);
    let mut d = serde_json::Deserializer::from_slice(json);
    let entries = de::DeserializeSeed::deserialize(EntriesSeed { max_tensors, found: &found }, &mut d)
        .and_then(|e| d.end().map(|()| e))
        .map_err(|e| SafetensorsError::Json(e.to_string()))?;
    if found.get() > max_tensors {
        return Err(SafetensorsError::TooManyTensors { cap: max_tensors, found: found.get() });
    }
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(SafetensorsError::Duplicate(w[0].to_owned()));
    }
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(entries.len());
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, t) in entries {
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
        let Some(d) = dtype::from_safetensors(&info.dtype) else {
            return Err(SafetensorsError::UnknownDtype { name: info.name, dtype: info.dtype });
        };
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
    Ok(Header { tensors })
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
    let mut w = Window::open(r, 0, first_len.max(8))?;
    let file_size = w.file_size();
    let len = header_len(w.held(), file_size)?;
    let json = w.get(8, len, Some(0))?.ok_or(SafetensorsError::HeaderPastEnd { len, file_size })?;
    parse_header(json, file_size - 8 - len, max_tensors)
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
    fn parses_scalars_and_refuses_unknown_dtypes() {
        let h = parse(
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},
               "s":{"dtype":"F32","shape":[],"data_offsets":[12,16]}}"#,
            16,
        )
        .unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.tensors.iter().find(|t| t.name == "s").unwrap().elements(), Some(1));
        for bad in ["F3_X", "f32", "F32 ", "", "Q4_K", "BG16"] {
            let json = format!(r#"{{"u":{{"dtype":"{bad}","shape":[4],"data_offsets":[0,4]}}}}"#);
            assert!(matches!(parse(&json, 4), Err(SafetensorsError::UnknownDtype { .. })), "{bad:?}");
        }
    }

    #[test]
    fn metadata_values_are_strings_and_ignored_fields_are_checked() {
        let t = r#""a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]"#;
        assert!(parse(&format!(r#"{{"__metadata__":null,{t}}}}}"#), 1).is_ok());
        for bad in [r#"{"n":1}"#, r#"{"n":["x"]}"#, r#"{"n":null}"#, r#"["x"]"#, "7"] {
            let json = format!(r#"{{"__metadata__":{bad},{t}}}}}"#);
            assert!(matches!(parse(&json, 1), Err(SafetensorsError::Json(_))), "{bad}");
        }
        assert!(parse(&format!(r#"{{{t},"extra":[1,{{"x":"y"}}]}}}}"#), 1).is_ok());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for bad in [deep.as_str(), "1e999", r#""\ud800""#] {
            let json = format!(r#"{{{t},"extra":{bad}}}}}"#);
            assert!(matches!(parse(&json, 1), Err(SafetensorsError::Json(_))), "{bad}");
        }
        let mut f = file(&format!(r#"{{{t},"extra":"  "}}}}"#), 1);
        let at = f.iter().position(|c| *c == b' ').unwrap();
        f[at] = 0xff; // not UTF-8 inside an ignored string
        assert!(matches!(parse_prefix(&f, f.len() as u64, usize::MAX), Err(SafetensorsError::Json(_))));
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
        assert_eq!(parse_prefix(&f, f.len() as u64, 1), Err(SafetensorsError::TooManyTensors { cap: 1, found: 2 }));
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
    }
}
