//! `config`: the parameter count from `config.json` alone: the logical count equals transformers'
//! for every supported architecture; the stored counts predict the layout transformers saves
//! today, and `may_also_store` what a checkpoint may hold beyond it.

use super::{Ctx, Found, Miss};
use crate::arch::{self, ArchError};
use crate::count::Counts;
use crate::record::{MayAlsoStore, Outcome};

pub fn run(ctx: &Ctx) -> Result<Found, Miss> {
    let Some(config) = ctx.config else { return Err(Miss::absent("no config.json")) };
    if ctx.adapter.is_some() {
        return Err(Miss::absent(
            "an adapter-only repository: its config.json describes the base model, not the adapter",
        ));
    }
    let est = arch::estimate(config).map_err(|e| match e {
        ArchError::Unsupported(_) | ArchError::NoModelType => {
            Miss::new(Outcome::UnsupportedArchitecture, e.to_string())
        }
        ArchError::InvalidConfig { .. } | ArchError::Overflow => Miss::new(Outcome::InvalidConfig, e.to_string()),
    })?;
    let mut notes = vec![format!(
        "estimated from config.json ({} family): parameters and weight_bytes predict the layout transformers saves today; a published checkpoint may also hold what may_also_store lists",
        est.family
    )];
    if est.approximate {
        notes.push("unknown architecture: a generic decoder was assumed".into());
    }
    let total = est
        .parameters
        .values()
        .try_fold(0u64, |acc, n| acc.checked_add(*n))
        .ok_or_else(|| Miss::new(Outcome::InvalidConfig, "the predicted counts overflow 64 bits"))?;
    let counts = Counts {
        total,
        parameters: est.parameters,
        weight_bytes: est.weight_bytes,
        logical: est.logical,
        routed: est.routed,
        unknown_dtypes: Default::default(),
        may_also_store: est
            .may_also_store
            .iter()
            .map(|(what, parameters)| MayAlsoStore { what: (*what).to_owned(), parameters: *parameters })
            .collect(),
        notes,
    };
    Ok(Found {
        counts,
        exact: false,
        approximate: est.approximate,
        files: vec!["config.json".into()],
        architecture: None,
        adapter: None,
    })
}
