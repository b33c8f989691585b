//! Success rates per tunnel, plain and weighted by scenario weight.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use traverse_runner::{CellResult, Verdict};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunnelSummary {
    pub passed: usize,
    pub total: usize,
    /// `passed / total`, in [0, 1].
    pub success_rate: f64,
    /// Passed scenarios' weight over all scenarios' weight, in [0, 1].
    pub weighted_success_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub cells: usize,
    pub passed: usize,
    pub failed: usize,
    /// Cells whose verdict is not what their scenario expects.
    pub unexpected: usize,
    pub tunnels: BTreeMap<String, TunnelSummary>,
}

impl Summary {
    pub fn of(cells: &[CellResult]) -> Summary {
        let mut tunnels: BTreeMap<String, (usize, usize, f64, f64)> = BTreeMap::new();
        for cell in cells {
            let entry = tunnels.entry(cell.tunnel.clone()).or_default();
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
                        name,
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
