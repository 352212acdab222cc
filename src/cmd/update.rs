//! `capcache update`: installs the newest published db into the user's data folder
//! ([`settings::data_dir`]) through [`capcache::update`], and says what it did.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use capcache::source::Deadline;
use capcache::source::hub::HubSource;
use capcache::text::printable;
use capcache::time;
use capcache::update::{Installed, Outcome, db_path};
use serde_json::json;

use super::settings;
use crate::cli::UpdateArgs;

/// How long one download of db.json may take, and the whole update.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const DEADLINE: Duration = Duration::from_secs(1800);

pub fn update(args: &UpdateArgs) -> anyhow::Result<u8> {
    let (outcome, path) = install(args)?;
    print(&outcome, &path, args.json)
}

/// Installs the newest published db the flags name into the user's data folder; the outcome and
/// the installed db's path.
pub fn install(args: &UpdateArgs) -> anyhow::Result<(Outcome, PathBuf)> {
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
    Ok((outcome, db_path(&dir)))
}

/// What an update did, as `capcache update --json` prints it: `status` (`installed` or
/// `unchanged`), the installed db's `path`, what is `installed` now and what was before
/// (`previous`, null when nothing was replaced).
pub fn outcome_json(outcome: &Outcome, path: &Path) -> serde_json::Value {
    let (status, now, previous) = parts(outcome);
    json!({"status": status, "path": path, "installed": now, "previous": previous})
}

fn parts(outcome: &Outcome) -> (&'static str, &Installed, Option<&Installed>) {
    match outcome {
        Outcome::Unchanged(now) => ("unchanged", now, None),
        Outcome::Installed { previous, now } => ("installed", now, previous.as_ref()),
    }
}

fn print(outcome: &Outcome, path: &Path, json_out: bool) -> anyhow::Result<u8> {
    let (status, now, previous) = parts(outcome);
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&outcome_json(outcome, path))?)?;
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
