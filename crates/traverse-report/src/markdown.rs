//! Markdown is how a run's results get into a pull-request comment. Reports
//! are the last step of the data flow; this one shows the same [`Report`]
//! as the terminal matrix does, in a form a code host renders: a heading,
//! the matrix as a table (scenarios down, tunnels across, `**!**` where a
//! verdict is not what the scenario expects), each tunnel's success rate,
//! plain and weighted, the cells that were not as expected, every failure
//! with its blame and detail folded into a `<details>` section, and a line
//! of counts. Free text is escaped so a `|` or a `<` in a detail cannot
//! break the table or the page.

use std::fmt::Write as _;

use traverse_runner::{CellResult, Verdict};

use crate::Report;
use crate::summary::verdict_text;

/// The results as Markdown, scenarios and tunnels in plan order.
pub fn render_markdown(report: &Report) -> String {
    let cells = &report.cells;
    let (scenarios, tunnels) = crate::summary::axes(cells);

    let mut out = String::new();
    let _ = writeln!(out, "## traverse results\n");
    if report.time_scale != 1.0 {
        let _ = writeln!(out, "Scenario durations scaled by {}.\n", report.time_scale);
    }
    if cells.is_empty() {
        let _ = writeln!(out, "No cells ran.");
        return out;
    }

    // The matrix.
    let header: Vec<String> = std::iter::once("scenario".to_string())
        .chain(tunnels.iter().map(|tunnel| escape(tunnel)))
        .collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
    for scenario in &scenarios {
        let row: Vec<String> = std::iter::once(escape(scenario))
            .chain(tunnels.iter().map(|tunnel| {
                cells
                    .iter()
                    .find(|cell| cell.scenario == *scenario && cell.tunnel == *tunnel)
                    .map(cell_text)
                    .unwrap_or_default()
            }))
            .collect();
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }

    // Success rates.
    let summary = &report.summary;
    let _ = writeln!(out, "\n### Success rate by tunnel\n");
    let _ = writeln!(out, "| tunnel | passed | success rate | weighted |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for tunnel in &tunnels {
        if let Some(rate) = summary.tunnels.get(*tunnel) {
            let _ = writeln!(
                out,
                "| {} | {}/{} | {:.0} % | {:.0} % |",
                escape(tunnel),
                rate.passed,
                rate.total,
                rate.success_rate * 100.0,
                rate.weighted_success_rate * 100.0
            );
        }
    }

    // What breaks CI, in the open.
    let unexpected: Vec<&CellResult> = cells.iter().filter(|cell| !cell.as_expected()).collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "\n### Not as expected (marked **!**)\n");
        for cell in unexpected {
            let _ = writeln!(
                out,
                "- {} × {}: expected {}, got {}",
                escape(&cell.scenario),
                escape(&cell.tunnel),
                cell.expected.map_or("?", Verdict::as_str),
                cell.verdict.as_str()
            );
        }
    }

    // Why each failure happened, folded away.
    let failures: Vec<&CellResult> = cells
        .iter()
        .filter(|cell| cell.verdict == Verdict::Fail)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(
            out,
            "\n<details>\n<summary>Failures ({})</summary>\n",
            failures.len()
        );
        for cell in failures {
            let _ = writeln!(
                out,
                "- **{} × {}**: {}, blame {}: {}",
                escape(&cell.scenario),
                escape(&cell.tunnel),
                cell_text(cell),
                escape(cell.blame.as_deref().unwrap_or("?")),
                escape(&cell.detail)
            );
        }
        let _ = writeln!(out, "\n</details>");
    }

    let _ = writeln!(out, "\n{}", summary.counts_line());
    out
}

/// A matrix cell: `pass` or `fail <category> [<status>]`, then
/// ` poisonable` and ` **!**` where they apply; escaped for a table.
fn cell_text(cell: &CellResult) -> String {
    let mut text = escape(&verdict_text(cell));
    if cell.poisonable == Some(true) {
        text.push_str(" poisonable");
    }
    if !cell.as_expected() {
        text.push_str(" **!**");
    }
    text
}

/// Text safe inside a table cell or a list item: one line, `|` escaped, and
/// no HTML a code host would interpret (a detail may quote a response).
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => escaped.push_str("\\|"),
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\r' => {}
            '\n' => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render_markdown(&fixture::report()));
    }

    #[test]
    fn the_table_has_one_row_per_scenario() {
        let markdown = render_markdown(&fixture::report());
        let rows: Vec<&str> = markdown
            .lines()
            .skip_while(|line| !line.starts_with("| scenario |"))
            .take_while(|line| line.starts_with('|'))
            .collect();
        // Header, separator, then the scenarios.
        assert_eq!(rows.len(), 2 + 2);
        assert!(rows[2].starts_with("| corp-f5 | fail refused 400 | pass poisonable |"));
        assert!(rows[3].starts_with("| cloudflare-idle | pass **!** |"));
        // Every row has as many columns as the header.
        let columns = |row: &str| row.replace("\\|", "").matches('|').count();
        assert!(rows.iter().all(|row| columns(row) == columns(rows[0])));
    }

    #[test]
    fn escapes_what_would_break_the_table() {
        assert_eq!(escape("a | b <br>\nc"), "a \\| b &lt;br&gt; c");
        let markdown = render_markdown(&fixture::report());
        assert!(markdown.contains("removed Upgrade \\| Connection"));
        assert!(markdown.contains("6 cells: 3 passed, 3 failed, 2 not as expected"));
    }

    #[test]
    fn no_cells_no_table() {
        let markdown = render_markdown(&Report::new(Vec::new(), 1.0));
        assert_eq!(markdown, "## traverse results\n\nNo cells ran.\n");
    }
}
