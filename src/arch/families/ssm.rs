//! State-space models and their hybrids with attention: mamba, mamba2, jamba, bamba, falcon_h1,
//! zamba2, nemotron_h, granitemoehybrid. The two mixers (Mamba's selective scan, Mamba-2's SSD)
//! are shared blocks; each also knows the recurrent state it keeps per sequence (convolution state
//! of the full kernel width and SSM state, as transformers' cache holds them).

use crate::arch::ArchError;
use crate::arch::cfg::Cfg;
use crate::arch::checked::Checked;
use crate::arch::decoder::{Attn, Defaults, Dims, Norm, attention, dims, embed_and_head, gated_mlp, norm, tied};
use crate::arch::kinds::{self, Kind};
use crate::arch::model::{Model, Role};
use crate::record::LayerTypes;

/// `key`, where the string `"auto"` (like absence) means `auto`.
fn auto_or(c: &Cfg, key: &str, auto: u64) -> Result<u64, ArchError> {
    match c.get(key) {
        Some(serde_json::Value::String(s)) if s == "auto" => Ok(auto),
        _ => c.u_or(key, auto),
    }
}

/// A state-space mixer: its tensors and the state one layer of it keeps per sequence.
trait Mixer {
    fn add(&self, m: &mut Model, repeat: u64) -> Result<(), ArchError>;
    fn state(&self) -> Result<u64, ArchError>;
}

/// Mamba's selective-scan mixer (Mamba, Jamba).
struct Mamba1 {
    hidden: u64,
    inner: u64,
    state: u64,
    kernel: u64,
    dt_rank: u64,
    conv_bias: bool,
    proj_bias: bool,
    /// Jamba's RMSNorms on dt, B and C.
    inner_norms: bool,
}

impl Mixer for Mamba1 {
    fn add(&self, m: &mut Model, repeat: u64) -> Result<(), ArchError> {
        m.linear("mamba.in_proj", self.inner.times(2)?, self.hidden, self.proj_bias, repeat);
        m.add("mamba.conv1d", &[self.inner, 1, self.kernel], repeat, Role::Other);
        if self.conv_bias {
            m.add("mamba.conv1d.bias", &[self.inner], repeat, Role::Other);
        }
        m.linear("mamba.x_proj", self.dt_rank.plus(self.state.times(2)?)?, self.inner, false, repeat);
        m.linear("mamba.dt_proj", self.inner, self.dt_rank, true, repeat);
        m.add("mamba.A_log", &[self.inner, self.state], repeat, Role::Other);
        m.add("mamba.D", &[self.inner], repeat, Role::Other);
        m.linear("mamba.out_proj", self.hidden, self.inner, self.proj_bias, repeat);
        if self.inner_norms {
            norm(m, "mamba.dt_layernorm", self.dt_rank, Norm::Weight, repeat);
            norm(m, "mamba.bc_layernorms", self.state, Norm::Weight, repeat.times(2)?);
        }
        Ok(())
    }

    /// Convolution `[inner, kernel]` and SSM `[inner, state]` state of one layer.
    fn state(&self) -> Result<u64, ArchError> {
        self.inner.times(self.kernel.plus(self.state)?)
    }
}

/// Mamba-2's SSD mixer (Mamba-2, Bamba, Falcon-H1, Zamba2, Nemotron-H, Granite 4.0-H).
struct Mamba2 {
    hidden: u64,
    inner: u64,
    heads: u64,
    head_dim: u64,
    groups: u64,
    state: u64,
    kernel: u64,
    conv_bias: bool,
    in_bias: bool,
    out_bias: bool,
    /// The gated RMSNorm over `inner` (Falcon-H1 has it only with `mamba_rms_norm`).
    gated_norm: bool,
}

impl Mamba2 {
    fn conv_dim(&self) -> Result<u64, ArchError> {
        self.inner.plus(self.groups.times(self.state)?.times(2)?)
    }
}

impl Mixer for Mamba2 {
    fn add(&self, m: &mut Model, repeat: u64) -> Result<(), ArchError> {
        let conv = self.conv_dim()?;
        m.linear("mamba.in_proj", self.inner.plus(conv)?.plus(self.heads)?, self.hidden, self.in_bias, repeat);
        m.add("mamba.conv1d", &[conv, 1, self.kernel], repeat, Role::Other);
        if self.conv_bias {
            m.add("mamba.conv1d.bias", &[conv], repeat, Role::Other);
        }
        m.add("mamba.dt_bias_A_log_D", &[self.heads], repeat.times(3)?, Role::Other);
        if self.gated_norm {
            norm(m, "mamba.norm", self.inner, Norm::Weight, repeat);
        }
        m.linear("mamba.out_proj", self.hidden, self.inner, self.out_bias, repeat);
        Ok(())
    }

