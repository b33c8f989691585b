//! Shell completions and manual pages, generated from the same clap
//! command line that parses the arguments, so they cannot drift from it:
//! `traverse completions SHELL` prints a completion script, `traverse
//! man` prints the manual page (roff) or writes one page per command.
//! Nothing here runs a scenario; it sits beside the data flow.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_complete::Shell;

use crate::exit::Exit;
use crate::files;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (traverse.1, traverse-run.1, ...) into
    /// DIR, created if missing, instead of printing traverse(1).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs, mut command: clap::Command) -> anyhow::Result<Exit> {
    let name = command.get_name().to_string();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(Exit::AsExpected)
}

pub fn man(args: &ManArgs, command: clap::Command) -> anyhow::Result<Exit> {
    // `help` is clap's, and says nothing a page of its own would.
    let mut command = command.disable_help_subcommand(true);
    // Building names each subcommand `traverse-run` and so on, which the
    // pages are titled and named by.
    command.build();
    // Subcommands have no version of their own: each page's footer names
    // traverse's.
    let source = format!("traverse {}", command.get_version().unwrap_or_default());
    match &args.dir {
        None => {
            let page = render(command, &source)?;
            std::io::Write::write_all(&mut std::io::stdout(), page.as_bytes())
                .context("cannot write the manual page")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for path in write_pages(&command, &source, dir)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(Exit::AsExpected)
}

/// `command`'s page and those of its subcommands, each file written whole.
fn write_pages(command: &clap::Command, source: &str, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    let path = dir.join(man.get_filename());
    files::write_whole(&path, &render(command.clone(), source)?)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        written.extend(write_pages(sub, source, dir)?);
    }
    Ok(written)
}

fn render(command: clap::Command, source: &str) -> anyhow::Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .source(source)
        .render(&mut page)
        .context("cannot render the manual page")?;
    String::from_utf8(page).context("the manual page is not UTF-8")
}
