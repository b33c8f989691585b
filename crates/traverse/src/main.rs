//! The `traverse` command: the edge where files and flags become a run and
//! results become output and an exit code. `run` reads scenarios, runs the
//! matrix and prints it; `merge` joins shards' results; `compare` compares
//! runs; `validate` checks scenario files; `list` shows the tunnels and
//! middlebox kinds; `proxy` runs one mock by hand in front of a real
//! server; `tunnel` runs one half of a built-in tunnel; `certs` writes a
//! run's certificates for using the mocks by hand; `scenarios` lists or
//! writes out the scenarios built in; `completions` and `man` print what
//! shells and man read. Every command ends in an [`Exit`], and every file
//! it writes is written whole.

mod completions;
mod exit;
mod files;
mod progress;
mod proxy;
mod run;
mod scenarios;
mod show;
mod signals;
mod tunnel;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use traverse_report::{ComparisonFormat, Format, Report};
use traverse_runner::TunnelSpec;
use traverse_scenario::{Scenario, ScenarioError};
use traverse_tunnel::BUILTIN;

use crate::exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "traverse",
    version,
    about = "Runs tunnels through mock middleboxes and reports which get through, and why not"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--color`, for the commands that print a matrix: on any other it would
/// be a flag that does nothing.
#[derive(Debug, clap::Args)]
struct ColourArg {
    /// Colour the matrix: `auto` colours a terminal (unless NO_COLOR is set).
    #[arg(long, value_enum, default_value_t = Colour::Auto)]
    color: Colour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Colour {
    Auto,
    Always,
    Never,
}

/// Colour and width for the matrix on stdout: fitted and coloured on a
/// terminal, plain and whole into a file or a pipe.
fn terminal_style(colour: Colour) -> traverse_report::TerminalStyle {
    let stdout = console::Term::stdout();
    traverse_report::TerminalStyle {
        colour: match colour {
            Colour::Always => true,
            Colour::Never => false,
            // Looks at stdout being a terminal, NO_COLOR and CLICOLOR_FORCE.
            Colour::Auto => console::colors_enabled(),
        },
        width: stdout
            .size_checked()
            .map(|(_rows, columns)| usize::from(columns)),
        why: traverse_report::Why::default(),
    }
}

/// `--why`: which cells the matrix's "Why" section explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WhyFlag {
    /// Every failure, grouped by cause.
    All,
    /// Only the cells not as expected, grouped by cause.
    Unexpected,
    /// No "Why" section.
    None,
}

impl From<WhyFlag> for traverse_report::Why {
    fn from(flag: WhyFlag) -> traverse_report::Why {
        match flag {
            WhyFlag::All => traverse_report::Why::All,
            WhyFlag::Unexpected => traverse_report::Why::Unexpected,
            WhyFlag::None => traverse_report::Why::None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios × tunnels and print the matrix.
    Run {
        #[command(flatten)]
        args: run::RunArgs,
        #[command(flatten)]
        colour: ColourArg,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Tunnel definition files, checked too and known to [expect].
        #[arg(long = "tunnel-file", value_name = "FILE")]
        tunnel_files: Vec<PathBuf>,
    },
    /// List the built-in tunnels and the middlebox kinds with their options.
    List,
    /// Run one mock middlebox by hand in front of a real server, printing
    /// its transaction log as it happens.
    Proxy(proxy::ProxyArgs),
    /// Run a built-in tunnel's server or client half on its own, as a
    /// port-forwarder (the contract external tunnels follow).
    #[command(subcommand)]
    Tunnel(tunnel::TunnelCommand),
    /// Join the JSON results of shards into the results of one run.
    Merge {
        /// The shards' JSON results.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the merged results, in any of the run's formats.
        #[command(flatten)]
        files_out: ReportFiles,
        /// Which cells the matrix's "Why" section explains, grouped by cause.
        #[arg(long, value_enum, default_value_t = WhyFlag::Unexpected)]
        why: WhyFlag,
        #[command(flatten)]
        colour: ColourArg,
    },
    /// Print one cell's whole story from a run's JSON results: its path,
    /// verdict, blame and detail, the blamed hop's log and the others'.
    Show(show::ShowArgs),
    /// Compare two runs' JSON results (exit 1 on any regression), or rank
    /// the tunnels of one run by how much they traverse.
    Compare {
        /// OLD.json NEW.json, or one run's results.
        #[arg(required = true, num_args = 1..=2)]
        files: Vec<PathBuf>,
        /// Also write the comparison, or the ranking, as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also write the comparison, or the ranking, as Markdown to FILE,
        /// for a pull-request comment.
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
    },
    /// Write a fresh set of test certificates and keys as PEM files.
    Certs {
        /// Folder to write into; default: the per-user cache
        /// ($XDG_CACHE_HOME/traverse/certs, or ~/.cache/traverse/certs).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// List the scenarios built into traverse, or write them out.
    #[command(subcommand)]
    Scenarios(scenarios::ScenariosCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the manual page as roff, or write one page per command.
    Man(completions::ManArgs),
}

/// The files a run's (or a merge's) results are written to, besides the
/// matrix on stdout.
#[derive(Debug, clap::Args)]
struct ReportFiles {
    /// Also write the results as JSON to FILE (what `merge` and `compare` read).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the results as JUnit XML to FILE, for CI systems.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write the results as Markdown to FILE, for a pull-request comment.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also write the results as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

impl ReportFiles {
    /// The files asked for, each with its format.
    fn asked(&self) -> Vec<(PathBuf, Format)> {
        asked([
            (&self.json, Format::Json),
            (&self.junit, Format::Junit),
            (&self.markdown, Format::Markdown),
            (&self.html, Format::Html),
        ])
    }
}

/// The flags given, of `flags` (a path each), with what each writes.
fn asked<F, const N: usize>(flags: [(&Option<PathBuf>, F); N]) -> Vec<(PathBuf, F)> {
    flags
        .into_iter()
        .filter_map(|(path, format)| Some((path.clone()?, format)))
        .collect()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAVERSE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let matches = Cli::command().after_help(Exit::help()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    // A run killed outright (SIGKILL, a cancelled CI job) left its real
    // programs running and listening, and its folders on disk: nothing of
    // it ran to stop them. Every command cleans up after such a run first.
    let reaped = traverse_net::leftovers::reap(&[proxy::own_certs_parent()]);
    if reaped != traverse_net::leftovers::Reaped::default() {
        // Not on stderr: a run that reaped must print what any run prints.
        tracing::info!(
            "stopped {} programs and removed {} folders of a traverse that was killed",
            reaped.processes,
            reaped.folders
        );
    }
    let exit = dispatch(cli).unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        Exit::InvalidInput
    });
    exit.into()
}

fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run { args, colour } => run::run(args, terminal_style(colour.color)),
        Command::Validate {
            paths,
            tunnel_files,
        } => Ok(validate(&paths, &tunnel_files)),
        // Its matrix takes `auto` until `--color` is a merge flag in
        // docs/cli.md's synopsis too.
        Command::Merge {
            files,
            files_out,
            why,
            colour,
        } => files::emit(
            traverse_report::merge_runs(
                read_reports(&files)?,
                traverse_report::TerminalStyle {
                    why: why.into(),
                    ..terminal_style(colour.color)
                },
                &files_out.asked(),
            )
            .map_err(anyhow::Error::msg)?,
        ),
        Command::Show(args) => show::show(&args),
        Command::Compare {
            files,
            json,
            markdown,
        } => files::emit(
            traverse_report::compare_runs(
                &read_reports(&files)?,
                &asked([
                    (&json, ComparisonFormat::Json),
                    (&markdown, ComparisonFormat::Markdown),
                ]),
            )
            .map_err(anyhow::Error::msg)?,
        ),
        Command::List => {
            print!("{}", listing());
            Ok(Exit::AsExpected)
        }
        Command::Proxy(args) => proxy::run(args).map(|()| Exit::AsExpected),
        Command::Tunnel(command) => tunnel::run(command).map(|()| Exit::AsExpected),
        Command::Certs { out } => certs(&proxy::certs_folder(out)?),
        Command::Scenarios(command) => scenarios::run(command, &builtin()),
        Command::Completions(args) => completions::completions(&args, Cli::command()),
        Command::Man(args) => completions::man(&args, Cli::command()),
    }
}

/// Prints each valid scenario; every error of every file is printed
/// instead, and exit 2.
fn validate(paths: &[PathBuf], tunnel_files: &[PathBuf]) -> Exit {
    match inputs(paths, tunnel_files) {
        Ok((_known, scenarios)) => {
            for scenario in &scenarios {
                // The name is the file's text, on its way to a terminal.
                println!(
                    "{}: ok ({})",
                    traverse_scenario::harmless(&scenario.path.display().to_string()),
                    traverse_scenario::harmless(&scenario.name)
                );
            }
            Exit::AsExpected
        }
        Err(exit) => exit,
    }
}

fn certs(out: &std::path::Path) -> anyhow::Result<Exit> {
    let pki = traverse_pki::Pki::generate()?;
    for file in pki.write_pem(out)? {
        println!("{file}");
    }
    Ok(Exit::AsExpected)
}

/// The built-in tunnels and those of tunnel files, with the files'
/// mistakes, kept to be printed with the scenarios' own.
struct Tunnels {
    known: Vec<TunnelSpec>,
    /// Every mistake of the files, a name taken by another tunnel too.
    errors: Vec<ScenarioError>,
    /// The names of the tunnels whose files have mistakes.
    unread: Vec<String>,
}

/// Reads every tunnel file, each one's mistakes kept, whose names must be new.
fn tunnel_files(files: &[PathBuf]) -> Tunnels {
    let mut known = builtin();
    let built_in: Vec<&str> = BUILTIN.iter().map(|tunnel| tunnel.name).collect();
    let loaded = traverse_scenario::load_tunnels(files, &built_in);
    known.extend(loaded.definitions.into_iter().map(TunnelSpec::from));
    Tunnels {
        known,
        errors: loaded.errors,
        unread: loaded.unread,
    }
}

/// The built-in tunnels and those of `files`. Otherwise every mistake of
/// every tunnel file is printed, and with them those of the scenario files
/// named in `paths`, so that a run with both wrong takes one round.
fn tunnels_with(files: &[PathBuf], paths: &[PathBuf]) -> Result<Vec<TunnelSpec>, Exit> {
    let tunnels = tunnel_files(files);
    if tunnels.errors.is_empty() {
        Ok(tunnels.known)
    } else if paths.is_empty() {
        Err(report(tunnels.errors))
    } else {
        Err(inputs(paths, files).err().unwrap_or(Exit::InvalidInput))
    }
}

/// `errors`, and those of what the scenarios expect, valid or not. An
/// expectation of an `unread` tunnel (its file has a mistake) is not of an
/// unknown tunnel: that would be a second error for the one mistake.
fn scenario_errors(
    mut errors: Vec<ScenarioError>,
    loaded: &traverse_scenario::Loaded,
    known: &[TunnelSpec],
    unread: &[String],
) -> Vec<ScenarioError> {
    let checked = [&loaded.scenarios[..], &loaded.unfinished[..]].concat();
    let of_unread = |error: &ScenarioError| {
        checked
            .iter()
            .flat_map(|scenario| &scenario.expect)
            .filter(|expectation| Some(&expectation.location) == error.location())
            .any(|expectation| {
                let tunnel = expectation.tunnel.split('+').next().unwrap_or_default();
                unread.iter().any(|name| name == tunnel)
            })
    };
    let expectations = traverse_runner::check_expectations(&checked, known);
    errors.extend(expectations.into_iter().filter(|error| !of_unread(error)));
    errors
}

/// The tunnels and the scenarios of `paths`, tunnel files and scenario
/// files checked in one pass: every mistake of every file is printed at
/// once, file by file, and the exit is 2.
fn inputs(
    paths: &[PathBuf],
    tunnel_files: &[PathBuf],
) -> Result<(Vec<TunnelSpec>, Vec<Scenario>), Exit> {
    let tunnels = self::tunnel_files(tunnel_files);
    let mut loaded = traverse_scenario::load_each(paths);
    let mut errors = tunnels.errors;
    errors.append(&mut loaded.errors);
    let errors = scenario_errors(errors, &loaded, &tunnels.known, &tunnels.unread);
    if errors.is_empty() {
        return Ok((tunnels.known, loaded.scenarios));
    }
    Err(report(errors))
}

/// Results files written by `traverse run --json`, or the stream a killed
/// run left beside one.
fn read_reports(paths: &[PathBuf]) -> anyhow::Result<Vec<Report>> {
    paths
        .iter()
        .zip(traverse_report::load_all_results(paths))
        .map(|(path, loaded)| {
            let report = loaded?;
            if report.incomplete {
                eprintln!(
                    "note: {} is from a run that did not finish: it holds {} cells",
                    path.display(),
                    report.cells.len()
                );
            }
            Ok(report)
        })
        .collect()
}

fn builtin() -> Vec<TunnelSpec> {
    BUILTIN.iter().copied().map(TunnelSpec::from).collect()
}

/// Prints every error, file by file and top to bottom, each under its
/// source line with a caret; the exit for invalid input.
fn report(errors: Vec<ScenarioError>) -> Exit {
    let style = if console::colors_enabled_stderr() {
        traverse_scenario::Style::Coloured
    } else {
        traverse_scenario::Style::Plain
    };
    let errors = traverse_scenario::in_file_order(errors);
    eprint!("{}", traverse_scenario::render(&errors, style));
    Exit::InvalidInput
}

/// Loads and validates scenarios; expectations may name any tunnel in
/// `known`, whichever ones this run uses. Every mistake is printed at once.
fn load(paths: &[PathBuf], known: &[TunnelSpec]) -> Result<Vec<Scenario>, Exit> {
    let mut loaded = traverse_scenario::load_each(paths);
    let errors = scenario_errors(std::mem::take(&mut loaded.errors), &loaded, known, &[]);
    if errors.is_empty() {
        Ok(loaded.scenarios)
    } else {
        Err(report(errors))
    }
}

/// Scenarios as loaded, wherever from, once their expectations are checked.
fn expecting(
    loaded: Result<Vec<Scenario>, Vec<ScenarioError>>,
    known: &[TunnelSpec],
) -> Result<Vec<Scenario>, Exit> {
    let scenarios = loaded.map_err(report)?;
    let errors = traverse_runner::check_expectations(&scenarios, known);
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(report(errors))
    }
}

fn listing() -> String {
    let mut out = String::from("Tunnels:\n");
    let width = BUILTIN
        .iter()
        .map(|tunnel| tunnel.name.len())
        .max()
        .unwrap_or(0);
    for tunnel in BUILTIN {
        out += &format!("  {:<width$}  {}\n", tunnel.name, tunnel.description);
    }
    out += "\nTunnel parameters (NAME+PARAMETER[=VALUE]..., in this order, like ws+ping=30s or \
            ws+fragment=4096+text; at most one keepalive):\n";
    for parameter in traverse_tunnel::PARAMETERS {
        out += &format!("  {:<16}  {}\n", parameter.usage(), parameter.meaning);
    }
    out += "\nFallbacks: fallback(TUNNEL,TUNNEL,...), like fallback(ws,wss), tries each tunnel in \
            order and passes over the first that passes, naming it\n\n";
    out += &traverse_scenario::kinds_listing();
    out +=
        "\n[client] proxy_auth = \"user:password\" | \"\" overrides the credentials clients use\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Help comes from the doc comments clap reads, beside each flag; one
    /// without is a flag whose help is missing, or written somewhere else.
    #[test]
    fn every_argument_says_what_it_does() {
        fn undocumented(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() && !path.is_empty() {
                missing.push(format!("`traverse{path}`"));
            }
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && !["help", "version"].contains(&arg.get_id().as_str())
                {
                    missing.push(format!("`traverse{path}` {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                undocumented(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no help for: {}", missing.join(", "));
    }

    /// The CLI reference's synopsis of each command (under "Usage") names
    /// the flags clap has, no more and no fewer, so the two cannot drift.
    #[test]
    fn the_cli_reference_synopsis_has_clap_s_flags() {
        let reference = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md"),
        )
        .expect("docs/cli.md");
        let synopsis = reference
            .split("\n## Usage\n")
            .nth(1)
            .and_then(|usage| usage.split("```").nth(1))
            .expect("a code block under ## Usage");
        let cli = Cli::command();
        let global: Vec<String> = cli
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
            .collect();
        let mut written: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for line in synopsis
            .lines()
            .filter(|line| line.starts_with("traverse "))
        {
            let mut command = &cli;
            let mut path = String::new();
            for word in line.split_whitespace().skip(1) {
                match command.find_subcommand(word) {
                    Some(sub) => {
                        command = sub;
                        path += &format!(" {word}");
                    }
                    None => break,
                }
            }
            let flags = written.entry(path).or_default();
            for token in line.split(|c: char| c.is_whitespace() || c == '[') {
                let flag = token.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
                if flag.starts_with('-') && !global.iter().any(|global| global == flag) {
                    flags.push(flag.to_string());
                }
            }
        }
        let mut drift = Vec::new();
        for (path, flags) in &written {
            let mut command = &cli;
            for word in path.split_whitespace() {
                command = command.find_subcommand(word).expect("found above");
            }
            let options: Vec<Vec<String>> = command
                .get_arguments()
                .filter(|arg| !arg.is_positional())
                .map(|arg| {
                    let long = arg.get_long().map(|long| format!("--{long}"));
                    let short = arg.get_short().map(|short| format!("-{short}"));
                    long.into_iter().chain(short).collect()
                })
                .collect();
            for names in &options {
                if !names.iter().any(|name| flags.contains(name)) {
                    drift.push(format!(
                        "`traverse{path}` has {} (not in docs/cli.md)",
                        names[0]
                    ));
                }
            }
            for flag in flags {
                if !options.iter().any(|names| names.contains(flag)) {
                    drift.push(format!(
                        "`traverse{path}` has no {flag} (docs/cli.md says it has)"
                    ));
                }
            }
        }
        // Every command a user can type has its synopsis line.
        fn leaves(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            let subs: Vec<&clap::Command> = command
                .get_subcommands()
                .filter(|sub| sub.get_name() != "help")
                .collect();
            if subs.is_empty() {
                out.push(path.to_string());
            }
            for sub in subs {
                leaves(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut commands = Vec::new();
        leaves(&cli, "", &mut commands);
        for command in &commands {
            if !written.contains_key(command) {
                drift.push(format!(
                    "`traverse{command}` has no synopsis line in docs/cli.md"
                ));
            }
        }
        assert!(drift.is_empty(), "{}", drift.join("\n"));
    }
}
