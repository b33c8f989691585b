//! Finding scenario files on disk and loading a whole run's worth of them.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use traverse_scenario::{
    ScenarioError, Style, discover, load, load_all, load_tunnel, load_tunnels, render,
};

const HOP: &str = "[[hops]]\nkind = \"tls-terminator\"\n";

/// Writes `contents` at `relative` under `root`, creating folders.
fn write(root: &Path, relative: &str, contents: &str) -> PathBuf {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, contents).unwrap();
    path
}

fn messages(errors: &[ScenarioError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn folders_are_searched_recursively_and_sorted() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let expected = [
        write(root, "a.toml", HOP),
        write(root, "b/a.toml", HOP),
        write(root, "b/c/deep.toml", HOP),
        write(root, "b/z.toml", HOP),
        write(root, "c.toml", HOP),
    ];
    write(root, "README.md", "not a scenario");
    write(root, "b/notes.txt", "not a scenario");
    write(root, "b/c/scenario.toml.bak", HOP);
    fs::create_dir_all(root.join("empty-subfolder")).unwrap();

    let found = discover(&[root.to_path_buf()]).unwrap();
    assert_eq!(found, expected);
}

#[test]
fn files_are_taken_as_given_and_paths_in_the_order_given() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let z = write(root, "z.toml", HOP);
    let nested = write(root, "folder/a.toml", HOP);
    // A file named explicitly need not end in .toml.
    let other = write(root, "scenario.txt", HOP);

    let found = discover(&[z.clone(), root.join("folder"), other.clone()]).unwrap();
    assert_eq!(found, [z, nested, other]);
}

#[test]
fn a_file_named_twice_is_one_scenario() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let file = write(root, "only.toml", HOP);

    let found = discover(&[file.clone(), root.to_path_buf(), file.clone()]).unwrap();
    assert_eq!(found, [file]);
    assert_eq!(
        load_all(&[root.to_path_buf(), root.join("only.toml")])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_folder_without_scenarios_is_an_error() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), "README.md", "scenarios go here");
    write(dir.path(), "sub/notes.txt", "");
    let folder = dir.path().to_path_buf();

    let error = discover(std::slice::from_ref(&folder)).unwrap_err();
    assert!(
        matches!(&error, ScenarioError::EmptyFolder { path } if *path == folder),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&folder.display().to_string()),
        "{message}"
    );
    assert!(message.contains("no scenario files"), "{message}");
    assert!(error.location().is_none());

    let errors = load_all(&[folder]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0], ScenarioError::EmptyFolder { .. }));
}

#[test]
fn a_missing_path_is_a_read_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("no-such-scenarios");

    let error = discover(std::slice::from_ref(&missing)).unwrap_err();
    assert!(matches!(error, ScenarioError::Read { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with(&missing.display().to_string()),
        "{error}"
    );

    let error = load(&missing.join("x.toml")).unwrap_err();
    assert!(
        error.to_string().contains("cannot read scenario"),
        "{error}"
    );
}

#[test]
fn load_all_returns_every_scenario_in_discovery_order() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(root, "b.toml", &format!("name = \"second\"\n{HOP}"));
    write(root, "a.toml", "description = \"direct\"\n");
    write(root, "sub/c.toml", &format!("weight = 2\n{HOP}"));

    let scenarios = load_all(&[root.to_path_buf()]).unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "second", "c"]);
    assert_eq!(scenarios[0].path, root.join("a.toml"));
    assert_eq!(scenarios[0].description, "direct");
    assert_eq!(scenarios[2].weight, 2.0);
}

#[test]
fn two_scenarios_with_one_name_are_rejected_naming_the_first_file() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let first = write(root, "a.toml", "name = \"cloudflare\"\n");
    let second = write(root, "b.toml", "name = \"cloudflare\"\n");
    write(root, "c.toml", "name = \"alb\"\n");

    let errors = load_all(&[root.to_path_buf()]).unwrap_err();
    assert_eq!(errors.len(), 1, "{:#?}", messages(&errors));
    let message = errors[0].to_string();
    assert_eq!(
        message,
        format!(
            "{}:1:8: scenario name \"cloudflare\" is already used by {}; \
             names must be unique in a run",
            second.display(),
            first.display()
        )
    );
}

#[test]
fn a_default_name_can_clash_with_a_written_one() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let first = write(root, "a.toml", "name = \"cdn\"\n");
    let second = write(root, "cdn.toml", "");

    let errors = load_all(&[root.to_path_buf()]).unwrap_err();
    let message = errors[0].to_string();
    assert!(
        message.starts_with(&second.display().to_string()),
        "{message}"
    );
    assert!(message.contains(&first.display().to_string()), "{message}");
}

