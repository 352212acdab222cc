//! The dtype table: how many bytes a number of elements of a stored dtype takes.
//!
//! One table covers every safetensors dtype (safetensors 0.8: `BOOL` .. `U64`, including the sub-byte
//! `F4` and `F6_*` types) and the ggml tensor types GGUF files use (`Q4_K`, `IQ2_XS`, ...). A dtype is
//! described by its block: `block_elems` elements stored in `block_bytes` bytes (F32 is 1 element in 4
//! bytes, F4 is 2 elements in 1 byte, Q4_K is 256 elements in 144 bytes). Unknown dtype strings are not
//! an error here: [`lookup`] returns `None` and callers keep the string and report it.

/// Storage layout of one dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtypeInfo {
    pub name: &'static str,
    /// Elements per block.
    pub block_elems: u64,
    /// Bytes per block.
    pub block_bytes: u64,
    /// ggml type id, for dtypes GGUF files can carry.
    pub ggml_id: Option<u32>,
}

impl DtypeInfo {
    /// Bits per element, rounded down for block-quantized types (Q4_K is 4.5 bits: 4).
    pub fn bits(&self) -> u64 {
        self.block_bytes * 8 / self.block_elems
    }

    /// Bytes taken by `elems` elements, rounding a partial block up. `None` on overflow.
    pub fn bytes_for(&self, elems: u64) -> Option<u64> {
        elems.div_ceil(self.block_elems).checked_mul(self.block_bytes)
    }
}

const fn d(name: &'static str, block_elems: u64, block_bytes: u64, ggml_id: Option<u32>) -> DtypeInfo {
    DtypeInfo { name, block_elems, block_bytes, ggml_id }
}

/// Every dtype capcache knows. Names are safetensors' names, and ggml's names for ggml-only types.
pub const TABLE: &[DtypeInfo] = &[
    // safetensors dtypes (ggml ids where ggml has the same type)
    d("BOOL", 1, 1, None),
    d("F4", 2, 1, None),
    d("F6_E2M3", 4, 3, None),
    d("F6_E3M2", 4, 3, None),
    d("U8", 1, 1, None),
    d("I8", 1, 1, Some(24)),
    d("F8_E5M2", 1, 1, None),
    d("F8_E4M3", 1, 1, None),
    d("F8_E8M0", 1, 1, None),
    d("F8_E4M3FNUZ", 1, 1, None),
    d("F8_E5M2FNUZ", 1, 1, None),
    d("I16", 1, 2, Some(25)),
    d("U16", 1, 2, None),
    d("F16", 1, 2, Some(1)),
    d("BF16", 1, 2, Some(30)),
    d("I32", 1, 4, Some(26)),
    d("U32", 1, 4, None),
    d("F32", 1, 4, Some(0)),
    d("C64", 1, 8, None),
    // PyTorch-only complex types (no safetensors name): complex32 and complex128
    d("C32", 1, 4, None),
    d("C128", 1, 16, None),
    d("F64", 1, 8, Some(28)),
    d("I64", 1, 8, Some(27)),
    d("U64", 1, 8, None),
    // ggml block-quantized types (ggml.h / ggml-common.h block sizes)
    d("Q4_0", 32, 18, Some(2)),
    d("Q4_1", 32, 20, Some(3)),
    d("Q5_0", 32, 22, Some(6)),
    d("Q5_1", 32, 24, Some(7)),
    d("Q8_0", 32, 34, Some(8)),
    d("Q8_1", 32, 36, Some(9)),
    d("Q2_K", 256, 84, Some(10)),
    d("Q3_K", 256, 110, Some(11)),
    d("Q4_K", 256, 144, Some(12)),
    d("Q5_K", 256, 176, Some(13)),
    d("Q6_K", 256, 210, Some(14)),
    d("Q8_K", 256, 292, Some(15)),
    d("IQ2_XXS", 256, 66, Some(16)),
    d("IQ2_XS", 256, 74, Some(17)),
    d("IQ3_XXS", 256, 98, Some(18)),
    d("IQ1_S", 256, 50, Some(19)),
    d("IQ4_NL", 32, 18, Some(20)),
    d("IQ3_S", 256, 110, Some(21)),
    d("IQ2_S", 256, 82, Some(22)),
    d("IQ4_XS", 256, 136, Some(23)),
    d("IQ1_M", 256, 56, Some(29)),
    d("TQ1_0", 256, 54, Some(34)),
    d("TQ2_0", 256, 66, Some(35)),
    d("MXFP4", 32, 17, Some(39)),
    d("NVFP4", 64, 36, Some(40)),
    d("Q1_0", 128, 18, Some(41)),
];

/// The layout of a dtype by name (exact, case-sensitive: `F16`, `Q4_K`). `None` for unknown names.
pub fn lookup(name: &str) -> Option<&'static DtypeInfo> {
    TABLE.iter().find(|d| d.name == name)
}

