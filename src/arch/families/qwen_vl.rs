//! The Qwen vision-language models: qwen2_vl, qwen2_5_vl, qwen3_vl, qwen3_vl_moe. A ViT over
//! spatio-temporal patches (a 3-D convolution), a merger of `spatial_merge_size`^2 patches into one
//! token of the text width (Qwen3-VL adds learned positions and "deepstack" mergers), and the text
//! model of the family's own text config class.

use super::vision::{Absent, Text, retie, text_part, tie};
use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::{self, Checked};
use crate::arch::decoder::{Norm, norm};
use crate::arch::model::{Model, Role};

/// A tower's shared sizes.
struct Vit {
    h: u64,
    layers: u64,
    channels: u64,
    temporal: u64,
    patch: u64,
    merge: u64,
}

fn vit(v: &Cfg, h: u64, layers: u64, patch: u64) -> Result<Vit, ArchError> {
    Ok(Vit {
        h,
        layers: v.u_or("depth", layers)?,
        channels: v.u_or("in_channels", 3)?,
        temporal: v.u_or("temporal_patch_size", 2)?,
        patch: v.u_or("patch_size", patch)?,
        merge: v.u_or("spatial_merge_size", 2)?,
    })
}

impl Vit {
    /// The 3-D patch convolution, with a bias or not.
    fn patch_embed(&self, m: &mut Model, bias: bool) {
        m.add(
            "visual.patch_embed.proj",
            &[self.h, self.channels, self.temporal, self.patch, self.patch],
            1,
            Role::Other,
        );
        if bias {
            m.add("visual.patch_embed.proj.bias", &[self.h], 1, Role::Other);
        }
    }

    /// Fused qkv and output projections with biases, and two norms, per block.
    fn attention(&self, m: &mut Model, norm_kind: Norm) -> Result<(), ArchError> {
        m.linear("visual.blocks.attn.qkv", self.h.times(3)?, self.h, true, self.layers);
        m.linear("visual.blocks.attn.proj", self.h, self.h, true, self.layers);
        norm(m, "visual.blocks.norms", self.h, norm_kind, self.layers.times(2)?);
        Ok(())
    }

    /// The width of `merge^2` patches side by side.
    fn merged(&self) -> Result<u64, ArchError> {
        self.h.times(self.merge)?.times(self.merge)
    }

    /// A merger: a norm (over one patch, or with `post_shuffle` over the merged patches), then
    /// merged -> merged -> `out` linears with biases.
    fn merger(
        &self,
        m: &mut Model,
        norm_kind: Norm,
        post_shuffle: bool,
        out: u64,
        repeat: u64,
    ) -> Result<(), ArchError> {
        let merged = self.merged()?;
        norm(m, "visual.merger.norm", if post_shuffle { merged } else { self.h }, norm_kind, repeat);
        m.linear("visual.merger.fc1", merged, merged, true, repeat);
        m.linear("visual.merger.fc2", out, merged, true, repeat);
        Ok(())
    }
}

/// Qwen2-VL and Qwen2.5-VL configs may be flat (text keys at the root).
fn text_of(model_type: &'static str) -> Text<'static> {
    Text { model_type, fixed: true, absent: Absent::Flat }
}

pub fn qwen2_vl(c: &Cfg) -> Result<Model, ArchError> {
    let mut m = text_part(c, &text_of("qwen2_vl_text"), "qwen2_vl")?;
    let v = c.sub_or_empty("vision_config")?;
    let t = vit(&v, v.u_or("embed_dim", 1280)?, 32, 14)?;
    t.patch_embed(&mut m, false);
    t.attention(&mut m, Norm::WeightBias)?;
    let mlp = checked::scale(t.h, v.f("mlp_ratio", 1024.0)?.unwrap_or(4.0))?;
    m.linear("visual.blocks.mlp.fc1", mlp, t.h, true, t.layers);
    m.linear("visual.blocks.mlp.fc2", t.h, mlp, true, t.layers);
    t.merger(&mut m, Norm::WeightBias, false, v.u_or("hidden_size", 3584)?, 1)?;
    let tied = tie(c, false, Some(&m))?;
    retie(&mut m, tied);
    Ok(m)
}

pub fn qwen2_5_vl(c: &Cfg) -> Result<Model, ArchError> {
    let mut m = text_part(c, &text_of("qwen2_5_vl_text"), "qwen2_5_vl")?;
    let v = c.sub_or_empty("vision_config")?;
    let t = vit(&v, v.u_or("hidden_size", 3584)?, 32, 14)?;
    t.patch_embed(&mut m, false);
    t.attention(&mut m, Norm::Weight)?;
    let inter = v.u_or("intermediate_size", 3420)?;
    for name in ["visual.blocks.mlp.gate_proj", "visual.blocks.mlp.up_proj"] {
        m.linear(name, inter, t.h, true, t.layers);
    }
    m.linear("visual.blocks.mlp.down_proj", t.h, inter, true, t.layers);
    t.merger(&mut m, Norm::Weight, false, v.u_or("out_hidden_size", 3584)?, 1)?;
    let tied = tie(c, false, Some(&m))?;
    retie(&mut m, tied);
    Ok(m)
}

/// Qwen3-VL's tower (also Qwen3-VL-MoE's): learned positions, LayerNorms, a merger for the last
/// block and one "deepstack" merger per `deepstack_visual_indexes` entry.
fn qwen3_vision(c: &Cfg, m: &mut Model) -> Result<(), ArchError> {
    let v = c.sub_or_empty("vision_config")?;
    let t = vit(&v, v.u_or("hidden_size", 1152)?, 27, 16)?;
    t.patch_embed(m, true);
    m.add("visual.pos_embed", &[v.u_or("num_position_embeddings", 2304)?, t.h], 1, Role::Other);
    t.attention(m, Norm::WeightBias)?;
    let inter = v.u_or("intermediate_size", 4304)?;
    m.linear("visual.blocks.mlp.linear_fc1", inter, t.h, true, t.layers);
    m.linear("visual.blocks.mlp.linear_fc2", t.h, inter, true, t.layers);
    let out = v.u_or("out_hidden_size", 3584)?;
    t.merger(m, Norm::WeightBias, false, out, 1)?;
    let deepstack = match v.get("deepstack_visual_indexes") {
        None => 3,
        Some(_) => v.array("deepstack_visual_indexes")?.map_or(0, |a| a.len() as u64),
    };
    t.merger(m, Norm::WeightBias, true, out, deepstack)
}

pub fn qwen3_vl(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "qwen3_vl_text", fixed: true, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "qwen3_vl")?;
    qwen3_vision(c, &mut m)?;
    retie(&mut m, tie(c, false, None)?);
    Ok(m)
}

pub fn qwen3_vl_moe(c: &Cfg) -> Result<Model, ArchError> {
    let text = Text { model_type: "qwen3_vl_moe_text", fixed: true, absent: Absent::ClassDefaults };
    let mut m = text_part(c, &text, "qwen3_vl_moe")?;
    qwen3_vision(c, &mut m)?;
    retie(&mut m, tie(c, false, None)?);
    Ok(m)
}
