//! Llama-style decoders: llama, mistral, qwen2, qwen3, granite, olmo2, phi3, gemma, gemma2,
//! gemma3_text, starcoder2, stablelm, cohere, and the generic decoder for unknown model types.
//! Each differs from llama only in biases, q/k norms, norm kind and count, MLP kind and defaults.

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::decoder::{
    Attn, Defaults, Norm, QkNorm, attention, dims, embed_and_head, gated_mlp, norm, plain_mlp, tied,
};
use crate::arch::model::Model;

/// How a llama-style family differs from llama.
pub struct Variant {
    pub family: &'static str,
    pub defaults: Defaults,
    pub attn: Attn,
    pub mlp_bias: bool,
    /// A plain (non-gated) MLP.
    pub plain_mlp: bool,
    pub norm: Norm,
    pub norms_per_layer: u64,
}

/// Lists a llama-style decoder.
pub fn build(c: &Cfg, v: &Variant) -> Result<Model, ArchError> {
    let d = dims(c, &v.defaults)?;
    let mut m = Model::new(v.family);
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, v.defaults.tie), false);
    attention(&mut m, &d, v.attn, d.layers);
    if v.plain_mlp {
        plain_mlp(&mut m, d.hidden, d.inter, v.mlp_bias, d.layers);
    } else {
        gated_mlp(&mut m, d.hidden, d.inter, v.mlp_bias, d.layers);
    }
    norm(&mut m, "layer_norms", d.hidden, v.norm, v.norms_per_layer * d.layers);
    norm(&mut m, "norm", d.hidden, v.norm, 1);
    Ok(m)
}

fn rms(family: &'static str, defaults: Defaults, attn: Attn, mlp_bias: bool) -> Variant {
    Variant { family, defaults, attn, mlp_bias, plain_mlp: false, norm: Norm::Weight, norms_per_layer: 2 }
}

pub fn llama(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 32000,
        hidden: 4096,
        inter: 11008,
        layers: 32,
        heads: 32,
        kv: None,
        head_dim: None,
        tie: false,
    };
    build(c, &rms("llama", d, Attn::all_bias(c.flag("attention_bias", false)), c.flag("mlp_bias", false)))
}

pub fn mistral(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 32000,
        hidden: 4096,
        inter: 14336,
        layers: 32,
        heads: 32,
        kv: Some(8),
        head_dim: None,
        tie: false,
    };
    build(c, &rms("mistral", d, Attn::NO_BIAS, false))
}

pub fn qwen2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 151936,
        hidden: 4096,
        inter: 22016,
        layers: 32,
        heads: 32,
        kv: Some(32),
        head_dim: None,
        tie: false,
    };
    build(c, &rms("qwen2", d, Attn { q_bias: true, kv_bias: true, o_bias: false, qk_norm: QkNorm::None }, false))
}

pub fn qwen3(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 151936,
        hidden: 4096,
        inter: 22016,
        layers: 32,
        heads: 32,
        kv: Some(32),
        head_dim: Some(128),
        tie: false,
    };
    let attn = Attn::all_bias(c.flag("attention_bias", false)).qk_norm(QkNorm::PerHead);
    build(c, &rms("qwen3", d, attn, false))
}

pub fn granite(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 32000,
        hidden: 4096,
        inter: 11008,
        layers: 32,
        heads: 32,
        kv: None,
        head_dim: None,
        tie: false,
    };
    build(c, &rms("granite", d, Attn::all_bias(c.flag("attention_bias", false)), c.flag("mlp_bias", false)))
}

pub fn olmo2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 50304,
        hidden: 4096,
        inter: 11008,
        layers: 32,
        heads: 32,
        kv: None,
        head_dim: None,
        tie: false,
    };
    let attn = Attn::all_bias(c.flag("attention_bias", false)).qk_norm(QkNorm::Full);
    build(c, &rms("olmo2", d, attn, false))
}

