//! The matrix as text: scenarios down, tunnels across, each cell's verdict
//! with its category; a mark where the verdict is not what the scenario
//! expects; then why, one line per cause, and the tunnels ranked by how
//! much of the topologies they traverse. It is what `run` and `merge`
//! print once the results are in.
//!
//! Into a file or a pipe it is plain, stable text for tools: full tunnel
//! names as headers, verdicts in words, one block whatever its width. On a
//! terminal it is made to fit the window and to point at what matters:
//! compact cells (`✓`, `✗ 403`, `✂ idle`), red only where a cell is not as
//! expected, expected failures dimmed, and, where full tunnel names do not
//! fit, numbered columns with a key; only when even that is too wide is
//! the matrix split into blocks of tunnels. Every name and detail comes
//! from a file or a peer, so each reaches the terminal through
//! [`printable`].

use std::borrow::Cow;
use std::fmt::Write as _;

use console::{Style, measure_text_width};
use traverse_runner::{Category, CellResult, Verdict};

use crate::Summary;
use crate::summary::{axes, category_text, verdict_text};

/// How the matrix is drawn: plain text of any width unless said otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TerminalStyle {
    /// Colour with ANSI escapes.
    pub colour: bool,
    /// The terminal's width in columns, to fit the matrix in; none for a
    /// file or a pipe, which get the plain matrix.
    pub width: Option<usize>,
    /// Which cells the "Why" section explains.
    pub why: Why,
}

/// Which cells the "Why" section explains, grouped by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Why {
    /// Every failure, and every pass that was expected to fail.
    All,
    /// Only the cells not as expected: what needs acting on.
    #[default]
    Unexpected,
    /// No "Why" section.
    None,
}

/// The one escaping of text for a terminal, shared with the scenario
/// crate's errors so a name reads the same in both.
pub use traverse_scenario::printable;

/// Between two columns of the matrix.
const GAP: &str = "  ";

/// Between two tunnel columns of one glyph each, where a wider gap would
/// cost the one block; the columns are as wide as each other instead, so
/// they still read as a grid.
const NARROW_GAP: &str = " ";

fn gap(form: Cells) -> &'static str {
    if form == Cells::Glyph {
        NARROW_GAP
    } else {
        GAP
    }
}

/// Renders results in plan order (scenario by scenario), as plain text.
pub fn render(cells: &[CellResult]) -> String {
    render_styled(cells, TerminalStyle::default())
}

