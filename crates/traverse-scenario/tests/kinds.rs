//! Each kind's option table is the one description of its options: these
//! tests hold the reader, the README's tables and `traverse list` to it (the
//! schema is held to it by `schema.rs`, which regenerates it from the same
//! table). A key added to a table and not read, read and not in the table,
//! or documented differently, fails here.

use std::path::{Path, PathBuf};

use traverse_scenario::{DefaultValue, HopKind, KindInfo, Scenario, ScenarioError};

fn hop(info: &KindInfo, lines: &str) -> Result<Scenario, ScenarioError> {
    let source = format!("[[hops]]\nkind = \"{}\"\n{lines}\n", info.name);
    traverse_scenario::parse(Path::new("kinds.toml"), &source)
}

/// The lines a hop needs to be valid at all: an external hop runs nothing
/// without a preset or a command.
fn base(info: &KindInfo) -> &'static str {
    if info.name == "external" {
        "preset = \"nginx\""
    } else {
        ""
    }
}

#[test]
fn every_option_is_read_where_its_table_says_it_acts() {
    for info in HopKind::ALL {
        for spec in info.options {
            let what = format!("{} option `{}`", info.name, spec.key);
            assert!(!spec.summary.is_empty(), "{what} has no summary");
            assert!(!spec.doc.is_empty(), "{what} has no doc");
            let example = hop(info, spec.example).unwrap_or_else(|error| {
                panic!(
                    "{what}: its example does not read:\n{}\n{error}",
                    spec.example
                )
            });
            // The same hop without the option: it must read differently, or
            // not at all (an external hop's command needs its config).
            let without: Vec<&str> = spec
                .example
                .lines()
                .filter(|line| !line.starts_with(&format!("{} =", spec.key)))
                .collect();
            assert_ne!(
                without.len(),
                spec.example.lines().count(),
                "{what}: its example does not set it"
            );
            if let Ok(without) = hop(info, &without.join("\n")) {
                assert_ne!(
                    example.hops, without.hops,
                    "{what}: its example reads as the same hop as without it"
                );
            }
        }
    }
}

#[test]
fn every_written_default_is_what_leaving_the_option_out_gives() {
    for info in HopKind::ALL {
        for spec in info.options {
            let DefaultValue::Written(written) = spec.default else {
                continue;
            };
            let base = base(info);
            let with =
                hop(info, &format!("{base}\n{} = {written}", spec.key)).unwrap_or_else(|error| {
                    panic!("{} `{}` = {written}: {error}", info.name, spec.key)
                });
            let without = hop(info, base).expect("the base hop reads");
            assert_eq!(
                with.hops, without.hops,
                "{} `{}`: the table's default {written} is not the reader's",
                info.name, spec.key
            );
        }
    }
}

#[test]
fn a_hop_writes_back_only_keys_of_its_table() {
    for info in HopKind::ALL {
        for spec in info.options {
            let scenario = hop(info, spec.example).expect("examples read");
            for line in scenario.hops[0].kind.settings() {
                let key = line.split(" = ").next().unwrap_or_default();
                assert!(
                    info.option(key).is_some(),
                    "{}: the settings line {line:?} is no option of the kind",
                    info.name
                );
            }
        }
    }
}

#[test]
fn the_listing_names_exactly_each_kinds_options() {
    let listing = traverse_scenario::kinds_listing();
    for info in HopKind::ALL {
        assert!(
            listing.lines().any(|line| {
                line.split_whitespace().next() == Some(info.name) && line.ends_with(info.summary)
            }),
            "the listing names {} with its summary",
            info.name
        );
        let heading = format!("{} options:", info.name);
        let section: Vec<&str> = listing
            .lines()
            .skip_while(|line| !line.starts_with(&heading))
            .skip(1)
            .take_while(|line| !line.is_empty())
            .collect();
        let listed: Vec<&str> = section
            .iter()
            .filter_map(|line| line.strip_prefix("  "))
            .filter(|line| !line.starts_with(' ') && !line.starts_with("placeholders:"))
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        let mut keys = info.keys();
        keys.retain(|key| *key != "kind");
        assert_eq!(listed, keys, "the listing's options of {}", info.name);
        for spec in info.options {
            assert!(
                section
                    .iter()
                    .any(|line| line.trim().starts_with(spec.summary)),
                "the listing gives {} `{}` its summary",
                info.name,
                spec.key
            );
        }
    }
}

/// The scenario reference, where each kind's option table is published.
fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.md")
}

const END: &str = "<!-- end of options -->";

/// The reference with every kind's option table as its table makes it now.
fn reference_as_generated(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    for info in HopKind::ALL {
        let marker = format!("<!-- options of {}:", info.name);
        let start = rest
            .find(&marker)
            .unwrap_or_else(|| panic!("docs/scenarios.md has no `{marker} ...` line"));
        let marker_end = start + rest[start..].find('\n').expect("a marker line") + 1;
        let end = marker_end
            + rest[marker_end..]
                .find(END)
                .unwrap_or_else(|| panic!("docs/scenarios.md: {} has no `{END}`", info.name));
        out += &rest[..marker_end];
        out += &traverse_scenario::options_markdown(info);
        rest = &rest[end..];
    }
    out + rest
}

#[test]
fn the_published_option_tables_are_the_kinds_tables() {
    let path = reference();
    let text = std::fs::read_to_string(&path).expect("docs/scenarios.md");
    let generated = reference_as_generated(&text);
    if std::env::var_os("TRAVERSE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("docs/scenarios.md is writable");
        return;
    }
    if generated != text {
        let differing = text
            .lines()
            .zip(generated.lines())
            .find(|(now, want)| now != want)
            .map(|(now, want)| format!("docs/scenarios.md has\n  {now}\nthe table makes\n  {want}"))
            .unwrap_or_else(|| "the tables differ in length".to_string());
        panic!(
            "the option tables in docs/scenarios.md are not the kinds' tables: {differing}\n\
             regenerate them with\n    TRAVERSE_UPDATE_DOCS=1 cargo test -p traverse-scenario --test kinds\n\
             after changing the table in crates/traverse-scenario/src/kinds/"
        );
    }
}
