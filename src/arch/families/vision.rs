//! Vision towers and the multimodal models built on them: CLIP (llava), SigLIP (gemma3,
//! paligemma, idefics3), the Llama 4 vision model, Pixtral (mistral3) and InternViT (internvl).
//! A multimodal model is tower + projector + the text model of its `text_config` (whose family the
//! registry picks) + the head, tied as the multimodal config says. The Qwen VL towers are in
//! [`super::qwen_vl`].

use serde_json::{Value, json};

use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{Norm, norm};
use crate::arch::model::{Model, Role};
use crate::arch::{ArchError, dispatch};

/// Where a multimodal config's text model comes from.
pub struct Text<'a> {
    /// The text family when `text_config` names none.
    pub model_type: &'a str,
    /// The config class fixes the text family, whatever `text_config.model_type` says.
    pub fixed: bool,
    pub absent: Absent<'a>,
}

/// Without a `text_config`:
pub enum Absent<'a> {
    /// the text config class defaults;
    ClassDefaults,
    /// the values the multimodal config class starts its text config with;
    Spec(&'a Value),
    /// the text keys at the root (Qwen2-VL's and Qwen2.5-VL's flat configs).
    Flat,
}

/// The text model of a multimodal config, named `family`.
pub fn text_part(c: &Cfg, t: &Text, family: &'static str) -> Result<Model, ArchError> {
    let mut m = match (c.sub("text_config")?, &t.absent) {
        (Some(text), _) => {
            let model_type = if t.fixed { None } else { text.model_type()? };
            dispatch(&text, model_type.unwrap_or(t.model_type))?
        }
        (None, Absent::Spec(values)) => dispatch(&Cfg::new(values), t.model_type)?,
        (None, Absent::Flat) => dispatch(c, t.model_type)?,
        (None, Absent::ClassDefaults) => dispatch(&c.sub_or_empty("text_config")?, t.model_type)?,
    };
    m.family = family;
    Ok(m)
}

/// The hidden size of a text model.
pub fn text_hidden(m: &Model) -> Result<u64, ArchError> {
    m.facts.hidden.ok_or_else(|| ArchError::Unsupported(format!("{} with a text model of unknown width", m.family)))
}

/// Replaces the text model's head decision with the multimodal config's.
pub fn retie(m: &mut Model, tied: bool) {
    let Some(embed) = m.params.iter().find(|p| p.name == "embed_tokens").cloned() else { return };
    m.params.retain(|p| p.name != "lm_head");
    m.tied = tied;
    if !tied {
        m.add("lm_head", &embed.shape, 1, Role::Other);
    }
}

/// The head tying of the multimodal config: its own `tie_word_embeddings` (else `default`), or
/// with `from_text` also the text model's (the `text_config` value configs before transformers 5
/// kept, which its configs forward to the root).
pub fn tie(c: &Cfg, default: bool, from_text: Option<&Model>) -> Result<bool, ArchError> {
    Ok(c.flag("tie_word_embeddings", default)? || from_text.is_some_and(|m| m.tied))
}

/// One projected feature layer for an index, one per entry for a list of them.
fn feature_layers(c: &Cfg) -> Result<u64, ArchError> {
    match c.get("vision_feature_layer") {
        None | Some(Value::Number(_)) => Ok(1),
        Some(_) => Ok(c.array("vision_feature_layer")?.map_or(1, |a| a.len() as u64)),
    }
}

/// An image or patch size: an integer, or `[height, width]`.
fn size2(v: &Cfg, key: &str, default: u64) -> Result<(u64, u64), ArchError> {
    match v.get(key) {
        Some(raw @ Value::Array(_)) => match v.list(key)?.as_deref() {
            Some([h, w]) => Ok((*h, *w)),
            _ => Err(v.invalid(key, raw, "expected a size or [height, width]")),
        },
        _ => {
            let n = v.u_or(key, default)?;
            Ok((n, n))
        }
    }
}

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
    patch: (u64, u64),
}