/// Renders results in plan order, coloured and fitted as `style` says.
pub fn render_styled(cells: &[CellResult], style: TerminalStyle) -> String {
    let paint = Paint::new(style.colour);
    let (scenario_axis, tunnels) = axes(cells);
    let scenarios: Vec<Cow<str>> = scenario_axis.iter().map(|name| printable(name)).collect();
    let tunnel_names: Vec<Cow<str>> = tunnels.iter().map(|tunnel| printable(tunnel)).collect();
    // An index, not a search per place: merge renders million-cell runs.
    // Cells come in plan order, a scenario's one after another, so the row
    // of the cell before is nearly always this cell's: a comparison, not a
    // lookup. The first cell of a place wins, as a search would have it.
    let row_of: std::collections::HashMap<&str, usize> = scenario_axis
        .iter()
        .enumerate()
        .map(|(row, name)| (*name, row))
        .collect();
    let column_of: std::collections::HashMap<&str, usize> = tunnels
        .iter()
        .enumerate()
        .map(|(column, name)| (*name, column))
        .collect();
    let mut grid: Vec<Vec<Option<&CellResult>>> = vec![vec![None; tunnels.len()]; scenarios.len()];
    let mut previous: Option<(&str, usize)> = None;
    for cell in cells {
        let row = match previous {
            Some((name, row)) if name == cell.scenario => Some(row),
            _ => row_of.get(cell.scenario.as_str()).copied(),
        };
        let column = column_of.get(cell.tunnel.as_str()).copied();
        let (Some(row), Some(column)) = (row, column) else {
            continue;
        };
        previous = Some((cell.scenario.as_str(), row));
        if let Some(place) = grid.get_mut(row).and_then(|places| places.get_mut(column)) {
            place.get_or_insert(cell);
        }
    }
    let matrix = Matrix {
        scenarios: &scenarios,
        grid: &grid,
        paint: &paint,
    };

    let mut out = String::new();
    match style.width {
        None => out += &matrix.draw(&tunnel_names, Cells::Words, None),
        Some(width) => {
            let numbers: Vec<Cow<str>> = (1..=tunnels.len())
                .map(|number| Cow::Owned(number.to_string()))
                .collect();
            // The first way that fits: names over compact cells, numbers
            // over compact cells, numbers over one glyph each; or blocks.
            let (headers, form) = [
                (&tunnel_names, Cells::Compact),
                (&numbers, Cells::Compact),
                (&numbers, Cells::Glyph),
            ]
            .into_iter()
            .find(|(headers, form)| matrix.width(headers, *form) <= width)
            .unwrap_or((&numbers, Cells::Glyph));
            out += &matrix.draw(headers, form, Some(width));
            let _ = writeln!(out);
            if std::ptr::eq(headers, &numbers) {
                let key: Vec<String> = tunnel_names
                    .iter()
                    .enumerate()
                    .map(|(index, name)| format!("{} {name}", index + 1))
                    .collect();
                out += &wrapped("Tunnels: ", "         ", &key, GAP, width);
            }
            out += &wrapped("", "", &legend(cells, form, &paint), GAP, width);
        }
    }

    let why = why_lines(cells, style.why);
    if !why.is_empty() {
        let title = match style.why {
            Why::All => "Why:",
            _ => "Why (cells not as expected):",
        };
        let _ = writeln!(out, "\n{}", paint.bold(title));
        for line in why {
            match style.width {
                // Wrapped under itself, so the next cause stands out.
                Some(width) => {
                    let words: Vec<String> = line.split(' ').map(str::to_string).collect();
                    out += &wrapped("  ", "    ", &words, " ", width);
                }
                None => {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }

    let summary = Summary::of(cells);
    let counts = summary.counts_line();
    let counts = if summary.unexpected == 0 {
        paint.pass(&counts)
    } else {
        paint.unexpected(&counts)
    };
    let _ = writeln!(out, "\n{counts}");
    if !summary.tunnels.is_empty() {
        let _ = write!(out, "\n{}", crate::compare::ranking_text(cells));
    }
    out
}

/// How each cell is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cells {
    /// `pass`, `fail refused 400`: the plain matrix, for tools.
    Words,
    /// `✓`, `✗ 403`, `✂ idle`.
    Compact,
    /// One glyph a category: `✓`, `✗`, `🔒`, `✂`.
    Glyph,
}

struct Matrix<'a> {
    scenarios: &'a [Cow<'a, str>],
    /// By scenario, then tunnel; none where a shard left a hole.
    grid: &'a [Vec<Option<&'a CellResult>>],
    paint: &'a Paint,
}

