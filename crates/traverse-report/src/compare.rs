//! Comparing runs: how each tunnel's success rate moved between two runs
//! (plain and weighted by scenario weight), which cells regressed (passed,
//! now fail) or were fixed, and which appeared or disappeared; and, within
//! one run, which transport traverses the most of the given topologies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use traverse_runner::{CellResult, Verdict};

use crate::markdown::escape;
use crate::output::pretty_json;
use crate::{Output, Report, Summary, TunnelSummary};

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TunnelDelta {
    pub tunnel: String,
    /// Success rates in the old and new run, where the tunnel ran.
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub old_weighted: Option<f64>,
    pub new_weighted: Option<f64>,
}

/// A cell present in both runs whose verdict changed.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CellChange {
    pub scenario: String,
    pub tunnel: String,
    /// Why it fails now (regressions) or failed before (fixes).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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

/// The change in percentage points; `-` where the tunnel ran in only one
/// run, as there is nothing to subtract.
fn delta(old: Option<f64>, new: Option<f64>) -> String {
    match (old, new) {
        (Some(old), Some(new)) => format!("{:+.0}", (new - old) * 100.0),
        _ => "-".to_string(),
    }
}

impl Comparison {
    /// The closing line of every rendering of a comparison.
    fn counts_line(&self) -> String {
        format!(
            "{} regressed, {} fixed, {} added, {} removed",
            self.regressions.len(),
            self.fixes.len(),
            self.added.len(),
            self.removed.len()
        )
    }

    /// No cell changed its verdict, appeared or disappeared. Rates follow
    /// from verdicts, so only a changed scenario weight can still move a
    /// weighted rate.
    fn is_unchanged(&self) -> bool {
        self.regressions.is_empty()
            && self.fixes.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
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
    let _ = writeln!(out, "\n{}", comparison.counts_line());
    out
}

/// The comparison as Markdown for a pull-request comment: what fails CI
/// (regressions) comes first and in bold, then fixes, the rates, and the
/// cells that appeared or disappeared, folded away since a new tunnel or
/// scenario adds one per cell. Free text is escaped as in
/// [`render_markdown`](crate::render_markdown).
pub fn render_comparison_markdown(comparison: &Comparison) -> String {
    let mut out = String::from("## traverse comparison\n\n");
    let cells = |count: usize| if count == 1 { "cell" } else { "cells" };
    if comparison.has_regressions() {
        let count = comparison.regressions.len();
        let _ = writeln!(
            out,
            "**{count} {} regressed: passed in the old run, fails in the new one. \
             This comparison fails.**",
            cells(count)
        );
    } else if comparison.is_unchanged() {
        let _ = writeln!(
            out,
            "Nothing changed: every cell has the same verdict in both runs."
        );
    } else {
        let _ = writeln!(out, "No regressions.");
    }

    let mut changes = |title: &str, why: &str, changes: &[CellChange]| {
        if changes.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n### {title}\n");
        let _ = writeln!(out, "| scenario | tunnel | {why} |");
        let _ = writeln!(out, "| --- | --- | --- |");
        for change in changes {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                escape(&change.scenario),
                escape(&change.tunnel),
                escape(&change.detail)
            );
        }
    };
    changes(
        "Regressed (passed, now fail)",
        "why it fails now",
        &comparison.regressions,
    );
    changes(
        "Fixed (failed, now pass)",
        "why it failed before",
        &comparison.fixes,
    );

    let _ = writeln!(out, "\n### Success rate by tunnel\n");
    if comparison.tunnels.is_empty() {
        let _ = writeln!(out, "No cells in either run.");
    } else {
        let _ = writeln!(
            out,
            "| tunnel | success rate (old → new) | change (points) | weighted (old → new) | change (points) |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for tunnel in &comparison.tunnels {
            let only = match (tunnel.old, tunnel.new) {
                (None, Some(_)) => " (only in the new run)",
                (Some(_), None) => " (only in the old run)",
                _ => "",
            };
            let _ = writeln!(
                out,
                "| {}{only} | {} → {} | {} | {} → {} | {} |",
                escape(&tunnel.tunnel),
                percent(tunnel.old),
                percent(tunnel.new),
                delta(tunnel.old, tunnel.new),
                percent(tunnel.old_weighted),
                percent(tunnel.new_weighted),
                delta(tunnel.old_weighted, tunnel.new_weighted),
            );
        }
    }