    /// Convolution `[conv_dim, kernel]` and SSM `[heads, head_dim, state]` state of one layer.
    fn state(&self) -> Result<u64, ArchError> {
        self.conv_dim()?.times(self.kernel)?.plus(self.heads.times(self.head_dim)?.times(self.state)?)
    }
}

/// The Mamba-2 mixer as Bamba, Falcon-H1 and Granite 4.0-H configure it (`mamba_*` keys; the head
/// dimension `"auto"`: `inner / mamba_n_heads`).
fn mamba2_of(c: &Cfg, hidden: u64, inner: u64, gated_norm: bool) -> Result<Mamba2, ArchError> {
    let heads = c.u_or("mamba_n_heads", 128)?;
    let proj_bias = c.flag("mamba_proj_bias", false)?;
    Ok(Mamba2 {
        hidden,
        inner,
        heads,
        head_dim: auto_or(c, "mamba_d_head", inner.over(heads)?)?,
        groups: c.u_or("mamba_n_groups", 1)?,
        state: c.u_or("mamba_d_state", 256)?,
        kernel: c.u_or("mamba_d_conv", 4)?,
        conv_bias: c.flag("mamba_conv_bias", true)?,
        in_bias: proj_bias,
        out_bias: proj_bias,
        gated_norm,
    })
}

/// Sets the facts of a hybrid: `types`, and `state_layers` layers of `state` each.
fn hybrid_facts(m: &mut Model, d: &Dims, types: LayerTypes, state: u64, state_layers: u64) -> Result<(), ArchError> {
    m.facts = d.facts()?;
    m.facts.layer_types = types;
    m.facts.state_elements = state.times(state_layers)?;
    Ok(())
}

/// The layers `i < layers` with `i % period == offset` (`offset < period`, as transformers
/// requires of Jamba), counted arithmetically.
fn periodic(
    c: &Cfg,
    layers: u64,
    period_key: &str,
    period: u64,
    offset_key: &str,
    offset: u64,
) -> Result<u64, ArchError> {
    let period = c.u_or(period_key, period)?;
    let offset = c.u_or(offset_key, offset)?;
    if offset >= period {
        let raw = c.get(offset_key).cloned().unwrap_or(serde_json::Value::from(offset));
        return Err(c.invalid(offset_key, &raw, format!("not below {period_key} {period}")));
    }
    if layers <= offset { Ok(0) } else { layers.minus(offset)?.minus(1)?.over(period)?.plus(1) }
}

pub fn mamba(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 768)?;
    let l = c.u_or("num_hidden_layers", 32)?;
    let vocab = c.u_or("vocab_size", 50280)?;
    let inner = c.u_or("expand", 2)?.times(h)?;
    let mixer = Mamba1 {
        hidden: h,
        inner,
        state: c.u_or("state_size", 16)?,
        kernel: c.u_or("conv_kernel", 4)?,
        dt_rank: auto_or(c, "time_step_rank", h.over_ceil(16)?)?,
        conv_bias: c.flag("use_conv_bias", true)?,
        proj_bias: c.flag("use_bias", false)?,
        inner_norms: false,
    };
    stack(c, "mamba", [h, l, vocab], true, &mixer)
}

/// A pure state-space model (Mamba, Mamba-2): `layers` blocks of a norm and a mixer, embeddings,
/// a final norm and the head (tied unless the config says otherwise, by `tie_default`).
fn stack(c: &Cfg, family: &'static str, d: [u64; 3], tie_default: bool, mixer: &dyn Mixer) -> Result<Model, ArchError> {
    let [h, l, vocab] = d;
    let mut m = Model::new(family);
    embed_and_head(&mut m, vocab, h, tied(c, tie_default)?, false);
    norm(&mut m, "norms", h, Norm::Weight, l.plus(1)?);
    mixer.add(&mut m, l)?;
    m.facts.layers = Some(l);
    m.facts.hidden = Some(h);
    m.facts.vocab = Some(vocab);
    m.facts.layer_types = kinds::all(Kind::Mamba, l)?;
    m.facts.state_elements = mixer.state()?.times(l)?;
    Ok(m)
}

