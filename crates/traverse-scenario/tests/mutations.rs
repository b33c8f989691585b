//! Files people edit by hand break in ways no corpus lists: a byte lost in
//! a copy, a paste cut short, a line doubled, an escape sequence or a
//! Latin-1 byte pasted in. Every bundled scenario, tunnel file and corpus
//! file is mutated here, with a fixed seed so a failure reproduces, and
//! every rejection must still send a person to a place in the file, as
//! `path:line:col: `, and carry no control character to their terminal.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use traverse_scenario::{ScenarioError, Style, load_checked, load_tunnel_checked, render};

/// Mutations per source file: with about a hundred files, a few thousand
/// in all, quick enough in a debug build.
const PER_FILE: usize = 32;

const SEED: u64 = 0x7472_6176_6572_7365;

/// Fewer files than this means a folder moved and the test checks little.
const MINIMUM_SOURCES: usize = 80;

/// The files mutated: (path, read as a tunnel file).
fn sources() -> Vec<(PathBuf, bool)> {
    let crate_root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_root.join("../..");
    let mut sources = Vec::new();
    for (folder, tunnel) in [
        (workspace.join("scenarios"), false),
        (workspace.join("tunnels"), true),
        (crate_root.join("tests/invalid"), false),
    ] {
        let files = traverse_scenario::discover(std::slice::from_ref(&folder))
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
        sources.extend(files.into_iter().map(|file| (file, tunnel)));
    }
    assert!(
        sources.len() >= MINIMUM_SOURCES,
        "only {} files to mutate",
        sources.len()
    );
    sources
}

/// Bytes a person's terminal or editor could slip in that a file must not
/// pass on: C0 controls, DEL, an escape sequence, C1 controls as UTF-8.
const CONTROLS: &[&[u8]] = &[
    b"\x00",
    b"\x07",
    b"\x08",
    b"\r",
    b"\x1b[31m",
    b"\x1b]0;owned\x07",
    b"\x7f",
    "\u{9b}".as_bytes(),
    "\u{85}".as_bytes(),
];

/// Byte sequences that are not UTF-8: a Latin-1 `é`, a lone continuation
/// byte, a sequence cut short, an encoded surrogate, an overlong `/`.
const NOT_UTF8: &[&[u8]] = &[b"\xe9", b"\x80", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"];

/// The byte ranges of each line, without its `\n`.
fn lines(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            lines.push(start..at);
            start = at + 1;
        }
    }
    if start < bytes.len() {
        lines.push(start..bytes.len());
    }
    lines
}

/// One mutation of `original`, and what it was, to name a failure.
fn mutate(rng: &mut fastrand::Rng, original: &[u8]) -> (Vec<u8>, String) {
    let mut bytes = original.to_vec();
    let lines = lines(&bytes);
    let line = |rng: &mut fastrand::Rng| lines[rng.usize(..lines.len())].clone();
    // A file of no lines gets a byte inserted whatever was drawn.
    let choice = if lines.is_empty() { 3 } else { rng.u8(..8) };
    let what = match choice {
        0 => {
            let at = rng.usize(..bytes.len());
            let bit = 1 << rng.u8(..8);
            bytes[at] ^= bit;
            format!("byte {at} xor {bit:#04x}")
        }
        1 => {
            let at = rng.usize(..bytes.len());
            bytes.truncate(at);
            format!("cut at byte {at}")
        }
        2 => {
            let range = line(rng);
            let end = (range.end + 1).min(bytes.len());
            bytes.drain(range.start..end);
            format!("line at byte {} deleted", range.start)
        }
        3 => {
            let control = CONTROLS[rng.usize(..CONTROLS.len())];
            let at = rng.usize(..=bytes.len());
            bytes.splice(at..at, control.iter().copied());
            format!("{control:?} inserted at byte {at}")
        }
        4 => {
            let bad = NOT_UTF8[rng.usize(..NOT_UTF8.len())];
            let at = rng.usize(..=bytes.len());
            bytes.splice(at..at, bad.iter().copied());
            format!("{bad:?} inserted at byte {at}")
        }
        5 => {
            let range = line(rng);
            let mut copy = original[range.clone()].to_vec();
            copy.push(b'\n');
            bytes.splice(range.start..range.start, copy);
            format!("line at byte {} doubled", range.start)
        }
        6 => {
            // A control character inside a value, where TOML reads it.
            let control = CONTROLS[rng.usize(..CONTROLS.len())];
            let quote = bytes.iter().enumerate().filter(|(_, byte)| **byte == b'"');
            let quotes: Vec<usize> = quote.map(|(at, _)| at + 1).collect();
            let at = if quotes.is_empty() {
                0
            } else {
                quotes[rng.usize(..quotes.len())]
            };
            bytes.splice(at..at, control.iter().copied());
            format!("{control:?} inserted in a string at byte {at}")
        }
        _ => {
            // Two values trade places: a port where a keyword was, a
            // table where a string was.
            let valued: Vec<_> = lines
                .iter()
                .filter_map(|range| {
                    let text = &original[range.clone()];
                    let equals = text.iter().position(|byte| *byte == b'=')?;
                    Some((range.start, range.start + equals + 1, range.end))
                })
                .collect();
            if valued.len() < 2 {
                return (bytes, "unchanged: fewer than two values".to_string());
            }
            let a = valued[rng.usize(..valued.len())];
            let b = valued[rng.usize(..valued.len())];
            let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
            if first.0 == second.0 {
                return (
                    bytes,
                    "unchanged: one value swapped with itself".to_string(),
                );
            }
            let mut swapped = original[..first.1].to_vec();
            swapped.extend_from_slice(&original[second.1..second.2]);
            swapped.extend_from_slice(&original[first.2..second.1]);
            swapped.extend_from_slice(&original[first.1..first.2]);
            swapped.extend_from_slice(&original[second.2..]);
            bytes = swapped;
            format!("values at bytes {} and {} swapped", first.0, second.0)
        }
    };
    (bytes, what)
}

