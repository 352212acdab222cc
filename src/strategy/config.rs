//! `config`: the parameter count from `config.json` alone (an estimate of the stored layout; the
//! logical count equals transformers' for every supported architecture).

use super::{Ctx, Found, Miss};
use crate::arch::{self, ArchError};
use crate::count::Counts;
use crate::record::Outcome;

pub fn run(ctx: &Ctx) -> Result<Found, Miss> {
    let Some(config) = ctx.config else { return Err(Miss::absent("no config.json")) };
    let est = arch::estimate(config).map_err(|e| match e {
        ArchError::Unsupported(_) | ArchError::NoModelType => {
            Miss::new(Outcome::UnsupportedArchitecture, e.to_string())
        }
        ArchError::InvalidConfig { .. } | ArchError::Overflow => Miss::new(Outcome::InvalidConfig, e.to_string()),
    })?;
    let mut notes = vec![format!(
        "estimated from config.json ({} family); parameters and weight_bytes predict the stored layout",
        est.family
    )];
    if est.approximate {
        notes.push("unknown architecture: a generic decoder was assumed".into());
    }
    let total = est.parameters.values().try_fold(0u64, |sum, n| sum.checked_add(*n));
    let total = total.ok_or_else(|| Miss::new(Outcome::InvalidConfig, ArchError::Overflow.to_string()))?;
    let counts = Counts {
        total,
        parameters: est.parameters,
        weight_bytes: est.weight_bytes,
        logical: est.logical,
        unknown_dtypes: Default::default(),
        notes,
    };
    Ok(Found {
        counts,
        exact: false,
        approximate: est.approximate,
        files: vec!["config.json".into()],
        architecture: None,
    })
}
