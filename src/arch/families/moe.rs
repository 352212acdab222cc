//! Mixture-of-experts decoders: mixtral, qwen2_moe, qwen3_moe, granitemoe, olmoe, phimoe,
//! deepseek_v2/v3 (with multi-head latent attention), glm4_moe, ernie4_5_moe, gpt_oss, llama4_text,
//! minimax (with lightning linear attention). Routers, stacked routed experts, shared experts, and
//! dense-then-sparse layer layouts, as transformers builds them.

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{
    Attn, Defaults, Dims, Norm, QkNorm, attention, dims, embed_and_head, gated_mlp, norm, tied,
};
use crate::arch::kinds::{self, Kind, Sliding};
use crate::arch::model::{Model, Role};
use crate::record::{Mla, Moe};

/// Routed experts with a gated MLP each, stacked as `[experts, 2*inter, hidden]` and
/// `[experts, hidden, inter]`, and a bias-free router `[experts, hidden]`.
fn experts(m: &mut Model, hidden: u64, inter: u64, n: u64, repeat: u64) -> Result<(), ArchError> {
    m.add("mlp.gate", &[n, hidden], repeat, Role::Other);
    m.add("mlp.experts.gate_up_proj", &[n, inter.times(2)?, hidden], repeat, Role::Experts);
    m.add("mlp.experts.down_proj", &[n, hidden, inter], repeat, Role::Experts);
    Ok(())
}

/// Embeddings, head, final norm, two RMSNorms per layer.
fn frame(c: &Cfg, m: &mut Model, d: &Dims, tie_default: bool) -> Result<(), ArchError> {
    frame_with(c, m, d, tie_default, Norm::Weight, false)
}

/// Embeddings, head (with a bias or not), final norm and two norms per layer of `kind`.
fn frame_with(
    c: &Cfg,
    m: &mut Model,
    d: &Dims,
    tie_default: bool,
    kind: Norm,
    head_bias: bool,
) -> Result<(), ArchError> {
    embed_and_head(m, d.vocab, d.hidden, tied(c, tie_default)?, head_bias);
    norm(m, "layer_norms", d.hidden, kind, d.layers.times(2)?);
    norm(m, "norm", d.hidden, kind, 1);
    Ok(())
}

fn num_experts(c: &Cfg, default: u64) -> Result<u64, ArchError> {
    c.u_any_or(&["num_local_experts", "num_experts", "n_routed_experts"], default)
}

/// The MoE facts: `n` routed experts of width `width` (none when `n` is 0), the experts per
/// token (else `per_token`) and the shared experts.
pub fn moe_facts(
    c: &Cfg,
    n: u64,
    per_token: Option<u64>,
    shared: Option<u64>,
    width: u64,
) -> Result<Option<Moe>, ArchError> {
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Moe {
        num_experts: n,
        experts_per_token: c.u_any(&["num_experts_per_tok", "num_experts_per_token", "moe_top_k"])?.or(per_token),
        num_shared_experts: shared,
        moe_intermediate_size: Some(width),
    }))
}

/// Layers that are sparse in the Qwen MoE layout: `(i + 1) % decoder_sparse_step == 0` and not in
/// `mlp_only_layers`; none without experts. Counted arithmetically.
pub fn qwen_sparse_layers(c: &Cfg, layers: u64, n_experts: u64) -> Result<u64, ArchError> {
    if n_experts == 0 {
        return Ok(0);
    }
    let step = c.u_or("decoder_sparse_step", 1)?;
    let mut dense_on_step = Vec::new();
    for i in c.list("mlp_only_layers")?.unwrap_or_default() {
        if i.plus(1)?.modulo(step)? == 0 {
            dense_on_step.push(i);
        }
    }
    layers.over(step)?.minus(kinds::listed(&dense_on_step, layers))
}

pub fn mixtral(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(32000, 4096, 14336, 32, 32).kv(8).positions(131072))?;
    let n = num_experts(c, 8)?;
    let mut m = Model::new("mixtral");
    frame(c, &mut m, &d, false)?;
    attention(&mut m, &d, Attn::NO_BIAS, d.layers)?;
    experts(&mut m, d.hidden, d.inter, n, d.layers)?;
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(2), None, d.inter)?;
    let window = c.nullable("sliding_window", None)?;
    (m.facts.layer_types, m.facts.sliding_window) = kinds::attention(c, d.layers, Sliding::All, window)?;
    Ok(m)
}

