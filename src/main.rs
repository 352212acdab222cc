//! The capcache binary: parse arguments, resolve the environment into settings, run a command,
//! map the outcome to an exit code (0 all good, 1 some models failed or not found, 2 usage or
//! unusable input).

mod cli;
mod cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let version = cmd::version();
    let matches = cli::Cli::command().version(version.clone()).long_version(version).get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing();
    match cmd::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs on stderr, filtered by `RUST_LOG` (default: warnings), coloured only on a terminal and
/// never with `NO_COLOR`.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        cmd::settings::log_filter().and_then(|f| EnvFilter::try_new(f).ok()).unwrap_or_else(|| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cmd::settings::color(std::io::stderr().is_terminal()))
        .with_target(false)
        .init();
}
