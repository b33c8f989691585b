//! The `traverse` command: the edge where files and flags become a run and
//! results become output and an exit code. `run` reads scenarios, runs the
//! matrix and prints it; `validate` checks scenario files; `list` shows the
//! tunnels and middlebox kinds; `proxy` runs one mock by hand in front of a
//! real server; `certs` writes a run's certificates for using the mocks by
//! hand.
//!
//! Exit codes: 0 every cell met its expectation, 1 one did not, 2 invalid
//! input (nothing ran).

mod progress;
mod proxy;
mod tunnel;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use traverse_report::Report;
use traverse_runner::{Event, RunOptions, TunnelSpec};
use traverse_scenario::{Scenario, ScenarioError, TimeScale, parse_duration};
use traverse_tunnel::BUILTIN;

#[derive(Debug, Parser)]
#[command(
    name = "traverse",
    version,
    about = "Runs tunnels through mock middleboxes and reports which get through, and why not"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour the matrix: `auto` colours a terminal (unless NO_COLOR is set).
    #[arg(long, global = true, value_enum, default_value_t = Colour::Auto)]
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
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios × tunnels and print the matrix.
    Run(RunArgs),
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
    },
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
        /// Folder to write into.
        #[arg(long, default_value = "certs/out")]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario files or folders (searched for *.toml).
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Only these tunnels (repeatable); default: every built-in tunnel and
    /// every tunnel file given.
    #[arg(long = "tunnel", value_name = "NAME")]
    tunnels: Vec<String>,
    /// An external tunnel's definition file (repeatable): the user's own
    /// server and client commands, driven through every scenario.
    #[arg(long = "tunnel-file", value_name = "FILE")]
    tunnel_files: Vec<PathBuf>,
    #[command(flatten)]
    files_out: ReportFiles,
    /// Cells run at once; default: the number of cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Factor applied to scenario durations (0.01: 100 s take 1 s).
    #[arg(long, default_value_t = TimeScale::DEFAULT.factor())]
    time_scale: f64,
    /// The longest one step (connect, handshake, one echo) may take.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    step_timeout: Duration,
    /// Write every node's transaction log, one JSON line per connection,
    /// to DIR/<scenario>--<tunnel>.jsonl.
    #[arg(long, value_name = "DIR")]
    logs: Option<PathBuf>,
    /// Run only shard K of N (from 1): every N-th cell of the plan, for
    /// spreading a matrix over CI jobs; `traverse merge` joins the results.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Print only the matrix, no progress bar.
    #[arg(long, short)]
    quiet: bool,
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

/// One of the report formats: results in, the file's text out.
type Renderer = fn(&Report) -> String;

/// A report file, created before anything runs.
struct OpenReport {
    path: PathBuf,
    file: std::fs::File,
    render: Renderer,
}

impl ReportFiles {
    /// Creates every file first: one that cannot be written is invalid
    /// input, found before running, so exit 2 keeps meaning nothing ran.
    fn create(&self) -> anyhow::Result<Vec<OpenReport>> {
        let formats: [(&Option<PathBuf>, Renderer); 4] = [
            (&self.json, Report::to_json),
            (&self.junit, traverse_report::render_junit),
            (&self.markdown, traverse_report::render_markdown),
            (&self.html, traverse_report::render_html),
        ];
        formats
            .into_iter()
            .filter_map(|(path, render)| Some((path.clone()?, render)))
            .map(|(path, render)| {
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(OpenReport { path, file, render })
            })
            .collect()
    }
}

