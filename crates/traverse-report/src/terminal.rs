//! The matrix as text: scenarios down, tunnels across, each cell `pass` or
//! `fail` with its category; a mark where the verdict is not what the
//! scenario expects; then why each failure happened and who did it.
//!
//! On a terminal it is coloured and fits the window: a matrix wider than
//! the terminal is split into blocks of tunnels, each with the scenario
//! column, rather than wrapped into unreadable lines. Into a file or a pipe
//! it is plain text, whatever its width, for tools that read it.

use std::fmt::Write as _;

use console::Style;
use traverse_runner::{CellResult, Verdict};

use crate::Summary;
use crate::summary::{axes, category_text, verdict_text};

/// How the matrix is drawn: plain text of any width unless said otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TerminalStyle {
    /// Colour with ANSI escapes.
    pub colour: bool,
    /// The terminal's width in columns, to fit the matrix in.
    pub width: Option<usize>,
}

/// Between two columns of the matrix.
const GAP: &str = "  ";

/// Renders results in plan order (scenario by scenario), as plain text.
pub fn render(cells: &[CellResult]) -> String {
    render_styled(cells, TerminalStyle::default())
}

/// Renders results in plan order, coloured and fitted as `style` says.
pub fn render_styled(cells: &[CellResult], style: TerminalStyle) -> String {
    let paint = Paint::new(style.colour);
    let (scenarios, tunnels) = axes(cells);
    let find = |scenario: &str, tunnel: &str| {
        cells
            .iter()
            .find(|cell| cell.scenario == scenario && cell.tunnel == tunnel)
    };
    let scenario_width = scenarios
        .iter()
        .map(|scenario| scenario.chars().count())
        .chain(std::iter::once("scenario".len()))
        .max()
        .unwrap_or(0);
    let tunnel_widths: Vec<usize> = tunnels
        .iter()
        .map(|tunnel| {
            scenarios
                .iter()
                .filter_map(|scenario| find(scenario, tunnel))
                .map(|cell| cell_text(cell).chars().count())
                .chain(std::iter::once(tunnel.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = String::new();
    for (block, columns) in blocks(scenario_width, &tunnel_widths, style.width)
        .into_iter()
        .enumerate()
    {
        if block > 0 {
            out.push('\n');
        }
        let mut header = pad(&paint.bold("scenario"), "scenario", scenario_width);
        for &column in &columns {
            header += GAP;
            header += &pad(
                &paint.bold(tunnels[column]),
                tunnels[column],
                tunnel_widths[column],
            );
        }
        let _ = writeln!(out, "{}", header.trim_end());
        for scenario in &scenarios {
            let mut line = pad(scenario, scenario, scenario_width);
            for &column in &columns {
                let text = find(scenario, tunnels[column])
                    .map(cell_text)
                    .unwrap_or_default();
                let painted = find(scenario, tunnels[column])
                    .map(|cell| paint.cell(cell, &text))
                    .unwrap_or_default();
                line += GAP;
                line += &pad(&painted, &text, tunnel_widths[column]);
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    let failures: Vec<&CellResult> = cells
        .iter()
        .filter(|cell| cell.verdict == Verdict::Fail)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n{}", paint.bold("Why:"));
        for cell in failures {
            let _ = writeln!(
                out,
                "  {} × {}: {} — blame {}: {}",
                cell.scenario,
                cell.tunnel,
                paint.fail(&category_text(cell)),
                paint.bold(cell.blame.as_deref().unwrap_or("?")),
                cell.detail
            );
        }
    }
    let unexpected: Vec<&CellResult> = cells.iter().filter(|cell| !cell.as_expected()).collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "\n{}", paint.warn("Not as expected (marked !):"));
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
    let _ = writeln!(out, "\n{}", paint.bold("Success rate by tunnel:"));
    let name_width = tunnels
        .iter()
        .map(|tunnel| tunnel.chars().count())
        .max()
        .unwrap_or(0);
    for tunnel in &tunnels {
        if let Some(rate) = summary.tunnels.get(*tunnel) {
            let _ = writeln!(
                out,
                "  {tunnel:<name_width$}  {}/{} passed ({:.0} %), weighted {:.0} %",
                rate.passed,
                rate.total,
                rate.success_rate * 100.0,
                rate.weighted_success_rate * 100.0,
            );
        }
    }
    let counts = summary.counts_line();
    let counts = if summary.unexpected == 0 {
        paint.pass(&counts)
    } else {
        paint.warn(&counts)
    };
    let _ = writeln!(out, "\n{counts}");
    out
}

/// The tunnel columns of each block of the matrix: all in one block unless
/// that is wider than `width`; then as many per block as fit beside the
/// scenario column, and at least one.
fn blocks(scenario_width: usize, tunnel_widths: &[usize], width: Option<usize>) -> Vec<Vec<usize>> {
    let Some(width) = width else {
        return vec![(0..tunnel_widths.len()).collect()];
    };
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    let mut used = scenario_width;
    for (column, tunnel_width) in tunnel_widths.iter().enumerate() {
        let wider = used + GAP.len() + tunnel_width;
        match blocks.last_mut() {
            Some(block) if wider <= width => {
                block.push(column);
                used = wider;
            }
            _ => {
                blocks.push(vec![column]);
                used = scenario_width + GAP.len() + tunnel_width;
            }
        }
    }
    if blocks.is_empty() {
        blocks.push(Vec::new());
    }
    blocks
}

/// `painted` (which may hold escapes) padded to `width` by what `plain`
/// shows on screen.
fn pad(painted: &str, plain: &str, width: usize) -> String {
    let fill = width.saturating_sub(plain.chars().count());
    format!("{painted}{}", " ".repeat(fill))
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

/// The few colours the matrix uses, or none.
struct Paint {
    pass: Style,
    fail: Style,
    warn: Style,
    bold: Style,
}

impl Paint {
    fn new(colour: bool) -> Paint {
        // Forced either way: whether to colour was decided by the caller,
        // who knows where the text goes; console would look at stdout.
        let style = || Style::new().force_styling(colour);
        Paint {
            pass: style().green(),
            fail: style().red(),
            warn: style().yellow().bold(),
            bold: style().bold(),
        }
    }

    fn pass(&self, text: &str) -> String {
        self.pass.apply_to(text).to_string()
    }

    fn fail(&self, text: &str) -> String {
        self.fail.apply_to(text).to_string()
    }

    fn warn(&self, text: &str) -> String {
        self.warn.apply_to(text).to_string()
    }

    fn bold(&self, text: &str) -> String {
        self.bold.apply_to(text).to_string()
    }

    /// A cell green or red by verdict; one not as expected stands out.
    fn cell(&self, cell: &CellResult, text: &str) -> String {
        if !cell.as_expected() {
            return self.warn(text);
        }
        match cell.verdict {
            Verdict::Pass => self.pass(text),
            Verdict::Fail => self.fail(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixture::report().cells));
    }

    /// A matrix wider than the terminal comes in blocks of tunnels that fit.
    #[test]
    fn fits_a_narrow_terminal() {
        let cells = fixture::report().cells;
        let style = TerminalStyle {
            colour: false,
            width: Some(44),
        };
        let text = render_styled(&cells, style);
        insta::assert_snapshot!(text);
        let matrix: Vec<&str> = text.lines().take_while(|line| *line != "Why:").collect();
        assert!(
            matrix.iter().all(|line| line.chars().count() <= 44),
            "{text}"
        );
        let headers: Vec<&&str> = matrix
            .iter()
            .filter(|line| line.starts_with("scenario"))
            .collect();
        assert!(headers.len() > 1, "one block would not fit:\n{text}");
        // Every cell is still there once.
        for cell in &cells {
            assert_eq!(
                matrix
                    .iter()
                    .filter(|line| line.starts_with(&cell.scenario))
                    .count(),
                headers.len()
            );
        }
    }

    #[test]
    fn a_wide_terminal_keeps_one_block() {
        let cells = fixture::report().cells;
        let wide = render_styled(
            &cells,
            TerminalStyle {
                colour: false,
                width: Some(500),
            },
        );
        assert_eq!(wide, render(&cells));
    }

    #[test]
    fn one_column_wider_than_the_terminal_still_shows() {
        assert_eq!(blocks(30, &[40, 5], Some(20)), vec![vec![0], vec![1]]);
        assert_eq!(blocks(10, &[], Some(20)), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn colour_marks_verdicts_and_keeps_columns_aligned() {
        let cells = fixture::report().cells;
        let coloured = render_styled(
            &cells,
            TerminalStyle {
                colour: true,
                width: None,
            },
        );
        assert!(coloured.contains("\u{1b}[32mpass"), "green passes");
        assert!(
            coloured.contains("\u{1b}[31mfail refused 400"),
            "red failures"
        );
        // Without its escapes it is the plain matrix, so alignment holds.
        assert_eq!(console::strip_ansi_codes(&coloured), render(&cells));
        assert!(!render(&cells).contains('\u{1b}'));
    }
}
