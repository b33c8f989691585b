//! The results files fuzzing found (`fuzz/corpus/results/`, minimised),
//! run through the same property as the fuzz target on every `cargo test`.

use traverse_scenario::fuzzing::check_corpus;

#[test]
fn every_results_text_found_by_fuzzing_is_refused_or_reads_back_equal() {
    check_corpus("results", |bytes| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            traverse_report::fuzzing::check_results(text);
        }
    });
}