/// `[hidden, intermediate, layers, image, patch]` defaults.
fn tower(v: &Cfg, d: [u64; 5]) -> Result<Tower, ArchError> {
    let [h, inter, layers, image, patch] = d;
    let patch = size2(v, "patch_size", patch)?;
    let image = size2(v, "image_size", image)?;
    Ok(Tower {
        h: v.u_or("hidden_size", h)?,
        inter: v.u_or("intermediate_size", inter)?,
        layers: v.u_or("num_hidden_layers", layers)?,
        channels: v.u_or("num_channels", 3)?,
        patches: image.0.over(patch.0)?.times(image.1.over(patch.1)?)?,
        patch,
    })
}

/// A convolution over patches `[h, channels, patch, patch]`, with a bias or not.
fn patch_conv(m: &mut Model, t: &Tower, bias: bool) {
    m.add("vision.patch_embedding", &[t.h, t.channels, t.patch.0, t.patch.1], 1, Role::Other);
    if bias {
        m.add("vision.patch_embedding.bias", &[t.h], 1, Role::Other);
    }
}

/// A SigLIP vision tower (its attention-pooling head with `vision_use_head`, else
/// `use_head_default`).
fn siglip(m: &mut Model, v: &Cfg, t: &Tower, use_head_default: bool) -> Result<(), ArchError> {
    patch_conv(m, t, true);
    m.add("vision.position_embedding", &[t.patches, t.h], 1, Role::Other);
    encoder_layers(m, t.h, t.inter, t.layers)?;
    norm(m, "vision.post_layernorm", t.h, Norm::WeightBias, 1);
    if v.flag("vision_use_head", use_head_default)? {
        m.add("vision.head.probe", &[1, 1, t.h], 1, Role::Other);
        m.linear("vision.head.attention.in_proj", t.h.times(3)?, t.h, true, 1);
        m.linear("vision.head.attention.out_proj", t.h, t.h, true, 1);
        norm(m, "vision.head.layernorm", t.h, Norm::WeightBias, 1);
        m.linear("vision.head.mlp.fc1", t.inter, t.h, true, 1);
        m.linear("vision.head.mlp.fc2", t.h, t.inter, true, 1);
    }
    Ok(())
}

/// The vision sub-config, or, when absent, the values the multimodal config class starts it with.
fn vision<'a>(c: &Cfg<'a>, absent: &'a Value) -> Result<Cfg<'a>, ArchError> {
    Ok(c.sub("vision_config")?.unwrap_or_else(|| Cfg::new(absent)))
}

pub fn llava(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "llama", fixed: false, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "llava")?;
    let text_h = text_hidden(&m)?;
    let t = match c.sub("vision_config")? {
        Some(v) => tower(&v, [768, 3072, 12, 224, 32])?,
        None => tower(&c.sub_or_empty("vision_config")?, [1024, 4096, 24, 336, 14])?,
    };
    m.add("vision.class_embedding", &[t.h], 1, Role::Other);
    patch_conv(&mut m, &t, false);
    m.add("vision.position_embedding", &[t.patches.plus(1)?, t.h], 1, Role::Other);
    norm(&mut m, "vision.pre_and_post_layernorm", t.h, Norm::WeightBias, 2);
    encoder_layers(&mut m, t.h, t.inter, t.layers)?;
    let bias = c.flag("multimodal_projector_bias", true)?;
    m.linear("multi_modal_projector.linear_1", text_h, t.h.times(feature_layers(c)?)?, bias, 1);
    m.linear("multi_modal_projector.linear_2", text_h, text_h, bias, 1);
    let tied = tie(c, false, Some(&m))?;
    retie(&mut m, tied);
    Ok(m)
}

pub fn gemma3(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "gemma3_text", fixed: true, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "gemma3")?;
    let text_h = text_hidden(&m)?;
    let v = c.sub_or_empty("vision_config")?;
    let t = tower(&v, [768, 3072, 12, 224, 16])?;
    siglip(&mut m, &v, &t, true)?;
    m.add("multi_modal_projector.mm_input_projection_weight", &[t.h, text_h], 1, Role::Other);
    norm(&mut m, "multi_modal_projector.mm_soft_emb_norm", t.h, Norm::Weight, 1);
    retie(&mut m, tie(c, true, None)?);
    Ok(m)
}

