//! The record's `architecture` block and `kv_cache_bytes_per_token`, read from `config.json`
//! (the text part of multimodal configs), for every strategy.

use serde_json::Value;

use super::cfg::Cfg;
use crate::dtype;
use crate::record::{Architecture, Mla, Moe, Quantization};

/// The checkpoint dtype the config declares (`torch_dtype`, or `dtype` in newer configs), as a
/// safetensors dtype name.
pub fn config_dtype(config: &Value) -> Option<&'static str> {
    let c = Cfg::new(config);
    let t = c.text();
    [c.s("torch_dtype"), c.s("dtype"), t.s("torch_dtype"), t.s("dtype")]
        .into_iter()
        .flatten()
        .find_map(dtype::from_torch_name)
}

/// `quantization_config`, summarized.
pub fn quantization(config: &Value) -> Option<Quantization> {
    let c = Cfg::new(config);
    let q = c.sub("quantization_config").or_else(|| c.text().sub("quantization_config"))?;
    let method = q.s("quant_method").unwrap_or("unknown").to_owned();
    let groups = q.get("config_groups").and_then(|g| g.as_object()).and_then(|g| g.values().next()).map(Cfg::new);
    let weights = groups.and_then(|g| g.sub("weights"));
    let bits = q
        .u_any(&["bits", "w_bit", "weight_bits"])
        .or_else(|| weights.and_then(|w| w.u("num_bits")))
        .or_else(|| if q.flag("load_in_4bit", false) { Some(4) } else { None })
        .or_else(|| if q.flag("load_in_8bit", false) { Some(8) } else { None })
        .or(match method.as_str() {
            "fp8" | "fbgemm_fp8" => Some(8),
            "mxfp4" => Some(4),
            _ => None,
        });
    let group_size = q
        .get("group_size")
        .or_else(|| q.get("q_group_size"))
        .or_else(|| weights.and_then(|w| w.get("group_size")))
        .and_then(|g| g.as_i64());
    let format = q.s("format").map(str::to_owned);
    Some(Quantization { method, bits, group_size, format })
}

/// The `architecture` block.
pub fn architecture(config: &Value) -> Architecture {
    let root = Cfg::new(config);
    let c = root.text();
    let heads = c.u_any(&["num_attention_heads", "n_head", "n_heads", "num_heads"]);
    let hidden = c.u_any(&["hidden_size", "n_embd", "d_model", "dim"]);
    let kv = c
        .u_any(&["num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"])
        .or_else(|| c.sub("attn_config").and_then(|a| a.u("kv_n_heads")))
        .or_else(|| if c.flag("multi_query", false) && c.model_type() != Some("falcon") { Some(1) } else { None })
        .or_else(|| {
            if c.model_type() == Some("falcon")
                && c.flag("multi_query", true)
                && !c.flag("new_decoder_architecture", false)
            {
                Some(1)
            } else {
                None
            }
        })
        .or(heads);
    let head_dim = c.u("head_dim").or_else(|| Some(hidden? / heads.filter(|h| *h > 0)?));
    let experts =
        c.u_any(&["num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"]).filter(|n| *n > 0);
    let moe = experts.map(|num_experts| Moe {
        num_experts,
        experts_per_token: c.u_any(&["num_experts_per_tok", "num_experts_per_token", "moe_top_k", "top_k"]),
        num_shared_experts: c.u_any(&["n_shared_experts", "num_shared_experts"]),
        moe_intermediate_size: c.u_any(&["moe_intermediate_size", "expert_intermediate_size"]),
    });
    let mla = match (c.u("kv_lora_rank"), c.u("qk_rope_head_dim")) {
        (Some(kv_lora_rank), Some(qk_rope_head_dim)) => Some(Mla { kv_lora_rank, qk_rope_head_dim }),
        _ => None,
    };
    let architectures = root
        .get("architectures")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let tie = root
        .b("tie_word_embeddings")
        .or_else(|| c.b("tie_word_embeddings"))
        .or_else(|| super::model(config).ok().map(|m| m.tied));
    Architecture {
        model_type: root.model_type().map(str::to_owned),
        architectures,
        num_hidden_layers: c.u_any(&["num_hidden_layers", "n_layer", "n_layers", "num_layers"]),
        hidden_size: hidden,
        num_attention_heads: heads,
        num_key_value_heads: kv,
        head_dim,
        vocab_size: c.u("vocab_size").or_else(|| root.u("vocab_size")),
        max_position_embeddings: c.u_any(&[
            "max_position_embeddings",
            "n_positions",
            "max_seq_len",
            "seq_length",
            "n_ctx",
            "max_sequence_length",
        ]),
        intermediate_size: c
            .u_any(&["intermediate_size", "ffn_dim", "n_inner", "d_ff", "ffn_hidden_size"])
            .or_else(|| c.u("n_embd")?.checked_mul(4))
            .or_else(|| moe.as_ref()?.moe_intermediate_size),
        tie_word_embeddings: tie,
        quantization: quantization(config),
        moe,
        mla,
    }
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
mod tests {
    use super::*;

    #[test]
    fn opt_125m_kv_cache_matches_the_design_example() {
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"opt","architectures":["OPTForCausalLM"],"num_hidden_layers":12,"hidden_size":768,
                "num_attention_heads":12,"vocab_size":50272,"max_position_embeddings":2048,"torch_dtype":"float16"}"#,
        )
        .unwrap();
        let a = architecture(&cfg);
        assert_eq!((a.num_key_value_heads, a.head_dim, a.tie_word_embeddings), (Some(12), Some(64), Some(true)));
        assert_eq!(kv_cache_bytes_per_token(&a, config_dtype(&cfg).unwrap()), Some(36864));
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/configs/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn intermediate_size_under_each_family_name() {
        let opt = fixture("facebook__opt-125m");
        assert_eq!(architecture(&opt).intermediate_size, opt["ffn_dim"].as_u64());
        let gpt2 = fixture("openai-community__gpt2");
        assert!(gpt2["n_inner"].is_null(), "GPT-2 leaves n_inner to its default");
        assert_eq!(architecture(&gpt2).intermediate_size, gpt2["n_embd"].as_u64().map(|h| 4 * h));
        let llama = fixture("meta-llama__Llama-3.1-8B");
        assert_eq!(architecture(&llama).intermediate_size, llama["intermediate_size"].as_u64());
        let experts_only: Value =
            serde_json::from_str(r#"{"num_experts":8,"moe_intermediate_size":768,"hidden_size":2048}"#).unwrap();
        assert_eq!(architecture(&experts_only).intermediate_size, Some(768));
    }

    #[test]
    fn mla_and_moe_and_quantization() {
        let cfg: Value = serde_json::from_str(
            r#"{"model_type":"deepseek_v3","num_hidden_layers":61,"kv_lora_rank":512,"qk_rope_head_dim":64,
                "n_routed_experts":256,"num_experts_per_tok":8,"n_shared_experts":1,
                "quantization_config":{"quant_method":"fp8","weight_block_size":[128,128]}}"#,
        )
        .unwrap();
        let a = architecture(&cfg);
        assert_eq!(kv_cache_bytes_per_token(&a, "BF16"), Some(61 * 576 * 2));
        assert_eq!(a.moe.as_ref().unwrap().num_experts, 256);
        assert_eq!(a.quantization.as_ref().unwrap().bits, Some(8));
    }
}
