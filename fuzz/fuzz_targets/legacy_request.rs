//! A client's request through the legacy forwarder's own head reader, body framing and chunk reader.
//! The property is in the library, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    traverse_middlebox::fuzzing::check_legacy_request(input);
});