/// PaliGemma: SigLIP tower, one linear projector, a Gemma (or Gemma 2) text model.
pub fn paligemma(c: &Cfg) -> Result<Model, ArchError> {
    let text_spec = json!({"model_type": "gemma", "hidden_size": 2048, "num_hidden_layers": 18,
        "intermediate_size": 16384, "num_attention_heads": 8, "num_key_value_heads": 1, "vocab_size": 257152});
    let text = Text { model_type: "gemma", fixed: false, absent: Absent::Spec(&text_spec) };
    let mut m = text_part(c, &text, "paligemma")?;
    let vision_spec = json!({"intermediate_size": 4096, "hidden_size": 1152, "patch_size": 14, "image_size": 224,
        "num_hidden_layers": 27, "vision_use_head": false});
    let v = vision(c, &vision_spec)?;
    let t = tower(&v, [768, 3072, 12, 224, 16])?;
    siglip(&mut m, &v, &t, true)?;
    m.linear("multi_modal_projector.linear", c.u_or("projection_dim", 2048)?, t.h, true, 1);
    retie(&mut m, tie(c, true, None)?);
    Ok(m)
}

/// Idefics3 (SmolVLM): SigLIP tower without head, a pixel-shuffle connector, a Llama text model.
pub fn idefics3(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "llama", fixed: false, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "idefics3")?;
    let text_h = text_hidden(&m)?;
    let v = c.sub_or_empty("vision_config")?;
    let t = tower(&v, [1152, 3072, 12, 224, 32])?;
    siglip(&mut m, &v, &t, false)?;
    let scale = c.u_or("scale_factor", 2)?;
    m.linear("connector.modality_projection.proj", text_h, t.h.times(scale)?.times(scale)?, false, 1);
    retie(&mut m, tie(c, false, None)?);
    Ok(m)
}