#[test]
fn every_invalid_file_is_reported_not_just_the_first() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(root, "a-good.toml", HOP);
    let bad_mode = write(
        root,
        "b-bad-mode.toml",
        "[[hops]]\nkind = \"tls-terminator\"\nmode = \"l7\"\n",
    );
    write(root, "c-good.toml", "");
    let bad_key = write(root, "d/bad-key.toml", "descripton = \"typo\"\n");
    let bad_syntax = write(root, "e-bad-syntax.toml", "name = \"open\n");

    let errors = load_all(&[root.to_path_buf()]).unwrap_err();
    let messages = messages(&errors);
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let starts = [
        format!("{}:3:8: `mode`", bad_mode.display()),
        format!("{}:1:1: unknown key `descripton`", bad_key.display()),
        format!("{}:1:13: `name`", bad_syntax.display()),
    ];
    for (message, start) in messages.iter().zip(&starts) {
        assert!(
            message.starts_with(start),
            "{message}\n  should start with {start}"
        );
    }
    for error in &errors {
        assert!(error.location().is_some(), "{error}");
    }
}

#[test]
fn invalid_files_and_duplicate_names_are_reported_together() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(root, "a.toml", "name = \"x\"\n");
    write(root, "b.toml", "name = \"x\"\n");
    write(root, "c.toml", "weight = -1\n");

    let errors = load_all(&[root.to_path_buf()]).unwrap_err();
    let messages = messages(&errors);
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages.iter().any(|m| m.contains("`weight`")),
        "{messages:#?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("already used by")),
        "{messages:#?}"
    );
}

#[test]
fn errors_name_the_path_they_were_loaded_from() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "scenario.toml", "\n\nweight = \"high\"\n");
    let error = load(&path).unwrap_err();
    let location = error.location().unwrap();
    assert_eq!(location.path, path);
    assert_eq!((location.line, location.column), (3, 10));
}

/// A valid port-forward tunnel definition, its `name` line first if any.
fn tunnel(name: Option<&str>) -> String {
    let name = name.map_or_else(String::new, |name| format!("name = \"{name}\"\n"));
    format!(
        "{name}transport = \"plain\"\nserver = [\"socat\", \"TCP-LISTEN:{{listen_port}}\"]\n\
         client = [\"socat\", \"TCP-LISTEN:{{local_port}}\"]\n"
    )
}

#[test]
fn a_file_not_in_utf8_is_located_at_its_first_bad_byte_and_says_which_file_it_is() {
    let dir = TempDir::new().unwrap();
    let scenario = dir.path().join("latin-1.toml");
    // `é` in Latin-1 on line 2, after `description = "Caf` (18 characters).
    fs::write(&scenario, b"name = \"x\"\ndescription = \"Caf\xe9\"\n").unwrap();
    let error = load(&scenario).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2:19: invalid UTF-8 at byte 0xe9: a scenario file must be UTF-8 text; \
             save it as UTF-8",
            scenario.display()
        )
    );
    // The line is still shown, the byte as U+FFFD with the caret under it.
    let rendered = render(&[error], Style::Plain);
    assert!(
        rendered.contains("2 | description = \"Caf\u{fffd}\""),
        "{rendered}"
    );
    assert!(rendered.contains("  |                   ^\n"), "{rendered}");

    let definition = dir.path().join("mine.toml");
    let mut bytes = tunnel(Some("mine")).into_bytes();
    // A UTF-8 sequence cut short at the start of line 2.
    bytes.splice(14..14, [0xe2, 0x82]);
    fs::write(&definition, bytes).unwrap();
    assert_eq!(
        load_tunnel(&definition).unwrap_err().to_string(),
        format!(
            "{}:2:1: invalid UTF-8 at byte 0xe2: a tunnel file must be UTF-8 text; \
             save it as UTF-8",
            definition.display()
        )
    );
}

#[test]
fn a_tunnel_file_that_cannot_be_read_says_it_is_a_tunnel_file() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing.toml");
    let error = load_tunnel(&missing).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read tunnel file: ", missing.display())),
        "{message}"
    );
}

#[test]
fn a_tunnel_name_clash_is_located_at_the_second_files_name_and_names_the_first() {
    let dir = TempDir::new().unwrap();
    let first = write(dir.path(), "a.toml", &tunnel(Some("relay")));
    let second = write(
        dir.path(),
        "b.toml",
        &format!("# again\n{}", tunnel(Some("relay"))),
    );
    // Named by its file, and that name is a built-in tunnel's.
    let built_in = write(dir.path(), "tcp.toml", &tunnel(None));
    let loaded = load_tunnels(&[first.clone(), second.clone(), built_in.clone()], &["tcp"]);
    assert_eq!(loaded.definitions.len(), 1);
    assert_eq!(
        messages(&loaded.errors),
        [
            format!(
                "{}:2:8: tunnel name \"relay\" is already used by {}; names must be unique \
                 in a run",
                second.display(),
                first.display()
            ),
            format!(
                "{}:1:1: tunnel name \"tcp\" is a built-in tunnel's; name the file's tunnel \
                 differently (`name = \"...\"`)",
                built_in.display()
            ),
        ]
    );
}
