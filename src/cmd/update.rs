//! `capcache update`: installs the newest published db into the user's data folder
//! ([`settings::data_dir`]) through [`capcache::update`], and says what it did.

use std::time::Duration;

use anyhow::Context;
use capcache::source::Deadline;
use capcache::source::hub::HubSource;
use capcache::summary::printable;
use capcache::time;
use capcache::update::{Installed, Outcome, db_path};
use serde_json::json;

use super::settings;
use crate::cli::UpdateArgs;

/// How long one download of db.json may take, and the whole update.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const DEADLINE: Duration = Duration::from_secs(1800);

pub fn update(args: &UpdateArgs) -> anyhow::Result<u8> {
    let dir = settings::data_dir().context("cannot tell where to install the db: set XDG_DATA_HOME or HOME")?;
    let mut s = settings::hub_settings(&args.hub);
    s.request_timeout = REQUEST_TIMEOUT;
    let hub = HubSource::new(s).map_err(anyhow::Error::msg)?;
    let outcome = capcache::update::update(
        &hub,
        &args.repo,
        &args.revision,
        &dir,
        &time::now_rfc3339(),
        Deadline::after(DEADLINE),
    )?;
    let path = db_path(&dir);
    let (status, now, previous) = match &outcome {
        Outcome::Unchanged(now) => ("unchanged", now, None),
        Outcome::Installed { previous, now } => ("installed", now, previous.as_ref()),
    };
    if args.json {
        let value = json!({
            "status": status,
            "path": path,
            "installed": now,
            "previous": previous,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(0);
    }
    let what = |i: &Installed| {
        format!(
            "{} models, {} failures, newest record {} ({} at {})",
            i.models,
            i.failures,
            printable(i.newest.as_deref().unwrap_or("none")),
            i.repo,
            &i.commit[..i.commit.len().min(12)]
        )
    };
    match status {
        "unchanged" => eprintln!("{} is up to date: {}", path.display(), what(now)),
        _ => {
            eprintln!("installed {}: {}", path.display(), what(now));
            if let Some(p) = previous {
                eprintln!("replacing {}", what(p));
            }
        }
    }
    Ok(0)
}