/// Mistral 3 (Mistral Small 3.1): Pixtral tower, patch merger and projector, a Mistral text model.
pub fn mistral3(c: &Cfg) -> Result<Model, ArchError> {
    let text_spec = json!({"model_type": "mistral", "head_dim": 128, "hidden_size": 5120, "intermediate_size": 32768,
        "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 40,
        "num_key_value_heads": 8, "sliding_window": null, "vocab_size": 131072});
    let text = Text { model_type: "mistral", fixed: false, absent: Absent::Spec(&text_spec) };
    let mut m = text_part(c, &text, "mistral3")?;
    let text_h = text_hidden(&m)?;
    let vision_spec =
        json!({"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14, "num_hidden_layers": 24});
    let v = vision(c, &vision_spec)?;
    let t = tower(&v, [1024, 4096, 24, 1024, 16])?;
    patch_conv(&mut m, &t, false);
    norm(&mut m, "vision.ln_pre_attention_ffn_norms", t.h, Norm::Weight, t.layers.times(2)?.plus(1)?);
    for name in ["vision.q_proj", "vision.k_proj", "vision.v_proj", "vision.o_proj"] {
        m.linear(name, t.h, t.h, false, t.layers);
    }
    crate::arch::decoder::gated_mlp(&mut m, t.h, t.inter, false, t.layers);
    let merge = c.u_or("spatial_merge_size", 2)?;
    norm(&mut m, "multi_modal_projector.norm", t.h, Norm::Weight, 1);
    m.linear("multi_modal_projector.patch_merger", t.h, t.h.times(merge)?.times(merge)?, false, 1);
    let bias = c.flag("multimodal_projector_bias", false)?;
    m.linear("multi_modal_projector.linear_1", text_h, t.h.times(feature_layers(c)?)?, bias, 1);
    m.linear("multi_modal_projector.linear_2", text_h, text_h, bias, 1);
    retie(&mut m, tie(c, true, None)?);
    Ok(m)
}

/// InternVL (the transformers port): InternViT tower with layer scales, pixel-shuffle projector
/// (`downsample_ratio`), a Qwen2 (or other) text model.
pub fn internvl(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "qwen2", fixed: false, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "internvl")?;
    let text_h = text_hidden(&m)?;
    let v = c.sub_or_empty("vision_config")?;
    let t = tower(&v, [1024, 4096, 24, 448, 14])?;
    let heads = v.u_or("num_attention_heads", 16)?;
    let qkv = heads.times(t.h.over(heads)?)?;
    m.add("vision.cls_token", &[1, 1, t.h], 1, Role::Other);
    if v.flag("use_mask_token", false)? {
        m.add("vision.mask_token", &[1, 1, t.h], 1, Role::Other);
    }
    if v.flag("use_absolute_position_embeddings", true)? {
        m.add("vision.position_embeddings", &[1, t.patches.plus(1)?, t.h], 1, Role::Other);
    }
    patch_conv(&mut m, &t, true);
    m.add("vision.lambdas", &[t.h], t.layers.times(2)?, Role::Other);
    let bias = v.flag("attention_bias", false)?;
    for name in ["vision.q_proj", "vision.k_proj", "vision.v_proj"] {
        m.linear(name, qkv, t.h, bias, t.layers);
    }
    m.linear("vision.projection_layer", t.h, t.h, true, t.layers);
    if v.flag("use_qk_norm", false)? {
        norm(&mut m, "vision.qk_norms", t.h, Norm::Weight, t.layers.times(2)?);
    }
    m.linear("vision.fc1", t.inter, t.h, true, t.layers);
    m.linear("vision.fc2", t.h, t.inter, true, t.layers);
    let kind = match v.s("norm_type")?.unwrap_or("layer_norm") {
        "rms_norm" => Norm::Weight,
        "layer_norm" => Norm::WeightBias,
        other => return Err(v.invalid("norm_type", &Value::from(other), "expected layer_norm or rms_norm")),
    };
    norm(&mut m, "vision.layernorms", t.h, kind, t.layers.times(2)?);
    if !v.flag("use_mean_pooling", true)? {
        norm(&mut m, "vision.layernorm", t.h, Norm::WeightBias, 1);
    }
    // int(1 / downsample_ratio) ** 2 patches per token.
    let ratio = c.f("downsample_ratio", 1.0)?.unwrap_or(0.5);
    let per_side = if ratio > 0.0 { crate::arch::checked::scale(1, 1.0 / ratio)? } else { 0 };
    if per_side == 0 {
        return Err(c.invalid("downsample_ratio", c.get("downsample_ratio").unwrap_or(&Value::Null), "not in (0, 1]"));
    }
    let merged = t.h.times(per_side)?.times(per_side)?;
    norm(&mut m, "multi_modal_projector.layer_norm", merged, Norm::WeightBias, 1);
    m.linear("multi_modal_projector.linear_1", text_h, merged, true, 1);
    m.linear("multi_modal_projector.linear_2", text_h, text_h, true, 1);
    retie(&mut m, tie(c, true, None)?);
    Ok(m)
}

pub fn llama4(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "llama4_text", fixed: true, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "llama4")?;
    let text_h = text_hidden(&m)?;
    let v = c.sub_or_empty("vision_config")?;
    let t = tower(&v, [768, 5632, 34, 448, 14])?;
    m.add("vision.patch_embedding.linear", &[t.h, t.channels.times(t.patch.0)?.times(t.patch.1)?], 1, Role::Other);
    m.add("vision.class_embedding", &[t.h], 1, Role::Other);
    m.add("vision.positional_embedding_vlm", &[t.patches.plus(1)?, t.h], 1, Role::Other);
    norm(&mut m, "vision.layernorm_pre_post", t.h, Norm::WeightBias, 2);
    encoder_layers(&mut m, t.h, t.inter, t.layers)?;
    let proj_in = v.u_or("projector_input_dim", 4096)?;
    let proj_out = v.u_or("projector_output_dim", 4096)?;
    m.linear("vision.vision_adapter.mlp.fc1", proj_in, t.inter, false, 1);
    m.linear("vision.vision_adapter.mlp.fc2", proj_out, proj_out, false, 1);
    m.linear("multi_modal_projector.linear_1", text_h, v.u_or("vision_output_dim", 7680)?, false, 1);
    retie(&mut m, tie(c, false, None)?);
    Ok(m)
}
