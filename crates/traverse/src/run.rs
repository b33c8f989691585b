//! `traverse run`: scenario files and flags in, the matrix, report files
//! and logs out. Every input, and every file it will write, is checked
//! before a cell runs, so exit 2 means nothing ran. The run is then
//! followed through the runner's events, as every reporter follows it:
//! the progress bar and a debug trace as cells go, and once the run is
//! finished the matrix on stdout with each report and log file written
//! whole. Ctrl-C or SIGTERM drops every cell, and with them their
//! processes and sockets, before any of that is written.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use traverse_report::{Report, TerminalStyle};
use traverse_runner::{Event, RunOptions, TunnelSpec};
use traverse_scenario::{Scenario, TimeScale, parse_duration};

use crate::exit::Exit;
use crate::files::{self, Destinations};
use crate::progress::Progress;
use crate::{ReportFiles, tunnels_with};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or folders (searched for *.toml); default:
    /// ./scenarios, or where there is none, the built-in scenarios.
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
    #[arg(long, help = jobs_help())]
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

/// How long the processes a run started get to stop before SIGKILL.
const REAP_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs, style: TerminalStyle) -> anyhow::Result<Exit> {
    let known = match tunnels_with(&args.tunnel_files) {
        Ok(known) => known,
        Err(exit) => return Ok(exit),
    };
    let mut tunnels = args
        .tunnels
        .iter()
        .map(|name| TunnelSpec::resolve(name, &known))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let time_scale = TimeScale::new(args.time_scale).with_context(|| {
        format!(
            "--time-scale {} must be above 0 and at most 1000",
            args.time_scale
        )
    })?;
    let scenarios = match crate::scenarios::for_run(&args.paths, &known) {
        Ok(scenarios) => scenarios,
        Err(exit) => return Ok(exit),
    };
    if tunnels.is_empty() {
        tunnels = known.clone();
        tunnels.extend(traverse_runner::expected_tunnels(&scenarios, &known));
    }
    let defaults = RunOptions::default();
    let options = RunOptions {
        jobs: args.jobs.unwrap_or(defaults.jobs).max(1),
        time_scale,
        step_timeout: args.step_timeout,
        ..defaults
    };
    let asked = args.files_out.asked();
    let destinations = Destinations::prepare(asked.iter().map(|(path, _)| path))?;
    if let Some(folder) = &args.logs {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the logs folder {}", folder.display()))?;
        files::check_folder(folder)?;
    }
    let mut cells = traverse_runner::plan(&scenarios, &tunnels);
    if let Some((number, count)) = args.shard {
        cells = traverse_runner::shard(cells, number, count);
    }

    let mut progress = (!args.quiet && std::io::stderr().is_terminal()).then(Progress::new);
    let mut finish = Finish {
        style,
        scenarios: &scenarios,
        time_scale: time_scale.factor(),
        asked,
        destinations: Some(destinations),
        logs: args.logs.clone(),
        exit: None,
    };
    let mut failed: Option<anyhow::Error> = None;
    let on_event = |event: Event<'_>| {
        let reporters: [&mut dyn Reporter; 3] = [&mut progress, &mut Trace, &mut finish];
        for reporter in reporters {
            if let Err(error) = reporter.on_event(event) {
                failed.get_or_insert(error);
            }
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let ran = runtime.block_on(async {
        let run = traverse_runner::run(cells, &options, on_event);
        tokio::select! {
            results = run => Some(results),
            () = crate::signals::interrupted() => None,
        }
    });
    // Dropping the runtime drops every cell still running: each external
    // tunnel's process group is killed with it, so nothing outlives the run.
    drop(runtime);
    traverse_net::process::reap(REAP_GRACE);
    let Some(results) = ran else {
        // Takes the bar off the screen, and the report files' temporary
        // files with it: nothing is written.
        drop(progress);
        drop(finish);
        eprintln!("interrupted: every cell's processes and sockets are gone");
        return Ok(Exit::Interrupted);
    };
    results?;
    if let Some(error) = failed {
        return Err(error);
    }
    finish
        .exit
        .context("the run finished without telling its reporters")
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

/// Follows a run through the runner's events, in the order they come (see
/// [`Event`]). Every output of `run` is one, so the streaming reporters to
/// come are one more. An error is reported once the run is over, and
/// makes it exit 2.
pub trait Reporter {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()>;
}

/// No bar (`-q`, or stderr is not a terminal) hears nothing.
impl<R: Reporter> Reporter for Option<R> {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()> {
        match self {
            Some(reporter) => reporter.on_event(event),
            None => Ok(()),
        }
    }
}

/// Each event as a debug line (`TRAVERSE_LOG=traverse::run=debug`), for
/// seeing which cells are running when a run seems stuck.
struct Trace;

impl Reporter for Trace {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()> {
        match event {
            Event::RunStarted { cells } => tracing::debug!(cells, "run started"),
            Event::CellStarted { cell } => tracing::debug!(
                cell = cell.index,
                scenario = %cell.scenario.name,
                tunnel = cell.tunnel.name(),
                "cell started"
            ),
            Event::CellFinished {
                cell,
                done,
                total,
                result,
            } => tracing::debug!(
                cell = cell.index,
                scenario = %cell.scenario.name,
                tunnel = cell.tunnel.name(),
                verdict = result.verdict.as_str(),
                "cell finished ({done}/{total})"
            ),
            Event::RunFinished { results } => {
                tracing::debug!(cells = results.len(), "run finished");
            }
        }
        Ok(())
    }
}

/// What a finished run leaves: the matrix on stdout, then each report
/// file and each cell's log file, written whole. A run that never
/// finishes leaves none of it.
struct Finish<'a> {
    style: TerminalStyle,
    scenarios: &'a [Scenario],
    time_scale: f64,
    asked: Vec<(PathBuf, traverse_report::Format)>,
    /// Checked before the run; written once it is finished.
    destinations: Option<Destinations>,
    logs: Option<PathBuf>,
    /// How the run ends, once it has.
    exit: Option<Exit>,
}

impl Reporter for Finish<'_> {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()> {
        let Event::RunFinished { results } = event else {
            return Ok(());
        };
        let report = Report::new(results.to_vec(), self.time_scale).with_scenarios(self.scenarios);
        let destinations = self.destinations.take().unwrap_or_default();
        let exit = destinations.emit(report.output(self.style, &self.asked))?;
        if let Some(folder) = &self.logs {
            write_logs(folder, &report.cells)?;
        }
        self.exit = Some(exit);
        Ok(())
    }
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
        files::write_whole(&path, &lines)?;
    }
    Ok(())
}

/// `--jobs`'s help, with the defaults the runner uses.
fn jobs_help() -> String {
    format!(
        "Cells run at once; default: {} per core (cells mostly wait on sockets). \
         Cells that run programs are also held to {} per core",
        traverse_runner::JOBS_PER_CORE,
        traverse_runner::PROCESS_JOBS_PER_CORE
    )
}
