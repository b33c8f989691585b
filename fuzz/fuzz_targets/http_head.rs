//! A peer's bytes through the shared HTTP head readers and the chunked-body framer of `traverse_net::http`.
//! The property is in the library, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    traverse_net::fuzzing::check_http_head(input);
});
