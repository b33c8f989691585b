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
