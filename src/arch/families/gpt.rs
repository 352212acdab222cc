//! GPT-style decoders with their own layouts: gpt2, gpt_bigcode, gpt_neo, gpt_neox, gptj, codegen,
//! opt, bloom, falcon, mpt. LayerNorms with biases, fused qkv projections, learned positions where
//! the family has them.

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{Dims, Norm, norm};
use crate::arch::kinds::{self, Kind};
use crate::arch::model::{Facts, Model, Role};

/// The facts of a GPT-style decoder: every layer attends over the whole context with `heads`
/// heads of `hidden / heads` (`kv` of them for keys and values).
fn facts(d: [u64; 6], positions: Option<u64>) -> Result<Facts, ArchError> {
    let [layers, hidden, heads, kv, inter, vocab] = d;
    Dims { vocab, hidden, inter, layers, heads, kv, head_dim: hidden.over(heads)?, positions }.facts()
}

fn embed(m: &mut Model, name: &'static str, rows: u64, dim: u64) {
    m.add(name, &[rows, dim], 1, Role::Other);
}

/// The output head unless tied.
fn head(m: &mut Model, vocab: u64, dim: u64, tied: bool, bias: bool) {
    m.tied = tied;
    if !tied {
        m.add("lm_head", &[vocab, dim], 1, Role::Other);
    }
    if bias {
        m.add("lm_head.bias", &[vocab], 1, Role::Other);
    }
}

pub fn gpt2(c: &Cfg) -> Result<Model, ArchError> {
    let mut m = gpt2_like(c, "gpt2", Ok)?;
    causal_masks(&mut m, "causal-mask buffers (h.N.attn.bias)", Some("masked_bias scalars (h.N.attn.masked_bias)"))?;
    Ok(m)
}

/// The causal-mask buffers `[1, 1, positions, positions]` per layer, and the `masked_bias` scalar
/// beside each when `masked_bias` names it, that checkpoints of older transformers hold.
fn causal_masks(m: &mut Model, mask: &'static str, masked_bias: Option<&'static str>) -> Result<(), ArchError> {
    if let (Some(layers), Some(positions)) = (m.facts.layers, m.facts.positions) {
        m.buffers.push((mask, layers.times(positions.times(positions)?)?));
        if let Some(name) = masked_bias {
            m.buffers.push((name, layers));
        }
    }
    Ok(())
}

/// GPT-2 with multi-query attention (one key/value head) unless `multi_query` is false.
pub fn gpt_bigcode(c: &Cfg) -> Result<Model, ArchError> {
    let multi_query = c.flag("multi_query", true)?;
    gpt2_like(c, "gpt_bigcode", |heads| Ok(if multi_query { 1 } else { heads }))
}