pub fn mamba2(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 4096)?;
    let l = c.u_or("num_hidden_layers", 64)?;
    let vocab = c.u_or("vocab_size", 32768)?;
    let bias = c.flag("use_bias", false)?;
    let mixer = Mamba2 {
        hidden: h,
        inner: c.u_or("expand", 2)?.times(h)?,
        heads: c.u_or("num_heads", 128)?,
        head_dim: c.u_or("head_dim", 64)?,
        groups: c.u_or("n_groups", 8)?,
        state: c.u_or("state_size", 128)?,
        kernel: c.u_or("conv_kernel", 4)?,
        conv_bias: c.flag("use_conv_bias", true)?,
        in_bias: bias,
        out_bias: bias,
        gated_norm: true,
    };
    stack(c, "mamba2", [h, l, vocab], false, &mixer)
}

/// Jamba: attention every `attn_layer_period`-th layer (from `attn_layer_offset`), Mamba in the
/// others; experts every `expert_layer_period`-th layer, a gated MLP in the others.
pub fn jamba(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(65536, 4096, 14336, 32, 32).kv(8).positions(262144))?;
    let attn = periodic(c, d.layers, "attn_layer_period", 8, "attn_layer_offset", 4)?;
    let n = c.u_any_or(&["num_experts", "num_local_experts"], 16)?;
    let moe = if n > 1 { periodic(c, d.layers, "expert_layer_period", 2, "expert_layer_offset", 1)? } else { 0 };
    let mixer = Mamba1 {
        hidden: d.hidden,
        inner: c.u_or("mamba_expand", 2)?.times(d.hidden)?,
        state: c.u_or("mamba_d_state", 16)?,
        kernel: c.u_or("mamba_d_conv", 4)?,
        dt_rank: auto_or(c, "mamba_dt_rank", d.hidden.over_ceil(16)?)?,
        conv_bias: c.flag("mamba_conv_bias", true)?,
        proj_bias: c.flag("mamba_proj_bias", false)?,
        inner_norms: true,
    };
    let mamba_layers = d.layers.minus(attn)?;
    let mut m = Model::new("jamba");
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, false)?, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, d.layers.times(2)?.plus(1)?);
    attention(&mut m, &d, Attn::NO_BIAS, attn)?;
    mixer.add(&mut m, mamba_layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, false, d.layers.minus(moe)?);
    m.add("feed_forward.router", &[n, d.hidden], moe, Role::Other);
    m.add("feed_forward.experts.gate_up_proj", &[n, d.inter.times(2)?, d.hidden], moe, Role::Experts);
    m.add("feed_forward.experts.down_proj", &[n, d.hidden, d.inter], moe, Role::Experts);
    let types = kinds::two((Kind::Full, attn), (Kind::Mamba, mamba_layers))?;
    hybrid_facts(&mut m, &d, types, mixer.state()?, mamba_layers)?;
    m.facts.moe = super::moe::moe_facts(c, if n > 1 { n } else { 0 }, Some(2), None, d.inter)?;
    Ok(m)
}

/// Bamba: Mamba-2 layers, attention at `attn_layer_indices`, a gated MLP in every layer.
pub fn bamba(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(128000, 4096, 14336, 32, 32).kv(8).positions(262144))?;
    let attn = match c.list("attn_layer_indices")? {
        Some(list) => kinds::listed(&list, d.layers),
        None => 0,
    };
    let mixer = mamba2_of(c, d.hidden, c.u_or("mamba_expand", 2)?.times(d.hidden)?, true)?;
    let mamba_layers = d.layers.minus(attn)?;
    let mut m = Model::new("bamba");
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, false)?, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, d.layers.times(2)?.plus(1)?);
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", false)?), attn)?;
    mixer.add(&mut m, mamba_layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, c.flag("mlp_bias", false)?, d.layers);
    let types = kinds::two((Kind::Full, attn), (Kind::Mamba, mamba_layers))?;
    hybrid_facts(&mut m, &d, types, mixer.state()?, mamba_layers)?;
    Ok(m)
}

