//! Llama-style decoders: llama, mistral, qwen2, qwen3, granite, olmo2, olmo3, phi3, gemma, gemma2,
//! gemma3_text, starcoder2, stablelm, cohere, cohere2, arcee, apertus, exaone4, seed_oss,
//! ernie4_5, and the generic decoder for unknown model types. Each differs from llama only in
//! biases, q/k norms, norm kind and count, MLP kind, sliding-window layers and defaults.

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{
    Attn, Defaults, Norm, QkNorm, attention, dims, embed_and_head, gated_mlp, norm, plain_mlp, tied,
};
use crate::arch::kinds::{self, Sliding};
use crate::arch::model::{Model, Role};

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
    /// Learned scalar activation parameters per layer (Apertus' xIELU: 2).
    pub activation_params: u64,
    /// A bias on the output head (Phi).
    pub head_bias: bool,
    /// Which layers attend over a sliding window, and the window.
    pub sliding: Sliding,
    pub window: Option<u64>,
}

/// Lists a llama-style decoder.
pub fn build(c: &Cfg, v: &Variant) -> Result<Model, ArchError> {
    let d = dims(c, &v.defaults)?;
    let mut m = Model::new(v.family);
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, v.defaults.tie)?, v.head_bias);
    attention(&mut m, &d, v.attn, d.layers)?;
    if v.plain_mlp {
        plain_mlp(&mut m, d.hidden, d.inter, v.mlp_bias, d.layers);
    } else {
        gated_mlp(&mut m, d.hidden, d.inter, v.mlp_bias, d.layers);
    }
    norm(&mut m, "layer_norms", d.hidden, v.norm, v.norms_per_layer.times(d.layers)?);
    norm(&mut m, "norm", d.hidden, v.norm, 1);
    m.add("mlp.act_fn", &[1], v.activation_params.times(d.layers)?, Role::Other);
    m.facts = d.facts()?;
    (m.facts.layer_types, m.facts.sliding_window) = kinds::attention(c, d.layers, v.sliding, v.window)?;
    Ok(m)
}

fn rms(family: &'static str, defaults: Defaults, attn: Attn, mlp_bias: bool) -> Variant {
    Variant {
        family,
        defaults,
        attn,
        mlp_bias,
        plain_mlp: false,
        norm: Norm::Weight,
        norms_per_layer: 2,
        activation_params: 0,
        head_bias: false,
        sliding: Sliding::Never,
        window: None,
    }
}

/// A `sliding_window` whose `null` means none, else `default`, and the rule `(i + 1) % n != 0`
/// with `n` from `pattern_key` where the family reads one (only without a `layer_types` list,
/// which rules then).
fn sliding_every(
    c: &Cfg,
    pattern_key: Option<&str>,
    n: u64,
    default: Option<u64>,
) -> Result<(Sliding, Option<u64>), ArchError> {
    let n = match pattern_key {
        Some(key) if !c.has("layer_types") => c.u_or(key, n)?,
        _ => n,
    };
    Ok((Sliding::AllButEvery(n), c.nullable("sliding_window", default)?))
}

/// Qwen2/Qwen3: with `use_sliding_window`, the layers from `max_window_layers` on.
fn qwen_sliding(c: &Cfg, v: Variant, max_window_layers: u64) -> Result<Variant, ArchError> {
    let window = if c.flag("use_sliding_window", false)? { c.nullable("sliding_window", Some(4096))? } else { None };
    Ok(Variant { sliding: Sliding::From(c.u_or("max_window_layers", max_window_layers)?), window, ..v })
}

pub fn llama(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 4096, 11008, 32, 32).positions(2048);
    let mut m =
        build(c, &rms("llama", d, Attn::all_bias(c.flag("attention_bias", false)?), c.flag("mlp_bias", false)?))?;
    // Checkpoints saved before transformers 4.31 (Llama 2) hold each layer's rotary frequencies.
    if let (Some(layers), Some(head_dim)) = (m.facts.layers, m.facts.head_dim) {
        m.buffers.push(("rotary inv_freq (layers.N.self_attn.rotary_emb.inv_freq)", layers.times(head_dim.over(2)?)?));
    }
    Ok(m)
}

pub fn mistral(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 4096, 14336, 32, 32).kv(8).positions(131072);
    let window = c.nullable("sliding_window", Some(4096))?;
    build(c, &Variant { sliding: Sliding::All, window, ..rms("mistral", d, Attn::NO_BIAS, false) })
}