pub fn granitemoe(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(32000, 4096, 11008, 32, 32).positions(2048))?;
    let n = num_experts(c, 8)?;
    let mut m = Model::new("granitemoe");
    frame(c, &mut m, &d, false)?;
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", false)?), d.layers)?;
    experts(&mut m, d.hidden, d.inter, n, d.layers)?;
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(2), None, d.inter)?;
    Ok(m)
}

pub fn qwen2_moe(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(151936, 2048, 5632, 24, 16).kv(16).positions(32768))?;
    let n = num_experts(c, 60)?;
    let sparse = qwen_sparse_layers(c, d.layers, n)?;
    let mut m = Model::new("qwen2_moe");
    frame(c, &mut m, &d, false)?;
    let qkv = c.flag("qkv_bias", true)?;
    attention(&mut m, &d, Attn { q_bias: qkv, kv_bias: qkv, o_bias: false, qk_norm: QkNorm::None }, d.layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, false, d.layers.minus(sparse)?);
    let width = c.u_or("moe_intermediate_size", 1408)?;
    experts(&mut m, d.hidden, width, n, sparse)?;
    gated_mlp(&mut m, d.hidden, c.u_or("shared_expert_intermediate_size", 5632)?, false, sparse);
    m.add("mlp.shared_expert_gate", &[1, d.hidden], sparse, Role::Other);
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(4), Some(1), width)?;
    let window = if c.flag("use_sliding_window", false)? { c.nullable("sliding_window", Some(4096))? } else { None };
    let rule = Sliding::EvenBelow(c.u_or("max_window_layers", 28)?);
    (m.facts.layer_types, m.facts.sliding_window) = kinds::attention(c, d.layers, rule, window)?;
    Ok(m)
}

pub fn qwen3_moe(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(151936, 2048, 6144, 24, 32).kv(4).positions(32768);
    qwen3_moe_like(c, "qwen3_moe", d, QwenMoe { experts: 128, width: 768, per_token: 8 })
}

/// The text model of Qwen3-VL-MoE: Qwen3-MoE with other defaults (a tied head among them).
pub fn qwen3_vl_moe_text(c: &Cfg) -> Result<Model, ArchError> {
    let d = Defaults::new(151936, 2048, 5632, 24, 16).kv(16).tied().positions(128000);
    qwen3_moe_like(c, "qwen3_vl_moe_text", d, QwenMoe { experts: 60, width: 1408, per_token: 4 })
}

/// Expert defaults of a Qwen MoE family.
struct QwenMoe {
    experts: u64,
    width: u64,
    per_token: u64,
}

fn qwen3_moe_like(c: &Cfg, family: &'static str, defaults: Defaults, e: QwenMoe) -> Result<Model, ArchError> {
    let d = dims(c, &defaults)?;
    let n = num_experts(c, e.experts)?;
    let sparse = qwen_sparse_layers(c, d.layers, n)?;
    let mut m = Model::new(family);
    frame(c, &mut m, &d, defaults.tie)?;
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::PerHead);
    attention(&mut m, &d, attn, d.layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, false, d.layers.minus(sparse)?);
    let width = c.u_or("moe_intermediate_size", e.width)?;
    experts(&mut m, d.hidden, width, n, sparse)?;
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(e.per_token), None, width)?;
    let window = if c.flag("use_sliding_window", false)? { c.nullable("sliding_window", Some(4096))? } else { None };
    (m.facts.layer_types, m.facts.sliding_window) = kinds::attention(c, d.layers, Sliding::All, window)?;
    Ok(m)
}

pub fn olmoe(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(50304, 2048, 2048, 16, 16).positions(4096))?;
    let n = num_experts(c, 64)?;
    let mut m = Model::new("olmoe");
    frame(c, &mut m, &d, false)?;
    let attn = Attn::all_bias(c.flag("attention_bias", false)?).qk_norm(QkNorm::Full);
    attention(&mut m, &d, attn, d.layers)?;
    experts(&mut m, d.hidden, d.inter, n, d.layers)?;
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(8), None, d.inter)?;
    Ok(m)
}

