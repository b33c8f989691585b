//! Success rates per tunnel, plain and weighted by scenario weight.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use traverse_runner::{CellResult, Verdict};

/// One tunnel's totals across the run's scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TunnelSummary {
    /// Cells of this tunnel that passed.
    pub passed: usize,
    /// Cells of this tunnel.
    pub total: usize,
    /// `passed / total`, in [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub success_rate: f64,
    /// Passed scenarios' weight over all scenarios' weight, in [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub weighted_success_rate: f64,
}

/// A run's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Cells in the run.
    pub cells: usize,
    /// Cells that passed.
    pub passed: usize,
    /// Cells that failed.
    pub failed: usize,
    /// Cells whose verdict is not what their scenario expects.
    pub unexpected: usize,
    /// Each tunnel's totals, by tunnel name.
    pub tunnels: BTreeMap<String, TunnelSummary>,
}

impl Summary {
    pub fn of(cells: &[CellResult]) -> Summary {
        // Keyed by borrowed names: a name is copied once per tunnel, not
        // once per cell of a million-cell merge.
        let mut tunnels: BTreeMap<&str, (usize, usize, f64, f64)> = BTreeMap::new();
        for cell in cells {
            let entry = tunnels.entry(cell.tunnel.as_str()).or_default();
            entry.1 += 1;
            entry.3 += cell.weight;
            if cell.verdict == Verdict::Pass {
                entry.0 += 1;
                entry.2 += cell.weight;
            }
        }
        let passed = cells
            .iter()
            .filter(|cell| cell.verdict == Verdict::Pass)
            .count();
        Summary {
            cells: cells.len(),
            passed,
            failed: cells.len() - passed,
            unexpected: cells.iter().filter(|cell| !cell.as_expected()).count(),
            tunnels: tunnels
                .into_iter()
                .map(|(name, (passed, total, passed_weight, total_weight))| {
                    (
                        name.to_string(),
                        TunnelSummary {
                            passed,
                            total,
                            success_rate: ratio(passed as f64, total as f64),
                            weighted_success_rate: ratio(passed_weight, total_weight),
                        },
                    )
                })
                .collect(),
        }
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

impl Summary {
    /// The closing line every report ends with.
    pub(crate) fn counts_line(&self) -> String {
        format!(
            "{} {}: {} passed, {} failed, {} not as expected",
            self.cells,
            if self.cells == 1 { "cell" } else { "cells" },
            self.passed,
            self.failed,
            self.unexpected
        )
    }
}

/// A failure's category with its status, as every report words it:
/// `refused 400`, `tls`.
pub(crate) fn category_text(cell: &CellResult) -> String {
    let category = cell.category.map_or("?", |category| category.as_str());
    match cell.status {
        Some(status) => format!("{category} {status}"),
        None => category.to_string(),
    }
}

/// A cell's verdict as every report words it: `pass`, `fail refused 400`,
/// and for a fallback tunnel the transport that got through, `pass via
/// long-poll`.
pub(crate) fn verdict_text(cell: &CellResult) -> String {
    match cell.verdict {
        Verdict::Pass => match &cell.transport {
            Some(transport) => format!("pass via {transport}"),
            None => "pass".to_string(),
        },
        Verdict::Fail => format!("fail {}", category_text(cell)),
    }
}

/// The scenarios and the tunnels of `cells`, each in plan order: the rows
/// and columns of every matrix.
pub(crate) fn axes<'a>(
    cells: impl IntoIterator<Item = &'a CellResult>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut scenarios: Vec<&str> = Vec::new();
    let mut tunnels: Vec<&str> = Vec::new();
    // Sets beside the lists keep this linear in cells: a million-cell
    // matrix is rendered by `merge`.
    let mut seen_scenarios: HashSet<&str> = HashSet::new();
    let mut seen_tunnels: HashSet<&str> = HashSet::new();
    // A scenario's cells come one after another: only a new name is hashed.
    let mut previous: Option<&str> = None;
    for cell in cells {
        if previous != Some(cell.scenario.as_str()) && seen_scenarios.insert(&cell.scenario) {
            scenarios.push(&cell.scenario);
        }
        previous = Some(&cell.scenario);
        if seen_tunnels.insert(&cell.tunnel) {
            tunnels.push(&cell.tunnel);
        }
    }
    (scenarios, tunnels)
}

/// A value's name as the JSON results spell it (`stripped-upgrade`).
pub(crate) fn serde_name<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|json| json.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{value:?}"))
}
