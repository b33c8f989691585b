//! The bytes fuzzing found (`fuzz/corpus/legacy_request/` and
//! `websocket_masking/`, minimised), run through the same properties as the
//! fuzz targets on every `cargo test`.

use traverse_scenario::fuzzing::check_corpus;

#[test]
fn every_request_found_by_fuzzing_is_framed_as_declared() {
    check_corpus(
        "legacy_request",
        traverse_middlebox::fuzzing::check_legacy_request,
    );
}

#[test]
fn every_frame_stream_found_by_fuzzing_is_masked_as_the_rule_says() {
    check_corpus(
        "websocket_masking",
        traverse_middlebox::fuzzing::check_websocket_masking,
    );
}
