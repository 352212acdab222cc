//! BERT encoders (BertModel with its pooler; BertForMaskedLM / BertLMHeadModel with the tied
//! prediction head; sequence and token classification heads).

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{Norm, norm};
use crate::arch::model::{Facts, Model, Role};

pub fn bert(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 768)?;
    let l = c.u_or("num_hidden_layers", 12)?;
    let inter = c.u_or("intermediate_size", 3072)?;
    let vocab = c.u_or("vocab_size", 30522)?;
    let class = c.strs("architectures")?.and_then(|a| a.first().copied()).unwrap_or("BertLMHeadModel");
    let heads = c.u_or("num_attention_heads", 12)?;
    let positions = c.u_or("max_position_embeddings", 512)?;
    let mut m = Model::new("bert");
    // An encoder: its layers keep no KV cache.
    m.facts = Facts {
        layers: Some(l),
        hidden: Some(h),
        heads: Some(heads),
        kv_heads: Some(heads),
        head_dim: Some(h.over(heads)?),
        intermediate: Some(inter),
        vocab: Some(vocab),
        positions: Some(positions),
        ..Facts::default()
    };
    m.add("embeddings.word_embeddings", &[vocab, h], 1, Role::Other);
    m.add("embeddings.position_embeddings", &[positions, h], 1, Role::Other);
    m.add("embeddings.token_type_embeddings", &[c.u_or("type_vocab_size", 2)?, h], 1, Role::Other);
    norm(&mut m, "embeddings.LayerNorm", h, Norm::WeightBias, 1);
    for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
        m.linear(name, h, h, true, l);
    }
    m.linear("intermediate.dense", inter, h, true, l);
    m.linear("output.dense", h, inter, true, l);
    norm(&mut m, "layer.LayerNorms", h, Norm::WeightBias, l.times(2)?);
    let labels = c.entries("id2label")?.unwrap_or(2);
    match class {
        "BertForMaskedLM" | "BertLMHeadModel" | "BertForPreTraining" => {
            m.linear("cls.predictions.transform.dense", h, h, true, 1);
            norm(&mut m, "cls.predictions.transform.LayerNorm", h, Norm::WeightBias, 1);
            m.tied = c.flag("tie_word_embeddings", true)?;
            if !m.tied {
                m.add("cls.predictions.decoder", &[vocab, h], 1, Role::Other);
            }
            m.add("cls.predictions.bias", &[vocab], 1, Role::Other);
            if class == "BertForPreTraining" {
                m.linear("pooler.dense", h, h, true, 1);
                m.linear("cls.seq_relationship", 2, h, true, 1);
            }
        }
        "BertForSequenceClassification" => {
            m.linear("pooler.dense", h, h, true, 1);
            m.linear("classifier", labels, h, true, 1);
        }
        "BertForTokenClassification" => m.linear("classifier", labels, h, true, 1),
        _ => m.linear("pooler.dense", h, h, true, 1),
    }
    Ok(m)
}