/// Falcon-H1: attention and a Mamba-2 mixer side by side in every layer, then a gated MLP.
pub fn falcon_h1(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(128000, 4096, 14336, 32, 32).kv(8).positions(8192))?;
    let inner = match c.nullable("mamba_d_ssm", Some(1024))? {
        Some(inner) => inner,
        None => c.u_or("mamba_expand", 2)?.times(d.hidden)?,
    };
    let mut mixer = mamba2_of(c, d.hidden, inner, c.flag("mamba_rms_norm", false)?)?;
    mixer.out_bias = c.flag("projectors_bias", false)?;
    let mut m = Model::new("falcon_h1");
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, false)?, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, d.layers.times(2)?.plus(1)?);
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", false)?), d.layers)?;
    mixer.add(&mut m, d.layers)?;
    gated_mlp(&mut m, d.hidden, d.inter, c.flag("mlp_bias", false)?, d.layers);
    let types = kinds::two((Kind::Full, d.layers), (Kind::Mamba, d.layers))?;
    hybrid_facts(&mut m, &d, types, mixer.state()?, d.layers)?;
    Ok(m)
}

/// Granite 4.0-H: Mamba-2 or attention per `layer_types`, routed experts (unless
/// `num_local_experts` is 0) beside a shared gated MLP in every layer.
pub fn granitemoehybrid(c: &Cfg) -> Result<Model, ArchError> {
    let d = dims(c, &Defaults::new(32000, 4096, 11008, 32, 32).positions(2048))?;
    let names = [
        ("mamba", Kind::Mamba),
        ("linear_attention", Kind::Mamba),
        ("attention", Kind::Full),
        ("full_attention", Kind::Full),
    ];
    let types =
        kinds::from_list(c, "layer_types", d.layers, &names)?.map_or_else(|| kinds::all(Kind::Mamba, d.layers), Ok)?;
    let mixer = mamba2_of(c, d.hidden, c.u_or("mamba_expand", 2)?.times(d.hidden)?, true)?;
    let n = c.u_or("num_local_experts", 8)?;
    let shared = c.u_or("shared_intermediate_size", 1024)?;
    let mut m = Model::new("granitemoehybrid");
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, false)?, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, d.layers.times(2)?.plus(1)?);
    attention(&mut m, &d, Attn::all_bias(c.flag("attention_bias", false)?), types.full_attention)?;
    mixer.add(&mut m, types.mamba)?;
    m.add("block_sparse_moe.router", &[n, d.hidden], d.layers, Role::Other);
    m.add("block_sparse_moe.experts.gate_up_proj", &[n, d.inter.times(2)?, d.hidden], d.layers, Role::Experts);
    m.add("block_sparse_moe.experts.down_proj", &[n, d.hidden, d.inter], d.layers, Role::Experts);
    m.linear("shared_mlp.input_linear", shared.times(2)?, d.hidden, false, d.layers);
    m.linear("shared_mlp.output_linear", d.hidden, shared, false, d.layers);
    let mamba_layers = types.mamba;
    hybrid_facts(&mut m, &d, types, mixer.state()?, mamba_layers)?;
    m.facts.moe = super::moe::moe_facts(c, n, Some(2), None, d.inter)?;
    // Without experts the shared MLP is the MLP.
    if n == 0 {
        m.facts.intermediate = Some(shared);
    }
    Ok(m)
}

/// Nemotron-H's blocks: one mixer per layer, Mamba-2 (`M`), attention (`*`), MLP (`-`) or experts
/// (`E`), as `layers_block_type` (or `layer_types`) lists them, else `hybrid_override_pattern`
/// spells them; the list's length is the number of layers.
#[derive(Default)]
struct Blocks {
    mamba: u64,
    attention: u64,
    mlp: u64,
    moe: u64,
}

impl Blocks {
    fn count(&mut self, block: char) -> Option<()> {
        let slot = match block {
            'M' => &mut self.mamba,
            '*' => &mut self.attention,
            '-' => &mut self.mlp,
            'E' => &mut self.moe,
            _ => return None,
        };
        *slot = slot.checked_add(1)?;
        Some(())
    }

    fn total(&self) -> Result<u64, ArchError> {
        self.mamba.plus(self.attention)?.plus(self.mlp)?.plus(self.moe)
    }
}

fn nemotron_blocks(c: &Cfg) -> Result<Blocks, ArchError> {
    let mut b = Blocks::default();
    for key in ["layers_block_type", "layer_types"] {
        let Some(list) = c.strs(key)? else { continue };
        for name in list {
            let block = match name {
                "mamba" | "linear_attention" => 'M',
                "attention" | "full_attention" => '*',
                "mlp" => '-',
                "moe" => 'E',
                other => return Err(c.invalid(key, &serde_json::Value::from(other), "unknown block type")),
            };
            b.count(block).ok_or(ArchError::Overflow)?;
        }
        return Ok(b);
    }
    let pattern = c.s("hybrid_override_pattern")?.unwrap_or("ME*-");
    for ch in pattern.chars() {
        if b.count(ch).is_none() {
            let raw = serde_json::Value::from(pattern);
            return Err(c.invalid("hybrid_override_pattern", &raw, format!("unknown block {ch:?}")));
        }
    }
    Ok(b)
}

