//! Comparing runs: how each tunnel's success rate moved between two runs
//! (plain and weighted by scenario weight), which cells regressed (passed,
//! now fail) or were fixed, and which appeared or disappeared; and, within
//! one run, which transport traverses the most of the given topologies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use traverse_runner::{CellResult, Verdict};

use crate::{Report, Summary};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TunnelDelta {
    pub tunnel: String,
    /// Success rates in the old and new run, where the tunnel ran.
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub old_weighted: Option<f64>,
    pub new_weighted: Option<f64>,
}

/// A cell present in both runs whose verdict changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellChange {
    pub scenario: String,
    pub tunnel: String,
    /// Why it fails now (regressions) or failed before (fixes).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub tunnels: Vec<TunnelDelta>,
    pub regressions: Vec<CellChange>,
    pub fixes: Vec<CellChange>,
    /// Cells only in the new run, and only in the old one.
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Comparison {
    pub fn has_regressions(&self) -> bool {
        !self.regressions.is_empty()
    }
}

fn key(cell: &CellResult) -> (String, String) {
    (cell.scenario.clone(), cell.tunnel.clone())
}

/// What changed from `old` to `new`.
pub fn compare(old: &Report, new: &Report) -> Comparison {
    let old_cells: BTreeMap<_, _> = old.cells.iter().map(|cell| (key(cell), cell)).collect();
    let new_cells: BTreeMap<_, _> = new.cells.iter().map(|cell| (key(cell), cell)).collect();
    let mut regressions = Vec::new();
    let mut fixes = Vec::new();
    for (cell_key, now) in &new_cells {
        let Some(before) = old_cells.get(cell_key) else {
            continue;
        };
        let change = |detail: &str| CellChange {
            scenario: cell_key.0.clone(),
            tunnel: cell_key.1.clone(),
            detail: detail.to_string(),
        };
        match (before.verdict, now.verdict) {
            (Verdict::Pass, Verdict::Fail) => regressions.push(change(&now.detail)),
            (Verdict::Fail, Verdict::Pass) => fixes.push(change(&before.detail)),
            _ => {}
        }
    }
    let name = |(scenario, tunnel): &(String, String)| format!("{scenario} × {tunnel}");
    let added = new_cells
        .keys()
        .filter(|cell_key| !old_cells.contains_key(*cell_key))
        .map(name)
        .collect();
    let removed = old_cells
        .keys()
        .filter(|cell_key| !new_cells.contains_key(*cell_key))
        .map(name)
        .collect();
    let (old_summary, new_summary) = (Summary::of(&old.cells), Summary::of(&new.cells));
    let tunnels: BTreeSet<&String> = old_summary
        .tunnels
        .keys()
        .chain(new_summary.tunnels.keys())
        .collect();
    let tunnels = tunnels
        .into_iter()
        .map(|tunnel| {
            let (before, now) = (
                old_summary.tunnels.get(tunnel),
                new_summary.tunnels.get(tunnel),
            );
            TunnelDelta {
                tunnel: tunnel.clone(),
                old: before.map(|rate| rate.success_rate),
                new: now.map(|rate| rate.success_rate),
                old_weighted: before.map(|rate| rate.weighted_success_rate),
                new_weighted: now.map(|rate| rate.weighted_success_rate),
            }
        })
        .collect();
    Comparison {
        tunnels,
        regressions,
        fixes,
        added,
        removed,
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".to_string(), |rate| format!("{:.0} %", rate * 100.0))
}

fn delta(old: Option<f64>, new: Option<f64>) -> String {
    match (old, new) {
        (Some(old), Some(new)) => format!("{:+.0}", (new - old) * 100.0),
        _ => "-".to_string(),
    }
}

/// The comparison as text for a terminal.
pub fn render_comparison(comparison: &Comparison) -> String {
    let mut out = String::from("Success rate by tunnel (old → new, weighted old → new):\n");
    let width = comparison
        .tunnels
        .iter()
        .map(|tunnel| tunnel.tunnel.len())
        .max()
        .unwrap_or(0);
    for tunnel in &comparison.tunnels {
        let _ = writeln!(
            out,
            "  {:<width$}  {} → {} ({}), weighted {} → {} ({})",
            tunnel.tunnel,
            percent(tunnel.old),
            percent(tunnel.new),
            delta(tunnel.old, tunnel.new),
            percent(tunnel.old_weighted),
            percent(tunnel.new_weighted),
            delta(tunnel.old_weighted, tunnel.new_weighted),
        );
    }
    let mut list = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
    };
    let changes = |changes: &[CellChange]| {
        changes
            .iter()
            .map(|change| format!("{} × {}: {}", change.scenario, change.tunnel, change.detail))
            .collect::<Vec<_>>()
    };
    list(
        "Regressed (passed, now fail)",
        changes(&comparison.regressions),
    );
    list("Fixed (failed, now pass)", changes(&comparison.fixes));
    list("Added", comparison.added.clone());
    list("Removed", comparison.removed.clone());
    let _ = writeln!(
        out,
        "\n{} regressed, {} fixed, {} added, {} removed",
        comparison.regressions.len(),
        comparison.fixes.len(),
        comparison.added.len(),
        comparison.removed.len()
    );
    out
}

