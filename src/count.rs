//! From a checkpoint's tensor list to the record's numbers: stored elements per dtype, total,
//! weight bytes, the logical (transformers-style) parameter count, and the logical parameters of
//! the routed experts (for `active_parameters`). What a quantized or buffer tensor holds is
//! [`crate::arch::quant::tensors`]' business; here an `lm_head` the config ties is counted once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::arch::quant::Packing;
use crate::arch::quant::tensors::{self, logical_elements};
use crate::dtype;
use crate::format::TensorInfo;
use crate::record::MayAlsoStore;

/// What a count needs to know from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountOptions {
    /// The packing of quantized weights (bits, group) the config declares.
    pub packing: Packing,
    /// The config ties `lm_head` to the input embeddings.
    pub tie_word_embeddings: bool,
}

impl CountOptions {
    /// The options a config gives (the defaults without one; an invalid config leaves the
    /// defaults, and the record's warnings say why it was not used).
    pub fn from_config(config: Option<&Value>) -> CountOptions {
        let Some(config) = config else { return CountOptions::default() };
        CountOptions {
            packing: Packing::of(config),
            tie_word_embeddings: crate::arch::info::describe(config)
                .ok()
                .and_then(|d| d.architecture.tie_word_embeddings)
                .unwrap_or(false),
        }
    }
}

/// The numbers of a record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub parameters: BTreeMap<String, u64>,
    pub total: u64,
    pub weight_bytes: u64,
    pub logical: u64,
    /// Of `logical`, the routed experts' parameters (0 for a dense model).
    pub routed: u64,
    /// Dtypes with no known size: their elements are counted, their bytes are not.
    pub unknown_dtypes: BTreeSet<String>,
    /// Estimates only: what a checkpoint may store beyond the predicted layout.
    pub may_also_store: Vec<MayAlsoStore>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tensor {0:?}: the counts overflow 64 bits")]
pub struct CountOverflow(pub String);

/// Adds `n` to `*acc`, or reports the tensor that overflowed.
fn add(acc: &mut u64, n: u64, name: &str) -> Result<(), CountOverflow> {
    *acc = acc.checked_add(n).ok_or_else(|| CountOverflow(name.to_owned()))?;
    Ok(())
}

/// Whether a tensor belongs to a routed expert: a name segment `experts` (Mixtral's
/// `block_sparse_moe.experts.3.w1`, Qwen's and DeepSeek's `mlp.experts.0.gate_proj`, the fused
/// `mlp.experts.gate_up_proj` of transformers 5, gpt-oss and Llama 4, with their biases and MXFP4
/// blocks), Granite MoE's fused `block_sparse_moe.input_linear` / `output_linear`, or GGUF's
/// `ffn_*_exps`. Shared experts (`shared_expert`, `shared_experts`, `shexp`) and routers are not.
pub fn is_routed_expert(name: &str) -> bool {
    let mut segments = name.split('.');
    let mut previous = "";
    segments.any(|s| {
        let hit = s == "experts"
            || (previous == "block_sparse_moe" && (s == "input_linear" || s == "output_linear"))
            || (s.starts_with("ffn_") && s.ends_with("_exps"));
        previous = s;
        hit
    })
}

/// Counts a checkpoint's tensors (all shards together).
pub fn count<'a>(
    tensors: impl IntoIterator<Item = &'a TensorInfo>,
    opts: CountOptions,
) -> Result<Counts, CountOverflow> {
    let tensors: Vec<&TensorInfo> = tensors.into_iter().collect();
    let names = tensors::by_name(&tensors);
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
        let logical = logical_elements(t, elems, &names, opts.packing).ok_or_else(|| CountOverflow(t.name.clone()))?;
        add(&mut c.logical, logical, &t.name)?;
        if is_routed_expert(&t.name) {
            add(&mut c.routed, logical, &t.name)?;
        }
    }
    if opts.tie_word_embeddings
        && let Some(head) = tensors.iter().find(|t| t.name == "lm_head.weight" || t.name.ends_with(".lm_head.weight"))
        && tensors.iter().any(|t| t.name != head.name && t.name.contains("embed") && t.shape == head.shape)
    {
        let elems = head.elements().unwrap_or(0);
        c.logical -= logical_elements(head, elems, &names, opts.packing).unwrap_or(0).min(c.logical);
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
        let c =
            count(&ts, CountOptions { packing: Packing { bits: Some(4), group: None }, ..Default::default() }).unwrap();
        assert_eq!(c.logical, 4096 * 4096 + 4096);
        assert_eq!(c.parameters["I32"], 512 * 4096 + 32 * 512 + 4096);
        let c8 =
            count(&ts[..1], CountOptions { packing: Packing { bits: Some(8), group: None }, ..Default::default() })
                .unwrap();
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

    #[test]
    fn routed_experts_by_name_and_active_parameters_exactly() {
        for routed in [
            "model.layers.0.block_sparse_moe.experts.3.w1.weight",
            "model.layers.1.mlp.experts.gate_up_proj",
            "model.layers.1.mlp.experts.down_proj_blocks",
            "model.layers.1.mlp.experts.gate_up_proj_bias",
            "model.layers.2.mlp.experts.7.down_proj.qweight",
            "model.layers.0.block_sparse_moe.input_linear.weight",
            "blk.3.ffn_gate_exps.weight",
        ] {
            assert!(is_routed_expert(routed), "{routed}");
        }
        for not_routed in [
            "model.layers.1.mlp.shared_experts.gate_proj.weight",
            "model.layers.1.mlp.shared_expert.up_proj.weight",
            "model.layers.1.mlp.gate.weight",
            "model.layers.1.mlp.router.weight",
            "model.layers.0.shared_mlp.input_linear.weight",
            "blk.3.ffn_gate_shexp.weight",
            "model.layers.0.mlp.gate_proj.weight",
        ] {
            assert!(!is_routed_expert(not_routed), "{not_routed}");
        }
    }
}
