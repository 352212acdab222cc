//! From a checkpoint's tensor list to the record's numbers: stored elements per dtype, total,
//! weight bytes, and the logical (transformers-style) parameter count with the quantization-aware
//! rules: packed 4-bit `qweight`/`weight_packed` unpacked, MXFP4 `_blocks` and bitsandbytes 4-bit
//! weights x 2, scale / zero-point / index tensors and `F8_E8M0` excluded, known buffers
//! (`inv_freq`, `position_ids`, causal masks) excluded, and an `lm_head` the config ties counted once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::dtype;
use crate::format::TensorInfo;

/// What a count needs to know from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountOptions {
    /// Bits per packed weight element (GPTQ/AWQ/compressed-tensors pack-quantized); 4 when unknown.
    pub quant_bits: Option<u64>,
    /// The config ties `lm_head` to the input embeddings.
    pub tie_word_embeddings: bool,
}

/// The numbers of a record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub parameters: BTreeMap<String, u64>,
    pub total: u64,
    pub weight_bytes: u64,
    pub logical: u64,
    /// Dtypes with no known size: their elements are counted, their bytes are not.
    pub unknown_dtypes: BTreeSet<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tensor {0:?}: the counts overflow 64 bits")]
pub struct CountOverflow(pub String);

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
const BUFFERS: &[&str] = &["inv_freq", "position_ids", "masked_bias"];

/// Adds `n` to `*acc`, or reports the tensor that overflowed.
fn add(acc: &mut u64, n: u64, name: &str) -> Result<(), CountOverflow> {
    *acc = acc.checked_add(n).ok_or_else(|| CountOverflow(name.to_owned()))?;
    Ok(())
}

/// Counts a checkpoint's tensors (all shards together).
pub fn count<'a>(
    tensors: impl IntoIterator<Item = &'a TensorInfo>,
    opts: CountOptions,
) -> Result<Counts, CountOverflow> {
    let tensors: Vec<&TensorInfo> = tensors.into_iter().collect();
    let names: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let mut c = Counts::default();
    for t in &tensors {
        let elems = t.elements().ok_or_else(|| CountOverflow(t.name.clone()))?;
        add(c.parameters.entry(t.dtype.clone()).or_default(), elems, &t.name)?;
        add(&mut c.total, elems, &t.name)?;
        match dtype::lookup(&t.dtype) {
            Some(d) => {
                add(&mut c.weight_bytes, d.bytes_for(elems).ok_or_else(|| CountOverflow(t.name.clone()))?, &t.name)?
            }
            None => {
                c.unknown_dtypes.insert(t.dtype.clone());
            }
        }
        let logical = logical_elements(t, elems, &names, opts).ok_or_else(|| CountOverflow(t.name.clone()))?;
        add(&mut c.logical, logical, &t.name)?;
    }
    if opts.tie_word_embeddings
        && let Some(head) = tensors.iter().find(|t| t.name == "lm_head.weight" || t.name.ends_with(".lm_head.weight"))
        && tensors.iter().any(|t| t.name != head.name && t.name.contains("embed") && t.shape == head.shape)
    {
        let elems = head.elements().unwrap_or(0);
        c.logical -= logical_elements(head, elems, &names, opts).unwrap_or(0).min(c.logical);
        c.notes.push(format!(
            "the checkpoint stores {} although the config ties it to the input embeddings; counted once in logical_parameters",
            head.name
        ));
    }
    if !c.unknown_dtypes.is_empty() {
        let list: Vec<&str> = c.unknown_dtypes.iter().map(String::as_str).collect();
        c.notes.push(format!(
            "unknown dtypes {}: their elements are counted, their bytes are not in weight_bytes",
            crate::names::some(&list)
        ));
    }
    Ok(c)
}

