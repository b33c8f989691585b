//! The JSON results document: a stable interface, versioned. A run
//! writes it whole once it is over; while it runs, the same results go to
//! a JSON-lines file beside it as each cell finishes (a header line, then
//! one cell per line), so a run that is killed keeps every finished cell.
//! [`load_results`] reads either, for `merge`, `compare`, `show` and
//! `run --rerun`: what a killed run left reads as results marked
//! incomplete.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use traverse_runner::CellResult;
use traverse_scenario::{Keyword, Scenario, TimeScale};

use crate::terminal::printable;
use crate::{Format, Output, Summary, TerminalStyle};

/// Bumped when a field changes meaning or disappears; adding fields is not
/// a change of version.
pub const SCHEMA_VERSION: u32 = 1;

/// The document `traverse run --json` writes: every cell's result, the
/// paths of the scenarios they ran, and each tunnel's success rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// The results format's version; it changes when a field changes
    /// meaning or disappears, not when one is added.
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub version: u32,
    /// The factor scenario durations were multiplied by.
    pub time_scale: f64,
    /// The scenarios the cells ran, in plan order, with their paths.
    #[serde(default)]
    pub scenarios: Vec<ScenarioPath>,
    /// One result per cell, in plan order.
    pub cells: Vec<CellResult>,
    /// Totals, and each tunnel's success rates.
    pub summary: Summary,
    /// True when the run did not finish (interrupted, stopped by
    /// `--fail-fast`, or killed): `cells` holds only the cells that had
    /// finished. Absent when the run finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

/// A scenario's path from the client to the origin, for pictures of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioPath {
    /// The scenario's name, as its cells' `scenario` gives it.
    pub name: String,
    /// One line on what the topology is.
    #[serde(default)]
    pub description: String,
    /// How common the topology is, for weighted success rates.
    pub weight: f64,
    /// How the tunnel client is set up and driven where the scenario says
    /// so (`proxy_auth`, the probe's `idle`), as the file writes it.
    #[serde(default)]
    pub client: Vec<String>,
    /// From the client toward the origin; empty means direct.
    pub hops: Vec<PathHop>,
    /// `public` or `self-signed`: the certificate the origin serves.
    pub origin_certificate: String,
}

/// One middlebox on a scenario's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathHop {
    /// The label blame uses.
    pub name: String,
    /// Its middlebox kind, as the scenario file writes it (`tls-terminator`).
    pub kind: String,
    /// Its options as the scenario file writes them (`key = value`).
    pub settings: Vec<String>,
    /// Whether clients are configured with it rather than meeting it on
    /// the way to the origin.
    pub explicit: bool,
}

impl From<&Scenario> for ScenarioPath {
    fn from(scenario: &Scenario) -> ScenarioPath {
        ScenarioPath {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            weight: scenario.weight,
            client: scenario.client_settings(),
            hops: scenario
                .hops
                .iter()
                .map(|hop| PathHop {
                    name: hop.name.clone(),
                    kind: hop.kind.kind_name().to_string(),
                    settings: hop.kind.settings(),
                    explicit: hop.kind.is_explicit_proxy(),
                })
                .collect(),
            origin_certificate: scenario.origin.certificate.keyword().to_string(),
        }
    }
}

impl Report {
    pub fn new(cells: Vec<CellResult>, time_scale: f64) -> Report {
        let summary = Summary::of(&cells);
        Report {
            version: SCHEMA_VERSION,
            time_scale,
            scenarios: Vec::new(),
            cells,
            summary,
            incomplete: false,
        }
    }

    /// The same results, marked as those of a run that did not finish.
    pub fn incomplete(mut self) -> Report {
        self.incomplete = true;
        self
    }