pub fn phi3(c: &Cfg) -> Result<Model, ArchError> {
    // Fused qkv_proj and gate_up_proj hold the same elements as the separate projections.
    let d = Defaults {
        vocab: 32064,
        hidden: 3072,
        inter: 8192,
        layers: 32,
        heads: 32,
        kv: None,
        head_dim: None,
        tie: false,
    };
    build(c, &rms("phi3", d, Attn::NO_BIAS, false))
}

pub fn gemma(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 256000,
        hidden: 3072,
        inter: 24576,
        layers: 28,
        heads: 16,
        kv: Some(16),
        head_dim: Some(256),
        tie: true,
    };
    build(c, &rms("gemma", d, Attn::all_bias(c.flag("attention_bias", false)), false))
}

pub fn gemma2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 256000,
        hidden: 2304,
        inter: 9216,
        layers: 26,
        heads: 8,
        kv: Some(4),
        head_dim: Some(256),
        tie: true,
    };
    let v = Variant { norms_per_layer: 4, ..rms("gemma2", d, Attn::all_bias(c.flag("attention_bias", false)), false) };
    build(c, &v)
}

pub fn gemma3_text(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 262208,
        hidden: 2304,
        inter: 9216,
        layers: 26,
        heads: 8,
        kv: Some(4),
        head_dim: Some(256),
        tie: true,
    };
    let attn = Attn::all_bias(c.flag("attention_bias", false)).qk_norm(QkNorm::PerHead);
    build(c, &Variant { norms_per_layer: 4, ..rms("gemma3_text", d, attn, false) })
}

pub fn starcoder2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 49152,
        hidden: 3072,
        inter: 12288,
        layers: 30,
        heads: 24,
        kv: Some(2),
        head_dim: None,
        tie: true,
    };
    let bias = c.flag("use_bias", true);
    build(
        c,
        &Variant {
            family: "starcoder2",
            defaults: d,
            attn: Attn::all_bias(bias),
            mlp_bias: bias,
            plain_mlp: true,
            norm: Norm::WeightBias,
            norms_per_layer: 2,
        },
    )
}

pub fn stablelm(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 50304,
        hidden: 2560,
        inter: 6912,
        layers: 32,
        heads: 32,
        kv: None,
        head_dim: None,
        tie: false,
    };
    let qkv = c.flag("use_qkv_bias", false);
    let qk = if c.flag("qk_layernorm", false) { QkNorm::Stacked } else { QkNorm::None };
    let norms = if c.flag("use_parallel_residual", false) { 1 } else { 2 };
    let attn = Attn { q_bias: qkv, kv_bias: qkv, o_bias: false, qk_norm: qk };
    build(
        c,
        &Variant {
            family: "stablelm",
            defaults: d,
            attn,
            mlp_bias: false,
            plain_mlp: false,
            norm: Norm::WeightBias,
            norms_per_layer: norms,
        },
    )
}

pub fn cohere(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults {
        vocab: 256000,
        hidden: 8192,
        inter: 22528,
        layers: 40,
        heads: 64,
        kv: None,
        head_dim: None,
        tie: true,
    };
    let qk = if c.flag("use_qk_norm", false) { QkNorm::Stacked } else { QkNorm::None };
    let attn = Attn::all_bias(c.flag("attention_bias", false)).qk_norm(qk);
    build(c, &Variant { norms_per_layer: 1, ..rms("cohere", d, attn, false) })
}

/// An unknown model type with the standard decoder keys: a llama-shaped estimate, marked
/// approximate.
pub fn generic(c: &Cfg) -> Result<Model, ArchError> {
    for key in ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"] {
        c.req(key)?;
    }
    let d = Defaults { vocab: 0, hidden: 0, inter: 0, layers: 0, heads: 1, kv: None, head_dim: None, tie: false };
    let attn = Attn::all_bias(c.flag("attention_bias", false));
    let mut m = build(c, &rms("generic-decoder", d, attn, c.flag("mlp_bias", false)))?;
    m.approximate = true;
    Ok(m)
}
