//! `capcache completions <shell>` (clap_complete) and `capcache man` (clap_mangen): generated from
//! the same clap definition the binary parses with, printed on stdout or written into a folder.

use std::path::Path;

use anyhow::{Context, bail};
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    // Generated into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "capcache", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(0)
}

/// The whole command tree, versioned and built (so subcommands carry their full names and the
/// global version, as the pages cross-reference them: `capcache-build(1)`).
fn tree() -> clap::Command {
    let mut cmd = Cli::command().version(super::env::version());
    cmd.build();
    cmd
}

/// One subcommand's page command: named `capcache-NAME` so the page's title and synopsis match the
/// `capcache-NAME(1)` the top page's SEE ALSO names.
fn page(cmd: &clap::Command, name: &str) -> anyhow::Result<clap::Command> {
    let Some(sub) = cmd.find_subcommand(name) else {
        let names: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).filter(|n| *n != "help").collect();
        bail!("no command {name:?}; the commands are: {}", names.join(", "));
    };
    let version = cmd.get_version().unwrap_or_default().to_owned();
    Ok(sub.clone().name(format!("capcache-{}", sub.get_name())).version(version))
}

/// Every page: the top page, then one per subcommand (not clap's `help`).
fn pages() -> anyhow::Result<Vec<clap::Command>> {
    let cmd = tree();
    let mut out = vec![cmd.clone()];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        out.push(page(&cmd, sub.get_name())?);
    }
    Ok(out)
}

fn render(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut roff)?;
    Ok(roff)
}

pub fn man(command: Option<&str>, dir: Option<&Path>) -> anyhow::Result<u8> {
    if let Some(dir) = dir {
        fs_err::create_dir_all(dir)?;
        let pages = pages()?;
        for cmd in &pages {
            let path = dir.join(format!("{}.1", cmd.get_name()));
            fs_err::write(&path, render(cmd.clone())?).with_context(|| format!("cannot write {}", path.display()))?;
        }
        eprintln!("wrote {} man pages into {}", pages.len(), dir.display());
        return Ok(0);
    }
    let cmd = tree();
    let roff = match command {
        None => render(cmd)?,
        Some(name) => render(page(&cmd, name)?)?,
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), &roff)?;
    Ok(0)
}