/// Qwen2 (and the text model of Qwen2-VL and Qwen2.5-VL): q/k/v biases.
fn qwen2_like(c: &Cfg, family: &'static str, d: Defaults, max_window_layers: u64) -> Result<Model, ArchError> {
    let attn = Attn { q_bias: true, kv_bias: true, o_bias: false, qk_norm: QkNorm::None };
    build(c, &qwen_sliding(c, rms(family, d, attn, false), max_window_layers)?)
}

/// Qwen3 (and the text model of Qwen3-VL): per-head q/k norms.
fn qwen3_like(c: &Cfg, family: &'static str, d: Defaults) -> Result<Model, ArchError> {
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::PerHead);
    build(c, &qwen_sliding(c, rms(family, d, attn, false), 28)?)
}

pub fn qwen2(c: &Cfg) -> Result<Model, ArchError> {
    qwen2_like(c, "qwen2", Defaults::new(151936, 4096, 22016, 32, 32).kv(32).positions(32768), 28)
}

pub fn qwen2_vl_text(c: &Cfg) -> Result<Model, ArchError> {
    qwen2_like(c, "qwen2_vl_text", Defaults::new(152064, 8192, 29568, 80, 64).kv(8).positions(32768), 80)
}

pub fn qwen3(c: &Cfg) -> Result<Model, ArchError> {
    qwen3_like(c, "qwen3", Defaults::new(151936, 4096, 22016, 32, 32).kv(32).head_dim(128).positions(32768))
}

pub fn qwen3_vl_text(c: &Cfg) -> Result<Model, ArchError> {
    qwen3_like(c, "qwen3_vl_text", Defaults::new(151936, 4096, 22016, 32, 32).kv(32).head_dim(128).positions(128000))
}

pub fn granite(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 4096, 11008, 32, 32).positions(2048);
    build(c, &rms("granite", d, Attn::all_bias(c.flag("attention_bias", false)?), c.flag("mlp_bias", false)?))
}

pub fn olmo2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(50304, 4096, 11008, 32, 32).positions(2048);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::Full);
    build(c, &rms("olmo2", d, attn, false))
}

pub fn phi3(c: &Cfg) -> Result<Model, ArchError> {
    // Fused qkv_proj and gate_up_proj hold the same elements as the separate projections.
    let d = Defaults::new(32064, 3072, 8192, 32, 32).positions(4096);
    let window = c.nullable("sliding_window", None)?;
    build(c, &Variant { sliding: Sliding::All, window, ..rms("phi3", d, Attn::NO_BIAS, false) })
}

pub fn gemma(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(256000, 3072, 24576, 28, 16).kv(16).head_dim(256).tied().positions(8192);
    build(c, &rms("gemma", d, Attn::all_bias(c.flag("attention_bias", false)?), false))
}

pub fn gemma2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(256000, 2304, 9216, 26, 8).kv(4).head_dim(256).tied().positions(8192);
    let v = rms("gemma2", d, Attn::all_bias(c.flag("attention_bias", false)?), false);
    let window = c.nullable("sliding_window", Some(4096))?;
    build(c, &Variant { norms_per_layer: 4, sliding: Sliding::AllButEvery(2), window, ..v })
}

pub fn gemma3_text(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(262208, 2304, 9216, 26, 8).kv(4).head_dim(256).tied().positions(131072);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::PerHead);
    let (sliding, window) = sliding_every(c, Some("sliding_window_pattern"), 6, Some(4096))?;
    build(c, &Variant { norms_per_layer: 4, sliding, window, ..rms("gemma3_text", d, attn, false) })
}

pub fn starcoder2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(49152, 3072, 12288, 30, 24).kv(2).tied().positions(4096);
    let bias = c.flag("use_bias", true)?;
    let v = rms("starcoder2", d, Attn::all_bias(bias), bias);
    let window = c.nullable("sliding_window", None)?;
    build(c, &Variant { plain_mlp: true, norm: Norm::WeightBias, sliding: Sliding::All, window, ..v })
}

pub fn stablelm(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(50304, 2560, 6912, 32, 32).positions(4096);
    let qkv = c.flag("use_qkv_bias", false)?;
    let qk = if c.flag("qk_layernorm", false)? { QkNorm::Stacked } else { QkNorm::None };
    let norms = if c.flag("use_parallel_residual", false)? { 1 } else { 2 };
    let attn = Attn { q_bias: qkv, kv_bias: qkv, o_bias: false, qk_norm: qk };
    let v = rms("stablelm", d, attn, false);
    build(c, &Variant { norm: Norm::WeightBias, norms_per_layer: norms, ..v })
}

pub fn cohere(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(256000, 8192, 22528, 40, 64).tied().positions(8192);
    let qk = if c.flag("use_qk_norm", false)? { QkNorm::Stacked } else { QkNorm::None };
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(qk);
    build(c, &Variant { norms_per_layer: 1, ..rms("cohere", d, attn, false) })
}

