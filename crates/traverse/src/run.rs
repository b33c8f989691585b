//! `traverse run`: scenario files and flags in, the matrix, report files
//! and logs out. Every input, and every file it will write, is checked
//! before a cell runs, so exit 2 means nothing ran. The plan is narrowed
//! to what was asked (`--scenario`, `--rerun`, `--shard`), then followed
//! through the runner's events, as every reporter follows it: the
//! progress bar, a debug trace and, with `--json`, a line per finished
//! cell in the results stream as cells go; once the run is finished the
//! matrix on stdout with each report and log file written whole. Ctrl-C,
//! SIGTERM or `--fail-fast`'s first unexpected cell drops every cell
//! still running, and with them their processes and sockets; the cells
//! that had finished are then shown and written as results marked
//! incomplete. A SIGKILL leaves the stream, which `merge`, `compare` and
//! `--rerun` read.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use traverse_report::{CellResult, Report, TerminalStyle};
use traverse_runner::{CellSpec, Event, RunOptions, TunnelSpec};
use traverse_scenario::{Scenario, TimeScale, parse_duration};

use crate::exit::Exit;
use crate::files::{self, Destinations};
use crate::progress::{Progress, ProgressLines};
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
    /// Only the scenarios whose name matches GLOB (repeatable; `*`, `?`,
    /// `[abc]`). A pattern that matches no scenario is an error.
    #[arg(long = "scenario", value_name = "GLOB", value_parser = parse_glob)]
    scenario_globs: Vec<glob::Pattern>,
    /// Stop at the first cell that is not as expected: cells still running
    /// are cancelled, the rest not started, and the results written are
    /// marked incomplete (exit 1).
    #[arg(long)]
    fail_fast: bool,
    /// Run only the cells (scenario × tunnel) that were not as expected in
    /// RESULTS, a `--json` file or the `.partial.jsonl` a killed run left.
    #[arg(long, value_name = "RESULTS")]
    rerun: Option<PathBuf>,
    /// An external tunnel's definition file (repeatable): the user's own
    /// server and client commands, driven through every scenario.
    #[arg(long = "tunnel-file", value_name = "FILE")]
    tunnel_files: Vec<PathBuf>,
    #[command(flatten)]
    files_out: ReportFiles,
    #[arg(long, help = jobs_help(), value_parser = parse_jobs)]
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
    /// Print only the matrix: no progress bar on a terminal, no progress
    /// lines into a log.
    #[arg(long, short)]
    quiet: bool,
    /// Which cells the matrix's "Why" section explains, grouped by cause.
    #[arg(long, value_enum, default_value_t = crate::WhyFlag::Unexpected)]
    why: crate::WhyFlag,
}