impl Matrix<'_> {
    fn scenario_width(&self) -> usize {
        self.scenarios
            .iter()
            .map(|scenario| measure_text_width(scenario))
            .chain(std::iter::once("scenario".len()))
            .max()
            .unwrap_or(0)
    }

    fn column_widths(&self, headers: &[Cow<str>], form: Cells) -> Vec<usize> {
        let widths: Vec<usize> = headers
            .iter()
            .enumerate()
            .map(|(column, header)| {
                self.grid
                    .iter()
                    .filter_map(|row| row[column])
                    .map(|cell| measure_text_width(&cell_text(cell, form)))
                    .chain(std::iter::once(measure_text_width(header)))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        if form == Cells::Glyph {
            let widest = widths.iter().copied().max().unwrap_or(0);
            return vec![widest; widths.len()];
        }
        widths
    }

    /// The width of the matrix in one block.
    fn width(&self, headers: &[Cow<str>], form: Cells) -> usize {
        let widths = self.column_widths(headers, form);
        let all = (0..widths.len()).collect::<Vec<_>>();
        self.scenario_width() + block_width(&widths, &all, gap(form).len())
    }

    fn draw(&self, headers: &[Cow<str>], form: Cells, width: Option<usize>) -> String {
        let scenario_width = self.scenario_width();
        let widths = self.column_widths(headers, form);
        let gap = gap(form);
        let mut out = String::new();
        for (block, columns) in blocks(scenario_width, &widths, width, gap.len())
            .into_iter()
            .enumerate()
        {
            if block > 0 {
                out.push('\n');
            }
            // The scenario column keeps its wide gap: names end ragged.
            let gaps = |place: usize| if place == 0 { GAP } else { gap };
            let mut header = pad(&self.paint.bold("scenario"), "scenario", scenario_width);
            for (place, &column) in columns.iter().enumerate() {
                header += gaps(place);
                header += &pad(
                    &self.paint.bold(&headers[column]),
                    &headers[column],
                    widths[column],
                );
            }
            let _ = writeln!(out, "{}", header.trim_end());
            for (scenario, row) in self.scenarios.iter().zip(self.grid) {
                let mut line = pad(scenario, scenario, scenario_width);
                for (place, &column) in columns.iter().enumerate() {
                    let (text, painted) = row[column]
                        .map(|cell| {
                            let text = cell_text(cell, form);
                            let painted = self.paint.cell(cell, &text);
                            (text, painted)
                        })
                        .unwrap_or_default();
                    line += gaps(place);
                    line += &pad(&painted, &text, widths[column]);
                }
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        out
    }
}

/// The tunnel columns of each block of the matrix: all in one block unless
/// that is wider than `width`; then as many per block as fit beside the
/// scenario column, and at least one.
fn blocks(
    scenario_width: usize,
    tunnel_widths: &[usize],
    width: Option<usize>,
    gap: usize,
) -> Vec<Vec<usize>> {
    let Some(width) = width else {
        return vec![(0..tunnel_widths.len()).collect()];
    };
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    for column in 0..tunnel_widths.len() {
        match blocks.last_mut() {
            Some(block)
                if scenario_width
                    + block_width(tunnel_widths, block, gap)
                    + gap
                    + tunnel_widths[column]
                    <= width =>
            {
                block.push(column);
            }
            _ => blocks.push(vec![column]),
        }
    }
    if blocks.is_empty() {
        blocks.push(Vec::new());
    }
    blocks
}

/// The width of `columns` beside the scenario column: the wide gap after
/// it, then each column with `gap` between.
fn block_width(widths: &[usize], columns: &[usize], gap: usize) -> usize {
    let cells: usize = columns.iter().map(|&column| widths[column]).sum();
    match columns.len() {
        0 => 0,
        count => GAP.len() + cells + (count - 1) * gap,
    }
}

/// `painted` (which may hold escapes) padded to `width` by what `plain`
/// shows on screen.
fn pad(painted: &str, plain: &str, width: usize) -> String {
    let fill = width.saturating_sub(measure_text_width(plain));
    format!("{painted}{}", " ".repeat(fill))
}

/// `items` after `lead`, `separator` between, as many to a line as fit in
/// `width`, the lines after the first after `indent`.
fn wrapped(lead: &str, indent: &str, items: &[String], separator: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = lead.to_string();
    let mut empty = true;
    for item in items {
        let wider = measure_text_width(&line) + separator.len() + measure_text_width(item);
        if !empty && wider > width {
            let _ = writeln!(out, "{line}");
            line = indent.to_string();
            empty = true;
        }
        if !empty {
            line += separator;
        }
        line += item;
        empty = false;
    }
    if !empty {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// A failure's glyph; compact cells use the first four, glyph cells all.
fn glyph(category: Option<Category>) -> &'static str {
    match category {
        Some(Category::Refused) | None => "✗",
        Some(Category::Blocked) => "⊘",
        Some(Category::Timeout) => "⏱",
        Some(Category::IdleCut) => "✂",
        Some(Category::Tls) => "🔒",
        Some(Category::Reset) => "↯",
        Some(Category::Corrupt) => "≠",
        Some(Category::Harness) => "⚙",
    }
}

const POISONABLE: &str = "☣";

fn cell_text(cell: &CellResult, form: Cells) -> String {
    let poisonable = cell.poisonable == Some(true);
    let text = match (form, cell.verdict) {
        (Cells::Words, _) => {
            let verdict = verdict_text(cell);
            if poisonable {
                format!("{verdict} poisonable")
            } else {
                verdict
            }
        }
        (_, Verdict::Pass) if poisonable && form == Cells::Glyph => POISONABLE.to_string(),
        (_, Verdict::Pass) if poisonable => format!("✓ {POISONABLE}"),
        (Cells::Compact, Verdict::Pass) if cell.transport.is_some() => {
            format!("✓ {}", cell.transport.as_deref().unwrap_or_default())
        }
        (_, Verdict::Pass) => "✓".to_string(),
        (Cells::Glyph, Verdict::Fail) => glyph(cell.category).to_string(),
        (Cells::Compact, Verdict::Fail) => {
            let category = cell.category;
            let shown = match category {
                Some(Category::Refused | Category::Blocked | Category::Timeout) => {
                    glyph(category).to_string()
                }
                Some(Category::IdleCut) => format!("{} idle", glyph(category)),
                other => format!("✗ {}", other.map_or("?", Category::as_str)),
            };
            match cell.status {
                Some(status) => format!("{} {status}", shown),
                None if category == Some(Category::Refused) => "✗ refused".to_string(),
                None if category == Some(Category::Blocked) => "⊘ blocked".to_string(),
                None => shown,
            }
        }
    };
    match (cell.as_expected(), form) {
        (true, _) => text,
        (false, Cells::Words) => format!("{text} !"),
        (false, _) => format!("{text}!"),
    }
}

/// What the glyphs in the matrix mean, those it shows only.
fn legend(cells: &[CellResult], form: Cells, paint: &Paint) -> Vec<String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    // Compact cells write several failures with `✗` and a word: one entry
    // says what each means.
    let mut add =
        |glyph: &str, meaning: &str| match entries.iter_mut().find(|(shown, _)| shown == glyph) {
            Some((_, known)) if !known.contains(meaning) => *known += &format!(" or {meaning}"),
            Some(_) => {}
            None => entries.push((glyph.to_string(), meaning.to_string())),
        };
    for category in std::iter::once(None).chain(
        [
            Category::Refused,
            Category::Blocked,
            Category::Tls,
            Category::Reset,
            Category::Timeout,
            Category::IdleCut,
            Category::Corrupt,
            Category::Harness,
        ]
        .map(Some),
    ) {
        let shown = |cell: &&CellResult| match category {
            None => cell.verdict == Verdict::Pass,
            Some(_) => cell.verdict == Verdict::Fail && cell.category == category,
        };
        if !cells.iter().any(|cell| shown(&cell)) {
            continue;
        }
        match (category, form) {
            (None, _) => add("✓", "passed"),
            (Some(Category::Refused), Cells::Compact) => add("✗", "refused (HTTP status)"),
            (Some(Category::Refused), _) => add("✗", "refused"),
            (Some(Category::Blocked), _) => add("⊘", "blocked"),
            (Some(Category::Timeout), _) => add("⏱", "timed out"),
            (Some(Category::IdleCut), _) => add("✂", "cut when idle"),
            (Some(_), Cells::Compact) => add("✗", "failed (as the word says)"),
            (Some(Category::Tls), _) => add("🔒", "TLS failed"),
            (Some(Category::Reset), _) => add("↯", "reset"),
            (Some(Category::Corrupt), _) => add("≠", "corrupt"),
            (Some(_), _) => add("⚙", "harness failed"),
        }
    }
    if cells.iter().any(|cell| cell.poisonable == Some(true)) {
        add(POISONABLE, "passed, but could poison a cache on the path");
    }
    let mut legend: Vec<String> = entries
        .into_iter()
        .map(|(glyph, meaning)| format!("{glyph} {meaning}"))
        .collect();
    // Without colour, dim is not there to see; the `!` still is.
    if paint.colour
        && cells
            .iter()
            .any(|cell| cell.verdict == Verdict::Fail && cell.as_expected())
    {
        legend.push(paint.expected_failure("dim: failed as expected"));
    }
    if cells.iter().any(|cell| !cell.as_expected()) {
        legend.push(paint.unexpected("! not as expected"));
    }
    legend
}

/// A cell's cause, said once: the blamed hop's own record of what it did
/// where the detail has one (`…; f5: removed Upgrade`), as that says why;
/// otherwise the detail as the client saw it.
fn cause(cell: &CellResult) -> &str {
    let detail = cell.detail.as_str();
    cell.blame
        .as_deref()
        .and_then(|blame| detail.split_once(&format!("; {blame}: ")))
        .map_or(detail, |(_seen, record)| record)
}

/// The "Why" lines: the cells `which` asks for grouped by what happened
/// (verdict, category, expectation and cause), one line a group, in the
/// order each group's first cell comes.
fn why_lines(cells: &[CellResult], which: Why) -> Vec<String> {
    let explained = |cell: &&CellResult| match which {
        Why::None => false,
        Why::Unexpected => !cell.as_expected(),
        Why::All => cell.verdict == Verdict::Fail || !cell.as_expected(),
    };
    let mut groups: Vec<(Shared, Vec<&CellResult>)> = Vec::new();
    for cell in cells.iter().filter(explained) {
        let what = match cell.verdict {
            Verdict::Pass => "passed".to_string(),
            Verdict::Fail => category_text(cell),
        };
        let key = Shared {
            what,
            expected: cell.expected,
            as_expected: cell.as_expected(),
            cause: cause(cell),
        };
        match groups.iter_mut().find(|(known, _)| *known == key) {
            Some((_, members)) => members.push(cell),
            None => groups.push((key, vec![cell])),
        }
    }
    groups
        .into_iter()
        .map(|(shared, members)| group_line(&shared, &members))
        .collect()
}

/// One cell's line as "Why" would give it: what the progress lines in
/// CI print as each cell not as expected finishes.
pub fn explain(cell: &CellResult) -> String {
    why_lines(std::slice::from_ref(cell), Why::All)
        .pop()
        .unwrap_or_else(|| {
            format!(
                "{} × {}: passed",
                printable(&cell.scenario),
                printable(&cell.tunnel)
            )
        })
}

/// What the cells of one "Why" line have in common.
#[derive(Debug, PartialEq)]
struct Shared<'a> {
    /// `passed`, or the category with its status.
    what: String,
    expected: Option<Verdict>,
    as_expected: bool,
    cause: &'a str,
}

fn group_line(shared: &Shared, members: &[&CellResult]) -> String {
    let mut line = format!("{}: {}", covered(members), shared.what);
    let mut blames: Vec<&str> = Vec::new();
    for member in members {
        if let Some(blame) = member.blame.as_deref()
            && !blames.contains(&blame)
        {
            blames.push(blame);
        }
    }
    if !blames.is_empty() {
        line += &format!(" by {}", listed(&blames, 3));
    }
    if !shared.as_expected {
        match shared.expected {
            Some(expected) => line += &format!(" (expected {})", expected.as_str()),
            None => line += " (the harness failed: it says nothing of the tunnel)",
        }
    }
    if !shared.cause.is_empty() {
        line += &format!(": {}", printable(shared.cause));
    }
    line
}

/// The cells a cause covers, as briefly as they can be named:
/// `corp × ws`, `tcp × 12 scenarios`, `corp × 3 tunnels (ws, wss, h2)`.
fn covered(members: &[&CellResult]) -> String {
    let (scenarios, tunnels) = axes(members.iter().copied());
    let counted = |names: &[&str], what: &str| {
        if names.len() <= 3 {
            format!("{} {what} ({})", names.len(), listed(names, 3))
        } else {
            format!("{} {what}", names.len())
        }
    };
    match (scenarios.as_slice(), tunnels.as_slice()) {
        ([scenario], [tunnel]) => format!("{} × {}", printable(scenario), printable(tunnel)),
        (scenarios, [tunnel]) => format!(
            "{} × {}",
            printable(tunnel),
            counted(scenarios, "scenarios")
        ),
        ([scenario], tunnels) => {
            format!("{} × {}", printable(scenario), counted(tunnels, "tunnels"))
        }
        _ if members.len() <= 3 => {
            let names: Vec<String> = members
                .iter()
                .map(|member| format!("{} × {}", member.scenario, member.tunnel))
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            listed(&names, 3)
        }
        _ => format!(
            "{} cells ({} scenarios × {} tunnels)",
            members.len(),
            scenarios.len(),
            tunnels.len()
        ),
    }
}

/// Up to `most` names, escaped, then how many more.
fn listed(names: &[&str], most: usize) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(most)
        .map(|name| printable(name).into_owned())
        .collect();
    if names.len() > most {
        shown.push(format!("+{} more", names.len() - most));
    }
    shown.join(", ")
}

/// The few colours the matrix uses, or none.
struct Paint {
    colour: bool,
    pass: Style,
    poisonable: Style,
    expected_failure: Style,
    unexpected: Style,
    bold: Style,
}

impl Paint {
    fn new(colour: bool) -> Paint {
        // Forced either way: whether to colour was decided by the caller,
        // who knows where the text goes; console would look at stdout.
        let style = || Style::new().force_styling(colour);
        Paint {
            colour,
            pass: style().green(),
            poisonable: style().yellow(),
            expected_failure: style().dim(),
            unexpected: style().red().bold(),
            bold: style().bold(),
        }
    }

    fn pass(&self, text: &str) -> String {
        self.pass.apply_to(text).to_string()
    }

    fn expected_failure(&self, text: &str) -> String {
        self.expected_failure.apply_to(text).to_string()
    }

    fn unexpected(&self, text: &str) -> String {
        self.unexpected.apply_to(text).to_string()
    }

    fn bold(&self, text: &str) -> String {
        self.bold.apply_to(text).to_string()
    }

    /// Red is kept for what is not as expected, so the eye goes there
    /// first; a failure the scenario expects is background, dimmed.
    fn cell(&self, cell: &CellResult, text: &str) -> String {
        if !cell.as_expected() {
            return self.unexpected(text);
        }
        match cell.verdict {
            Verdict::Pass if cell.poisonable == Some(true) => {
                self.poisonable.apply_to(text).to_string()
            }
            Verdict::Pass => self.pass(text),
            Verdict::Fail => self.expected_failure(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    fn at(width: usize, colour: bool) -> String {
        render_styled(
            &fixture::wide_cells(),
            TerminalStyle {
                colour,
                width: Some(width),
                why: Why::Unexpected,
            },
        )
    }

    /// The lines under `title`, up to the next blank one.
    fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
        text.split(&format!("{title}\n"))
            .nth(1)
            .unwrap_or_default()
            .lines()
            .take_while(|line| !line.is_empty())
            .collect()
    }

    fn matrix_lines(text: &str) -> Vec<&str> {
        text.lines().take_while(|line| !line.is_empty()).collect()
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixture::report().cells));
    }

    /// On a run with cells not as expected: numbered columns and glyphs
    /// at 80 columns, names and compact cells at 200; with and without
    /// colour.
    #[test]
    fn snapshots_at_80_and_200_columns() {
        for (width, colour) in [(80, false), (200, false), (80, true), (200, true)] {
            let name = format!(
                "at_{width}_columns{}",
                if colour { "_in_colour" } else { "" }
            );
            insta::assert_snapshot!(name, at(width, colour));
        }
    }

    /// Full tunnel names where they fit; numbers with a key where not, the
    /// scenario names whole either way and the matrix in one block.
    #[test]
    fn a_matrix_wider_than_the_terminal_numbers_its_columns() {
        let wide = at(200, false);
        assert!(
            wide.starts_with("scenario  ")
                && wide
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .ends_with("  ws+tcp-keepalive=30s"),
            "{wide}"
        );
        assert!(!wide.contains("Tunnels: "), "{wide}");
        let narrow = at(80, false);
        let matrix = matrix_lines(&narrow);
        assert_eq!(matrix.len(), 4, "one block:\n{narrow}");
        assert_eq!(
            matrix[0].split_whitespace().collect::<Vec<_>>(),
            [
                "scenario", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"
            ],
            "{narrow}"
        );
        assert!(
            matrix.iter().all(|line| measure_text_width(line) <= 80),
            "{narrow}"
        );
        assert!(
            matrix[3].starts_with("chain-stripping-proxy-to-lb-without-websocket  "),
            "{narrow}"
        );
        assert!(
            narrow.contains("Tunnels: 1 ws  2 connect  3 h2  4 tcp"),
            "{narrow}"
        );
        // The key, the legend and the causes are wrapped to fit too.
        assert!(
            narrow.lines().all(|line| measure_text_width(line) <= 80),
            "{narrow}"
        );
    }

    #[test]
    fn even_glyphs_too_wide_come_in_blocks() {
        let text = at(60, false);
        let matrix = text.split("Tunnels: ").next().unwrap_or_default();
        let headers = matrix
            .lines()
            .filter(|line| line.starts_with("scenario"))
            .count();
        assert!(headers > 1, "{text}");
        assert!(
            matrix.lines().all(|line| measure_text_width(line) <= 60),
            "{text}"
        );
    }

    #[test]
    fn one_column_wider_than_the_terminal_still_shows() {
        assert_eq!(blocks(30, &[40, 5], Some(20), 2), vec![vec![0], vec![1]]);
        assert_eq!(blocks(10, &[], Some(20), 2), vec![Vec::<usize>::new()]);
    }

    /// Red goes only to cells not as expected; expected failures are dim,
    /// passes green, a poisonable pass yellow.
    #[test]
    fn red_means_not_as_expected() {
        let coloured = at(200, true);
        assert!(coloured.contains("\u{1b}[2m✗ 400\u{1b}[0m"), "{coloured}");
        assert!(
            coloured.contains("\u{1b}[31m\u{1b}[1m✗ reset!"),
            "{coloured}"
        );
        assert!(coloured.contains("\u{1b}[31m\u{1b}[1m✓!"), "{coloured}");
        assert!(coloured.contains("\u{1b}[32m✓\u{1b}[0m"), "{coloured}");
        assert!(coloured.contains("\u{1b}[33m✓ ☣"), "{coloured}");
        // Without its escapes it is the uncoloured matrix, alignment and
        // all; only the legend says what dim means, where it shows.
        let stripped = console::strip_ansi_codes(&coloured);
        let plain = at(200, false);
        assert_eq!(matrix_lines(&stripped), matrix_lines(&plain));
        assert!(
            stripped.contains("  dim: failed as expected  "),
            "{stripped}"
        );
        assert!(!plain.contains("dim"), "{plain}");
        assert!(!render(&fixture::report().cells).contains('\u{1b}'));
    }

    #[test]
    fn why_lists_only_what_is_not_as_expected_by_default() {
        let text = render(&fixture::report().cells);
        assert_eq!(
            section(&text, "Why (cells not as expected):"),
            [
                "  corp-f5 × h2: reset by client (expected pass): connection reset after 3 echoes",
                "  cloudflare-idle × ws: passed (expected fail)",
            ]
        );
    }

    #[test]
    fn why_all_groups_by_cause_and_says_each_cause_once() {
        let mut cells = fixture::report().cells;
        // A second scenario refused by another hop for the same reason.
        let mut again = cells[0].clone();
        again.scenario = "corp-bluecoat".to_string();
        again.blame = Some("bluecoat".to_string());
        again.detail = again.detail.replace("f5:", "bluecoat:");
        cells.push(again);
        let style = |why| TerminalStyle {
            why,
            ..TerminalStyle::default()
        };
        let text = render_styled(&cells, style(Why::All));
        assert_eq!(
            section(&text, "Why:"),
            [
                "  ws × 2 scenarios (corp-f5, corp-bluecoat): refused 400 by f5, bluecoat: removed Upgrade | Connection",
                "  corp-f5 × h2: reset by client (expected pass): connection reset after 3 echoes",
                "  cloudflare-idle × ws: passed (expected fail)",
                "  cloudflare-idle × h2: idle-cut by cloudflare: cut after 100s",
            ]
        );
        let none = render_styled(&cells, style(Why::None));
        assert!(!none.contains("Why"), "{none}");
    }

    #[test]
    fn the_ranking_closes_the_output() {
        let text = render(&fixture::report().cells);
        let ranking = text
            .split("\n\n")
            .last()
            .unwrap_or_default()
            .lines()
            .collect::<Vec<_>>();
        assert_eq!(
            ranking,
            [
                "Tunnels by how much of these topologies they traverse:",
                "  1. connect  weighted 100 %, 2/2 topologies",
                "  2. ws       weighted 25 %, 1/2 topologies",
                "  3. h2       weighted 0 %, 0/2 topologies",
            ]
        );
    }

    #[test]
    fn names_from_files_reach_the_terminal_escaped() {
        let mut cells = fixture::report().cells;
        cells[2].scenario = "evil\u{1b}]0;owned\u{7}".to_string();
        cells[2].detail = "reset\r\u{1b}[2Kall fine".to_string();
        for width in [None, Some(80)] {
            let text = render_styled(
                &cells,
                TerminalStyle {
                    width,
                    ..TerminalStyle::default()
                },
            );
            assert!(!text.contains('\u{1b}'), "{text:?}");
            assert!(!text.contains('\r'), "{text:?}");
            assert!(text.contains("evil\\u{1b}]0;owned\\u{7}"), "{text}");
        }
        assert_eq!(printable("plain-name"), Cow::Borrowed("plain-name"));
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
    }
}