/// PhiMoE: Mixtral's layout with LayerNorms (weight and bias), attention biases and an optional
/// head bias.
pub fn phimoe(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(32064, 4096, 6400, 32, 32).kv(8).positions(131072))?;
    let n = num_experts(c, 16)?;
    let mut m = Model::new("phimoe");
    frame_with(c, &mut m, &d, false, Norm::WeightBias, c.flag("lm_head_bias", false)?)?;
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", false)?), d.layers)?;
    experts(&mut m, d.hidden, d.inter, n, d.layers)?;
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(2), None, d.inter)?;
    let window = c.nullable("sliding_window", None)?;
    (m.facts.layer_types, m.facts.sliding_window) = kinds::attention(c, d.layers, Sliding::All, window)?;
    Ok(m)
}

/// DeepSeek V2/V3: multi-head latent attention; dense MLPs for the first `first_k_dense_replace`
/// layers, then routed + shared experts.
pub fn deepseek(c: &Cfg, v3: bool) -> Result<Model, ArchError> {
    let defaults = if v3 {
        Defaults::new(129280, 7168, 18432, 61, 128).positions(4096)
    } else {
        Defaults::new(102400, 4096, 11008, 32, 32).positions(2048)
    };
    let d = dims(c, &defaults)?;
    let mut m = Model::new(if v3 { "deepseek_v3" } else { "deepseek_v2" });
    frame(c, &mut m, &d, false)?;
    let (l, h, heads) = (d.layers, d.hidden, d.heads);
    let bias = c.flag("attention_bias", false)?;
    let rope = c.u_or("qk_rope_head_dim", 64)?;
    let nope = c.u_or("qk_nope_head_dim", 128)?;
    let v_dim = c.u_or("v_head_dim", 128)?;
    let kv_rank = c.u_or("kv_lora_rank", 512)?;
    let q_rank = if c.is_null("q_lora_rank") { None } else { Some(c.u_or("q_lora_rank", 1536)?) };
    let q_out = heads.times(nope.plus(rope)?)?;
    match q_rank {
        None => m.linear("self_attn.q_proj", q_out, h, false, l),
        Some(r) => {
            m.linear("self_attn.q_a_proj", r, h, bias, l);
            norm(&mut m, "self_attn.q_a_layernorm", r, Norm::Weight, l);
            m.linear("self_attn.q_b_proj", q_out, r, false, l);
        }
    }
    m.linear("self_attn.kv_a_proj_with_mqa", kv_rank.plus(rope)?, h, bias, l);
    norm(&mut m, "self_attn.kv_a_layernorm", kv_rank, Norm::Weight, l);
    m.linear("self_attn.kv_b_proj", heads.times(nope.plus(v_dim)?)?, kv_rank, false, l);
    m.linear("self_attn.o_proj", h, heads.times(v_dim)?, bias, l);
    let dense = c.u_or("first_k_dense_replace", if v3 { 3 } else { 0 })?.min(l);
    let mlp_bias = !v3 && c.flag("mlp_bias", false)?;
    gated_mlp(&mut m, h, d.inter, mlp_bias, dense);
    let moe_inter = c.u_or("moe_intermediate_size", if v3 { 2048 } else { 1407 })?;
    let n = num_experts(c, if v3 { 256 } else { 64 })?;
    experts(&mut m, h, moe_inter, n, l.minus(dense)?)?;
    let shared = c.u_or("n_shared_experts", if v3 { 1 } else { 2 })?;
    gated_mlp(&mut m, h, moe_inter.times(shared)?, mlp_bias, l.minus(dense)?);
    // transformers' DeepSeek configs set head_dim to the rotary part of a head.
    m.facts = Dims { head_dim: rope, ..d }.facts()?;
    m.facts.moe = moe_facts(c, n, if v3 { Some(8) } else { None }, Some(shared), moe_inter)?;
    m.facts.mla = Some(Mla { kv_lora_rank: kv_rank, qk_rope_head_dim: rope });
    Ok(m)
}

/// GLM-4.5 / GLM-4.6: the first `first_k_dense_replace` layers dense, then routed experts beside
/// `n_shared_experts` shared ones; q/k/v biases, optional per-head q/k norms.
pub fn glm4_moe(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(151552, 4096, 10944, 46, 96).kv(8).positions(131072))?;
    let n = num_experts(c, 128)?;
    let mut m = Model::new("glm4_moe");
    frame(c, &mut m, &d, false)?;
    let qkv = c.flag("attention_bias", false)?;
    let qk = if c.flag("use_qk_norm", false)? { QkNorm::PerHead } else { QkNorm::None };
    attention(&mut m, &d, Attn { q_bias: qkv, kv_bias: qkv, o_bias: false, qk_norm: qk }, d.layers)?;
    let dense = c.u_or("first_k_dense_replace", 1)?.min(d.layers);
    let sparse = d.layers.minus(dense)?;
    gated_mlp(&mut m, d.hidden, d.inter, false, dense);
    let width = c.u_or("moe_intermediate_size", 1408)?;
    experts(&mut m, d.hidden, width, n, sparse)?;
    let shared = c.u_or("n_shared_experts", 1)?;
    gated_mlp(&mut m, d.hidden, width.times(shared)?, false, sparse);
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(8), Some(shared), width)?;
    Ok(m)
}

