//! The property the `results` fuzz target in `fuzz/` holds the results
//! readers to, kept here so that the fuzz target and the corpus regression
//! test (`tests/fuzz_corpus.rs`) check the very same thing: `compare`,
//! `merge` and `show` read results through [`parse_results`], which never
//! panics on any text; a document it accepts is one `run --json` could have
//! written, so it re-serialises and reads back equal; and a refusal names
//! the file and holds no raw control character for the terminal.
//! Not a stable interface: it panics when the property does not hold.

use crate::json::parse_results;

/// The name a fuzzed text is read under, as errors show it.
pub const TEXT_PATH: &str = "fuzzed.json";

pub fn check_results(text: &str) {
    match parse_results(text, TEXT_PATH) {
        Ok(report) => {
            let written = report.to_json();
            let again = parse_results(&written, TEXT_PATH)
                .unwrap_or_else(|error| panic!("{error}: a report read back from\n{written}"));
            assert_eq!(again, report, "a report changed on its way through JSON");
        }
        Err(error) => {
            // What the CLI prints: the error and its sources (`{:#}`).
            let mut shown = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                shown += &format!(": {cause}");
                source = cause.source();
            }
            assert!(
                shown.contains(TEXT_PATH),
                "an error names the file: {shown}"
            );
            if let Some(control) = shown.chars().find(|c| c.is_control()) {
                panic!("an error holds the raw control character {control:?}: {shown:?}");
            }
        }
    }
}
