//! The bytes fuzzing found (`fuzz/corpus/hixie76/`, minimised), run
//! through the same property as the fuzz target on every `cargo test`.

use traverse_scenario::fuzzing::check_corpus;

#[test]
fn every_hixie76_stream_found_by_fuzzing_reads_the_same_frames_however_split() {
    check_corpus("hixie76", traverse_tunnel::fuzzing::check_hixie76);
}
