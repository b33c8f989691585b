//! Builds the bundled scenarios (the repository's `scenarios/` folder)
//! into the binary, so a `traverse run` outside the repository still has
//! something to run. The list is generated rather than written by hand so
//! that a scenario added to the folder is built in without anyone
//! remembering to list it; `src/scenarios.rs` includes the list.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let folder = Path::new(&manifest).join("../../scenarios");
    // A folder given here is watched whole: a file added, changed or
    // removed rebuilds the list.
    println!("cargo:rerun-if-changed={}", folder.display());
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", folder.display()))
        .map(|entry| entry.expect("a folder entry").path())
        .collect();
    files.sort();
    let mut list = String::from("&[\n");
    for path in files {
        // `export` writes each file under its bare name, so a subfolder
        // would need paths the export does not make: keep the folder flat.
        assert!(
            !path.is_dir(),
            "{}: the bundled scenarios are one flat folder",
            path.display()
        );
        if path.extension().is_none_or(|extension| extension != "toml") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_else(|| panic!("{}: a scenario's file name is UTF-8", path.display()));
        let absolute = path.canonicalize().expect("a listed file exists");
        // `{:?}` writes each as a Rust string literal, escapes and all.
        writeln!(
            list,
            "    ({name:?}, include_str!({:?})),",
            absolute.to_str().expect("the repository's path is UTF-8")
        )
        .expect("writing to a String");
    }
    list += "]\n";
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("bundled_scenarios.rs"), list)
        .expect("cannot write the list of bundled scenarios");
}