    /// The paths of the scenarios that have cells here, in their order.
    pub fn with_scenarios<'a>(
        mut self,
        scenarios: impl IntoIterator<Item = &'a Scenario>,
    ) -> Report {
        let with_cells: HashSet<&str> = self
            .cells
            .iter()
            .map(|cell| cell.scenario.as_str())
            .collect();
        let ran: Vec<ScenarioPath> = scenarios
            .into_iter()
            .filter(|scenario| with_cells.contains(scenario.name.as_str()))
            .map(ScenarioPath::from)
            .collect();
        self.scenarios = ran;
        self
    }

    /// The scenarios and tunnels of the cells, each in plan order.
    pub(crate) fn axes(&self) -> (Vec<&str>, Vec<&str>) {
        crate::summary::axes(&self.cells)
    }

    /// The path of the scenario named `name`, if the results carry it.
    pub fn path_of(&self, name: &str) -> Option<&ScenarioPath> {
        self.scenarios.iter().find(|path| path.name == name)
    }

    pub fn to_json(&self) -> String {
        crate::output::pretty_json(self)
    }
}

/// Joins shards' results into one run's: cells in plan order, the summary
/// made anew. Shards of different runs (another time scale) or a cell in
/// two shards are errors.
pub fn merge(reports: Vec<Report>) -> Result<Report, String> {
    let Some(time_scale) = reports.first().map(|report| report.time_scale) else {
        return Err("nothing to merge".to_string());
    };
    if reports.iter().any(|report| report.time_scale != time_scale) {
        return Err(
            "these results ran at different time scales; they are not shards of one run"
                .to_string(),
        );
    }
    // One shard that did not finish leaves the whole run short of cells.
    let reports_incomplete = reports.iter().any(|report| report.incomplete);
    let mut scenarios: Vec<ScenarioPath> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for report in &reports {
        for path in &report.scenarios {
            if seen.insert(path.name.clone()) {
                scenarios.push(path.clone());
            }
        }
    }
    let mut cells: Vec<CellResult> = reports
        .into_iter()
        .flat_map(|report| report.cells)
        .collect();
    cells.sort_by_key(|cell| cell.cell);
    if let Some(twice) = cells.windows(2).find(|pair| pair[0].cell == pair[1].cell) {
        return Err(format!(
            "cell {} ({} × {}) is in two of these files; shards do not overlap",
            twice[0].cell, twice[0].scenario, twice[0].tunnel
        ));
    }
    // Plan order: a scenario's place is that of its first cell.
    // Cells are sorted, so the first index met for a name is its first cell.
    let mut first_cell: HashMap<&str, usize> = HashMap::new();
    for (at, cell) in cells.iter().enumerate() {
        first_cell.entry(cell.scenario.as_str()).or_insert(at);
    }
    scenarios.sort_by_key(|path| first_cell.get(path.name.as_str()).copied());
    let incomplete = reports_incomplete;
    let mut merged = Report::new(cells, time_scale);
    merged.scenarios = scenarios;
    merged.incomplete = incomplete;
    Ok(merged)
}

/// `traverse merge`: the shards joined into one run, shown as its matrix
/// and written in each format asked for, as `run` would have.
pub fn merge_runs(
    shards: Vec<Report>,
    style: TerminalStyle,
    files: &[(PathBuf, Format)],
) -> Result<Output, String> {
    Ok(merge(shards)?.output(style, files))
}

/// The first line of a results stream: what the document's other fields
/// will be, so the stream alone reads as results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StreamHeader {
    /// The results format's version, under a name no cell has, so a
    /// stream is told from a document by its first line.
    traverse_results_stream: u32,
    time_scale: f64,
    /// Every scenario of the plan; those with no finished cell are left
    /// out when the stream is read.
    scenarios: Vec<ScenarioPath>,
    /// The cells the run planned.
    planned: usize,
}

/// The header line of a results stream, newline included.
pub fn stream_header<'a>(
    time_scale: f64,
    scenarios: impl IntoIterator<Item = &'a Scenario>,
    planned: usize,
) -> String {
    let header = StreamHeader {
        traverse_results_stream: SCHEMA_VERSION,
        time_scale,
        scenarios: scenarios.into_iter().map(ScenarioPath::from).collect(),
        planned,
    };
    line_of(&header)
}

