//! Scenario errors point at the place a person has to edit.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a scenario file, 1-based, columns counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The line and column of byte `offset` in `source`.
    pub fn from_offset(path: &Path, source: &str, offset: usize) -> Location {
        let offset = offset.min(source.len());
        let before = source.get(..offset).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            path: path.to_path_buf(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file says something the harness cannot run.
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    #[error("{}: cannot read scenario: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no scenario files (*.toml) in this folder", path.display())]
    EmptyFolder { path: PathBuf },
}

impl ScenarioError {
    pub(crate) fn at(path: &Path, source: &str, offset: usize, message: impl Into<String>) -> Self {
        ScenarioError::Invalid {
            location: Location::from_offset(path, source, offset),
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
}
