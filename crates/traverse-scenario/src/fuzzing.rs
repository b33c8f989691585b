//! The properties the fuzz targets in `fuzz/` hold the loaders to, kept
//! here so that the fuzz targets and the corpus regression test
//! (`tests/fuzz_corpus.rs`) check the very same thing: whatever bytes a
//! scenario or tunnel file holds, loading it either succeeds with a name
//! that passes the name rule, or fails with errors that each say where
//! (`path:line:col`, or the path and a reason when the file cannot be read
//! as text) and that reach a terminal with no raw control character.
//! Not a stable interface: it panics, as a fuzz target must, when a
//! property does not hold.

use std::path::{Path, PathBuf};

use crate::{ScenarioError, Style, check, check_tunnel, load_checked, load_tunnel_checked};

/// Every input kept for fuzz target `target` (`fuzz/corpus/TARGET/`, the
/// minimised corpus fuzzing found), sorted, with its path for the failure
/// message; every crate's corpus test reads it this way. An empty or moved
/// folder panics, so a test cannot pass by checking nothing.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", folder.display());
    files
        .into_iter()
        .map(|path| {
            let bytes =
                std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Runs `check` on every input of `target`'s corpus, naming the input
/// that fails before its panic.
pub fn check_corpus(target: &str, check: impl Fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        eprintln!("{}", path.display());
        check(&bytes);
    }
}

/// The path a fuzzed text is checked as; it names no file, so rendering
/// shows each error's first line alone.
pub const TEXT_PATH: &str = "fuzzed.toml";

/// `source` as a scenario file.
pub fn check_scenario_text(source: &str) {
    let path = Path::new(TEXT_PATH);
    match check(path, source) {
        Ok(scenario) => assert_good_name(&scenario.name),
        Err(errors) => assert_located(path, source, &errors),
    }
}

/// `source` as a tunnel definition file.
pub fn check_tunnel_text(source: &str) {
    let path = Path::new(TEXT_PATH);
    match check_tunnel(path, source) {
        Ok(definition) => assert_good_name(&definition.name),
        Err(errors) => assert_located(path, source, &errors),
    }
}

/// `bytes` written to `folder/fuzzed.toml` and loaded from there as a
/// scenario and as a tunnel definition, as `validate` and `run` read
/// files: bytes that are not UTF-8 included, and errors rendered with
/// their source line.
pub fn check_file(folder: &Path, bytes: &[u8]) {
    let path = folder.join(TEXT_PATH);
    std::fs::write(&path, bytes).expect("the fuzz folder is writable");
    let source = String::from_utf8_lossy(bytes);
    match load_checked(&path) {
        Ok(scenario) => assert_good_name(&scenario.name),
        Err(errors) => assert_located(&path, &source, &errors),
    }
    match load_tunnel_checked(&path) {
        Ok(definition) => assert_good_name(&definition.name),
        Err(errors) => assert_located(&path, &source, &errors),
    }
}

fn assert_good_name(name: &str) {
    assert_eq!(
        crate::name_problem(name),
        None,
        "a loaded file's name {name:?} breaks the name rule"
    );
}

/// Every error is about `path`, at a place inside `source` (or about the
/// whole file with a reason), first line as scripts grep for it, and its
/// rendering holds no control character but the line ends.
fn assert_located(path: &Path, source: &str, errors: &[ScenarioError]) {
    assert!(!errors.is_empty(), "a failed load gives at least one error");
    let lines = source.split('\n').count();
    for error in errors {
        let shown = error.to_string();
        match error {
            ScenarioError::Invalid { location, message } => {
                assert_eq!(location.path, path, "{shown}");
                assert!(
                    (1..=lines).contains(&location.line),
                    "line {} of a {lines}-line file: {shown}",
                    location.line
                );
                let line_length = source
                    .split('\n')
                    .nth(location.line - 1)
                    .map_or(0, |line| line.chars().count());
                assert!(
                    (1..=line_length + 1).contains(&location.column),
                    "column {} of a {line_length}-character line: {shown}",
                    location.column
                );
                assert!(!message.trim().is_empty(), "an error says why: {shown}");
                let place = format!("{}:{}:{}: ", path.display(), location.line, location.column);
                assert!(shown.starts_with(&place), "{shown:?} starts with {place:?}");
            }
            ScenarioError::Read { path: read, .. } => {
                assert_eq!(read, path, "{shown}");
                let place = format!("{}: ", path.display());
                assert!(shown.starts_with(&place), "{shown:?} starts with {place:?}");
                assert!(
                    shown.len() > place.len(),
                    "a reason follows the path: {shown}"
                );
            }
            ScenarioError::EmptyFolder { .. } => panic!("loading one file found a folder: {shown}"),
        }
    }
    // Plain only: colour is the renderer's own escapes around the same
    // text, and what came from the file must add none.
    let rendered = crate::render(errors, Style::Plain);
    if let Some(control) = rendered.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("rendered errors hold the raw control character {control:?}:\n{rendered}");
    }
}
