//! The bytes fuzzing found (`fuzz/corpus/http_head/`, minimised), run
//! through the same properties as the fuzz target on every `cargo test`.

use traverse_scenario::fuzzing::check_corpus;

#[test]
fn every_head_found_by_fuzzing_is_read_within_its_limits() {
    check_corpus("http_head", traverse_net::fuzzing::check_http_head);
}