impl OpenReport {
    fn write(mut self, report: &Report) -> anyhow::Result<()> {
        std::io::Write::write_all(&mut self.file, (self.render)(report).as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAVERSE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = terminal_style(cli.color);
    match cli.command {
        Command::Run(args) => run(args, style),
        Command::Validate {
            paths,
            tunnel_files,
        } => Ok(
            match tunnels_with(&tunnel_files).and_then(|known| load(&paths, &known)) {
                Ok(scenarios) => {
                    for scenario in &scenarios {
                        println!("{}: ok ({})", scenario.path.display(), scenario.name);
                    }
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            },
        ),
        Command::Proxy(args) => {
            proxy::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tunnel(command) => {
            tunnel::run(command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge { files, files_out } => {
            let reports = files
                .iter()
                .map(|file| read_report(file))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let merged = traverse_report::merge(reports).map_err(|why| anyhow::anyhow!(why))?;
            let outputs = files_out.create()?;
            print!("{}", traverse_report::render_styled(&merged.cells, style));
            for output in outputs {
                output.write(&merged)?;
            }
            Ok(if merged.summary.unexpected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Compare {
            files,
            json,
            markdown,
        } => {
            let reports = files
                .iter()
                .map(|file| read_report(file))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let write = |path: &PathBuf, text: String| {
                std::fs::write(path, text)
                    .with_context(|| format!("cannot write {}", path.display()))
            };
            if let [run] = reports.as_slice() {
                print!("{}", traverse_report::render_ranking(run));
                if let Some(path) = &json {
                    let ranking = traverse_report::rank(run);
                    write(
                        path,
                        serde_json::to_string_pretty(&ranking).unwrap_or_default(),
                    )?;
                }
                if let Some(path) = &markdown {
                    write(path, traverse_report::render_ranking_markdown(run))?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            let comparison = traverse_report::compare(&reports[0], &reports[1]);
            print!("{}", traverse_report::render_comparison(&comparison));
            if let Some(path) = &json {
                write(
                    path,
                    serde_json::to_string_pretty(&comparison).unwrap_or_default(),
                )?;
            }
            if let Some(path) = &markdown {
                write(
                    path,
                    traverse_report::render_comparison_markdown(&comparison),
                )?;
            }
            Ok(if comparison.has_regressions() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::List => {
            print!("{}", listing());
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs { out } => {
            let pki = traverse_pki::Pki::generate()?;
            for file in pki.write_pem(&out)? {
                println!("{file}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads and validates scenarios, printing every error; on any, exit 2.
/// Ctrl-C or SIGTERM (a CI job being cancelled): either ends the run
/// cleanly, killing every tunnel and proxy process it started.
async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// The built-in tunnels and those of `files`, whose names must be new.
fn tunnels_with(files: &[PathBuf]) -> Result<Vec<TunnelSpec>, ExitCode> {
    let mut known = builtin();
    for file in files {
        let definition =
            traverse_scenario::load_tunnel(file).map_err(|error| report(vec![error]))?;
        if known.iter().any(|tunnel| tunnel.name() == definition.name) {
            eprintln!(
                "{}: the tunnel name \"{}\" is taken; name the file's tunnel differently (`name = ...`)",
                file.display(),
                definition.name
            );
            return Err(ExitCode::from(2));
        }
        known.push(definition.into());
    }
    Ok(known)
}

/// `K/N` for `--shard`: shard K (from 1) of N.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(number, count)| Some((number.parse().ok()?, count.parse().ok()?)));
    match parsed {
        Some((number, count)) if number >= 1 && number <= count => Ok((number, count)),
        _ => Err(format!("\"{text}\" is not K/N with 1 <= K <= N, like 2/4")),
    }
}

/// A results file written by `traverse run --json`.
fn read_report(path: &std::path::Path) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not traverse JSON results", path.display()))
}

/// How long the processes a run started get to stop before SIGKILL.
const REAP_GRACE: Duration = Duration::from_secs(5);

fn builtin() -> Vec<TunnelSpec> {
    BUILTIN.iter().copied().map(TunnelSpec::from).collect()
}

fn report(errors: Vec<ScenarioError>) -> ExitCode {
    for error in &errors {
        eprintln!("{error}");
    }
    ExitCode::from(2)
}

/// Loads and validates scenarios; expectations may name any tunnel in
/// `known`, whichever ones this run uses.
fn load(paths: &[PathBuf], known: &[TunnelSpec]) -> Result<Vec<Scenario>, ExitCode> {
    let scenarios = traverse_scenario::load_all(paths).map_err(report)?;
    let known: Vec<&str> = known.iter().map(TunnelSpec::name).collect();
    let errors = traverse_runner::check_expectations(&scenarios, &known);
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(report(errors))
    }
}

fn run(args: RunArgs, style: traverse_report::TerminalStyle) -> anyhow::Result<ExitCode> {
    let known = match tunnels_with(&args.tunnel_files) {
        Ok(known) => known,
        Err(code) => return Ok(code),
    };
    let mut tunnels = Vec::new();
    for name in &args.tunnels {
        let tunnel = known
            .iter()
            .find(|tunnel| tunnel.name() == name)
            .with_context(|| {
                let names: Vec<&str> = known.iter().map(TunnelSpec::name).collect();
                format!("unknown tunnel \"{name}\"; tunnels: {}", names.join(", "))
            })?;
        tunnels.push(tunnel.clone());
    }
    if tunnels.is_empty() {
        tunnels = known.clone();
    }
    let time_scale = TimeScale::new(args.time_scale).with_context(|| {
        format!(
            "--time-scale {} must be above 0 and at most 1000",
            args.time_scale
        )
    })?;
    let scenarios = match load(&args.paths, &known) {
        Ok(scenarios) => scenarios,
        Err(code) => return Ok(code),
    };
    let defaults = RunOptions::default();
    let options = RunOptions {
        jobs: args.jobs.unwrap_or(defaults.jobs).max(1),
        time_scale,
        step_timeout: args.step_timeout,
    };
    let outputs = args.files_out.create()?;
    if let Some(folder) = &args.logs {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the logs folder {}", folder.display()))?;
    }
    let mut cells = traverse_runner::plan(&scenarios, &tunnels);
    if let Some((number, count)) = args.shard {
        cells = traverse_runner::shard(cells, number, count);
    }
    let mut progress =
        (!args.quiet && std::io::stderr().is_terminal()).then(progress::Progress::new);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let on_event = |event: Event<'_>| {
        if let Some(progress) = &mut progress {
            progress.on_event(event);
        }
    };
    let interrupted = runtime.block_on(async {
        let run = traverse_runner::run(cells, &options, on_event);
        tokio::select! {
            results = run => Some(results),
            () = interrupted() => None,
        }
    });
    if let Some(progress) = &mut progress {
        progress.clear();
    }
    let Some(results) = interrupted else {
        // Dropping the runtime drops every cell: each external tunnel's
        // process group is killed with it, so nothing outlives the run.
        drop(runtime);
        traverse_net::process::reap(REAP_GRACE);
        eprintln!("interrupted: every cell's processes and sockets are gone");
        return Ok(ExitCode::from(130));
    };
    drop(runtime);
    traverse_net::process::reap(REAP_GRACE);
    let results = results?;
    print!("{}", traverse_report::render_styled(&results, style));
    let report = Report::new(results, time_scale.factor()).with_scenarios(&scenarios);
    for output in outputs {
        output.write(&report)?;
    }
    if let Some(folder) = &args.logs {
        write_logs(folder, &report.cells)?;
    }
    Ok(if report.summary.unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One file per cell, one JSON object per line: the node, then the record.
fn write_logs(
    folder: &std::path::Path,
    results: &[traverse_report::CellResult],
) -> anyhow::Result<()> {
    for cell in results {
        let path = folder.join(format!("{}--{}.jsonl", cell.scenario, cell.tunnel));
        let mut lines = String::new();
        for log in &cell.logs {
            for record in &log.records {
                let mut line = serde_json::to_value(record)?;
                if let Some(object) = line.as_object_mut() {
                    object.insert("node".to_string(), log.node.clone().into());
                }
                lines += &format!("{line}\n");
            }
        }
        std::fs::write(&path, lines).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
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
    out += "\n";
    out += &traverse_scenario::kinds_listing();
    out +=
        "\n[client] proxy_auth = \"user:password\" | \"\" overrides the credentials clients use\n";
    out
}
