//! Scenario errors point at the place a person has to edit.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::render::printable;

/// A place in a scenario file, 1-based, columns counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    /// How many characters of the line the mistake covers: the caret
    /// under the source line is this wide. 0 for a mistake of the whole
    /// file, which no one line shows.
    pub width: usize,
}

impl Location {
    /// The line and column of byte `offset` in `source`.
    pub fn from_offset(path: &Path, source: &str, offset: usize) -> Location {
        Location::from_span(path, source, offset..offset)
    }

    /// Where `span` starts, covering as much of it as is on that line.
    pub fn from_span(path: &Path, source: &str, span: Range<usize>) -> Location {
        let offset = floor_char_boundary(source, span.start);
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before[line_start..].chars().count() + 1;
        let end = floor_char_boundary(source, span.end.max(offset));
        let covered = &source[offset..end];
        let on_line = covered.split('\n').next().unwrap_or_default();
        Location {
            path: path.to_path_buf(),
            line,
            column,
            width: on_line.trim_end().chars().count().max(1),
        }
    }

    /// The first place of a file, for a mistake no one line holds (a key
    /// left out, a name taken from the file's name).
    pub fn start_of(path: &Path) -> Location {
        Location {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            width: 0,
        }
    }
}

/// `offset`, or the start of the character it falls inside, within `source`.
fn floor_char_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            shown_path(&self.path),
            self.line,
            self.column
        )
    }
}

/// A path as an error's first line gives it: a file name is bytes from
/// whoever made the file, and may hold an escape sequence too.
fn shown_path(path: &Path) -> String {
    printable(&path.display().to_string()).into_owned()
}

/// Every message is shown through [`printable`]: it may quote what the file
/// says (a key, a value), and a control character in it would reach a
/// terminal, a log or a CI page as itself.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file says something the harness cannot run.
    #[error("{location}: {}", printable(message))]
    Invalid { location: Location, message: String },
    /// The file cannot be read at all, so no place in it can be named:
    /// `what` says which kind of file (`scenario file`, `tunnel file`).
    #[error("{}: cannot read {what}: {source}", shown_path(path))]
    Read {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no scenario files (*.toml) in this folder", shown_path(path))]
    EmptyFolder { path: PathBuf },
}

impl ScenarioError {
    pub(crate) fn at(
        path: &Path,
        source: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        ScenarioError::Invalid {
            location: Location::from_span(path, source, span),
            message: message.into(),
        }
    }

    /// Where in a file the mistake is, when it is in a file's text.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ScenarioError::Invalid { location, .. } => Some(location),
            _ => None,
        }
    }

    /// The file the error is about, for ordering errors file by file.
    pub fn path(&self) -> &Path {
        match self {
            ScenarioError::Invalid { location, .. } => &location.path,
            ScenarioError::Read { path, .. } | ScenarioError::EmptyFolder { path } => path,
        }
    }
}

/// Puts `errors` in the order a person fixes them, file by file and top to
/// bottom (an error about a whole file first), each once.
pub fn in_file_order(mut errors: Vec<ScenarioError>) -> Vec<ScenarioError> {
    let key = |error: &ScenarioError| {
        let place = error
            .location()
            .map_or((0, 0), |location| (location.line, location.column));
        (error.path().to_path_buf(), place)
    };
    // Stable: two errors at one place keep the order they were found in.
    errors.sort_by_key(key);
    let mut seen = std::collections::HashSet::new();
    errors.retain(|error| seen.insert(error.to_string()));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_characters_from_one() {
        let source = "a = 1\nbé = 2\n";
        let at = |offset| {
            let location = Location::from_offset(Path::new("x.toml"), source, offset);
            (location.line, location.column)
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(6), (2, 1));
        // "bé" is three bytes; the `=` after it is the fourth character
        // (b, é, space, =), so its column is 4, not the byte-based 5.
        assert_eq!(at(10), (2, 4));
    }

    #[test]
    fn a_span_is_underlined_up_to_the_end_of_its_first_line() {
        let source = "name = \"x\"\n[probe]\nidle = 5\n";
        let path = Path::new("x.toml");
        assert_eq!(Location::from_span(path, source, 7..10).width, 3);
        // A table's span runs over lines; only its first line is underlined.
        assert_eq!(Location::from_span(path, source, 11..28).width, 7);
        assert_eq!(Location::from_span(path, source, 5..5).width, 1);
    }

    #[test]
    fn errors_come_file_by_file_and_top_to_bottom() {
        let at = |path: &str, line, column| ScenarioError::Invalid {
            location: Location {
                path: PathBuf::from(path),
                line,
                column,
                width: 1,
            },
            message: format!("{line}:{column}"),
        };
        let sorted = in_file_order(vec![
            at("b.toml", 1, 1),
            at("a.toml", 5, 11),
            at("a.toml", 4, 7),
            at("a.toml", 7, 7),
            at("a.toml", 1, 1),
            at("a.toml", 4, 7),
        ]);
        let order: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "a.toml:1:1: 1:1",
                "a.toml:4:7: 4:7",
                "a.toml:5:11: 5:11",
                "a.toml:7:7: 7:7",
                "b.toml:1:1: 1:1"
            ]
        );
    }
}
