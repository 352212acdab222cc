//! Command implementations. Each returns the exit code for a completed run (0 or 1) or an error
//! for usage and unusable input (exit 2).

mod build;
mod db;
mod docs;
mod env;
#[cfg(feature = "download")]
mod progress;
mod query;
mod resolve;
pub mod settings;

pub use env::version;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Build(args) => build::build(&args),
        Command::Get { models, json, db } => query::get(&models, json, db.db),
        Command::List { filter, json, failures, db } => query::list(filter.as_deref(), json, failures, db.db),
        Command::Stats { json, db } => query::stats(json, db.db),
        Command::Export { sqlite, db, json } => db::export(&sqlite, &db, json),
        Command::Merge { inputs, db, json } => db::merge(&inputs, &db, json),
        Command::Import { db, sqlite, json } => db::import(&db, &sqlite, json),
        Command::Env { json, db } => env::env(json, db.db),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
        Command::Resolve { model, revision, json, source, chain } => {
            resolve::resolve(&model, &revision, json, &source, &chain)
        }
        Command::Estimate { config, json, tensors } => resolve::estimate(&config, json, tensors),
    }
}