/// What one tensor adds to the logical parameter count.
fn logical_elements(t: &TensorInfo, elems: u64, names: &HashSet<&str>, opts: CountOptions) -> Option<u64> {
    let last = t.name.rsplit('.').next().unwrap_or(&t.name);
    if t.dtype == "F8_E8M0"
        || SIDE_DATA.contains(&last)
        || last.ends_with("_scales")
        || t.name.contains(".quant_state.")
    {
        return Some(0);
    }
    let causal_mask = last == "bias" && t.name.ends_with("attn.bias") && t.shape.len() == 4;
    if BUFFERS.contains(&last) || causal_mask {
        return Some(0);
    }
    let packed = (last == "qweight" || last == "weight_packed") && matches!(t.dtype.as_str(), "I32" | "U32");
    if packed {
        let bits = opts.quant_bits.filter(|b| (1..=32).contains(b)).unwrap_or(4);
        return elems.checked_mul(32 / bits);
    }
    if last.ends_with("_blocks") && t.dtype == "U8" {
        return elems.checked_mul(2);
    }
    let bnb4 = t.dtype == "U8"
        && ["nf4", "fp4"].iter().any(|k| names.contains(format!("{}.quant_state.bitsandbytes__{k}", t.name).as_str()));
    if bnb4 {
        return elems.checked_mul(2);
    }
    Some(elems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dtype: &str, shape: &[u64]) -> TensorInfo {
        TensorInfo { name: name.into(), dtype: dtype.into(), shape: shape.to_vec() }
    }

    #[test]
    fn raw_counts_follow_huggingface_hub_and_scalars_count_as_one() {
        let ts = [t("a", "F32", &[2, 3]), t("s", "F32", &[]), t("p", "I64", &[1, 512])];
        let c = count(&ts, CountOptions::default()).unwrap();
        assert_eq!(c.parameters, BTreeMap::from([("F32".into(), 7), ("I64".into(), 512)]));
        assert_eq!(c.total, 519);
        assert_eq!(c.weight_bytes, 7 * 4 + 512 * 8);
        assert_eq!(c.logical, 519);
        let named = [t("embeddings.position_ids", "I64", &[1, 512]), t("w", "F32", &[4])];
        assert_eq!(count(&named, CountOptions::default()).unwrap().logical, 4);
    }

    #[test]
    fn gptq_unpacks_qweight_and_drops_side_data() {
        // A 4096x4096 linear layer, 4-bit, group 128.
        let ts = [
            t("l.qweight", "I32", &[512, 4096]),
            t("l.qzeros", "I32", &[32, 512]),
            t("l.scales", "F16", &[32, 4096]),
            t("l.g_idx", "I32", &[4096]),
            t("l.bias", "F16", &[4096]),
        ];
        let c = count(&ts, CountOptions { quant_bits: Some(4), ..Default::default() }).unwrap();
        assert_eq!(c.logical, 4096 * 4096 + 4096);
        assert_eq!(c.parameters["I32"], 512 * 4096 + 32 * 512 + 4096);
        let c8 = count(&ts[..1], CountOptions { quant_bits: Some(8), ..Default::default() }).unwrap();
        assert_eq!(c8.logical, 512 * 4096 * 4);
    }

    #[test]
    fn fp8_mxfp4_and_bnb_rules() {
        let fp8 =
            [t("w.weight", "F8_E4M3", &[8, 8]), t("w.weight_scale", "F32", &[8, 1]), t("w.input_scale", "F32", &[])];
        assert_eq!(count(&fp8, CountOptions::default()).unwrap().logical, 64);
        let mx = [
            t("e.gate_up_proj_blocks", "U8", &[4, 8, 16]),
            t("e.gate_up_proj_scales", "U8", &[4, 8]),
            t("x", "F8_E8M0", &[9]),
        ];
        assert_eq!(count(&mx, CountOptions::default()).unwrap().logical, 4 * 8 * 16 * 2);
        let bnb = [
            t("q.weight", "U8", &[32, 1]),
            t("q.weight.absmax", "F32", &[1]),
            t("q.weight.quant_map", "F32", &[16]),
            t("q.weight.quant_state.bitsandbytes__nf4", "U8", &[100]),
        ];
        assert_eq!(count(&bnb, CountOptions::default()).unwrap().logical, 64);
    }

    #[test]
    fn gpt2_causal_mask_buffers_and_tied_head() {
        let ts = [
            t("h.0.attn.bias", "F32", &[1, 1, 4, 4]),
            t("h.0.attn.masked_bias", "F32", &[]),
            t("h.0.attn.c_attn.bias", "F32", &[12]),
            t("model.embed_tokens.weight", "BF16", &[10, 4]),
            t("lm_head.weight", "BF16", &[10, 4]),
        ];
        let untied = count(&ts, CountOptions::default()).unwrap();
        assert_eq!(untied.logical, 12 + 80);
        let tied = count(&ts, CountOptions { tie_word_embeddings: true, ..Default::default() }).unwrap();
        assert_eq!(tied.logical, 12 + 40);
        assert_eq!(tied.total, untied.total, "stored counts never change");
        assert!(tied.notes[0].contains("lm_head.weight"));
    }

    #[test]
    fn unknown_dtypes_are_reported_not_dropped() {
        let c = count(&[t("a", "F2_WEIRD", &[10]), t("b", "F16", &[2])], CountOptions::default()).unwrap();
        assert_eq!(c.parameters["F2_WEIRD"], 10);
        assert_eq!(c.weight_bytes, 4);
        assert!(c.notes[0].contains("F2_WEIRD"));
    }

    #[test]
    fn overflow_is_an_error() {
        let ts = [t("a", "F32", &[u64::MAX]), t("b", "F32", &[2])];
        assert!(count(&ts, CountOptions::default()).is_err());
    }
}
