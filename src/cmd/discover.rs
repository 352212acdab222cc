//! `capcache discover`: model ids from the Hub's model listing, one a line (ready for models.txt),
//! or the listed entries as JSON.

use anyhow::Context;
use capcache::discover::listing::{self, SHOW_FIELDS};
use capcache::discover::query::ListingQuery;

use super::settings;
use crate::cli::DiscoverArgs;

/// The listing query the flags describe (the same checks as a `discover:` line).
fn query(a: &DiscoverArgs) -> anyhow::Result<ListingQuery> {
    let singles = [
        ("author", &a.author),
        ("search", &a.search),
        ("pipeline_tag", &a.pipeline_tag),
        ("gated", &a.gated),
        ("sort", &a.sort),
        ("limit", &a.limit),
    ];
    let pairs = singles
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .chain(a.filter.iter().map(|v| ("filter", v.clone())))
        .chain(a.apps.iter().map(|v| ("apps", v.clone())));
    ListingQuery::from_pairs(pairs).context("capcache discover")
}

pub fn discover(args: &DiscoverArgs) -> anyhow::Result<u8> {
    let query = query(args)?;
    if settings::offline() {
        anyhow::bail!("HF_HUB_OFFLINE is set: the model listing {}", settings::NO_LISTING);
    }
    let hub = settings::hub(&args.hub)?;
    let found = match listing::list(&hub, &query, SHOW_FIELDS) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(step) = super::resolve::next_step(e.outcome()) {
                eprintln!("{step}");
            }
            return Ok(1);
        }
    };
    if args.json {
        let mut out = Vec::with_capacity(found.models.len());
        for m in &found.models {
            let mut v = serde_json::to_value(&m.info)?;
            v["id"] = m.id.as_str().into();
            if let Some(s) = &m.snapshot {
                v["sha"] = s.sha.as_str().into();
                if let Some(p) = &s.hub_parameters {
                    v["parameters"] = serde_json::to_value(p)?;
                }
            }
            out.push(v);
        }
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        let mut text = String::new();
        for m in &found.models {
            text.push_str(m.id.as_str());
            text.push('\n');
        }
        out!("{text}")?;
    }
    if found.skipped > 0 {
        eprintln!("note: {} listed entries had ids that are not `org/name` and were skipped", found.skipped);
    }
    if found.truncated {
        eprintln!("note: the listing has more than {} models; give --limit to choose how many", found.models.len());
    }
    Ok(0)
}