/// Nemotron-H: one mixer per block (Mamba-2, attention, a squared-ReLU MLP, or experts with a
/// shared expert and an optional latent projection), one norm each.
pub fn nemotron_h(c: &Cfg) -> Result<Model, ArchError> {
    let b = nemotron_blocks(c)?;
    let layers = b.total()?;
    let defaults = Defaults::new(131072, 4096, 21504, layers, 32).kv(8).head_dim(128).positions(4096);
    let d = Dims { layers, ..dims(c, &defaults)? };
    let heads = c.u_or("mamba_num_heads", 128)?;
    let head_dim = c.u_or("mamba_head_dim", 64)?;
    let bias = c.flag("use_bias", false)?;
    let mixer = Mamba2 {
        hidden: d.hidden,
        inner: heads.times(head_dim)?,
        heads,
        head_dim,
        groups: c.u_any_or(&["mamba_n_groups", "n_groups"], 8)?,
        state: c.u_or("ssm_state_size", 128)?,
        kernel: c.u_any_or(&["mamba_d_conv", "conv_kernel"], 4)?,
        conv_bias: match c.get("mamba_conv_bias") {
            Some(_) => c.flag("mamba_conv_bias", true)?,
            None => c.flag("use_conv_bias", true)?,
        },
        in_bias: bias,
        out_bias: bias,
        gated_norm: true,
    };
    let mlp_bias = c.flag("mlp_bias", false)?;
    let n = c.u_any_or(&["n_routed_experts", "num_local_experts"], 8)?;
    let width = c.u_or("moe_intermediate_size", 7688)?;
    let shared = c.u_or("moe_shared_expert_intermediate_size", 7688)?;
    let latent = c.u("moe_latent_size")?;
    let mut m = Model::new("nemotron_h");
    embed_and_head(&mut m, d.vocab, d.hidden, tied(c, false)?, false);
    norm(&mut m, "norms", d.hidden, Norm::Weight, layers.plus(1)?);
    mixer.add(&mut m, b.mamba)?;
    attention(&mut m, &d, Attn::NO_BIAS, b.attention)?;
    m.linear("mixer.up_proj", d.inter, d.hidden, mlp_bias, b.mlp);
    m.linear("mixer.down_proj", d.hidden, d.inter, mlp_bias, b.mlp);
    let expert_in = latent.unwrap_or(d.hidden);
    m.add("mixer.gate", &[n, d.hidden], b.moe, Role::Other);
    m.add("mixer.experts.up_proj", &[n, width, expert_in], b.moe, Role::Experts);
    m.add("mixer.experts.down_proj", &[n, expert_in, width], b.moe, Role::Experts);
    m.linear("mixer.shared_experts.up_proj", shared, d.hidden, mlp_bias, b.moe);
    m.linear("mixer.shared_experts.down_proj", d.hidden, shared, mlp_bias, b.moe);
    if let Some(latent) = latent {
        m.linear("mixer.fc1_latent_proj", latent, d.hidden, mlp_bias, b.moe);
        m.linear("mixer.fc2_latent_proj", d.hidden, latent, mlp_bias, b.moe);
    }
    let types = kinds::two((Kind::Full, b.attention), (Kind::Mamba, b.mamba))?;
    hybrid_facts(&mut m, &d, types, mixer.state()?, b.mamba)?;
    let shared_experts = Some(c.u_or("n_shared_experts", 1)?);
    m.facts.moe = super::moe::moe_facts(c, if b.moe > 0 { n } else { 0 }, Some(2), shared_experts, width)?;
    Ok(m)
}

