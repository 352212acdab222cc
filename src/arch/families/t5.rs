//! T5 (and T5 v1.1 / Flan-T5 with gated feed-forward): an encoder and a decoder of bias-free
//! attention blocks, relative position biases in each stack's first layer, RMS-style layer norms,
//! the head always tied to the shared embeddings (transformers 5). The decoder's self-attention
//! keeps the KV cache (cross-attention keeps as much per source token).

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{Norm, norm};
use crate::arch::kinds::{self, Kind};
use crate::arch::model::{Facts, Model, Role};

/// Sizes of one stack.
struct Stack {
    d: u64,
    inner: u64,
    ff: u64,
    heads: u64,
    buckets: u64,
    gated: bool,
}

/// q/k/v/o of `repeat` attention blocks.
fn attention(m: &mut Model, s: &Stack, repeat: u64) {
    for name in ["attn.q", "attn.k", "attn.v"] {
        m.linear(name, s.inner, s.d, false, repeat);
    }
    m.linear("attn.o", s.d, s.inner, false, repeat);
}

/// `layers` blocks of a stack (`cross`: with cross-attention, as the decoder's), and its final norm.
fn stack(m: &mut Model, s: &Stack, layers: u64, cross: bool) -> Result<(), ArchError> {
    attention(m, s, layers);
    if layers > 0 {
        m.add("relative_attention_bias", &[s.buckets, s.heads], 1, Role::Other);
    }
    if cross {
        attention(m, s, layers);
    }
    if s.gated {
        m.linear("DenseReluDense.wi_0", s.ff, s.d, false, layers);
    }
    m.linear("DenseReluDense.wi", s.ff, s.d, false, layers);
    m.linear("DenseReluDense.wo", s.d, s.ff, false, layers);
    let norms = if cross { 3 } else { 2 };
    norm(m, "layer_norm", s.d, Norm::Weight, layers.times(norms)?);
    norm(m, "final_layer_norm", s.d, Norm::Weight, 1);
    Ok(())
}

pub fn t5(c: &Cfg) -> Result<Model, ArchError> {
    let d = c.u_any_or(&["d_model", "hidden_size"], 512)?;
    let heads = c.u_any_or(&["num_heads", "num_attention_heads"], 8)?;
    let d_kv = c.u_or("d_kv", 64)?;
    let ff = c.u_or("d_ff", 2048)?;
    let layers = c.u_any_or(&["num_layers", "num_hidden_layers"], 6)?;
    let decoder_layers = c.u_or("num_decoder_layers", layers)?;
    let vocab = c.u_or("vocab_size", 32128)?;
    let projection = c.s("feed_forward_proj")?.unwrap_or("relu");
    let s = Stack {
        d,
        inner: heads.times(d_kv)?,
        ff,
        heads,
        buckets: c.u_or("relative_attention_num_buckets", 32)?,
        gated: projection.starts_with("gated-"),
    };
    let class = c.strs("architectures")?.and_then(|a| a.first().copied()).unwrap_or("T5ForConditionalGeneration");
    let encoder_only = matches!(class, "T5EncoderModel" | "T5ForTokenClassification");
    let mut m = Model::new("t5");
    m.add("shared", &[vocab, d], 1, Role::Other);
    m.tied = true;
    stack(&mut m, &s, layers, false)?;
    if !encoder_only {
        stack(&mut m, &s, decoder_layers, true)?;
    }
    let labels = c.entries("id2label")?.unwrap_or(2);
    match class {
        "T5ForSequenceClassification" => {
            m.linear("classification_head.dense", d, d, true, 1);
            m.linear("classification_head.out_proj", labels, d, true, 1);
        }
        "T5ForTokenClassification" | "T5ForQuestionAnswering" => m.linear("classifier", labels, d, true, 1),
        _ => {}
    }
    let kv_layers = if encoder_only { 0 } else { decoder_layers };
    m.facts = Facts {
        layers: Some(layers),
        hidden: Some(d),
        heads: Some(heads),
        kv_heads: Some(heads),
        head_dim: Some(d_kv),
        intermediate: Some(ff),
        vocab: Some(vocab),
        layer_types: kinds::all(Kind::Full, kv_layers)?,
        ..Facts::default()
    };
    Ok(m)
}
