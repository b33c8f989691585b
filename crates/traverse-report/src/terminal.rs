//! The matrix as text: scenarios down, tunnels across, each cell `pass` or
//! `fail` with its category; a mark where the verdict is not what the
//! scenario expects; then why each failure happened and who did it.

use std::fmt::Write as _;

use traverse_runner::{CellResult, Verdict};

use crate::Summary;
use crate::summary::{category_text, verdict_text};

/// Renders results in plan order (scenario by scenario).
pub fn render(cells: &[CellResult]) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    let mut tunnels: Vec<&str> = Vec::new();
    for cell in cells {
        if !scenarios.contains(&cell.scenario.as_str()) {
            scenarios.push(&cell.scenario);
        }
        if !tunnels.contains(&cell.tunnel.as_str()) {
            tunnels.push(&cell.tunnel);
        }
    }
    let find = |scenario: &str, tunnel: &str| {
        cells
            .iter()
            .find(|cell| cell.scenario == scenario && cell.tunnel == tunnel)
    };
    let rows: Vec<Vec<String>> = scenarios
        .iter()
        .map(|scenario| {
            std::iter::once(scenario.to_string())
                .chain(
                    tunnels
                        .iter()
                        .map(|tunnel| find(scenario, tunnel).map(cell_text).unwrap_or_default()),
                )
                .collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("scenario".to_string())
        .chain(tunnels.iter().map(|tunnel| tunnel.to_string()))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }

    let failures: Vec<&CellResult> = cells
        .iter()
        .filter(|cell| cell.verdict == Verdict::Fail)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nWhy:");
        for cell in failures {
            let _ = writeln!(
                out,
                "  {} × {}: {} — blame {}: {}",
                cell.scenario,
                cell.tunnel,
                category_text(cell),
                cell.blame.as_deref().unwrap_or("?"),
                cell.detail
            );
        }
    }
    let unexpected: Vec<&CellResult> = cells.iter().filter(|cell| !cell.as_expected()).collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "\nNot as expected (marked !):");
        for cell in unexpected {
            let _ = writeln!(
                out,
                "  {} × {}: expected {}, got {}",
                cell.scenario,
                cell.tunnel,
                cell.expected.map_or("?", Verdict::as_str),
                cell.verdict.as_str()
            );
        }
    }

    let summary = Summary::of(cells);
    let _ = writeln!(out, "\nSuccess rate by tunnel:");
    for tunnel in &tunnels {
        if let Some(rate) = summary.tunnels.get(*tunnel) {
            let _ = writeln!(
                out,
                "  {tunnel:<width$}  {}/{} passed ({:.0} %), weighted {:.0} %",
                rate.passed,
                rate.total,
                rate.success_rate * 100.0,
                rate.weighted_success_rate * 100.0,
                width = widths.iter().skip(1).copied().max().unwrap_or(0)
            );
        }
    }
    let _ = writeln!(out, "\n{}", summary.counts_line());
    out
}

fn cell_text(cell: &CellResult) -> String {
    let verdict = verdict_text(cell);
    let verdict = if cell.poisonable == Some(true) {
        format!("{verdict} poisonable")
    } else {
        verdict
    };
    if cell.as_expected() {
        verdict
    } else {
        format!("{verdict} !")
    }
}
