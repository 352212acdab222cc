//! Layer kinds: how many layers of a model attend over the whole context, over a sliding window or
//! a chunk, or keep a recurrent state instead (state-space, linear attention, short convolution).
//! Counted from a config's `layer_types` list or hybrid pattern in one pass over it (both bounded
//! by [`super::limits::LIST_LEN`]), else from the family's rule, arithmetically.

use super::ArchError;
use super::cfg::Cfg;
use super::checked::Checked;
use crate::record::LayerTypes;

/// One layer's token mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Full,
    Sliding,
    Chunked,
    Linear,
    Mamba,
    Conv,
    /// No token mixer (an MLP- or MoE-only block of a hybrid pattern).
    None,
}

/// Adds `n` layers of `kind`.
pub fn add(t: &mut LayerTypes, kind: Kind, n: u64) -> Result<(), ArchError> {
    let slot = match kind {
        Kind::Full => &mut t.full_attention,
        Kind::Sliding => &mut t.sliding_attention,
        Kind::Chunked => &mut t.chunked_attention,
        Kind::Linear => &mut t.linear_attention,
        Kind::Mamba => &mut t.mamba,
        Kind::Conv => &mut t.conv,
        Kind::None => return Ok(()),
    };
    *slot = slot.plus(n)?;
    Ok(())
}

/// How many of the layers `0..layers` are in `list` (duplicates and indices past the end ignored,
/// as transformers' `layer_idx in list` does): sorted once, no loop over the layers.
pub fn listed(list: &[u64], layers: u64) -> u64 {
    let mut inside: Vec<u64> = list.iter().copied().filter(|i| *i < layers).collect();
    inside.sort_unstable();
    inside.dedup();
    inside.len() as u64
}

/// Layer counts of two kinds (the second `n` may be 0).
pub fn two(a: (Kind, u64), b: (Kind, u64)) -> Result<LayerTypes, ArchError> {
    let mut t = all(a.0, a.1)?;
    add(&mut t, b.0, b.1)?;
    Ok(t)
}

/// `layers` layers of one kind.
pub fn all(kind: Kind, layers: u64) -> Result<LayerTypes, ArchError> {
    let mut t = LayerTypes::default();
    add(&mut t, kind, layers)?;
    Ok(t)
}

/// The `layer_types` names transformers' attention-only families use.
pub const ATTENTION_NAMES: &[(&str, Kind)] =
    &[("full_attention", Kind::Full), ("sliding_attention", Kind::Sliding), ("chunked_attention", Kind::Chunked)];

/// The list `key` (one name per layer, `layers` of them, each one of `names`), counted by kind.
pub fn from_list(c: &Cfg, key: &str, layers: u64, names: &[(&str, Kind)]) -> Result<Option<LayerTypes>, ArchError> {
    let Some(list) = c.strs(key)? else { return Ok(None) };
    let raw = c.get(key).unwrap_or(&serde_json::Value::Null);
    if list.len() as u64 != layers {
        return Err(c.invalid(key, raw, format!("{} entries for {layers} layers", list.len())));
    }
    let mut t = LayerTypes::default();
    for name in list {
        let Some((_, kind)) = names.iter().find(|(n, _)| *n == name) else {
            return Err(c.invalid(key, raw, format!("unknown layer type {name:?}")));
        };
        add(&mut t, *kind, 1)?;
    }
    Ok(Some(t))
}

/// Which layers of a decoder without a `layer_types` list use a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sliding {
    /// None.
    Never,
    /// Every layer (Mistral, Mixtral, Starcoder2, Phi-3 and Qwen3-MoE when the window is set).
    All,
    /// Every layer but each `n`-th: `(i + 1) % n != 0` (Gemma 2: 2, Gemma 3: 6, Cohere 2: 4, ...).
    AllButEvery(u64),
    /// Layers `i >= n` (Qwen2, Qwen3: `max_window_layers`).
    From(u64),
    /// Layers `i < n` with `(i + 1) % 2 != 0` (Qwen2-MoE: even layers below `max_window_layers`).
    EvenBelow(u64),
}