/// How long the processes a run started get to stop before SIGKILL.
const REAP_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs, style: TerminalStyle) -> anyhow::Result<Exit> {
    let style = TerminalStyle {
        why: args.why.into(),
        ..style
    };
    let known = match tunnels_with(&args.tunnel_files, &args.paths) {
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
    let selected = select_scenarios(&scenarios, &args.scenario_globs)?;
    let rerun = args.rerun.as_deref().map(Rerun::load).transpose()?;
    if tunnels.is_empty() {
        match &rerun {
            // The tunnels that failed, as they were named: one with
            // parameters (`ws+ping=30s`) is not among the defaults.
            Some(rerun) => tunnels = rerun.tunnels(&known),
            None => {
                tunnels = known.clone();
                let chosen: Vec<Scenario> = selected.iter().map(|s| (*s).clone()).collect();
                tunnels.extend(traverse_runner::expected_tunnels(&chosen, &known));
            }
        }
    }
    let defaults = RunOptions::default();
    let options = RunOptions {
        jobs: args.jobs.unwrap_or(defaults.jobs),
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
    // Planned whole and then narrowed, so each cell keeps its place in the
    // full plan, as a shard's cells do.
    let mut cells = traverse_runner::plan(&scenarios, &tunnels);
    if let Some(rerun) = &rerun {
        cells = rerun.select(cells);
    }
    cells.retain(|cell| selected.iter().any(|s| s.name == cell.scenario.name));
    if let Some((number, count)) = args.shard {
        cells = traverse_runner::shard(cells, number, count);
    }
    let planned = cells.len();
    let stream = match &args.files_out.json {
        Some(json) => {
            let header = traverse_report::stream_header(
                time_scale.factor(),
                selected.iter().copied(),
                planned,
            );
            Some(files::ResultStream::create(
                &files::stream_path(json),
                &header,
            )?)
        }
        None => None,
    };

    let on_terminal = std::io::stderr().is_terminal();
    let mut progress = (!args.quiet && on_terminal).then(Progress::new);
    // CI reads a log, not a bar: the cells not as expected as they come.
    let mut lines = (!args.quiet && !on_terminal).then(|| ProgressLines::new(std::io::stderr()));
    let mut finish = Finish {
        style,
        scenarios: &scenarios,
        time_scale: time_scale.factor(),
        asked,
        destinations: Some(destinations),
        logs: args.logs.clone(),
        stream,
        finished: Vec::new(),
        exit: None,
    };
    let mut failed: Option<anyhow::Error> = None;
    let stop = tokio::sync::Notify::new();
    let on_event = |event: Event<'_>| {
        let reporters: [&mut dyn Reporter; 4] =
            [&mut progress, &mut lines, &mut Trace, &mut finish];
        for reporter in reporters {
            if let Err(error) = reporter.on_event(event) {
                failed.get_or_insert(error);
            }
        }
        if let Event::CellFinished { result, .. } = event
            && args.fail_fast
            && !result.as_expected()
        {
            // Kept until the run is polled again: the cells already
            // finished are reported, the others dropped.
            stop.notify_one();
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let ended = runtime.block_on(async {
        let run = traverse_runner::run(cells, &options, on_event);
        tokio::select! {
            results = run => Ended::Finished(results),
            () = crate::signals::interrupted() => Ended::Interrupted,
            () = stop.notified() => Ended::FailedFast,
        }
    });
    // Dropping the runtime drops every cell still running: each external
    // tunnel's process group is killed with it, so nothing outlives the run.
    drop(runtime);
    traverse_net::process::reap(REAP_GRACE);
    let (exit, why) = match ended {
        Ended::Finished(results) => {
            let results = match results {
                Ok(results) => results,
                Err(error) => {
                    // Nothing ran: a stream of no cells would only mislead.
                    if let Some(stream) = finish.stream.take() {
                        stream.remove()?;
                    }
                    return Err(error.into());
                }
            };
            warn_if_starved(&results, options.jobs);
            if let Some(error) = failed {
                return Err(error);
            }
            return finish
                .exit
                .context("the run finished without telling its reporters");
        }
        Ended::Interrupted => (
            Exit::Interrupted,
            "interrupted: every cell's processes and sockets are gone",
        ),
        Ended::FailedFast => (
            Exit::NotAsExpected,
            "stopped at the first cell not as expected (--fail-fast)",
        ),
    };
    // Takes the bar off the screen before the matrix.
    drop(progress);
    eprintln!(
        "{why}; {} of {planned} cells finished, written as incomplete results",
        finish.finished.len()
    );
    finish.stopped()?;
    if let Some(error) = failed {
        return Err(error);
    }
    Ok(exit)
}

/// Cells the harness could not judge because the machine was too busy
/// are failures of the run, not of a hop: the user is told how to avoid
/// them.
fn warn_if_starved(results: &[CellResult], jobs: usize) {
    let starved = results
        .iter()
        .filter(|result| traverse_runner::was_starved(result))
        .count();
    if starved > 0 {
        eprintln!(
            "warning: {starved} of {} cells could not be judged: the harness was starved \
             (this machine is too busy for --jobs {jobs}); run them again with a lower --jobs, \
             or on a quieter machine",
            results.len()
        );
    }
}

/// How the run came to an end.
enum Ended {
    Finished(Result<Vec<CellResult>, traverse_runner::RunError>),
    Interrupted,
    FailedFast,
}

/// `--jobs`: at least one cell at a time.
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0 cells at once would run nothing; give 1 or more".to_string()),
        Ok(jobs) => Ok(jobs),
        Err(_) => Err(format!("\"{text}\" is not a number of cells")),
    }
}

/// A `--scenario` pattern.
fn parse_glob(text: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(text).map_err(|error| format!("\"{text}\" is not a glob pattern: {error}"))
}

/// The scenarios `globs` match (all without any); a pattern that matches
/// none is a typo to be told of before anything runs.
fn select_scenarios<'a>(
    scenarios: &'a [Scenario],
    globs: &[glob::Pattern],
) -> anyhow::Result<Vec<&'a Scenario>> {
    if globs.is_empty() {
        return Ok(scenarios.iter().collect());
    }
    if let Some(unmatched) = globs
        .iter()
        .find(|glob| !scenarios.iter().any(|s| glob.matches(&s.name)))
    {
        let names: Vec<String> = scenarios.iter().map(|s| quoted(&s.name)).collect();
        bail!(
            "--scenario {} matches no scenario; scenarios: {}",
            quoted(unmatched.as_str()),
            names.join(", ")
        );
    }
    Ok(scenarios
        .iter()
        .filter(|s| globs.iter().any(|glob| glob.matches(&s.name)))
        .collect())
}

/// A name from a file, quoted with its control characters escaped, so it
/// cannot move the cursor or colour the terminal it is printed on.
fn quoted(name: &str) -> String {
    format!("{name:?}")
}

/// `--rerun`: the cells that were not as expected in earlier results.
struct Rerun {
    path: PathBuf,
    /// Scenario and tunnel names, in the results' order.
    cells: Vec<(String, String)>,
}

