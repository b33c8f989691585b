//! A scenario file's text through `traverse_scenario::check`: loaded with a good name, or refused at a place.
//! The property is in the library, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        traverse_scenario::fuzzing::check_scenario_text(text);
    }
});
