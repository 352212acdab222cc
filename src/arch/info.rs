//! The record's `architecture` block and `kv_cache_bytes_per_token`, read from `config.json`
//! (the text part of multimodal configs), for every strategy.

use serde_json::Value;

use super::ArchError;
use super::cfg::Cfg;
use super::checked::Checked;
use crate::dtype;
use crate::record::{Architecture, Mla, Moe, Quantization};

/// The checkpoint dtype the config declares (`torch_dtype`, or `dtype` in newer configs), as a
/// safetensors dtype name. A name torch does not know is an error.
pub fn config_dtype(config: &Value) -> Result<Option<&'static str>, ArchError> {
    let c = Cfg::new(config);
    let t = c.text()?;
    for (view, key) in [(&c, "torch_dtype"), (&c, "dtype"), (&t, "torch_dtype"), (&t, "dtype")] {
        if let Some(name) = view.s(key)? {
            return match dtype::from_torch_name(name) {
                Some(d) => Ok(Some(d)),
                None => Err(view.invalid(key, &Value::from(name), "not a torch dtype name")),
            };
        }
    }
    Ok(None)
}

/// The `quantization_config` object (the root's, else the text config's).
fn quantization_config<'a>(config: &'a Value) -> Result<Option<Cfg<'a>>, ArchError> {
    let c = Cfg::new(config);
    match c.sub("quantization_config")? {
        Some(q) => Ok(Some(q)),
        None => c.text()?.sub("quantization_config"),
    }
}

/// A group size: -1 (no groups, as GPTQ writes it) or a positive size.
fn group_size_of(q: &Cfg, key: &str) -> Result<Option<i64>, ArchError> {
    if q.get(key).and_then(Value::as_i64) == Some(-1) {
        return Ok(Some(-1));
    }
    q.u(key)?.map(|g| i64::try_from(g).map_err(|_| ArchError::Overflow)).transpose()
}

/// `quantization_config`, summarized.
pub fn quantization(config: &Value) -> Result<Option<Quantization>, ArchError> {
    let Some(q) = quantization_config(config)? else { return Ok(None) };
    let method = q.s("quant_method")?.unwrap_or("unknown").to_owned();
    let group = match q.sub("config_groups")? {
        Some(groups) => groups.first_sub()?,
        None => None,
    };
    let weights = match &group {
        Some(g) => g.sub("weights")?,
        None => None,
    };
    let mut bits = q.u_any(&["bits", "w_bit", "weight_bits"])?;
    if let (None, Some(w)) = (bits, &weights) {
        bits = w.u("num_bits")?;
    }
    if bits.is_none() && q.flag("load_in_4bit", false)? {
        bits = Some(4);
    }
    if bits.is_none() && q.flag("load_in_8bit", false)? {
        bits = Some(8);
    }
    let bits = bits.or(match method.as_str() {
        "fp8" | "fbgemm_fp8" => Some(8),
        "mxfp4" => Some(4),
        _ => None,
    });
    let mut group_size = None;
    for key in ["group_size", "q_group_size"] {
        if group_size.is_none() {
            group_size = group_size_of(&q, key)?;
        }
    }
    if let (None, Some(w)) = (group_size, &weights) {
        group_size = group_size_of(w, "group_size")?;
    }
    let format = q.s("format")?.map(str::to_owned);
    Ok(Some(Quantization { method, bits, group_size, format }))
}

/// FP8 `weight_block_size` `[rows, cols]`: two sizes of at least 1.
pub fn weight_block_size(config: &Value) -> Result<Option<(u64, u64)>, ArchError> {
    let Some(q) = quantization_config(config)? else { return Ok(None) };
    match q.list("weight_block_size")?.as_deref() {
        None => Ok(None),
        Some([rows, cols]) => Ok(Some((*rows, *cols))),
        Some(_) => Err(q.invalid(
            "weight_block_size",
            q.get("weight_block_size").unwrap_or(&Value::Null),
            "expected two block sizes",
        )),
    }
}

