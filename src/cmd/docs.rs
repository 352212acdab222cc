//! `capcache completions <shell>` (clap_complete) and `capcache man` (clap_mangen): generated from
//! the same clap definition the binary parses with, printed on stdout.

use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    // Generated into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "capcache", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(0)
}

pub fn man() -> anyhow::Result<u8> {
    clap_mangen::Man::new(Cli::command().version(super::env::version())).render(&mut std::io::stdout())?;
    Ok(0)
}
