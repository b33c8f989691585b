//! Every file in `tests/invalid` is a mistake a person really makes. Its
//! first line is `# error: LINE:COL: message`, the exact error the file must
//! produce (without the `path:` prefix, which depends on where tests run),
//! and the only one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PREFIX: &str = "# error: ";

/// Fewer files than this means the folder moved or was emptied, and the test
/// would otherwise pass without checking anything.
const MINIMUM_FILES: usize = 50;

fn corpus() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", folder.display()))
        .map(|entry| entry.expect("readable folder entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= MINIMUM_FILES,
        "{} holds {} scenario files; the corpus needs at least {MINIMUM_FILES}",
        folder.display(),
        files.len()
    );
    files
}

/// A corpus file's text; a byte that is not UTF-8 (the mistake of one of
/// them) reads as U+FFFD, as the CLI shows it under its error.
fn text_of(path: &Path) -> std::io::Result<String> {
    Ok(String::from_utf8_lossy(&std::fs::read(path)?).into_owned())
}

/// The `LINE:COL: message` a file declares on its first line.
fn expected_error(path: &Path) -> Result<String, String> {
    let source = text_of(path).map_err(|error| format!("cannot read: {error}"))?;
    let first_line = source.lines().next().unwrap_or_default();
    first_line
        .strip_prefix(PREFIX)
        .map(str::to_string)
        .filter(|expected| !expected.trim().is_empty())
        .ok_or_else(|| {
            format!("first line must be `{PREFIX}LINE:COL: message`, found {first_line:?}")
        })
}

#[test]
fn every_invalid_file_reports_its_declared_error() {
    let files = corpus();
    let mut failures = String::new();
    for path in &files {
        let expected = match expected_error(path) {
            Ok(expected) => expected,
            Err(problem) => {
                writeln!(failures, "{}:\n    {problem}", path.display()).unwrap();
                continue;
            }
        };
        let expected = format!("{}:{expected}", path.display());
        // One mistake is one error: reading on after it must not find
        // others that are only its echo.
        match traverse_scenario::load_checked(path) {
            Ok(scenario) => writeln!(
                failures,
                "{}:\n    expected: {expected}\n    but it loaded: {scenario:?}",
                path.display()
            )
            .unwrap(),
            Err(errors) if errors.len() != 1 || errors[0].to_string() != expected => {
                let actual: Vec<String> = errors.iter().map(ToString::to_string).collect();
                writeln!(
                    failures,
                    "{}:\n    expected: {expected}\n    actual:   {}",
                    path.display(),
                    actual.join("\n              ")
                )
                .unwrap();
            }
            Err(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "invalid scenario files that did not give their declared error:\n{failures}"
    );
}

#[test]
fn every_error_points_inside_its_file() {
    // A location past the end of a line or file would send a person to the
    // wrong place even when the message is right.
    let mut failures = String::new();
    for path in corpus() {
        let source = text_of(&path).unwrap();
        let Err(error) = traverse_scenario::load(&path) else {
            continue; // reported by the test above
        };
        let Some(location) = error.location() else {
            writeln!(
                failures,
                "{}: error has no location: {error}",
                path.display()
            )
            .unwrap();
            continue;
        };
        let line = source.lines().nth(location.line - 1);
        // One past the last character is allowed: an unclosed string or a
        // missing value is reported where the line ends.
        let fits = line.is_some_and(|line| location.column <= line.chars().count() + 1);
        if !fits || location.line == 1 {
            writeln!(
                failures,
                "{}: {}:{} is not a place in the scenario below the comment",
                path.display(),
                location.line,
                location.column
            )
            .unwrap();
        }
    }
    assert!(failures.is_empty(), "{failures}");
}
