//! Results JSON (document or stream) through `traverse_report::parse_results`, the strict reader of compare, merge and show.
//! The property is in the library, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        traverse_report::fuzzing::check_results(text);
    }
});
