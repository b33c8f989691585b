//! A peer's bytes through the hixie-76 tunnel's frame codec, text encoding and handshake keys.
//! The property is in the library, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    traverse_tunnel::fuzzing::check_hixie76(input);
});
