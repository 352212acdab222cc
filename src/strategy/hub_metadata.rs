//! `hub-metadata`: the Hub's own `safetensors.parameters` from the model API answer the snapshot
//! already holds (no extra request). The Hub gives per-dtype totals only, so the logical count comes
//! from the config strategy when it knows the architecture.

use super::{Ctx, Found, Miss};
use crate::arch;
use crate::count::Counts;
use crate::dtype;
use crate::record::Origin;

pub fn run(ctx: &Ctx) -> Result<Found, Miss> {
    let Some(params) = &ctx.snap.hub_parameters else {
        return Err(Miss::absent(match ctx.source.origin() {
            Origin::Hub => "no Hub safetensors metadata for this revision",
            Origin::Local | Origin::Other(_) => "a local folder has no Hub metadata",
        }));
    };
    if params.is_empty() {
        return Err(Miss::absent("the Hub's safetensors metadata is empty"));
    }
    let mut c = Counts { parameters: params.clone(), ..Counts::default() };
    for (name, n) in params {
        c.total = c.total.checked_add(*n).ok_or_else(|| Miss::invalid("Hub metadata", "counts overflow"))?;
        match dtype::lookup(name).and_then(|d| d.bytes_for(*n)) {
            Some(b) => c.weight_bytes = c.weight_bytes.saturating_add(b),
            None => {
                c.unknown_dtypes.insert(name.clone());
            }
        }
    }
    if !c.unknown_dtypes.is_empty() {
        let list: Vec<&str> = c.unknown_dtypes.iter().map(String::as_str).collect();
        c.notes.push(format!("unknown dtypes {}: their bytes are not in weight_bytes", crate::names::some(&list)));
    }
    let config = ctx.config.filter(|_| ctx.adapter.is_none());
    c.logical = match config.map(arch::estimate) {
        _ if ctx.adapter.is_some() => {
            c.notes.push("logical_parameters are the adapter's stored elements".into());
            c.total
        }
        Some(Ok(est)) if !est.approximate => {
            c.notes.push(
                "logical_parameters from the config strategy (the Hub metadata has per-dtype totals only)".into(),
            );
            c.routed = est.routed;
            est.logical
        }
        _ => {
            c.notes.push("logical_parameters assumed equal to the stored total (no usable config.json)".into());
            c.total
        }
    };
    let files = ctx.snap.files.iter().filter(|f| f.ends_with(".safetensors")).cloned().collect();
    Ok(Found::exact(c, files))
}
