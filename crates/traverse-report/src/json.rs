//! The JSON results document: a stable interface, versioned.

use serde::{Deserialize, Serialize};
use traverse_runner::CellResult;

use crate::Summary;

/// Bumped when a field changes meaning or disappears; adding fields is not
/// a change of version.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    /// The factor scenario durations were multiplied by.
    pub time_scale: f64,
    pub cells: Vec<CellResult>,
    pub summary: Summary,
}

impl Report {
    pub fn new(cells: Vec<CellResult>, time_scale: f64) -> Report {
        let summary = Summary::of(&cells);
        Report {
            version: SCHEMA_VERSION,
            time_scale,
            cells,
            summary,
        }
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
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
    Ok(Report::new(cells, time_scale))
}
