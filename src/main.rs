//! The capcache binary: parse arguments, resolve the environment into settings, run a command,
//! map the outcome to an exit code (0 all good, 1 some models failed or not found, 2 usage or
//! unusable input). The work is in the library's `cmd::main` (feature `cli`), which the Python
//! package's `capcache` command runs too.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(capcache::cmd::main(std::env::args_os()))
}
