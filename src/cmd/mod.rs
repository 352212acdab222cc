//! Command implementations. Each returns the exit code for a completed run (0 or 1) or an error
//! for usage and unusable input (exit 2).

mod build;
pub mod db;
mod discover;
#[cfg(feature = "download")]
mod progress;
mod query;
pub mod resolve;
mod settings;

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command};

/// The whole command line: parses `args` (the program name first), sets up logging, runs the
/// command, and returns the exit code (clap's own for `--help`, `--version` and usage errors).
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    init_tracing();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

/// Logs to stderr at `RUST_LOG` (default `warn`). A second call in one process (the Python
/// package runs commands in-process) keeps the first subscriber.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

fn run(command: Command) -> anyhow::Result<u8> {
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