impl Rerun {
    fn load(path: &Path) -> anyhow::Result<Rerun> {
        let results = traverse_report::load_results(path)?;
        let shown = path.display();
        if results.incomplete {
            eprintln!(
                "note: {shown} is from a run that did not finish: of its cells, only the \
                 {} that finished are looked at",
                results.cells.len()
            );
        }
        let cells: Vec<(String, String)> = results
            .cells
            .into_iter()
            .filter(|cell| !cell.as_expected())
            .map(|cell| (cell.scenario, cell.tunnel))
            .collect();
        if cells.is_empty() {
            eprintln!("nothing to rerun: every cell in {shown} was as expected");
        }
        Ok(Rerun {
            path: path.to_path_buf(),
            cells,
        })
    }

    /// The tunnels of the cells to rerun that still exist.
    fn tunnels(&self, known: &[TunnelSpec]) -> Vec<TunnelSpec> {
        let mut tunnels: Vec<TunnelSpec> = Vec::new();
        for (_, name) in &self.cells {
            if !tunnels.iter().any(|tunnel| tunnel.name() == name)
                && let Ok(tunnel) = TunnelSpec::resolve(name, known)
            {
                tunnels.push(tunnel);
            }
        }
        tunnels
    }

    /// The cells of `plan` to rerun; a cell to rerun that is not in the
    /// plan is told of, as its scenario or tunnel is gone (or not asked for).
    fn select(&self, plan: Vec<CellSpec>) -> Vec<CellSpec> {
        let key = |cell: &CellSpec| (cell.scenario.name.clone(), cell.tunnel.name().to_string());
        for (scenario, tunnel) in &self.cells {
            let planned = plan
                .iter()
                .any(|cell| key(cell) == (scenario.clone(), tunnel.clone()));
            if !planned {
                eprintln!(
                    "warning: {}: {} × {} is not rerun: that scenario or tunnel is not in this run",
                    self.path.display(),
                    quoted(scenario),
                    quoted(tunnel)
                );
            }
        }
        plan.into_iter()
            .filter(|cell| self.cells.contains(&key(cell)))
            .collect()
    }
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

/// What a run leaves: the results stream as cells finish; once it is over
/// the matrix on stdout, then each report file and each cell's log file,
/// written whole, and the stream removed. A run stopped midway leaves the
/// same of the cells that had finished, marked incomplete.
struct Finish<'a> {
    style: TerminalStyle,
    scenarios: &'a [Scenario],
    time_scale: f64,
    asked: Vec<(PathBuf, traverse_report::Format)>,
    /// Checked before the run; written once it is finished.
    destinations: Option<Destinations>,
    logs: Option<PathBuf>,
    /// Beside `--json`, until the report files are written.
    stream: Option<files::ResultStream>,
    /// The cells finished so far, in the order they finished.
    finished: Vec<CellResult>,
    /// How the run ends, once it has.
    exit: Option<Exit>,
}

impl Finish<'_> {
    fn write(&mut self, report: Report) -> anyhow::Result<Exit> {
        let destinations = self.destinations.take().unwrap_or_default();
        let exit = destinations.emit(report.output(self.style, &self.asked))?;
        if let Some(folder) = &self.logs {
            write_logs(folder, &report.cells)?;
        }
        // Only once the document it stands in for is in place.
        if let Some(stream) = self.stream.take() {
            stream.remove()?;
        }
        Ok(exit)
    }

    /// Writes the cells that had finished, marked incomplete.
    fn stopped(mut self) -> anyhow::Result<()> {
        let mut cells = std::mem::take(&mut self.finished);
        cells.sort_by_key(|cell| cell.cell);
        let report = Report::new(cells, self.time_scale)
            .with_scenarios(self.scenarios)
            .incomplete();
        self.write(report).map(drop)
    }
}

impl Reporter for Finish<'_> {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()> {
        match event {
            Event::CellFinished { result, .. } => {
                self.finished.push(result.clone());
                if let Some(stream) = &mut self.stream {
                    stream.append(&traverse_report::stream_line(result))?;
                }
            }
            Event::RunFinished { results } => {
                let report =
                    Report::new(results.to_vec(), self.time_scale).with_scenarios(self.scenarios);
                self.exit = Some(self.write(report)?);
            }
            Event::RunStarted { .. } | Event::CellStarted { .. } => {}
        }
        Ok(())
    }
}

/// One file per cell, one JSON object per line: the node, then the record.
fn write_logs(folder: &Path, results: &[CellResult]) -> anyhow::Result<()> {
    for cell in results {
        let path = folder.join(format!(
            "{}--{}.jsonl",
            file_name_part(&cell.scenario),
            file_name_part(&cell.tunnel)
        ));
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

/// A name from a scenario file as part of a file name: a `/` or `..` in it
/// must not put the file outside the folder, nor a control character
/// reach a terminal listing it. What is not plainly safe becomes `_`.
fn file_name_part(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+=,@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => safe,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cannot_leave_the_logs_folder_or_reach_the_terminal() {
        assert_eq!(file_name_part("corp-f5"), "corp-f5");
        assert_eq!(file_name_part("ws+ping=30s"), "ws+ping=30s");
        assert_eq!(file_name_part("../etc/passwd"), "_._etc_passwd");
        assert_eq!(file_name_part("a\u{1b}[31mb c"), "a__31mb_c");
        assert_eq!(file_name_part(".hidden"), "_hidden");
    }
}