    let mut folded = |title: &str, names: &[String]| {
        if names.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n<details>\n<summary>{title}: {} {}</summary>\n",
            names.len(),
            cells(names.len())
        );
        for name in names {
            let _ = writeln!(out, "- {}", escape(name));
        }
        let _ = writeln!(out, "\n</details>");
    };
    folded("Added (only in the new run)", &comparison.added);
    folded("Removed (only in the old run)", &comparison.removed);

    let _ = writeln!(out, "\n{}", comparison.counts_line());
    out
}

/// One run's tunnels, best first: what `compare RUN.json` writes as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Ranking {
    /// By weighted, then plain, success rate, then name.
    pub tunnels: Vec<RankedTunnel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RankedTunnel {
    /// From 1.
    pub rank: usize,
    pub tunnel: String,
    #[serde(flatten)]
    pub rate: TunnelSummary,
}

/// Tunnels by weighted, then plain, success rate, then name, so that ties
/// rank the same way in every rendering and every run. Rates come from the
/// cells, as in [`compare`], not from the file's summary.
pub fn rank(report: &Report) -> Ranking {
    ranking_of(Summary::of(&report.cells))
}

fn ranking_of(summary: Summary) -> Ranking {
    let mut ranked: Vec<(String, TunnelSummary)> = summary.tunnels.into_iter().collect();
    ranked.sort_by(|(a_name, a), (b_name, b)| {
        b.weighted_success_rate
            .total_cmp(&a.weighted_success_rate)
            .then(b.success_rate.total_cmp(&a.success_rate))
            .then(a_name.cmp(b_name))
    });
    Ranking {
        tunnels: ranked
            .into_iter()
            .enumerate()
            .map(|(place, (tunnel, rate))| RankedTunnel {
                rank: place + 1,
                tunnel,
                rate,
            })
            .collect(),
    }
}

/// Within one run: tunnels ranked by weighted, then plain, success rate.
pub fn render_ranking(report: &Report) -> String {
    ranking_text(&report.cells)
}

/// [`render_ranking`] of bare cells: also how the matrix ends. Tunnel
/// names come from files, so they reach the terminal escaped.
pub(crate) fn ranking_text(cells: &[CellResult]) -> String {
    let ranking = ranking_of(Summary::of(cells));
    let width = ranking
        .tunnels
        .iter()
        .map(|ranked| ranked.tunnel.len())
        .max()
        .unwrap_or(0);
    let rank_width = format!("{}.", ranking.tunnels.len()).len();
    let mut out = String::from("Tunnels by how much of these topologies they traverse:\n");
    for RankedTunnel { rank, tunnel, rate } in &ranking.tunnels {
        let tunnel = crate::terminal::printable(tunnel);
        let rank = format!("{rank}.");
        let _ = writeln!(
            out,
            "  {rank:<rank_width$} {tunnel:<width$}  weighted {:.0} %, {}/{} topologies",
            rate.weighted_success_rate * 100.0,
            rate.passed,
            rate.total
        );
    }
    out
}

/// The ranking as a Markdown table, in the same order as
/// [`render_ranking`].
pub fn render_ranking_markdown(report: &Report) -> String {
    let summary = Summary::of(&report.cells);
    let mut out = String::from("## traverse ranking\n\n");
    if summary.tunnels.is_empty() {
        let _ = writeln!(out, "No cells ran.");
        return out;
    }
    let _ = writeln!(
        out,
        "Tunnels by how much of these topologies they traverse, weighted by how \
         common each topology is.\n"
    );
    let _ = writeln!(
        out,
        "| rank | tunnel | weighted | success rate | topologies traversed |"
    );
    let _ = writeln!(out, "| ---: | --- | ---: | ---: | ---: |");
    let counts = summary.counts_line();
    for RankedTunnel { rank, tunnel, rate } in &ranking_of(summary).tunnels {
        let _ = writeln!(
            out,
            "| {rank} | {} | {} | {} | {}/{} |",
            escape(tunnel),
            percent(Some(rate.weighted_success_rate)),
            percent(Some(rate.success_rate)),
            rate.passed,
            rate.total
        );
    }
    let _ = writeln!(out, "\n{counts}");
    out
}

