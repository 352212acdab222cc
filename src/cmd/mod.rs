//! Command implementations. Each returns the exit code for a completed run (0 or 1) or an error
//! for usage and unusable input (exit 2).

mod build;
mod db;
mod discover;
#[cfg(feature = "download")]
mod progress;
mod query;
mod resolve;
mod settings;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Build(args) => build::build(&args),
        Command::Discover(args) => discover::discover(&args),
        Command::Get { model, json, db } => query::get(&model, json, db.db),
        Command::List { filter, json, failures, db } => query::list(filter.as_deref(), json, failures, db.db),
        Command::Stats { json, db } => query::stats(json, db.db),
        Command::Export { sqlite, db } => db::export(&sqlite, &db),
        Command::Merge { inputs, db } => db::merge(&inputs, &db),
        Command::Resolve { model, revision, json, source, chain } => {
            resolve::resolve(&model, &revision, json, &source, &chain)
        }
        Command::Estimate { config, json, tensors } => resolve::estimate(&config, json, tensors),
    }
}