/// ERNIE 4.5 MoE: experts in the layers `i` with `(i + 1) % moe_layer_interval == 0` between
/// `moe_layer_start_index` and `moe_layer_end_index` (-1: the last), a router with a score
/// correction bias, shared experts; `use_bias` on every projection and the head.
pub fn ernie4_5_moe(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(103424, 2560, 12288, 28, 20).kv(4).tied().positions(131072))?;
    let n = c.u_any_or(&["moe_num_experts", "num_experts"], 64)?;
    let bias = c.flag("use_bias", false)?;
    let last = match c.get("moe_layer_end_index").and_then(serde_json::Value::as_i64) {
        Some(-1) => None,
        _ => c.u("moe_layer_end_index")?,
    };
    let end = d.layers.checked_sub(1).map(|l| last.map_or(l, |e| e.min(l)));
    let start = c.u_or("moe_layer_start_index", 1)?;
    let interval = c.u_or("moe_layer_interval", 1)?;
    // Multiples of `interval` among i + 1 for i in start..=end.
    let sparse = match end {
        Some(end) if start <= end => end.plus(1)?.over(interval)?.minus(start.over(interval)?)?,
        _ => 0,
    };
    let mut m = Model::new("ernie4_5_moe");
    frame_with(c, &mut m, &d, true, Norm::Weight, bias)?;
    attention(&mut m, &d, Attn::all_bias(bias), d.layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, bias, d.layers.minus(sparse)?);
    let width = c.u_or("moe_intermediate_size", 1536)?;
    m.add("mlp.gate", &[n, d.hidden], sparse, Role::Other);
    m.add("mlp.gate.moe_statics.e_score_correction_bias", &[1, n], sparse, Role::Other);
    m.add("mlp.experts.gate_up_proj", &[n, width.times(2)?, d.hidden], sparse, Role::Experts);
    m.add("mlp.experts.down_proj", &[n, d.hidden, width], sparse, Role::Experts);
    let shared = c.u_or("moe_num_shared_experts", 2)?;
    gated_mlp(&mut m, d.hidden, width.times(shared)?, bias, sparse);
    m.facts = d.facts()?;
    let per_token = c.u("moe_k")?.or(Some(6));
    m.facts.moe = moe_facts(c, n, per_token, Some(shared), width)?;
    Ok(m)
}

pub fn gpt_oss(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(201088, 2880, 2880, 36, 64).kv(8).head_dim(64).positions(131072))?;
    let n = num_experts(c, 128)?;
    let mut m = Model::new("gpt_oss");
    frame(c, &mut m, &d, false)?;
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", true)?), d.layers)?;
    m.add("self_attn.sinks", &[d.heads], d.layers, Role::Other);
    m.add("mlp.router", &[n, d.hidden], d.layers, Role::Other);
    m.add("mlp.router.bias", &[n], d.layers, Role::Other);
    let gate_up = d.inter.times(2)?;
    m.add("mlp.experts.gate_up_proj", &[n, gate_up, d.hidden], d.layers, Role::Experts);
    m.add("mlp.experts.gate_up_proj_bias", &[n, gate_up], d.layers, Role::ExpertBias);
    m.add("mlp.experts.down_proj", &[n, d.hidden, d.inter], d.layers, Role::Experts);
    m.add("mlp.experts.down_proj_bias", &[n, d.hidden], d.layers, Role::ExpertBias);
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(4), None, d.inter)?;
    let window = c.nullable("sliding_window", Some(128))?;
    (m.facts.layer_types, m.facts.sliding_window) = kinds::attention(c, d.layers, Sliding::AllButEvery(2), window)?;
    Ok(m)
}