/// A format `compare` writes a comparison or a ranking in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonFormat {
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// `traverse compare`: two runs (old, new) compared, or one run's tunnels
/// ranked, as text and in each format asked for. Only a regression is not
/// as expected; a ranking always is.
pub fn compare_runs(
    runs: &[Report],
    files: &[(PathBuf, ComparisonFormat)],
) -> Result<Output, String> {
    let written = |render: &dyn Fn(ComparisonFormat) -> String| {
        files
            .iter()
            .map(|(path, format)| (path.clone(), render(*format)))
            .collect()
    };
    match runs {
        [run] => {
            let ranking = rank(run);
            Ok(Output {
                text: render_ranking(run),
                files: written(&|format| match format {
                    ComparisonFormat::Json => pretty_json(&ranking),
                    ComparisonFormat::Markdown => render_ranking_markdown(run),
                }),
                as_expected: true,
            })
        }
        [old, new] => {
            let comparison = compare(old, new);
            Ok(Output {
                text: render_comparison(&comparison),
                files: written(&|format| match format {
                    ComparisonFormat::Json => pretty_json(&comparison),
                    ComparisonFormat::Markdown => render_comparison_markdown(&comparison),
                }),
                as_expected: !comparison.has_regressions(),
            })
        }
        _ => Err("compare takes one run's results, or an old and a new run's".to_string()),
    }
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
            keepalives: None,
            transport: None,
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

    /// One of everything: common × ws regressed, common × wss fixed,
    /// scenario `gone` removed, scenario `added` added, tunnel h2 added.
    fn pair() -> (Report, Report) {
        let old = report(vec![
            cell("common", "ws", Verdict::Pass, ""),
            cell("common", "wss", Verdict::Fail, "was refused 400"),
            cell("rare", "ws", Verdict::Pass, ""),
            cell("rare", "wss", Verdict::Pass, ""),
            cell("gone", "ws", Verdict::Pass, ""),
            cell("gone", "wss", Verdict::Fail, "blocked 403"),
        ]);
        let new = report(vec![
            cell("common", "ws", Verdict::Fail, "now refused 426"),
            cell("common", "wss", Verdict::Pass, ""),
            cell("rare", "ws", Verdict::Pass, ""),
            cell("rare", "wss", Verdict::Pass, ""),
            cell("added", "ws", Verdict::Pass, ""),
            cell("added", "wss", Verdict::Pass, ""),
            cell("common", "h2", Verdict::Pass, ""),
            cell("rare", "h2", Verdict::Fail, "reset"),
        ]);
        (old, new)
    }

    /// What `traverse compare` prints, writes and exits with: a regression
    /// is not as expected, a fix or a ranking is.
    #[test]
    fn compare_runs_shows_writes_and_judges_what_it_compared() {
        let (old, new) = pair();
        let files = [
            (PathBuf::from("c.md"), ComparisonFormat::Markdown),
            (PathBuf::from("c.json"), ComparisonFormat::Json),
        ];
        let compared = compare_runs(&[old.clone(), new.clone()], &files).expect("two runs");
        let comparison = compare(&old, &new);
        assert_eq!(compared.text, render_comparison(&comparison));
        assert_eq!(
            compared.files,
            [
                (
                    PathBuf::from("c.md"),
                    render_comparison_markdown(&comparison)
                ),
                (PathBuf::from("c.json"), pretty_json(&comparison)),
            ]
        );
        assert!(!compared.as_expected, "common × ws regressed");
        let reversed = compare_runs(&[new.clone(), old.clone()], &[]).expect("two runs");
        assert!(
            !reversed.as_expected,
            "common × wss regressed the other way"
        );
        assert!(compare_runs(&[old.clone(), old.clone()], &[]).is_ok_and(|same| same.as_expected));

        let ranked = compare_runs(std::slice::from_ref(&new), &files).expect("one run");
        assert_eq!(ranked.text, render_ranking(&new));
        assert_eq!(ranked.files[0].1, render_ranking_markdown(&new));
        assert_eq!(ranked.files[1].1, pretty_json(&rank(&new)));
        assert!(ranked.as_expected);
        assert!(compare_runs(&[], &[]).is_err());
    }

    /// Every table in `markdown` has as many columns in each row as in its
    /// header, an escaped `\|` not counting as one.
    fn assert_tables_hold(markdown: &str) {
        let columns = |row: &str| row.replace("\\|", "").matches('|').count();
        let mut header = None;
        for line in markdown.lines() {
            if line.starts_with('|') {
                let expected = *header.get_or_insert(columns(line));
                assert_eq!(columns(line), expected, "{line}\n{markdown}");
            } else {
                header = None;
            }
        }
    }

    #[test]
    fn comparison_as_markdown_puts_regressions_first() {
        let (old, new) = pair();
        let comparison = compare(&old, &new);
        let markdown = render_comparison_markdown(&comparison);
        insta::assert_snapshot!("comparison_markdown", markdown);
        insta::assert_json_snapshot!("comparison_json", comparison);
        let at = |text: &str| markdown.find(text).unwrap_or_else(|| panic!("{text}"));
        assert!(markdown.starts_with("## traverse comparison\n\n**1 cell regressed"));
        assert!(at("### Regressed") < at("### Fixed"));
        assert!(at("### Fixed") < at("### Success rate by tunnel"));
        assert!(at("### Success rate by tunnel") < at("<summary>Added"));
        assert!(markdown.contains("| common | ws | now refused 426 |"));
        assert!(markdown.contains("| common | wss | was refused 400 |"));
        assert!(markdown.contains("| h2 (only in the new run) | - → 50 % | - |"));
        assert!(markdown.contains("- added × wss\n"));
        assert!(markdown.contains("- gone × ws\n"));
        assert!(markdown.ends_with("\n1 regressed, 1 fixed, 4 added, 2 removed\n"));
        assert_tables_hold(&markdown);
    }

    #[test]
    fn comparison_as_markdown_says_when_nothing_regressed_or_changed() {
        let (old, new) = pair();
        let same = render_comparison_markdown(&compare(&new, &new));
        insta::assert_snapshot!("comparison_markdown_unchanged", same);
        assert!(!same.contains("Regressed") && !same.contains("<details>"));

        // Without the regressed cell, a fix and added or removed cells are
        // left: worth a calm line, not the alarm.
        let mut fixed_only = new.cells.clone();
        fixed_only.retain(|cell| !(cell.scenario == "common" && cell.tunnel == "ws"));
        let markdown = render_comparison_markdown(&compare(&old, &report(fixed_only)));
        assert!(markdown.contains("\nNo regressions.\n"), "{markdown}");
        assert!(!markdown.contains("Regressed"), "{markdown}");
    }

    #[test]
    fn ranking_as_markdown_orders_like_the_terminal() {
        let (_, new) = pair();
        let markdown = render_ranking_markdown(&new);
        insta::assert_snapshot!("ranking_markdown", markdown);
        insta::assert_json_snapshot!("ranking_json", rank(&new));
        let in_markdown: Vec<&str> = markdown
            .lines()
            .filter(|line| line.starts_with('|') && !line.contains("---"))
            .skip(1)
            .filter_map(|row| row.split(" | ").nth(1))
            .collect();
        let terminal = render_ranking(&new);
        let in_terminal: Vec<&str> = terminal
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1))
            .collect();
        assert_eq!(in_markdown, ["wss", "h2", "ws"]);
        assert_eq!(in_markdown, in_terminal);
        assert_tables_hold(&markdown);
        assert_eq!(
            render_ranking_markdown(&report(Vec::new())),
            "## traverse ranking\n\nNo cells ran.\n"
        );
    }

    #[test]
    fn markdown_escapes_what_would_break_a_table() {
        let old = report(vec![cell("a|b <i>", "ws|raw", Verdict::Pass, "")]);
        let new = report(vec![cell(
            "a|b <i>",
            "ws|raw",
            Verdict::Fail,
            "answered <html> | 400\nthen closed",
        )]);
        for markdown in [
            render_comparison_markdown(&compare(&old, &new)),
            render_comparison_markdown(&compare(&new, &old)),
            render_comparison_markdown(&compare(&report(Vec::new()), &new)),
            render_ranking_markdown(&new),
        ] {
            assert!(
                !markdown.contains("<i>") && !markdown.contains("<html>"),
                "{markdown}"
            );
            assert!(markdown.contains("ws\\|raw"), "{markdown}");
            assert_tables_hold(&markdown);
        }
        let markdown = render_comparison_markdown(&compare(&old, &new));
        assert!(
            markdown.contains(
                "| a\\|b &lt;i&gt; | ws\\|raw | answered &lt;html&gt; \\| 400 then closed |"
            ),
            "{markdown}"
        );
    }
}