/// Within one run: tunnels ranked by weighted, then plain, success rate.
pub fn render_ranking(report: &Report) -> String {
    let summary = Summary::of(&report.cells);
    let mut ranked: Vec<_> = summary.tunnels.iter().collect();
    ranked.sort_by(|(a_name, a), (b_name, b)| {
        b.weighted_success_rate
            .total_cmp(&a.weighted_success_rate)
            .then(b.success_rate.total_cmp(&a.success_rate))
            .then(a_name.cmp(b_name))
    });
    let width = ranked.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut out = String::from("Tunnels by how much of these topologies they traverse:\n");
    for (place, (name, rate)) in ranked.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {name:<width$}  weighted {:.0} %, {}/{} topologies",
            place + 1,
            rate.weighted_success_rate * 100.0,
            rate.passed,
            rate.total
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use traverse_runner::Category;

    fn cell(scenario: &str, tunnel: &str, verdict: Verdict, detail: &str) -> CellResult {
        CellResult {
            cell: 0,
            scenario: scenario.to_string(),
            tunnel: tunnel.to_string(),
            verdict,
            expected: None,
            category: (verdict == Verdict::Fail).then_some(Category::Refused),
            status: None,
            blame: None,
            detail: detail.to_string(),
            duration_ms: 1,
            weight: if scenario == "common" { 3.0 } else { 1.0 },
            poisonable: None,
            logs: Vec::new(),
            output: BTreeMap::new(),
        }
    }

    fn report(cells: Vec<CellResult>) -> Report {
        Report::new(cells, 0.01)
    }

    #[test]
    fn finds_regressions_fixes_and_added_or_removed_cells() {
        let old = report(vec![
            cell("common", "ws", Verdict::Pass, ""),
            cell("common", "wss", Verdict::Fail, "was refused 400"),
            cell("rare", "ws", Verdict::Pass, ""),
            cell("gone", "ws", Verdict::Pass, ""),
        ]);
        let new = report(vec![
            cell("common", "ws", Verdict::Fail, "now refused 426"),
            cell("common", "wss", Verdict::Pass, ""),
            cell("rare", "ws", Verdict::Pass, ""),
            cell("new", "ws", Verdict::Pass, ""),
        ]);
        let comparison = compare(&old, &new);
        assert!(comparison.has_regressions());
        assert_eq!(comparison.regressions.len(), 1);
        assert_eq!(comparison.regressions[0].detail, "now refused 426");
        assert_eq!(comparison.fixes[0].tunnel, "wss");
        assert_eq!(comparison.fixes[0].detail, "was refused 400");
        assert_eq!(comparison.added, ["new × ws"]);
        assert_eq!(comparison.removed, ["gone × ws"]);
        let ws = &comparison.tunnels[0];
        assert_eq!(ws.tunnel, "ws");
        assert_eq!((ws.old, ws.new), (Some(1.0), Some(2.0 / 3.0)));
        // common weighs 3: ws passed 5/5 of the weight, now 2/5.
        assert_eq!(ws.old_weighted, Some(1.0));
        assert_eq!(ws.new_weighted, Some(0.4));
        insta::assert_snapshot!("comparison", render_comparison(&comparison));
    }

    #[test]
    fn identical_runs_have_nothing_to_report() {
        let run = report(vec![cell("common", "ws", Verdict::Pass, "")]);
        let comparison = compare(&run, &run);
        assert!(!comparison.has_regressions());
        assert!(comparison.fixes.is_empty() && comparison.added.is_empty());
    }

    #[test]
    fn ranks_tunnels_by_weighted_success() {
        let run = report(vec![
            cell("common", "ws", Verdict::Fail, ""),
            cell("rare", "ws", Verdict::Pass, ""),
            cell("common", "wss", Verdict::Pass, ""),
            cell("rare", "wss", Verdict::Fail, ""),
        ]);
        let ranking = render_ranking(&run);
        let wss = ranking.find("wss").expect("wss listed");
        let ws = ranking.find("2. ws").expect("ws second");
        assert!(wss < ws, "{ranking}");
        assert!(
            ranking.contains("1. wss  weighted 75 %, 1/2 topologies"),
            "{ranking}"
        );
    }
}