/// The layout of a dtype the safetensors format defines (as the `safetensors` crate, the reference
/// reader, parses it: `F16`, `F8_E4M3`, ...). `None` for other names, ggml's types included.
pub fn from_safetensors(name: &str) -> Option<&'static DtypeInfo> {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = name.into_deserializer();
    safetensors::Dtype::deserialize(de).ok()?;
    lookup(name)
}

/// The dtype of a ggml type id, as GGUF tensor infos give it. `None` for ids this table lacks.
pub fn from_ggml(id: u32) -> Option<&'static DtypeInfo> {
    TABLE.iter().find(|d| d.ggml_id == Some(id))
}

/// The safetensors dtype name for a PyTorch storage class (`FloatStorage`, `BFloat16Storage`, ...).
pub fn from_torch_storage(name: &str) -> Option<&'static str> {
    Some(match name {
        "FloatStorage" => "F32",
        "DoubleStorage" => "F64",
        "HalfStorage" => "F16",
        "BFloat16Storage" => "BF16",
        "LongStorage" => "I64",
        "IntStorage" => "I32",
        "ShortStorage" => "I16",
        "CharStorage" => "I8",
        "ByteStorage" => "U8",
        "BoolStorage" => "BOOL",
        "UInt16Storage" => "U16",
        "UInt32Storage" => "U32",
        "UInt64Storage" => "U64",
        "ComplexFloatStorage" => "C64",
        "ComplexDoubleStorage" => "C128",
        "Float8_e4m3fnStorage" => "F8_E4M3",
        "Float8_e5m2Storage" => "F8_E5M2",
        "Float8_e4m3fnuzStorage" => "F8_E4M3FNUZ",
        "Float8_e5m2fnuzStorage" => "F8_E5M2FNUZ",
        "Float8_e8m0fnuStorage" => "F8_E8M0",
        _ => return None,
    })
}

/// The safetensors dtype name for a config `torch_dtype` string (`"bfloat16"` -> `BF16`).
pub fn from_torch_name(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix("torch.").unwrap_or(name);
    Some(match name {
        "float32" | "float" => "F32",
        "float16" | "half" => "F16",
        "bfloat16" => "BF16",
        "float64" | "double" => "F64",
        "int8" => "I8",
        "uint8" => "U8",
        "int16" | "short" => "I16",
        "int32" | "int" => "I32",
        "int64" | "long" => "I64",
        "bool" => "BOOL",
        "uint16" => "U16",
        "uint32" => "U32",
        "uint64" => "U64",
        "complex32" | "chalf" => "C32",
        "complex64" | "cfloat" => "C64",
        "complex128" | "cdouble" => "C128",
        "float8_e4m3fn" => "F8_E4M3",
        "float8_e5m2" => "F8_E5M2",
        "float8_e4m3fnuz" => "F8_E4M3FNUZ",
        "float8_e5m2fnuz" => "F8_E5M2FNUZ",
        "float8_e8m0fnu" => "F8_E8M0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_safetensors_dtype_is_known_with_its_bit_width() {
        use safetensors::Dtype;
        let all = [
            (Dtype::BOOL, 8),
            (Dtype::F4, 4),
            (Dtype::F6_E2M3, 6),
            (Dtype::F6_E3M2, 6),
            (Dtype::U8, 8),
            (Dtype::I8, 8),
            (Dtype::F8_E5M2, 8),
            (Dtype::F8_E4M3, 8),
            (Dtype::F8_E8M0, 8),
            (Dtype::I16, 16),
            (Dtype::U16, 16),
            (Dtype::F16, 16),
            (Dtype::BF16, 16),
            (Dtype::I32, 32),
            (Dtype::U32, 32),
            (Dtype::F32, 32),
            (Dtype::C64, 64),
            (Dtype::F64, 64),
            (Dtype::I64, 64),
            (Dtype::U64, 64),
        ];
        for (dt, bits) in all {
            let name = format!("{dt:?}");
            let info = lookup(&name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(info.bits(), bits, "{name}");
            assert_eq!(dt.bitsize() as u64, bits, "{name} disagrees with the safetensors crate");
        }
    }

    #[test]
    fn sub_byte_and_block_sizes() {
        assert_eq!(lookup("F4").unwrap().bytes_for(10), Some(5));
        assert_eq!(lookup("F6_E2M3").unwrap().bytes_for(8), Some(6));
        assert_eq!(lookup("Q4_K").unwrap().bytes_for(512), Some(288));
        assert_eq!(lookup("Q8_0").unwrap().bytes_for(64), Some(68));
        assert_eq!(lookup("F16").unwrap().bytes_for(3), Some(6));
        assert_eq!(lookup("U64").unwrap().bytes_for(u64::MAX), None);
    }

    #[test]
    fn unknown_names_are_none_not_panics() {
        assert!(lookup("F3_E1M1").is_none());
        assert!(lookup("").is_none());
        assert!(from_ggml(9999).is_none());
        assert_eq!(from_ggml(12).unwrap().name, "Q4_K");
        assert_eq!(from_torch_name("torch.bfloat16"), Some("BF16"));
    }
}