/// Llama 4 text: MoE layers (`moe_layers`, else every `interleave_moe_layer_step`-th) with routed
/// experts and a shared expert; the other layers dense with `intermediate_size_mlp`.
pub fn llama4_text(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(202048, 5120, 8192, 48, 40).kv(8).head_dim(128).positions(131072))?;
    let n = num_experts(c, 16)?;
    let moe_layers = match c.list("moe_layers")? {
        Some(list) => kinds::listed(&list, d.layers),
        // range(step - 1, layers, step) has layers / step entries.
        None => d.layers.over(c.u_or("interleave_moe_layer_step", 1)?)?,
    };
    let mut m = Model::new("llama4_text");
    frame(c, &mut m, &d, false)?;
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", false)?), d.layers)?;
    experts(&mut m, d.hidden, d.inter, n, moe_layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, false, moe_layers);
    gated_mlp(&mut m, d.hidden, c.u_or("intermediate_size_mlp", 16384)?, false, d.layers.minus(moe_layers)?);
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(1), Some(1), d.inter)?;
    (m.facts.layer_types, m.facts.attention_chunk_size) = llama4_chunks(c, d.layers)?;
    Ok(m)
}

/// Llama 4's chunked-attention layers: `layer_types`, else the layers with RoPE (`no_rope_layers`
/// entries that are not 0, by default all but every `no_rope_layer_interval`-th), when
/// `attention_chunk_size` is set.
fn llama4_chunks(c: &Cfg, layers: u64) -> Result<(crate::record::LayerTypes, Option<u64>), ArchError> {
    let Some(chunk) = c.nullable("attention_chunk_size", Some(8192))? else {
        return Ok((kinds::all(Kind::Full, layers)?, None));
    };
    if let Some(t) = kinds::from_list(c, "layer_types", layers, kinds::ATTENTION_NAMES)? {
        let chunked = t.chunked_attention > 0;
        return Ok((t, chunked.then_some(chunk)));
    }
    let chunked = match c.list("no_rope_layers")?.filter(|l| !l.is_empty()) {
        Some(list) if list.len() as u64 != layers => {
            let raw = c.get("no_rope_layers").unwrap_or(&serde_json::Value::Null);
            return Err(c.invalid("no_rope_layers", raw, format!("{} entries for {layers} layers", list.len())));
        }
        Some(list) => list.iter().filter(|r| **r != 0).count() as u64,
        None => layers.minus(layers.over(c.u_or("no_rope_layer_interval", 4)?)?)?,
    };
    let t = kinds::two((Kind::Chunked, chunked), (Kind::Full, layers.minus(chunked)?))?;
    Ok((t, (chunked > 0).then_some(chunk)))
}

/// MiniMax-Text-01: full-attention layers and lightning (linear) attention layers, as
/// `layer_types` lists them (by default alternating, full first), and experts in every layer.
pub fn minimax(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(32000, 4096, 14336, 32, 32).kv(8).positions(131072))?;
    let n = num_experts(c, 8)?;
    let names = [("full_attention", Kind::Full), ("linear_attention", Kind::Linear)];
    let mut types = match kinds::from_list(c, "layer_types", d.layers, &names)? {
        Some(t) => t,
        None => kinds::two((Kind::Full, d.layers.div_ceil(2)), (Kind::Linear, d.layers.over(2)?))?,
    };
    let mut m = Model::new("minimax");
    frame(c, &mut m, &d, false)?;
    attention(&mut m, &d, Attn::NO_BIAS, types.full_attention)?;
    let inner = d.heads.times(d.head_dim)?;
    let linear = types.linear_attention;
    norm(&mut m, "self_attn.norm", inner, Norm::Weight, linear);
    m.linear("self_attn.qkv_proj", inner.times(3)?, d.hidden, false, linear);
    m.linear("self_attn.out_proj", d.hidden, inner, false, linear);
    m.linear("self_attn.output_gate", inner, d.hidden, false, linear);
    experts(&mut m, d.hidden, d.inter, n, d.layers)?;
    m.facts = d.facts()?;
    m.facts.moe = moe_facts(c, n, Some(2), None, d.inter)?;
    // A sliding window applies to every full-attention layer.
    if let Some(window) = c.nullable("sliding_window", None)? {
        (types.sliding_attention, types.full_attention) = (types.full_attention, 0);
        m.facts.sliding_window = (types.sliding_attention > 0).then_some(window);
    }
    // Lightning attention keeps a [head_dim, head_dim] state per head.
    m.facts.state_elements = linear.times(inner)?.times(d.head_dim)?;
    m.facts.layer_types = types;
    Ok(m)
}