/// Zamba2: a Mamba-2 mixer in every layer; the `hybrid` layers of `layers_block_type` also run one
/// of `num_mem_blocks` shared transformer blocks (attention over `2 * hidden_size`: the hidden
/// state beside the embeddings) through a linear layer of their own, with per-layer LoRA-style
/// adapters in the shared blocks.
pub fn zamba2(c: &Cfg) -> Result<Model, ArchError> {
    let h = c.u_or("hidden_size", 2560)?;
    let vocab = c.u_or("vocab_size", 32000)?;
    let heads = c.u_or("num_attention_heads", 32)?;
    let kv = c.u_or("num_key_value_heads", heads)?;
    let inter = c.u("intermediate_size")?.map_or_else(|| h.times(4), Ok)?;
    // The default list: 54 layers, 9 of them hybrid.
    let (layers, hybrid) = match c.strs("layers_block_type")? {
        Some(list) => {
            let mut hybrid = 0u64;
            for name in &list {
                match *name {
                    "hybrid" => hybrid = hybrid.plus(1)?,
                    "mamba" | "linear_attention" => {}
                    other => {
                        return Err(c.invalid(
                            "layers_block_type",
                            &serde_json::Value::from(other),
                            "unknown block type",
                        ));
                    }
                }
            }
            (list.len() as u64, hybrid)
        }
        None => (54, 9),
    };
    let attn_in = h.times(2)?;
    let head_dim = attn_in.over(heads)?;
    let inner = c.u_or("mamba_expand", 2)?.times(h)?;
    let mamba_heads = c.u_or("n_mamba_heads", 8)?;
    let bias = c.flag("add_bias_linear", false)?;
    let mixer = Mamba2 {
        hidden: h,
        inner,
        heads: mamba_heads,
        head_dim: inner.over(mamba_heads)?,
        groups: c.u_or("mamba_ngroups", 1)?,
        state: c.u_or("mamba_d_state", 64)?,
        kernel: c.u_or("mamba_d_conv", 4)?,
        conv_bias: true,
        in_bias: bias,
        out_bias: bias,
        gated_norm: true,
    };
    let mem_blocks = c.u_or("num_mem_blocks", 1)?;
    let blocks = mem_blocks.min(hybrid);
    // Each shared block holds an adapter for every hybrid slot `i` with `i % num_mem_blocks` its
    // own: the slots are the config's `hybrid_layer_ids` (transformers keeps a saved list even
    // where it disagrees with `layers_block_type`), else the hybrid layers.
    let slots = match c.list("hybrid_layer_ids")? {
        Some(ids) => ids.len() as u64,
        None => hybrid,
    };
    let adapters = slots.over(mem_blocks)?.times(blocks)?.plus(slots.modulo(mem_blocks)?.min(blocks))?;
    let rank = c.u_or("adapter_rank", 128)?;
    let mut m = Model::new("zamba2");
    embed_and_head(&mut m, vocab, h, tied(c, true)?, false);
    mixer.add(&mut m, layers)?;
    norm(&mut m, "norms", h, Norm::Weight, layers.plus(1)?);
    m.linear("linear", h, h, false, hybrid);
    // The shared blocks attend over 2 * hidden_size and answer hidden_size.
    let (q, kv_width) = (heads.times(head_dim)?, kv.times(head_dim)?);
    m.linear("self_attn.q_proj", q, attn_in, false, blocks);
    m.linear("self_attn.k_proj", kv_width, attn_in, false, blocks);
    m.linear("self_attn.v_proj", kv_width, attn_in, false, blocks);
    m.linear("self_attn.o_proj", h, q, false, blocks);
    m.linear("feed_forward.gate_up_proj", inter.times(2)?, h, bias, blocks);
    m.linear("feed_forward.down_proj", h, inter, bias, blocks);
    norm(&mut m, "shared_transformer.input_layernorm", attn_in, Norm::Weight, blocks);
    norm(&mut m, "shared_transformer.pre_ff_layernorm", h, Norm::Weight, blocks);
    m.linear("feed_forward.gate_up_proj_adapter.0", rank, h, false, adapters);
    m.linear("feed_forward.gate_up_proj_adapter.1", inter.times(2)?, rank, false, adapters);
    if c.flag("use_shared_attention_adapter", false)? {
        m.linear("self_attn.qkv_adapters.0", rank, attn_in, false, adapters.times(3)?);
        m.linear("self_attn.qkv_adapters.1", attn_in, rank, false, adapters.times(3)?);
    }
    let positions = Some(c.u_or("max_position_embeddings", 4096)?);
    m.facts = Dims { vocab, hidden: h, inter, layers, heads, kv, head_dim, positions }.facts()?;
    m.facts.layer_types = kinds::two((Kind::Full, hybrid), (Kind::Mamba, layers))?;
    m.facts.state_elements = mixer.state()?.times(layers)?;
    Ok(m)
}
