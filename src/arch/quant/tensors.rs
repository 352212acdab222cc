//! From a stored tensor to the parameters of the unquantized model it holds: scale, zero-point,
//! index and `quant_state` tensors and buffers hold none; packed weights hold
//! `elements x word bits / value bits`, computed exactly (128-bit, no rounding for the layouts
//! the formats write); everything else holds its elements.
//!
//! The bits of a packed value come from the tensor's siblings where they say it (GPTQ/AWQ:
//! `qzeros` columns against `scales` columns, or `qweight` rows against `g_idx`; MLX and
//! compressed-tensors: the packed columns against the groups of `scales` / `weight_scale` at the
//! config's group size), else from the config ([`Packing`]), else 4.

use std::collections::HashMap;

use super::Packing;
use crate::format::TensorInfo;

/// Last name segments of tensors that hold quantization side data, not weights.
const SIDE_DATA: &[&str] = &[
    "qzeros",
    "scales",
    "g_idx",
    "weight_scale",
    "weight_scale_inv",
    "input_scale",
    "output_scale",
    "k_scale",
    "v_scale",
    "q_scale",
    "weight_zero_point",
    "input_zero_point",
    "weight_global_scale",
    "input_global_scale",
    "weight_shape",
    "weight_g_idx",
    "SCB",
    "weight_format",
    "absmax",
    "quant_map",
    "nested_absmax",
    "nested_quant_map",
];

/// Last name segments of buffers transformers does not count as parameters.
const BUFFERS: &[&str] = &["inv_freq", "position_ids", "masked_bias", "causal_mask"];

/// MLX's default group size.
const MLX_GROUP: u64 = 64;

/// A checkpoint's tensors by name (all shards together).
pub type ByName<'a> = HashMap<&'a str, &'a TensorInfo>;

/// The tensors of `tensors` by name.
pub fn by_name<'a>(tensors: &[&'a TensorInfo]) -> ByName<'a> {
    tensors.iter().map(|t| (t.name.as_str(), *t)).collect()
}

/// `elems` packed values of `bits` in words of `word` bits, unpacked: exact when the packing
/// divides (it does for every layout the formats write), else rounded down. `None` on overflow.
fn unpack(elems: u64, word: u64, bits: u64) -> Option<u64> {
    let values = u128::from(elems).checked_mul(u128::from(word))?.checked_div(u128::from(bits))?;
    u64::try_from(values).ok()
}

/// `32 x cols / values` as a bit width of 1 to 8, when it is one exactly.
fn bits_from(packed_cols: u64, values: u64) -> Option<u64> {
    let scaled = packed_cols.checked_mul(32)?;
    if values == 0 || scaled.checked_rem(values)? != 0 {
        return None;
    }
    scaled.checked_div(values).filter(|b| (1..=8).contains(b))
}

/// The sibling `{prefix}.{name}` of a tensor named `{prefix}.{last}`.
fn sibling<'a>(tensors: &ByName<'a>, prefix: &str, name: &str) -> Option<&'a TensorInfo> {
    tensors.get(format!("{prefix}.{name}").as_str()).copied()
}

/// The last two dimensions of a tensor.
fn matrix(t: &TensorInfo) -> Option<(u64, u64)> {
    match t.shape.as_slice() {
        [.., r, c] => Some((*r, *c)),
        _ => None,
    }
}

/// GPTQ / AWQ: the bits of `prefix.qweight`.
fn qweight_bits(t: &TensorInfo, prefix: &str, tensors: &ByName) -> Option<u64> {
    if let (Some(z), Some(s)) = (sibling(tensors, prefix, "qzeros"), sibling(tensors, prefix, "scales"))
        && let (Some((zr, zc)), Some((sr, sc))) = (matrix(z), matrix(s))
        && zr == sr
        && let Some(bits) = bits_from(zc, sc)
    {
        return Some(bits);
    }
    // GPTQ packs the input dimension: qweight [in * bits / 32, out], g_idx [in].
    let g_idx = sibling(tensors, prefix, "g_idx")?;
    bits_from(matrix(t)?.0, *g_idx.shape.first()?)
}

/// MLX / compressed-tensors: the bits of a `[.., out, in * bits / 32]` packed weight beside scales
/// `[.., out, in / group]`.
fn grouped_bits(t: &TensorInfo, scales: &TensorInfo, group: Option<u64>) -> Option<u64> {
    let (rows, cols) = matrix(t)?;
    let (srows, groups) = matrix(scales)?;
    if rows != srows {
        return None;
    }
    bits_from(cols, groups.checked_mul(group?)?)
}

/// What one stored tensor adds to the logical parameter count (`None` on overflow).
pub fn logical_elements(t: &TensorInfo, elems: u64, tensors: &ByName, packing: Packing) -> Option<u64> {
    let (prefix, last) = t.name.rsplit_once('.').unwrap_or(("", &t.name));
    if t.dtype == "F8_E8M0"
        || SIDE_DATA.contains(&last)
        || last.ends_with("_scales")
        || t.name.contains(".quant_state.")
    {
        return Some(0);
    }
    // MLX: `biases` beside `scales` are the groups' offsets, not a layer's bias.
    if last == "biases" && sibling(tensors, prefix, "scales").is_some() {
        return Some(0);
    }
    // Causal masks are 4-D `[1, 1, positions, positions]` buffers named `bias` (GPT-2, GPT-J,
    // GPT-Neo, GPT-NeoX); a layer's bias is 1-D.
    if BUFFERS.contains(&last) || (last == "bias" && t.shape.len() == 4) {
        return Some(0);
    }
    let word32 = matches!(t.dtype.as_str(), "I32" | "U32");
    if last == "qweight" && word32 {
        let bits = qweight_bits(t, prefix, tensors).or(packing.bits).unwrap_or(4);
        return unpack(elems, 32, bits);
    }
    if last == "weight_packed" && word32 {
        let scales = sibling(tensors, prefix, "weight_scale");
        let bits = scales.and_then(|s| grouped_bits(t, s, packing.group)).or(packing.bits).unwrap_or(4);
        return unpack(elems, 32, bits);
    }
    // NVFP4 / MXFP4 (compressed-tensors): two 4-bit values a byte.
    if last == "weight_packed" && t.dtype == "U8" {
        return unpack(elems, 8, packing.bits.filter(|b| *b <= 8).unwrap_or(4));
    }
    if last == "weight"
        && t.dtype == "U32"
        && let Some(scales) = sibling(tensors, prefix, "scales")
    {
        let group = packing.group.or(Some(MLX_GROUP));
        let bits = grouped_bits(t, scales, group).or(packing.bits).unwrap_or(4);
        return unpack(elems, 32, bits);
    }
    // MXFP4 (gpt-oss): `*_blocks` of 32 values in 16 bytes.
    if last.ends_with("_blocks") && t.dtype == "U8" {
        return elems.checked_mul(2);
    }
    let bnb4 = t.dtype == "U8"
        && ["nf4", "fp4"]
            .iter()
            .any(|k| tensors.contains_key(format!("{}.quant_state.bitsandbytes__{k}", t.name).as_str()));
    if bnb4 {
        return elems.checked_mul(2);
    }
    Some(elems)
}
