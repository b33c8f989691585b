//! The JSON results document: a stable interface, versioned.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use traverse_runner::CellResult;
use traverse_scenario::{Keyword, Scenario};

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
        }
    }

    /// The paths of the scenarios that have cells here, in their order.
    pub fn with_scenarios<'a>(
        mut self,
        scenarios: impl IntoIterator<Item = &'a Scenario>,
    ) -> Report {
        let ran: Vec<ScenarioPath> = scenarios
            .into_iter()
            .filter(|scenario| self.cells.iter().any(|cell| cell.scenario == scenario.name))
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
    let mut scenarios: Vec<ScenarioPath> = Vec::new();
    for report in &reports {
        for path in &report.scenarios {
            if !scenarios.iter().any(|known| known.name == path.name) {
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
    let first_cell = |name: &str| cells.iter().position(|cell| cell.scenario == name);
    scenarios.sort_by_key(|path| first_cell(&path.name));
    let mut merged = Report::new(cells, time_scale);
    merged.scenarios = scenarios;
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
}
