//! The inputs fuzzing found (`fuzz/corpus/`, minimised), run through the
//! same properties as the fuzz targets on every `cargo test`: a crash once
//! found and fixed stays fixed, on stable and without cargo-fuzz.

use traverse_scenario::fuzzing::{
    check_corpus, check_file, check_scenario_text, check_tunnel_text,
};

/// What the text targets do with bytes: only text is a scenario's text.
fn as_text(check: fn(&str)) -> impl Fn(&[u8]) {
    move |bytes| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            check(text);
        }
    }
}

#[test]
fn every_scenario_text_found_by_fuzzing_is_loaded_or_refused_at_a_place() {
    check_corpus("scenario", as_text(check_scenario_text));
}

#[test]
fn every_tunnel_text_found_by_fuzzing_is_loaded_or_refused_at_a_place() {
    check_corpus("tunnel", as_text(check_tunnel_text));
}

#[test]
fn every_file_found_by_fuzzing_is_loaded_or_refused_at_a_place() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    check_corpus("scenario_file", |bytes| check_file(folder.path(), bytes));
}
