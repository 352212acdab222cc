//! Command implementations. Each returns the exit code for a completed run (0 or 1) or an error
//! for usage and unusable input (exit 2).

/// `println!` that returns the write's error instead of panicking on it, so a closed pipe
/// (`capcache list | head`) ends the command quietly (see [`main`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` as [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod build;
pub mod db;
mod diff;
mod discover;
mod docs;
mod env;
mod interrupt;
#[cfg(feature = "download")]
mod progress;
mod query;
pub mod resolve;
pub mod settings;
mod site;
pub mod update;

use std::ffi::OsString;

use std::io::IsTerminal;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

/// The whole command line: parses `args` (the program name first), sets up logging, runs the
/// command, and returns the exit code (clap's own for `--help`, `--version` and usage errors).
/// `--version` names the embedded db's record count and newest record.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let version = env::version();
    let parsed = Cli::command()
        .version(version.clone())
        .long_version(version)
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    init_tracing();
    match run(cli.command) {
        Ok(code) => code,
        // The reader went away (`| head`): what it wanted it has; nothing more to say.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            let hub = e.chain().find_map(|c| c.downcast_ref::<crate::source::SourceError>());
            if let Some(step) = hub.and_then(|h| resolve::next_step(h.outcome())) {
                eprintln!("{step}");
            }
            2
        }
    }
}

/// An error and its causes, `a: b: c`, each cause once: an error whose message already quotes its
/// cause (`cannot read X: {source}`) is not followed by that cause again.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Logs to stderr at `RUST_LOG` (default `warn`), coloured only on a terminal and never with
/// `NO_COLOR`. A second call in one process (the Python package runs commands in-process) keeps
/// the first subscriber.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        settings::log_filter().and_then(|f| EnvFilter::try_new(f).ok()).unwrap_or_else(|| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(settings::color(std::io::stderr().is_terminal()))
        .with_target(false)
        .try_init();
}

fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Build(args) => build::build(&args),
        Command::Discover(args) => discover::discover(&args),
        Command::Get { models, json, db } => query::get(&models, json, db.db),
        Command::List { filter, json, failures, db } => query::list(filter.as_deref(), json, failures, db.db),
        Command::Stats { json, db } => query::stats(json, db.db),
        Command::Export { sqlite, db, json } => db::export(&sqlite, &db, json),
        Command::Merge { inputs, db, json } => db::merge(&inputs, &db, json),
        Command::Import { db, sqlite, json } => db::import(&db, &sqlite, json),
        Command::Env { json, db } => env::env(json, db.db),
        Command::Diff { old, new, json } => diff::diff(&old, &new, json),
        Command::Update(args) => update::update(&args),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { command, dir } => docs::man(command.as_deref(), dir.as_deref()),
        Command::Resolve { model, revision, json, source, chain } => {
            resolve::resolve(&model, &revision, json, &source, &chain)
        }
        Command::Estimate { config, json, tensors } => resolve::estimate(&config, json, tensors),
        Command::Site { out, json, db } => site::site(&out, db.db, json),
    }
}
