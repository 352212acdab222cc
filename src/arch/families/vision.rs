//! Vision towers and the multimodal models built on them: CLIP (llava), SigLIP (gemma3), the
//! Llama 4 vision model; each multimodal model is tower + projector + the text model of its
//! `text_config`, whose family the registry picks.

use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{Norm, norm};
use crate::arch::model::{Model, Role};
use crate::arch::{ArchError, text_model};

/// Encoder layers shared by CLIP, SigLIP and Llama 4 vision: q/k/v/out and fc1/fc2 with biases,
/// two LayerNorms.
fn encoder_layers(m: &mut Model, h: u64, inter: u64, layers: u64) -> Result<(), ArchError> {
    for name in ["vision.q_proj", "vision.k_proj", "vision.v_proj", "vision.out_proj"] {
        m.linear(name, h, h, true, layers);
    }
    m.linear("vision.fc1", inter, h, true, layers);
    m.linear("vision.fc2", h, inter, true, layers);
    norm(m, "vision.layer_norms", h, Norm::WeightBias, layers.times(2)?);
    Ok(())
}

/// Tower sizes with the defaults of the tower's config class.
struct Tower {
    h: u64,
    inter: u64,
    layers: u64,
    channels: u64,
    patches: u64,
    patch: u64,
}

fn tower(v: &Cfg, d: [u64; 5]) -> Result<Tower, ArchError> {
    let [h, inter, layers, image, patch] = d;
    let patch = v.u_or("patch_size", patch)?;
    let side = v.u_or("image_size", image)?.over(patch)?;
    Ok(Tower {
        h: v.u_or("hidden_size", h)?,
        inter: v.u_or("intermediate_size", inter)?,
        layers: v.u_or("num_hidden_layers", layers)?,
        channels: v.u_or("num_channels", 3)?,
        patches: side.times(side)?,
        patch,
    })
}

/// Replaces the text model's head decision with the multimodal config's.
fn retie(m: &mut Model, tied: bool) {
    let Some(embed) = m.params.iter().find(|p| p.name == "embed_tokens").cloned() else { return };
    m.params.retain(|p| p.name != "lm_head");
    m.tied = tied;
    if !tied {
        m.add("lm_head", &embed.shape, 1, Role::Other);
    }
}

/// The text model of `text_config` (its family by its `model_type`, else `default_type`), named
/// `family`, and its hidden size.
fn text_part(c: &Cfg, default_type: &str, family: &'static str) -> Result<(Model, u64), ArchError> {
    let mut m = text_model(&c.sub_or_empty("text_config")?, default_type)?;
    m.family = family;
    let hidden = m
        .params
        .iter()
        .find(|p| p.name == "embed_tokens")
        .and_then(|p| p.shape.get(1).copied())
        .ok_or_else(|| ArchError::Unsupported(format!("{family} with a text model without token embeddings")))?;
    Ok((m, hidden))
}

pub fn llava(c: &Cfg) -> Result<Model, ArchError> {
    let (mut m, text_h) = text_part(c, "llama", "llava")?;
    let text_tie = match c.sub("text_config")? {
        Some(t) => t.flag("tie_word_embeddings", false)?,
        None => false,
    };
    let t = match c.sub("vision_config")? {
        Some(v) => tower(&v, [768, 3072, 12, 224, 32])?,
        None => tower(&c.sub_or_empty("vision_config")?, [1024, 4096, 24, 336, 14])?,
    };
    m.add("vision.class_embedding", &[t.h], 1, Role::Other);
    m.add("vision.patch_embedding", &[t.h, t.channels, t.patch, t.patch], 1, Role::Other);
    m.add("vision.position_embedding", &[t.patches.plus(1)?, t.h], 1, Role::Other);
    norm(&mut m, "vision.pre_and_post_layernorm", t.h, Norm::WeightBias, 2);
    encoder_layers(&mut m, t.h, t.inter, t.layers)?;
    // One projected feature layer for an index, one per entry for a list of them.
    let feature_layers = match c.get("vision_feature_layer") {
        None | Some(serde_json::Value::Number(_)) => 1,
        Some(_) => c.array("vision_feature_layer")?.map_or(1, |a| a.len() as u64),
    };
    let bias = c.flag("multimodal_projector_bias", true)?;
    m.linear("multi_modal_projector.linear_1", text_h, t.h.times(feature_layers)?, bias, 1);
    m.linear("multi_modal_projector.linear_2", text_h, text_h, bias, 1);
    retie(&mut m, c.flag("tie_word_embeddings", false)? || text_tie);
    Ok(m)
}

pub fn gemma3(c: &Cfg) -> Result<Model, ArchError> {
    let (mut m, text_h) = text_part(c, "gemma3_text", "gemma3")?;
    let v = c.sub_or_empty("vision_config")?;
    let t = tower(&v, [768, 3072, 12, 224, 16])?;
    m.add("vision.patch_embedding", &[t.h, t.channels, t.patch, t.patch], 1, Role::Other);
    m.add("vision.patch_embedding.bias", &[t.h], 1, Role::Other);
    m.add("vision.position_embedding", &[t.patches, t.h], 1, Role::Other);
    encoder_layers(&mut m, t.h, t.inter, t.layers)?;
    norm(&mut m, "vision.post_layernorm", t.h, Norm::WeightBias, 1);
    if v.flag("vision_use_head", true)? {
        m.add("vision.head.probe", &[1, 1, t.h], 1, Role::Other);
        m.linear("vision.head.attention.in_proj", t.h.times(3)?, t.h, true, 1);
        m.linear("vision.head.attention.out_proj", t.h, t.h, true, 1);
        norm(&mut m, "vision.head.layernorm", t.h, Norm::WeightBias, 1);
        m.linear("vision.head.mlp.fc1", t.inter, t.h, true, 1);
        m.linear("vision.head.mlp.fc2", t.h, t.inter, true, 1);
    }
    m.add("multi_modal_projector.mm_input_projection_weight", &[t.h, text_h], 1, Role::Other);
    norm(&mut m, "multi_modal_projector.mm_soft_emb_norm", t.h, Norm::Weight, 1);
    retie(&mut m, c.flag("tie_word_embeddings", true)?);
    Ok(m)
}

pub fn llama4(c: &Cfg) -> Result<Model, ArchError> {
    let (mut m, text_h) = text_part(c, "llama4_text", "llama4")?;
    let v = c.sub_or_empty("vision_config")?;
    let t = tower(&v, [768, 5632, 34, 448, 14])?;
    m.add("vision.patch_embedding.linear", &[t.h, t.channels.times(t.patch)?.times(t.patch)?], 1, Role::Other);
    m.add("vision.class_embedding", &[t.h], 1, Role::Other);
    m.add("vision.positional_embedding_vlm", &[t.patches.plus(1)?, t.h], 1, Role::Other);
    norm(&mut m, "vision.layernorm_pre_post", t.h, Norm::WeightBias, 2);
    encoder_layers(&mut m, t.h, t.inter, t.layers)?;
    let proj_in = v.u_or("projector_input_dim", 4096)?;
    let proj_out = v.u_or("projector_output_dim", 4096)?;
    m.linear("vision.vision_adapter.mlp.fc1", proj_in, t.inter, false, 1);
    m.linear("vision.vision_adapter.mlp.fc2", proj_out, proj_out, false, 1);
    m.linear("multi_modal_projector.linear_1", text_h, v.u_or("vision_output_dim", 7680)?, false, 1);
    Ok(m)
}
