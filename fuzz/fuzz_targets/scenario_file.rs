//! A scenario or tunnel file's bytes, not UTF-8 included, loaded from disk
//! as `validate` and `run` read them, errors rendered with their source
//! line. The property is in the library, shared with the corpus test.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// Where the fuzzed file is written: `TRAVERSE_FUZZ_DIR` (ci/fuzz.sh
/// makes one in memory, since a write to disk per input costs two thirds
/// of the executions, and removes it), else a folder of this process's own
/// in the temporary directory, so parallel jobs never share a file.
static FOLDER: LazyLock<PathBuf> = LazyLock::new(|| {
    let base = std::env::var_os("TRAVERSE_FUZZ_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let folder = base.join(format!("traverse-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a folder for the fuzzed file");
    folder
});

fuzz_target!(|input: &[u8]| {
    traverse_scenario::fuzzing::check_file(&FOLDER, input);
});
