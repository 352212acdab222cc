//! Decoders that mix attention with other token mixers of fixed-size state: qwen3_next (Gated
//! DeltaNet linear attention and gated full attention, with Qwen MoE experts) and lfm2 (short
//! gated convolutions).

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::{self, Checked};
use crate::arch::decoder::{Attn, Defaults, Norm, QkNorm, attention, dims, embed_and_head, gated_mlp, norm, tied};
use crate::arch::kinds::{self, Kind};
use crate::arch::model::{Model, Role};

/// Qwen3-Next: Gated DeltaNet layers, and every `full_attention_interval`-th layer (unless
/// `layer_types` says otherwise) gated attention whose q_proj also yields the output gate; Qwen
/// MoE experts with a shared expert in the sparse layers.
pub fn qwen3_next(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(151936, 2048, 5632, 48, 16).kv(2).head_dim(256).positions(32768))?;
    let names = [("full_attention", Kind::Full), ("linear_attention", Kind::Linear)];
    let types = match kinds::from_list(c, "layer_types", d.layers, &names)? {
        Some(t) => t,
        None => {
            let full = d.layers.over(c.u_or("full_attention_interval", 4)?)?;
            kinds::two((Kind::Full, full), (Kind::Linear, d.layers.minus(full)?))?
        }
    };
    let mut m = Model::new("qwen3_next");
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, false)?, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, d.layers.times(2)?.plus(1)?);
    // Gated attention: the query projection is twice as wide.
    let bias = c.flag("attention_bias", false)?;
    let attn = Attn::all_bias(bias).qk_norm(QkNorm::PerHead);
    attention(&mut m, &d, attn, types.full_attention)?;
    m.linear("self_attn.q_proj.gate", d.heads.times(d.head_dim)?, d.hidden, bias, types.full_attention);
    // Gated DeltaNet.
    let k_heads = c.u_or("linear_num_key_heads", 16)?;
    let v_heads = c.u_or("linear_num_value_heads", 32)?;
    let k_dim = c.u_or("linear_key_head_dim", 128)?;
    let v_dim = c.u_or("linear_value_head_dim", 128)?;
    let kernel = c.u_or("linear_conv_kernel_dim", 4)?;
    let (key, value) = (k_heads.times(k_dim)?, v_heads.times(v_dim)?);
    let conv = key.times(2)?.plus(value)?;
    let linear = types.linear_attention;
    m.linear("linear_attn.in_proj_qkvz", key.times(2)?.plus(value.times(2)?)?, d.hidden, false, linear);
    m.linear("linear_attn.in_proj_ba", v_heads.times(2)?, d.hidden, false, linear);
    m.add("linear_attn.conv1d", &[conv, 1, kernel], linear, Role::Other);
    m.add("linear_attn.dt_bias_A_log", &[v_heads], linear.times(2)?, Role::Other);
    norm(&mut m, "linear_attn.norm", v_dim, Norm::Weight, linear);
    m.linear("linear_attn.out_proj", d.hidden, value, false, linear);
    // Qwen MoE layers.
    let n = c.u_or("num_experts", 512)?;
    let sparse = super::moe::qwen_sparse_layers(c, d.layers, n)?;
    gated_mlp(&mut m, d.hidden, d.inter, false, d.layers.minus(sparse)?);
    let width = c.u_or("moe_intermediate_size", 512)?;
    m.add("mlp.gate", &[n, d.hidden], sparse, Role::Other);
    m.add("mlp.experts.gate_up_proj", &[n, width.times(2)?, d.hidden], sparse, Role::Experts);
    m.add("mlp.experts.down_proj", &[n, d.hidden, width], sparse, Role::Experts);
    gated_mlp(&mut m, d.hidden, c.u_or("shared_expert_intermediate_size", 512)?, false, sparse);
    m.add("mlp.shared_expert_gate", &[1, d.hidden], sparse, Role::Other);
    m.facts = d.facts()?;
    m.facts.layer_types = types;
    m.facts.moe = super::moe::moe_facts(c, if sparse > 0 { n } else { 0 }, Some(10), Some(1), width)?;
    // Per linear layer: convolution [conv, kernel] and recurrent [v_heads, k_dim, v_dim] state.
    let state = conv.times(kernel)?.plus(v_heads.times(k_dim)?.times(v_dim)?)?;
    m.facts.state_elements = state.times(linear)?;
    Ok(m)
}

/// LFM2's MLP width: `intermediate_size` (or `block_ff_dim`), with `block_auto_adjust_ff_dim` two
/// thirds of it, times `block_ffn_dim_multiplier` and rounded up to `block_multiple_of`, in
/// Python's arithmetic.
fn lfm2_ff(c: &Cfg) -> Result<u64, ArchError> {
    let mut ff = c.u_any_or(&["block_ff_dim", "intermediate_size"], 12288)?;
    if !c.flag("block_auto_adjust_ff_dim", true)? {
        return Ok(ff);
    }
    ff = ff.times(2)?.over(3)?;
    let multiplier = if c.is_null("block_ffn_dim_multiplier") {
        None
    } else {
        Some(c.f("block_ffn_dim_multiplier", 64.0)?.unwrap_or(1.0))
    };
    if let Some(multiplier) = multiplier {
        let scaled = checked::scale(ff, multiplier)?;
        let multiple = c.u_or("block_multiple_of", 256)?;
        ff = scaled.over_ceil(multiple)?.times(multiple)?;
    }
    Ok(ff)
}

/// LFM2: short gated convolution layers and attention layers (`layer_types`, else
/// `full_attn_idxs`, else all attention) with per-head q/k norms, SwiGLU MLPs.
pub fn lfm2(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(65536, 2560, 12288, 32, 32).kv(8).positions(128000))?;
    let names = [("full_attention", Kind::Full), ("conv", Kind::Conv)];
    let types = match kinds::from_list(c, "layer_types", d.layers, &names)? {
        Some(t) => t,
        None => match c.list("full_attn_idxs")? {
            Some(idxs) => {
                let full = kinds::listed(&idxs, d.layers);
                kinds::two((Kind::Full, full), (Kind::Conv, d.layers.minus(full)?))?
            }
            None => kinds::all(Kind::Full, d.layers)?,
        },
    };
    let ff = lfm2_ff(c)?;
    let tie = match c.get("tie_embedding") {
        Some(_) => c.flag("tie_embedding", true)?,
        None => tied(c, true)?,
    };
    let mut m = Model::new("lfm2");
    embed_and_head(&mut m, d.vocab, d.hidden, tie, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, d.layers.times(2)?.plus(1)?);
    attention(&mut m, &d, Attn::NO_BIAS.qk_norm(QkNorm::PerHead), types.full_attention)?;
    let (conv, kernel, bias) = (types.conv, c.u_or("conv_L_cache", 3)?, c.flag("conv_bias", false)?);
    m.add("conv.conv", &[d.hidden, 1, kernel], conv, Role::Other);
    if bias {
        m.add("conv.conv.bias", &[d.hidden], conv, Role::Other);
    }
    m.linear("conv.in_proj", d.hidden.times(3)?, d.hidden, bias, conv);
    m.linear("conv.out_proj", d.hidden, d.hidden, bias, conv);
    gated_mlp(&mut m, d.hidden, ff, false, d.layers);
    m.tied = tie;
    m.facts = d.facts()?;
    m.facts.intermediate = Some(ff);
    m.facts.layer_types = types;
    // A convolution layer keeps [hidden, kernel].
    m.facts.state_elements = d.hidden.times(kernel)?.times(conv)?;
    Ok(m)
}