/// One finished cell's line of a results stream, newline included.
pub fn stream_line(cell: &CellResult) -> String {
    line_of(cell)
}

fn line_of(value: &impl Serialize) -> String {
    // Plain data with string keys: serialising cannot fail, and compact
    // JSON has no newline inside, so one line is one value.
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

/// Why results could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is empty, not traverse JSON results")]
    Empty { path: String },
    // serde_json's message quotes the file (an unknown variant, a key), so
    // it is shown made printable, and kept out of the error's source chain,
    // where `{:#}` would print it again as it is.
    #[error("{path} is not traverse JSON results: {}", printable(&error.to_string()))]
    NotResults {
        path: String,
        error: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error(
        "{path}:{line}: not a cell of a traverse results stream: {}",
        printable(&error.to_string())
    )]
    BadLine {
        path: String,
        line: usize,
        error: serde_json::Error,
    },
}

/// Reads results from `path`: a JSON document (`run --json`), or the
/// JSON-lines stream a run writes as it goes (`FILE.partial.jsonl`),
/// which reads as results marked incomplete.
pub fn load_results(path: &Path) -> Result<Report, ResultsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Read {
        path: shown.clone(),
        source,
    })?;
    parse_results(&text, &shown)
}

/// [`load_results`] of each of `paths`, in their order, read side by side
/// on a thread each: `merge` reads every shard of a run, and reading and
/// parsing is most of its time.
pub fn load_all_results(paths: &[PathBuf]) -> Vec<Result<Report, ResultsError>> {
    std::thread::scope(|scope| {
        let loads: Vec<_> = paths
            .iter()
            .map(|path| scope.spawn(move || load_results(path)))
            .collect();
        loads
            .into_iter()
            .map(|load| {
                load.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// [`load_results`] of a text read from `path` (named in errors).
pub fn parse_results(text: &str, path: &str) -> Result<Report, ResultsError> {
    if text.trim().is_empty() {
        return Err(ResultsError::Empty {
            path: path.to_string(),
        });
    }
    let first = text.lines().next().unwrap_or_default();
    let Ok(header) = serde_json::from_str::<StreamHeader>(first) else {
        let report: Report =
            serde_json::from_str(text).map_err(|error| ResultsError::NotResults {
                path: path.to_string(),
                error,
            })?;
        let scenarios: Vec<&ScenarioPath> = report.scenarios.iter().collect();
        validate(
            report.version,
            report.time_scale,
            &scenarios,
            &report.cells,
            path,
        )?;
        return Ok(report);
    };
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    let mut cells: Vec<CellResult> = Vec::new();
    for (at, (number, line)) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(cell) => cells.push(cell),
            // A run killed while writing its last line leaves it cut
            // short; every line before it is whole.
            Err(_) if at + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(error) => {
                return Err(ResultsError::BadLine {
                    path: path.to_string(),
                    line: number + 1,
                    error,
                });
            }
        }
    }
    let planned: Vec<&ScenarioPath> = header.scenarios.iter().collect();
    validate(
        header.traverse_results_stream,
        header.time_scale,
        &planned,
        &cells,
        path,
    )?;
    cells.sort_by_key(|cell| cell.cell);
    let with_cells: HashSet<&str> = cells.iter().map(|cell| cell.scenario.as_str()).collect();
    let scenarios = header
        .scenarios
        .iter()
        .filter(|path| with_cells.contains(path.name.as_str()))
        .cloned()
        .collect();
    let mut report = Report::new(cells, header.time_scale).incomplete();
    report.scenarios = scenarios;
    Ok(report)
}

/// What every reader refuses in results, document or stream alike: a
/// file that would make `compare` or `merge` quietly wrong (the last of
/// two cells winning, a rate weighted by a negative weight, a scale no
/// run can have) is an error naming the file and what is wrong in it.
fn validate(
    version: u32,
    time_scale: f64,
    scenarios: &[&ScenarioPath],
    cells: &[CellResult],
    path: &str,
) -> Result<(), ResultsError> {
    let invalid = |reason: String| ResultsError::Invalid {
        path: path.to_string(),
        reason,
    };
    let name = |text: &str| crate::terminal::printable(text).into_owned();
    if version != SCHEMA_VERSION {
        return Err(invalid(format!(
            "results format version {version} is not one this traverse reads \
             (it reads version {SCHEMA_VERSION})"
        )));
    }
    if TimeScale::new(time_scale).is_none() {
        return Err(invalid(format!(
            "time_scale {time_scale} is not one a run can have (it is more than 0 and at most 1000)"
        )));
    }
    let weight_error = |what: String, weight: f64| {
        invalid(format!(
            "{what} has weight {weight}; a weight is a finite number, 0 or more"
        ))
    };
    let usable = |weight: f64| weight.is_finite() && weight >= 0.0;
    let mut known: HashSet<&str> = HashSet::with_capacity(scenarios.len());
    for scenario in scenarios {
        if !usable(scenario.weight) {
            return Err(weight_error(
                format!("scenario {}", name(&scenario.name)),
                scenario.weight,
            ));
        }
        known.insert(scenario.name.as_str());
    }
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(cells.len());
    for cell in cells {
        let shown = || {
            format!(
                "cell {} ({} × {})",
                cell.cell,
                name(&cell.scenario),
                name(&cell.tunnel)
            )
        };
        // Files from before the list was written carry none; a list
        // present must hold every cell's scenario.
        if !known.is_empty() && !known.contains(cell.scenario.as_str()) {
            return Err(invalid(format!(
                "{} is of scenario {}, which is not in the file's scenarios",
                shown(),
                name(&cell.scenario)
            )));
        }
        if !usable(cell.weight) {
            return Err(weight_error(shown(), cell.weight));
        }
        if !seen.insert((cell.scenario.as_str(), cell.tunnel.as_str())) {
            return Err(invalid(format!(
                "{} is in the file twice; each scenario × tunnel has one result",
                shown()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(fixture::report().to_json());
    }

    #[test]
    fn reads_back_what_it_writes() {
        let report = fixture::report();
        let read: Report = serde_json::from_str(&report.to_json()).expect("results read back");
        assert_eq!(read, report);
    }

    /// Shards hold every other cell, and each only the scenarios of its
    /// cells; merged in either order they are the run again.
    #[test]
    fn shards_merge_back_into_the_run() {
        let run = fixture::report();
        let shard = |keep: usize| {
            let cells: Vec<CellResult> = run
                .cells
                .iter()
                .filter(|cell| cell.cell % 2 == keep)
                .cloned()
                .collect();
            let mut report = Report::new(cells, run.time_scale);
            report.scenarios = run
                .scenarios
                .iter()
                .filter(|path| report.cells.iter().any(|cell| cell.scenario == path.name))
                .cloned()
                .collect();
            report
        };
        assert_eq!(merge(vec![shard(1), shard(0)]), Ok(run.clone()));
        assert_eq!(merge(vec![shard(0), shard(1)]), Ok(run));
    }

    /// `traverse merge` shows and writes the merged run as `run` would.
    #[test]
    fn merge_runs_outputs_the_run_again() {
        let run = fixture::report();
        let files = [(PathBuf::from("merged.json"), Format::Json)];
        let style = TerminalStyle::default();
        assert_eq!(
            merge_runs(vec![run.clone()], style, &files),
            Ok(run.output(style, &files))
        );
        assert!(merge_runs(Vec::new(), style, &files).is_err());
    }

    #[test]
    fn merging_refuses_what_is_not_one_run() {
        let run = fixture::report();
        assert_eq!(
            merge(vec![run.clone(), run.clone()]),
            Err(
                "cell 0 (corp-f5 × ws) is in two of these files; shards do not overlap".to_string()
            )
        );
        let mut slower = run.clone();
        slower.time_scale = 1.0;
        assert!(merge(vec![run, slower]).is_err_and(|why| why.contains("different time scales")));
        assert_eq!(merge(Vec::new()), Err("nothing to merge".to_string()));
    }

    /// The stream a run writes as it goes, cut anywhere after its header,
    /// reads as the cells whose lines are whole, marked incomplete.
    #[test]
    fn a_stream_cut_short_reads_as_its_whole_cells() {
        let run = fixture::report();
        let scenarios: Vec<Scenario> = Vec::new();
        let mut stream = stream_header(run.time_scale, &scenarios, run.cells.len());
        // Cells finish out of plan order.
        for cell in run.cells.iter().rev() {
            stream += &stream_line(cell);
        }
        let whole = parse_results(&stream, "r.jsonl").expect("a whole stream");
        assert!(whole.incomplete);
        assert_eq!(whole.cells, run.cells, "in plan order");
        assert_eq!(whole.summary, run.summary);

        let last_line = stream.trim_end().rfind('\n').expect("lines") + 1;
        for cut in [last_line + 1, stream.len() - 10] {
            let read = parse_results(&stream[..cut], "r.jsonl").expect("cut in the last line");
            assert_eq!(read.cells.len(), run.cells.len() - 1, "cut at {cut}");
            assert!(read.incomplete);
        }
        let unended = parse_results(&stream[..stream.len() - 1], "r.jsonl").expect("read");
        assert_eq!(
            unended.cells.len(),
            run.cells.len(),
            "a whole value lacking its newline"
        );
        let header_only = stream_header(run.time_scale, &scenarios, 4);
        let empty = parse_results(&header_only, "r.jsonl").expect("no cell yet");
        assert!(empty.cells.is_empty() && empty.incomplete);
    }

    #[test]
    fn a_complete_document_reads_as_complete_and_incomplete_round_trips() {
        let run = fixture::report();
        let read = parse_results(&run.to_json(), "r.json").expect("a document");
        assert_eq!(read, run);
        assert!(
            !run.to_json().contains("incomplete"),
            "absent when finished"
        );
        let cut = run.clone().incomplete();
        assert!(cut.to_json().contains("\"incomplete\": true"));
        assert_eq!(parse_results(&cut.to_json(), "r.json").expect("read"), cut);
        assert!(
            merge(vec![cut]).expect("merged").incomplete,
            "merge keeps it"
        );
    }

    #[test]
    fn what_is_not_results_is_named_with_the_reason() {
        let run = fixture::report();
        let error = |text: &str| {
            parse_results(text, "r.json")
                .expect_err("not results")
                .to_string()
        };
        assert_eq!(error(""), "r.json is empty, not traverse JSON results");
        assert!(
            error("{\"version\": 1").starts_with("r.json is not traverse JSON results: "),
            "{}",
            error("{")
        );
        let document = run.to_json();
        assert!(error(&document[..document.len() / 2]).starts_with("r.json is not traverse"));
        // A broken line before the last is damage, not a run cut short.
        let mut stream = stream_header(run.time_scale, &Vec::<Scenario>::new(), 2);
        stream += "{\"cell\": 0}\n";
        stream += &stream_line(&run.cells[0]);
        assert!(
            error(&stream).starts_with("r.json:2: not a cell of a traverse results stream: "),
            "{}",
            error(&stream)
        );
    }

    /// The reason `parse_results` gives for `report` as a document,
    /// changed by `edit`.
    fn refusal(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut document: serde_json::Value =
            serde_json::from_str(&fixture::report().to_json()).expect("json");
        edit(&mut document);
        parse_results(&document.to_string(), "new.json")
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_cell_twice_is_refused_so_the_last_cannot_hide_the_first() {
        let why = refusal(|document| {
            let cells = document["cells"].as_array_mut().expect("cells");
            let mut again = cells[0].clone();
            again["verdict"] = "fail".into();
            cells.insert(0, again);
        });
        assert_eq!(
            why,
            "new.json: cell 0 (corp-f5 × ws) is in the file twice; each scenario × tunnel has one result"
        );
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let why = refusal(|document| document["version"] = 2.into());
        assert_eq!(
            why,
            "new.json: results format version 2 is not one this traverse reads (it reads version 1)"
        );
    }

    #[test]
    fn a_time_scale_no_run_can_have_is_refused() {
        for scale in [-1.0, 0.0, 1e308, 1000.5] {
            let why = refusal(|document| document["time_scale"] = scale.into());
            assert_eq!(
                why,
                format!(
                    "new.json: time_scale {scale} is not one a run can have (it is more than 0 and at most 1000)"
                )
            );
        }
        let mut document: serde_json::Value =
            serde_json::from_str(&fixture::report().to_json()).expect("json");
        document["time_scale"] = 1000.0.into();
        assert!(
            parse_results(&document.to_string(), "r.json").is_ok(),
            "1000 is allowed"
        );
    }

    #[test]
    fn negative_weights_are_refused() {
        let why = refusal(|document| document["cells"][1]["weight"] = (-0.5).into());
        assert!(
            why.starts_with("new.json: cell 1 (")
                && why.ends_with(") has weight -0.5; a weight is a finite number, 0 or more"),
            "{why}"
        );
        let why = refusal(|document| document["scenarios"][0]["weight"] = (-1.0).into());
        assert_eq!(
            why,
            "new.json: scenario corp-f5 has weight -1; a weight is a finite number, 0 or more"
        );
    }

    #[test]
    fn a_cell_of_a_scenario_not_listed_is_refused() {
        let why = refusal(|document| {
            document["cells"][0]["scenario"] = "elsewhere\u{1b}[2J".into();
        });
        assert_eq!(
            why,
            "new.json: cell 0 (elsewhere\\u{1b}[2J × ws) is of scenario elsewhere\\u{1b}[2J, which is not in the file's scenarios"
        );
    }

    /// A stream is read by the same rules as a document.
    #[test]
    fn a_stream_is_refused_for_the_same_reasons() {
        let run = fixture::report();
        let scenarios: Vec<Scenario> = Vec::new();
        let mut stream = stream_header(run.time_scale, &scenarios, 3);
        stream += &stream_line(&run.cells[0]);
        stream += &stream_line(&run.cells[0]);
        let why = parse_results(&stream, "r.partial.jsonl")
            .expect_err("a cell twice")
            .to_string();
        assert!(
            why.starts_with("r.partial.jsonl: cell 0 (corp-f5 × ws) is in the file twice"),
            "{why}"
        );
        let scaled = stream_header(-1.0, &scenarios, 3);
        let why = parse_results(&scaled, "r.partial.jsonl")
            .expect_err("a negative scale")
            .to_string();
        assert!(
            why.starts_with("r.partial.jsonl: time_scale -1 is not"),
            "{why}"
        );
    }

    /// serde_json quotes the file's text in its messages; found by
    /// fuzzing (fuzz/corpus/results/control-character-in-serde-message).
    #[test]
    fn a_results_error_shows_the_file_s_control_characters_escaped() {
        let text =
            fixture::report()
                .to_json()
                .replacen("\"fail\"", "\"\\u001b]0;owned\\u0007\\n\"", 1);
        let error = parse_results(&text, "r.json").expect_err("an unknown verdict");
        let shown = anyhow_like(&error);
        assert!(shown.contains("unknown variant"), "{shown}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        let stream = "{\"traverse_results_stream\":1,\"time_scale\":1.0,\"scenarios\":[],\"planned\":1}\n\
                      {\"verdict\":\"\\u001b[2J\"}\n";
        let error = parse_results(stream, "r.partial.jsonl").expect_err("a bad line");
        let shown = anyhow_like(&error);
        assert!(shown.starts_with("r.partial.jsonl:2: "), "{shown}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }

    /// An error and its sources, as the CLI prints them (`{:#}`).
    fn anyhow_like(error: &ResultsError) -> String {
        let mut shown = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            shown += &format!(": {cause}");
            source = cause.source();
        }
        shown
    }
}