pub fn olmo3(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(50304, 4096, 11008, 32, 32).positions(2048);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::Full);
    let (sliding, window) = sliding_every(c, None, 4, Some(4096))?;
    build(c, &Variant { sliding, window, ..rms("olmo3", d, attn, false) })
}

pub fn cohere2(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(256000, 8192, 22528, 40, 64).tied().positions(8192);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?);
    let (sliding, window) = sliding_every(c, Some("sliding_window_pattern"), 4, Some(4096))?;
    build(c, &Variant { norms_per_layer: 1, sliding, window, ..rms("cohere2", d, attn, false) })
}

pub fn arcee(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(32000, 2560, 18432, 32, 32).positions(4096);
    let v = rms("arcee", d, Attn::all_bias(c.flag("attention_bias", false)?), c.flag("mlp_bias", false)?);
    build(c, &Variant { plain_mlp: true, ..v })
}

pub fn apertus(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(131072, 4096, 14336, 32, 32).positions(65536);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::PerHead);
    let xielu = c.s("hidden_act")?.unwrap_or("xielu") == "xielu";
    let v = rms("apertus", d, attn, false);
    build(c, &Variant { plain_mlp: true, activation_params: if xielu { 2 } else { 0 }, ..v })
}

pub fn exaone4(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(102400, 4096, 16384, 32, 32).kv(32).positions(2048);
    let attn = Attn::NO_BIAS.qk_norm(QkNorm::PerHead);
    let (sliding, window) = sliding_every(c, Some("sliding_window_pattern"), 4, Some(4096))?;
    build(c, &Variant { sliding, window, ..rms("exaone4", d, attn, false) })
}

pub fn seed_oss(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(155136, 4096, 27648, 64, 80).kv(8).head_dim(128).positions(524288);
    let qkv = c.flag("attention_bias", true)?;
    let attn = Attn { q_bias: qkv, kv_bias: qkv, o_bias: c.flag("attention_out_bias", false)?, qk_norm: QkNorm::None };
    build(c, &rms("seed_oss", d, attn, c.flag("mlp_bias", false)?))
}

pub fn ernie4_5(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(103424, 1024, 3072, 18, 16).kv(2).head_dim(128).tied().positions(131072);
    let bias = c.flag("use_bias", false)?;
    build(c, &rms("ernie4_5", d, Attn::all_bias(bias), bias))
}

/// Phi (1, 1.5, 2): one LayerNorm per layer before parallel attention and MLP, biases everywhere,
/// optional LayerNorms over each head's queries and keys, a biased head.
pub fn phi(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(51200, 2048, 8192, 24, 32).positions(2048);
    let qk = if c.flag("qk_layernorm", false)? { QkNorm::PerHeadBias } else { QkNorm::None };
    let v = rms("phi", d, Attn::all_bias(true).qk_norm(qk), true);
    build(c, &Variant { plain_mlp: true, norm: Norm::WeightBias, norms_per_layer: 1, head_bias: true, ..v })
}

/// Persimmon: phi-like biases with a fused qkv (as many elements as q, k, v), q/k LayerNorms on
/// by default, two LayerNorms per layer.
pub fn persimmon(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(262144, 4096, 16384, 36, 64).positions(16384);
    let qk = if c.flag("qk_layernorm", true)? { QkNorm::PerHeadBias } else { QkNorm::None };
    let v = rms("persimmon", d, Attn::all_bias(true).qk_norm(qk), true);
    build(c, &Variant { plain_mlp: true, norm: Norm::WeightBias, ..v })
}

/// An unknown model type with the standard decoder keys: a llama-shaped estimate, marked
/// approximate. Without those keys, or with layers other than attention (a hybrid), unsupported.
pub fn generic(c: &Cfg, model_type: &str) -> Result<Model, ArchError> {
    let unsupported = || ArchError::Unsupported(model_type.to_owned());
    let standard = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"];
    if !standard.iter().all(|k| c.has(k)) {
        return Err(unsupported());
    }
    if let Some(types) = c.strs("layer_types")?
        && !types.iter().all(|t| kinds::ATTENTION_NAMES.iter().any(|(name, _)| name == t))
    {
        return Err(unsupported());
    }
    let d = Defaults::new(0, 0, 0, 0, 1);
    let attn = Attn::all_bias(c.flag("attention_bias", false)?);
    let window = c.nullable("sliding_window", None)?;
    let v = Variant { window, ..rms("generic-decoder", d, attn, c.flag("mlp_bias", false)?) };
    let mut m = build(c, &v)?;
    m.approximate = true;
    Ok(m)
}
