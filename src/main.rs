//! The capcache binary: parse arguments, resolve the environment into settings, run a command,
//! map the outcome to an exit code (0 all good, 1 some models failed or not found, 2 usage or
//! unusable input). The work is in [`cmd::main`], which the Python package's `capcache` command
//! runs too.

mod cli;
mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(cmd::main(std::env::args_os()))
}
