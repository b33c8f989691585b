//! The last step of a mistake's way to a person: the located errors that
//! loading collected become text for a terminal. Each error keeps the first
//! line people and scripts grep for, `path:line:col: message`, and shows
//! under it the line of the file it is about with a caret under the
//! mistake, drawn by `annotate-snippets`. Text from a file (a key, a value,
//! the line itself) and file names are made harmless for a terminal here,
//! since this is where they reach one.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::error::ScenarioError;

/// How the rendered errors look: plain, or coloured for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Coloured,
}

/// Renders each error, in the order given, with its source line read from
/// its file; an error whose file cannot be read again, or that is about the
/// whole file, is its first line alone.
pub fn render(errors: &[ScenarioError], style: Style) -> String {
    let mut sources: HashMap<PathBuf, Option<String>> = HashMap::new();
    let mut out = String::new();
    for error in errors {
        let line = error.location().filter(|location| location.width > 0);
        let line = line.and_then(|location| {
            let source = sources
                .entry(location.path.clone())
                // Lossy: a byte that is not UTF-8 shows as U+FFFD, in the
                // column its error gives, with the caret under it.
                .or_insert_with(|| {
                    let bytes = std::fs::read(&location.path).ok()?;
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                });
            let text = source
                .as_deref()?
                .lines()
                .nth(location.line.checked_sub(1)?)?;
            Some(SourceLine {
                text,
                number: Some(location.line),
                column: location.column,
                width: location.width,
            })
        });
        out += &render_one(&error.to_string(), line, style);
    }
    out
}

/// One line of input and where on it the mistake is (1-based columns, in
/// characters); `number` is the line's number in its file, if it has one.
#[derive(Debug, Clone, Copy)]
pub struct SourceLine<'a> {
    pub text: &'a str,
    pub number: Option<usize>,
    pub column: usize,
    pub width: usize,
}

/// `title` on its own line, then `line` with a caret under the mistake.
pub fn render_one(title: &str, line: Option<SourceLine<'_>>, style: Style) -> String {
    // The title is written here rather than by the renderer, which would
    // put `error: ` before it: the first line stays what scripts grep for.
    let mut out = format!("{}\n", harmless(title));
    let Some(line) = line else {
        return out;
    };
    let text = harmless(line.text);
    let start = byte_of_column(&text, line.column);
    let end = byte_of_column(&text, line.column + line.width.max(1)).max(start);
    let snippet = Snippet::source(text.as_str())
        .line_start(line.number.unwrap_or(1))
        .annotation(
            AnnotationKind::Primary
                .span(start..end)
                .highlight_source(false),
        );
    let report = [Group::with_level(Level::ERROR).element(snippet)];
    let renderer = match style {
        Style::Plain => Renderer::plain(),
        Style::Coloured => Renderer::styled(),
    }
    // A line given on its own (a `--set` option) has no number to show.
    .anonymized_line_numbers(line.number.is_none());
    let mut snippet = renderer.render(&report);
    if line.number.is_none() {
        // The first `LL` is the gutter's: the line's text comes after it.
        snippet = snippet.replacen(ANONYMOUS_LINE, "  ", 1);
    }
    out += &snippet;
    out += "\n";
    out
}

/// What the renderer writes in place of a line number when told to hide it.
const ANONYMOUS_LINE: &str = "LL";

/// The byte offset of 1-based character column `column` of `text`; past
/// the end, the end (a missing value is reported just after the `=`).
fn byte_of_column(text: &str, column: usize) -> usize {
    text.char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(offset, _)| offset)
}

/// `text` safe to print on a terminal: control characters (escape
/// sequences, carriage returns, bidirectional overrides) are written as
/// `\u{…}` escapes, so a name or a detail from a file or a peer cannot
/// move the cursor, recolour the screen or hide text.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `text` with each control character (an escape sequence would recolour
/// or retitle the terminal) shown as one visible character, so the caret
/// still lines up: for any text from a file on its way to a terminal.
pub fn harmless(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            // U+2400 onwards pictures each C0 control; U+2421 is DEL.
            '\0'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_sits_under_the_mistake() {
        let rendered = render_one(
            "x.toml:4:7: `mode` = \"l7\" is not allowed",
            Some(SourceLine {
                text: "mode = \"l7\"",
                number: Some(4),
                column: 8,
                width: 4,
            }),
            Style::Plain,
        );
        insta::assert_snapshot!(rendered, @r#"
        x.toml:4:7: `mode` = "l7" is not allowed
          |
        4 | mode = "l7"
          |        ^^^^
        "#);
    }

    /// A `--set` option whose key is `LL`, the text the renderer writes in
    /// place of a hidden line number.
    fn set_option(style: Style) -> String {
        let line = SourceLine {
            text: "LL=1",
            number: None,
            column: 1,
            width: 2,
        };
        render_one("--set LL=1: unknown key `LL`", Some(line), style)
    }

    #[test]
    fn a_line_of_its_own_shows_no_number() {
        let rendered = set_option(Style::Plain);
        insta::assert_snapshot!(rendered, @r"
        --set LL=1: unknown key `LL`
           |
           | LL=1
           | ^^
        ");
    }

    #[test]
    fn colour_leaves_the_first_line_plain_and_hides_a_missing_number() {
        let rendered = set_option(Style::Coloured);
        let (title, snippet) = rendered.split_once('\n').expect("two parts");
        assert_eq!(title, "--set LL=1: unknown key `LL`");
        assert!(snippet.contains('\u{1b}'), "{rendered:?}");
        assert_eq!(snippet.matches("LL").count(), 1, "{rendered:?}");
    }

    #[test]
    fn control_characters_from_a_file_do_not_reach_the_terminal() {
        let rendered = render_one(
            "unknown key `\u{1b}[31mred`",
            Some(SourceLine {
                text: "\"\u{1b}[31mred\" = 1",
                number: None,
                column: 1,
                width: 10,
            }),
            Style::Plain,
        );
        assert!(!rendered.contains('\u{1b}'), "{rendered:?}");
        assert!(rendered.contains("\u{241b}[31mred"), "{rendered}");
    }
}