/// GPT-2's layout with `kv_heads(heads)` key/value heads in the fused qkv projection.
fn gpt2_like(
    c: &Cfg,
    family: &'static str,
    kv_heads: impl Fn(u64) -> Result<u64, ArchError>,
) -> Result<Model, ArchError> {
    let h = c.u_any_or(&["n_embd", "hidden_size"], 768)?;
    let l = c.u_any_or(&["n_layer", "num_hidden_layers"], 12)?;
    let heads = c.u_any_or(&["n_head", "num_attention_heads"], 12)?;
    let vocab = c.u_or("vocab_size", 50257)?;
    let inner = c.u("n_inner")?.map_or_else(|| h.times(4), Ok)?;
    let positions = c.u_any_or(&["n_positions", "max_position_embeddings"], 1024)?;
    let kv = kv_heads(heads)?;
    let mut m = Model::new(family);
    m.facts = facts([l, h, heads, kv, inner, vocab], Some(positions))?;
    embed(&mut m, "wte", vocab, h);
    embed(&mut m, "wpe", positions, h);
    norm(&mut m, "h.ln", h, Norm::WeightBias, l.times(2)?);
    m.linear("h.attn.c_attn", h.plus(kv.times(h.over(heads)?)?.times(2)?)?, h, true, l);
    m.linear("h.attn.c_proj", h, h, true, l);
    m.linear("h.mlp.c_fc", inner, h, true, l);
    m.linear("h.mlp.c_proj", h, inner, true, l);
    norm(&mut m, "ln_f", h, Norm::WeightBias, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", true)?, false);
    Ok(m)
}

/// GPT-Neo: global and local (sliding `window_size`) attention layers as `attention_types` lists
/// them (`[[["global", "local"], 12]]`: the pair 12 times).
pub fn gpt_neo(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 2048)?;
    let l = c.u_any_or(&["num_layers", "num_hidden_layers"], 24)?;
    let heads = c.u_any_or(&["num_heads", "num_attention_heads"], 16)?;
    let vocab = c.u_or("vocab_size", 50257)?;
    let inner = c.u("intermediate_size")?.map_or_else(|| h.times(4), Ok)?;
    let positions = c.u_or("max_position_embeddings", 2048)?;
    let mut m = Model::new("gpt_neo");
    m.facts = facts([l, h, heads, heads, inner, vocab], Some(positions))?;
    let local = gpt_neo_local_layers(c, l)?;
    m.facts.layer_types = kinds::two((Kind::Full, l.minus(local)?), (Kind::Sliding, local))?;
    if local > 0 {
        m.facts.sliding_window = Some(c.u_or("window_size", 256)?);
    }
    embed(&mut m, "wte", vocab, h);
    embed(&mut m, "wpe", positions, h);
    norm(&mut m, "h.ln", h, Norm::WeightBias, l.times(2)?);
    for name in ["attn.q_proj", "attn.k_proj", "attn.v_proj"] {
        m.linear(name, h, h, false, l);
    }
    m.linear("attn.out_proj", h, h, true, l);
    m.linear("mlp.c_fc", inner, h, true, l);
    m.linear("mlp.c_proj", h, inner, true, l);
    norm(&mut m, "ln_f", h, Norm::WeightBias, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", true)?, false);
    causal_masks(
        &mut m,
        "causal-mask buffers (h.N.attn.attention.bias)",
        Some("masked_bias scalars (h.N.attn.attention.masked_bias)"),
    )?;
    Ok(m)
}

/// The local layers of GPT-Neo as transformers reads them: the config's own `attention_layers`
/// when it has one (saved configs do, and it rules whatever `attention_types` says), else
/// `attention_types` (`[[names, times], ...]`) counted without expanding; either must name
/// `layers` layers, as transformers requires.
fn gpt_neo_local_layers(c: &Cfg, layers: u64) -> Result<u64, ArchError> {
    if let Some(names) = c.strs("attention_layers")? {
        let raw = c.get("attention_layers").unwrap_or(&serde_json::Value::Null);
        if names.len() as u64 != layers {
            return Err(c.invalid("attention_layers", raw, format!("{} layers for num_layers {layers}", names.len())));
        }
        let mut local = 0u64;
        for name in names {
            match name {
                "local" => local = local.plus(1)?,
                "global" => {}
                _ => return Err(c.invalid("attention_layers", raw, "layer names are \"global\" or \"local\"")),
            }
        }
        return Ok(local);
    }
    let raw = c.get("attention_types").unwrap_or(&serde_json::Value::Null);
    let bad = |why: &str| c.invalid("attention_types", raw, why);
    // The default, [[["global", "local"], 12]]: 24 layers, 12 of them local.
    let (mut total, mut local) = (0u64, 0u64);
    let groups = match c.array("attention_types")? {
        Some(groups) => groups,
        None => {
            (total, local) = (24, 12);
            &[]
        }
    };
    for group in groups {
        let (Some(names), Some(times)) =
            (group.get(0).and_then(|n| n.as_array()), group.get(1).and_then(|t| t.as_u64()))
        else {
            return Err(bad("expected [[names, times], ...]"));
        };
        if names.len() > crate::arch::limits::LIST_LEN || times > crate::arch::limits::LAYERS {
            return Err(bad("a group past the bounds on layer counts"));
        }
        let mut locals = 0u64;
        for name in names {
            match name.as_str() {
                Some("local") => locals = locals.plus(1)?,
                Some("global") => {}
                _ => return Err(bad("layer names are \"global\" or \"local\"")),
            }
        }
        total = total.plus((names.len() as u64).times(times)?)?;
        local = local.plus(locals.times(times)?)?;
    }
    if total != layers {
        return Err(bad(&format!("{total} layers for num_layers {layers}")));
    }
    Ok(local)
}

pub fn gpt_neox(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 6144)?;
    let l = c.u_or("num_hidden_layers", 44)?;
    let vocab = c.u_or("vocab_size", 50432)?;
    let inter = c.u_or("intermediate_size", 24576)?;
    let bias = c.flag("attention_bias", true)?;
    let heads = c.u_or("num_attention_heads", 64)?;
    let mut m = Model::new("gpt_neox");
    m.facts = facts([l, h, heads, heads, inter, vocab], Some(c.u_or("max_position_embeddings", 2048)?))?;
    embed(&mut m, "embed_in", vocab, h);
    norm(&mut m, "layers.layernorms", h, Norm::WeightBias, l.times(2)?);
    m.linear("attention.query_key_value", h.times(3)?, h, bias, l);
    m.linear("attention.dense", h, h, bias, l);
    m.linear("mlp.dense_h_to_4h", inter, h, true, l);
    m.linear("mlp.dense_4h_to_h", h, inter, true, l);
    norm(&mut m, "final_layer_norm", h, Norm::WeightBias, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", false)?, false);
    causal_masks(
        &mut m,
        "causal-mask buffers (layers.N.attention.bias)",
        Some("masked_bias scalars (layers.N.attention.masked_bias)"),
    )?;
    // Each layer's rotary frequencies: int(head_size * rotary_pct) / 2 of them.
    let rotary = crate::arch::checked::scale(h.over(heads)?, c.f("rotary_pct", 1.0)?.unwrap_or(0.25))?;
    m.buffers.push(("rotary inv_freq (layers.N.attention.rotary_emb.inv_freq)", l.times(rotary.over(2)?)?));
    Ok(m)
}

pub fn gptj(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_any_or(&["n_embd", "hidden_size"], 4096)?;
    let l = c.u_any_or(&["n_layer", "num_hidden_layers"], 28)?;
    let vocab = c.u_or("vocab_size", 50400)?;
    let inner = c.u("n_inner")?.map_or_else(|| h.times(4), Ok)?;
    let heads = c.u_any_or(&["n_head", "num_attention_heads"], 16)?;
    let mut m = Model::new("gptj");
    let positions = c.u_any_or(&["n_positions", "max_position_embeddings"], 2048)?;
    m.facts = facts([l, h, heads, heads, inner, vocab], Some(positions))?;
    embed(&mut m, "wte", vocab, h);
    norm(&mut m, "h.ln_1", h, Norm::WeightBias, l);
    for name in ["attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj"] {
        m.linear(name, h, h, false, l);
    }
    m.linear("mlp.fc_in", inner, h, true, l);
    m.linear("mlp.fc_out", h, inner, true, l);
    norm(&mut m, "ln_f", h, Norm::WeightBias, 1);
    let tied = c.flag("tie_word_embeddings", false)?;
    head(&mut m, vocab, h, tied, true);
    causal_masks(&mut m, "causal-mask buffers (h.N.attn.bias)", Some("masked_bias scalars (h.N.attn.masked_bias)"))?;
    Ok(m)
}

/// CodeGen: GPT-J's parallel block with a fused bias-free qkv and a biased head.
pub fn codegen(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_any_or(&["n_embd", "hidden_size"], 4096)?;
    let l = c.u_any_or(&["n_layer", "num_hidden_layers"], 28)?;
    let heads = c.u_any_or(&["n_head", "num_attention_heads"], 16)?;
    let vocab = c.u_or("vocab_size", 50400)?;
    let inner = c.u("n_inner")?.map_or_else(|| h.times(4), Ok)?;
    let mut m = Model::new("codegen");
    let positions = c.u_any_or(&["n_positions", "max_position_embeddings"], 2048)?;
    m.facts = facts([l, h, heads, heads, inner, vocab], Some(positions))?;
    embed(&mut m, "wte", vocab, h);
    norm(&mut m, "h.ln_1", h, Norm::WeightBias, l);
    m.linear("attn.qkv_proj", h.times(3)?, h, false, l);
    m.linear("attn.out_proj", h, h, false, l);
    m.linear("mlp.fc_in", inner, h, true, l);
    m.linear("mlp.fc_out", h, inner, true, l);
    norm(&mut m, "ln_f", h, Norm::WeightBias, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", false)?, true);
    causal_masks(&mut m, "causal-mask buffers (h.N.attn.causal_mask)", None)?;
    Ok(m)
}

pub fn opt(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 768)?;
    let l = c.u_or("num_hidden_layers", 12)?;
    let vocab = c.u_or("vocab_size", 50272)?;
    let proj = c.u_or("word_embed_proj_dim", h)?;
    let ffn = c.u_or("ffn_dim", 3072)?;
    let bias = c.flag("enable_bias", true)?;
    let affine = c.flag("layer_norm_elementwise_affine", true)?;
    let heads = c.u_or("num_attention_heads", 12)?;
    let positions = c.u_or("max_position_embeddings", 2048)?;
    let mut m = Model::new("opt");
    m.facts = facts([l, h, heads, heads, ffn, vocab], Some(positions))?;
    embed(&mut m, "embed_tokens", vocab, proj);
    embed(&mut m, "embed_positions", positions.plus(2)?, h);
    if proj != h {
        m.linear("project_out", proj, h, false, 1);
        m.linear("project_in", h, proj, false, 1);
    }
    if c.flag("do_layer_norm_before", true)? && !c.flag("_remove_final_layer_norm", false)? {
        norm(&mut m, "final_layer_norm", h, Norm::WeightBias, 1);
    }
    for name in ["self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj"] {
        m.linear(name, h, h, bias, l);
    }
    if affine {
        norm(&mut m, "layers.layer_norms", h, Norm::WeightBias, l.times(2)?);
    }
    m.linear("fc1", ffn, h, bias, l);
    m.linear("fc2", h, ffn, bias, l);
    head(&mut m, vocab, proj, c.flag("tie_word_embeddings", true)?, false);
    Ok(m)
}

pub fn bloom(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_any_or(&["hidden_size", "n_embed"], 64)?;
    let l = c.u_any_or(&["n_layer", "num_hidden_layers"], 2)?;
    let vocab = c.u_or("vocab_size", 250880)?;
    let heads = c.u_any_or(&["n_head", "num_attention_heads"], 8)?;
    let mut m = Model::new("bloom");
    m.facts = facts([l, h, heads, heads, h.times(4)?, vocab], None)?;
    embed(&mut m, "word_embeddings", vocab, h);
    norm(&mut m, "word_embeddings_layernorm", h, Norm::WeightBias, 1);
    norm(&mut m, "h.layernorms", h, Norm::WeightBias, l.times(2)?);
    m.linear("self_attention.query_key_value", h.times(3)?, h, true, l);
    m.linear("self_attention.dense", h, h, true, l);
    m.linear("mlp.dense_h_to_4h", h.times(4)?, h, true, l);
    m.linear("mlp.dense_4h_to_h", h, h.times(4)?, true, l);
    norm(&mut m, "ln_f", h, Norm::WeightBias, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", true)?, false);
    Ok(m)
}

pub fn falcon(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 4544)?;
    let l = c.u_any_or(&["num_hidden_layers", "n_layer"], 32)?;
    let heads = c.u_any_or(&["num_attention_heads", "n_head"], 71)?;
    let kv = c.u_any_or(&["num_kv_heads", "n_head_kv"], heads)?;
    let vocab = c.u_or("vocab_size", 65024)?;
    let head_dim = h.over(heads)?;
    let new_arch = c.flag("new_decoder_architecture", false)?;
    let multi_query = c.flag("multi_query", true)?;
    let parallel = c.flag("parallel_attn", true)?;
    let bias = c.flag("bias", false)?;
    let ffn = c.u("ffn_hidden_size")?.map_or_else(|| h.times(4), Ok)?;
    let qkv = if new_arch {
        kv.times(2)?.plus(heads)?.times(head_dim)?
    } else if multi_query {
        h.plus(head_dim.times(2)?)?
    } else {
        h.times(3)?
    };
    let kv_heads = if new_arch {
        kv
    } else if multi_query {
        1
    } else {
        heads
    };
    let mut m = Model::new("falcon");
    m.facts = facts([l, h, heads, kv_heads, ffn, vocab], Some(c.u_or("max_position_embeddings", 2048)?))?;
    embed(&mut m, "word_embeddings", vocab, h);
    m.linear("self_attention.query_key_value", qkv, h, bias, l);
    m.linear("self_attention.dense", h, h, bias, l);
    m.linear("mlp.dense_h_to_4h", ffn, h, bias, l);
    m.linear("mlp.dense_4h_to_h", h, ffn, bias, l);
    let lns_in_parallel = c.u_or("num_ln_in_parallel_attn", if new_arch { 2 } else { 1 })?;
    let norms = if !parallel || (new_arch && lns_in_parallel == 2) { 2 } else { 1 };
    norm(&mut m, "h.layernorms", h, Norm::WeightBias, l.times(norms)?);
    norm(&mut m, "ln_f", h, Norm::WeightBias, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", true)?, false);
    Ok(m)
}

pub fn mpt(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_any_or(&["d_model", "hidden_size"], 2048)?;
    let l = c.u_any_or(&["n_layers", "num_hidden_layers"], 24)?;
    let vocab = c.u_or("vocab_size", 50368)?;
    let heads = c.u_any_or(&["n_heads", "num_attention_heads"], 16)?;
    let mut m = Model::new("mpt");
    m.facts = facts(
        [l, h, heads, heads, h.times(4)?, vocab],
        Some(c.u_any_or(&["max_seq_len", "max_position_embeddings"], 2048)?),
    )?;
    embed(&mut m, "wte", vocab, h);
    // transformers' MPT drops the LayerNorm biases and uses a 4x MLP whatever expansion_ratio says.
    norm(&mut m, "blocks.norms", h, Norm::Weight, l.times(2)?);
    m.linear("attn.Wqkv", h.times(3)?, h, false, l);
    m.linear("attn.out_proj", h, h, false, l);
    m.linear("ffn.up_proj", h.times(4)?, h, false, l);
    m.linear("ffn.down_proj", h, h.times(4)?, false, l);
    norm(&mut m, "norm_f", h, Norm::Weight, 1);
    head(&mut m, vocab, h, c.flag("tie_word_embeddings", true)?, false);
    Ok(m)
}
