//! Llama-style decoders: llama, mistral, qwen2, qwen3, granite, olmo2, phi3, gemma, gemma2,
//! gemma3_text, starcoder2, stablelm, cohere, and the generic decoder for unknown model types.
//! Each differs from llama only in biases, q/k norms, norm kind and count, MLP kind and defaults.

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
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
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, v.defaults.tie)?, false);
    attention(&mut m, &d, v.attn, d.layers)?;
    if v.plain_mlp {
        plain_mlp(&mut m, d.hidden, d.inter, v.mlp_bias, d.layers);
    } else {
        gated_mlp(&mut m, d.hidden, d.inter, v.mlp_bias, d.layers);
    }
    norm(&mut m, "layer_norms", d.hidden, v.norm, v.norms_per_layer.times(d.layers)?);
    norm(&mut m, "norm", d.hidden, v.norm, 1);
    Ok(m)
}

fn rms(family: &'static str, defaults: Defaults, attn: Attn, mlp_bias: bool) -> Variant {
    Variant { family, defaults, attn, mlp_bias, plain_mlp: false, norm: Norm::Weight, norms_per_layer: 2 }
}

pub fn llama(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 4096, 11008, 32, 32);
    build(c, &rms("llama", d, Attn::all_bias(c.flag("attention_bias", false)?), c.flag("mlp_bias", false)?))
}

pub fn mistral(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 4096, 14336, 32, 32).kv(8);
    build(c, &rms("mistral", d, Attn::NO_BIAS, false))
}

pub fn qwen2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(151936, 4096, 22016, 32, 32).kv(32);
    build(c, &rms("qwen2", d, Attn { q_bias: true, kv_bias: true, o_bias: false, qk_norm: QkNorm::None }, false))
}

pub fn qwen3(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(151936, 4096, 22016, 32, 32).kv(32).head_dim(128);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::PerHead);
    build(c, &rms("qwen3", d, attn, false))
}

pub fn granite(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 4096, 11008, 32, 32);
    build(c, &rms("granite", d, Attn::all_bias(c.flag("attention_bias", false)?), c.flag("mlp_bias", false)?))
}

pub fn olmo2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(50304, 4096, 11008, 32, 32);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::Full);
    build(c, &rms("olmo2", d, attn, false))
}

pub fn phi3(c: &Cfg) -> Result<Model, ArchError> {
    // Fused qkv_proj and gate_up_proj hold the same elements as the separate projections.
    let d = Defaults::new(32064, 3072, 8192, 32, 32);
    build(c, &rms("phi3", d, Attn::NO_BIAS, false))
}

pub fn gemma(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(256000, 3072, 24576, 28, 16).kv(16).head_dim(256).tied();
    build(c, &rms("gemma", d, Attn::all_bias(c.flag("attention_bias", false)?), false))
}

pub fn gemma2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(256000, 2304, 9216, 26, 8).kv(4).head_dim(256).tied();
    let v = Variant { norms_per_layer: 4, ..rms("gemma2", d, Attn::all_bias(c.flag("attention_bias", false)?), false) };
    build(c, &v)
}

pub fn gemma3_text(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(262208, 2304, 9216, 26, 8).kv(4).head_dim(256).tied();
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::PerHead);
    build(c, &Variant { norms_per_layer: 4, ..rms("gemma3_text", d, attn, false) })
}

pub fn starcoder2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(49152, 3072, 12288, 30, 24).kv(2).tied();
    let bias = c.flag("use_bias", true)?;
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
    let d = Defaults::new(50304, 2560, 6912, 32, 32);
    let qkv = c.flag("use_qkv_bias", false)?;
    let qk = if c.flag("qk_layernorm", false)? { QkNorm::Stacked } else { QkNorm::None };
    let norms = if c.flag("use_parallel_residual", false)? { 1 } else { 2 };
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
    let d = Defaults::new(256000, 8192, 22528, 40, 64).tied();
    let qk = if c.flag("use_qk_norm", false)? { QkNorm::Stacked } else { QkNorm::None };
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(qk);
    build(c, &Variant { norms_per_layer: 1, ..rms("cohere", d, attn, false) })
}

/// An unknown model type with the standard decoder keys: a llama-shaped estimate, marked
/// approximate.
pub fn generic(c: &Cfg) -> Result<Model, ArchError> {
    for key in ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"] {
        c.req(key)?;
    }
    let d = Defaults::new(0, 0, 0, 0, 1);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?);
    let mut m = build(c, &rms("generic-decoder", d, attn, c.flag("mlp_bias", false)?))?;
    m.approximate = true;
    Ok(m)
}
