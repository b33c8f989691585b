//! A client's WebSocket bytes through the RFC 6455 masking rules and the cache reader of the HTTP-mode hops.
//! The property is in the library, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    traverse_middlebox::fuzzing::check_websocket_masking(input);
});