/// The `architecture` block.
pub fn architecture(config: &Value) -> Result<Architecture, ArchError> {
    let root = Cfg::new(config);
    let c = root.text()?;
    let heads = c.u_any(&["num_attention_heads", "n_head", "n_heads", "num_heads"])?;
    let hidden = c.u_any(&["hidden_size", "n_embd", "d_model", "dim"])?;
    let falcon = c.model_type()? == Some("falcon");
    let mut kv = c.u_any(&["num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"])?;
    if kv.is_none()
        && let Some(a) = c.sub("attn_config")?
    {
        kv = a.u("kv_n_heads")?;
    }
    if kv.is_none() && !falcon && c.flag("multi_query", false)? {
        kv = Some(1);
    }
    if kv.is_none() && falcon && c.flag("multi_query", true)? && !c.flag("new_decoder_architecture", false)? {
        kv = Some(1);
    }
    let kv = kv.or(heads);
    let head_dim = match (c.u("head_dim")?, hidden, heads) {
        (Some(d), _, _) => Some(d),
        (None, Some(h), Some(n)) => Some(h.over(n)?),
        _ => None,
    };
    let experts =
        c.u_any(&["num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"])?.filter(|n| *n > 0);
    let moe = match experts {
        Some(num_experts) => Some(Moe {
            num_experts,
            experts_per_token: c.u_any(&["num_experts_per_tok", "num_experts_per_token", "moe_top_k", "top_k"])?,
            num_shared_experts: c.u_any(&["n_shared_experts", "num_shared_experts"])?,
            moe_intermediate_size: c.u_any(&["moe_intermediate_size", "expert_intermediate_size"])?,
        }),
        None => None,
    };
    let mla = match (c.u("kv_lora_rank")?, c.u("qk_rope_head_dim")?) {
        (Some(kv_lora_rank), Some(qk_rope_head_dim)) => Some(Mla { kv_lora_rank, qk_rope_head_dim }),
        _ => None,
    };
    let architectures = root.strs("architectures")?.unwrap_or_default().into_iter().map(str::to_owned).collect();
    let tie = match root.get("tie_word_embeddings").or_else(|| c.get("tie_word_embeddings")) {
        Some(_) => Some(root.flag("tie_word_embeddings", false)? || c.flag("tie_word_embeddings", false)?),
        None => super::model(config).ok().map(|m| m.tied),
    };
    Ok(Architecture {
        model_type: root.model_type()?.map(str::to_owned),
        architectures,
        num_hidden_layers: c.u_any(&["num_hidden_layers", "n_layer", "n_layers", "num_layers"])?,
        hidden_size: hidden,
        num_attention_heads: heads,
        num_key_value_heads: kv,
        head_dim,
        vocab_size: match c.u("vocab_size")? {
            Some(v) => Some(v),
            None => root.u("vocab_size")?,
        },
        max_position_embeddings: c.u_any(&[
            "max_position_embeddings",
            "n_positions",
            "max_seq_len",
            "seq_length",
            "n_ctx",
            "max_sequence_length",
        ])?,
        tie_word_embeddings: tie,
        quantization: quantization(config)?,
        moe,
        mla,
    })
}

/// KV cache bytes per token at `dtype`: MLA `layers * (kv_lora_rank + qk_rope_head_dim) * bytes`,
/// else `layers * 2 * head_dim * kv_heads * bytes`.
pub fn kv_cache_bytes_per_token(a: &Architecture, dtype: &str) -> Option<u64> {
    let bytes = dtype::lookup(dtype).filter(|d| d.block_elems == 1)?.block_bytes;
    let layers = a.num_hidden_layers?;
    match &a.mla {
        Some(m) => layers.checked_mul(m.kv_lora_rank.checked_add(m.qk_rope_head_dim)?)?.checked_mul(bytes),
        None => {
            layers.checked_mul(2)?.checked_mul(a.head_dim?)?.checked_mul(a.num_key_value_heads?)?.checked_mul(bytes)
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn opt_125m_kv_cache_matches_the_design_example() {
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"opt","architectures":["OPTForCausalLM"],"num_hidden_layers":12,"hidden_size":768,
                "num_attention_heads":12,"vocab_size":50272,"max_position_embeddings":2048,"torch_dtype":"float16"}"#,
        )
        .unwrap();
        let a = architecture(&cfg).unwrap();
        assert_eq!((a.num_key_value_heads, a.head_dim, a.tie_word_embeddings), (Some(12), Some(64), Some(true)));
        assert_eq!(kv_cache_bytes_per_token(&a, config_dtype(&cfg).unwrap().unwrap()), Some(36864));
    }

    #[test]
    fn mla_and_moe_and_quantization() {
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"deepseek_v3","num_hidden_layers":61,"kv_lora_rank":512,"qk_rope_head_dim":64,
                "n_routed_experts":256,"num_experts_per_tok":8,"n_shared_experts":1,
                "quantization_config":{"quant_method":"fp8","weight_block_size":[128,128]}}"#,
        )
        .unwrap();
        let a = architecture(&cfg).unwrap();
        assert_eq!(kv_cache_bytes_per_token(&a, "BF16"), Some(61 * 576 * 2));
        assert_eq!(a.moe.as_ref().unwrap().num_experts, 256);
        assert_eq!(a.quantization.as_ref().unwrap().bits, Some(8));
    }
}