/// What is wrong with one error of a mutated file at `path`, if anything.
fn problem(path: &Path, bytes: &[u8], error: &ScenarioError) -> Option<String> {
    let message = error.to_string();
    if message.contains(char::is_control) {
        return Some(format!("a control character in {message:?}"));
    }
    let Some(rest) = message.strip_prefix(&format!("{}:", path.display())) else {
        return Some(format!("does not start with the path: {message:?}"));
    };
    let located = rest
        .split_once(": ")
        .and_then(|(place, _)| place.split_once(':'))
        .and_then(|(line, column)| {
            Some((line.parse::<usize>().ok()?, column.parse::<usize>().ok()?))
        });
    let Some((line, column)) = located else {
        // The file was just written, so it can be read: only a located
        // error explains what is wrong in it.
        return Some(format!("no line:col: {message:?}"));
    };
    // The place must be in the file: one past a line's end at most (a
    // missing value), on a line that exists or just after the last.
    let text = String::from_utf8_lossy(bytes);
    let shown: Vec<&str> = text.split('\n').collect();
    let fits = line >= 1
        && column >= 1
        && shown
            .get(line - 1)
            .is_some_and(|text| column <= text.chars().count() + 1);
    if !fits {
        return Some(format!("{line}:{column} is outside the file: {message:?}"));
    }
    None
}

#[test]
fn every_rejection_of_a_mutated_file_is_located_and_printable() {
    let folder = tempfile::tempdir().expect("tempdir");
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut failures = String::new();
    let (mut mutations, mut rejected) = (0, 0);
    for (source, tunnel) in sources() {
        let original = std::fs::read(&source).expect("a readable source");
        // The file's own name: a name taken from it is then a real one.
        let path = folder.path().join(source.file_name().expect("a file name"));
        for _ in 0..PER_FILE {
            let (bytes, what) = mutate(&mut rng, &original);
            // A new file each time, not the old one truncated: ext4 flushes
            // a truncated file's blocks on close, which took 3 ms a write.
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, &bytes).expect("write the mutation");
            mutations += 1;
            let errors = if tunnel {
                load_tunnel_checked(&path).err()
            } else {
                load_checked(&path).err()
            };
            let Some(errors) = errors else { continue };
            rejected += 1;
            let mut wrong: Vec<String> = errors
                .iter()
                .filter_map(|error| problem(&path, &bytes, error))
                .collect();
            // What the CLI prints: the source line under each, escaped too.
            let rendered = render(&errors, Style::Plain);
            if rendered.contains(|c: char| c.is_control() && c != '\n') {
                wrong.push(format!("a control character in {rendered:?}"));
            }
            for problem in wrong {
                let _ = writeln!(failures, "{} ({what}): {problem}", source.display());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "of {mutations} mutations ({rejected} rejected):\n{failures}"
    );
    // Most mutations break a file; if few did, the mutations are too mild
    // to test anything.
    assert!(
        rejected * 2 > mutations,
        "only {rejected} of {mutations} mutations were rejected"
    );
}