/// The attention kinds of a decoder whose every layer attends: the config's `layer_types` when it
/// lists them, else `rule`. Without a `window`, sliding layers attend fully (as transformers
/// builds them). Returns the kinds and the window when some layer uses it.
pub fn attention(
    c: &Cfg,
    layers: u64,
    rule: Sliding,
    window: Option<u64>,
) -> Result<(LayerTypes, Option<u64>), ArchError> {
    let mut t = match from_list(c, "layer_types", layers, ATTENTION_NAMES)? {
        Some(t) => t,
        None => {
            let sliding = match rule {
                Sliding::Never => 0,
                Sliding::All => layers,
                Sliding::AllButEvery(n) => layers.minus(layers.over(n)?)?,
                Sliding::From(n) => layers.saturating_sub(n),
                // Even indices below n.min(layers): ceil(n / 2) of them.
                Sliding::EvenBelow(n) => n.min(layers).div_ceil(2),
            };
            two((Kind::Sliding, sliding), (Kind::Full, layers.minus(sliding)?))?
        }
    };
    match window {
        Some(w) if t.sliding_attention > 0 => Ok((t, Some(w))),
        _ => {
            t.full_attention = t.full_attention.plus(t.sliding_attention)?;
            t.sliding_attention = 0;
            Ok((t, None))
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kinds(t: &LayerTypes) -> (u64, u64) {
        (t.full_attention, t.sliding_attention)
    }

    #[test]
    fn family_rules_count_without_a_loop() {
        let none = json!({});
        let c = Cfg::new(&none);
        let count = |rule, layers| attention(&c, layers, rule, Some(4096)).unwrap();
        // Gemma 3: all but every 6th of 26 layers slide: 22 sliding, 4 full.
        assert_eq!(kinds(&count(Sliding::AllButEvery(6), 26).0), (4, 22));
        // Qwen2: layers from max_window_layers 28 of 32 slide.
        assert_eq!(kinds(&count(Sliding::From(28), 32).0), (28, 4));
        assert_eq!(kinds(&count(Sliding::From(28), 20).0), (20, 0));
        // Qwen2-MoE: even layers below 5 (0, 2, 4) of 8.
        assert_eq!(kinds(&count(Sliding::EvenBelow(5), 8).0), (5, 3));
        assert_eq!(count(Sliding::All, 3), (all(Kind::Sliding, 3).unwrap(), Some(4096)));
        // Without a window, sliding layers attend fully.
        let (t, window) = attention(&c, 26, Sliding::AllButEvery(2), None).unwrap();
        assert_eq!((kinds(&t), window), ((26, 0), None));
    }

    #[test]
    fn a_layer_types_list_rules_and_is_checked() {
        let v = json!({"layer_types": ["sliding_attention", "full_attention", "sliding_attention"]});
        let c = Cfg::new(&v);
        assert_eq!(kinds(&attention(&c, 3, Sliding::Never, Some(512)).unwrap().0), (1, 2));
        let err = attention(&c, 4, Sliding::Never, Some(512)).unwrap_err();
        assert!(
            matches!(&err, ArchError::InvalidConfig { field, why, .. } if field == "layer_types" && why == "3 entries for 4 layers"),
            "{err}"
        );
        let v = json!({"layer_types": ["full_attention", "mamba"]});
        let err = attention(&Cfg::new(&v), 2, Sliding::Never, None).unwrap_err();
        assert!(err.to_string().contains("unknown layer type \"mamba\""), "{err}");
    }

    #[test]
    fn listed_layers_are_deduplicated_and_bounded() {
        assert_eq!(listed(&[3, 0, 3, 99, 1], 4), 3);
        assert_eq!(listed(&[], 4), 0);
    }
}
