//! A file with several mistakes is reported whole, in one pass: every
//! mistake of every file, in file order, each under its source line with a
//! caret, as `traverse validate` prints them.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use traverse_scenario::{ScenarioError, Style, load_all, render};

fn write(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The rendered errors with the temporary folder's path taken out, so the
/// text is the same on every machine.
fn rendered(root: &Path, errors: &[ScenarioError]) -> String {
    render(errors, Style::Plain).replace(&format!("{}/", root.display()), "")
}

const FOUR_MISTAKES: &str = r#"descripton = "four mistakes"

[[hops]]
kind = "tls-terminator"
mode = "l7"
idle_timeout = 100

[probe]
idle = "5 minutes"
"#;

#[test]
fn four_mistakes_are_four_errors_in_file_order_with_carets() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), "four.toml", FOUR_MISTAKES);
    let errors = load_all(&[dir.path().to_path_buf()]).unwrap_err();
    insta::assert_snapshot!(rendered(dir.path(), &errors));
}

#[test]
fn every_file_is_checked_and_each_file_s_errors_come_together() {
    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        "a-syntax.toml",
        "name = \"open\n\nweight = -1\n",
    );
    write(
        dir.path(),
        "b-hops.toml",
        "[[hops]]\nkind = \"tls-terminator\"\nports = [443, 8443, 22]\n\n\
         [[hops]]\nkind = \"transparnt\"\n\n[[hops]]\nkind = \"transparent\"\nupgrade = \"drop\"\n",
    );
    write(dir.path(), "c-fine.toml", "");
    write(
        dir.path(),
        "d-expect.toml",
        "[expect]\nws = \"passes\"\nwss = \"fail\"\ntcp = 1\n",
    );
    let errors = load_all(&[dir.path().to_path_buf()]).unwrap_err();
    insta::assert_snapshot!(rendered(dir.path(), &errors));
}

/// `websocket = "yes"` reads as `false`; saying that `masking` then has no
/// effect would judge a value the author did not write.
#[test]
fn a_check_across_options_waits_for_their_values_to_read() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "hop.toml",
        "[[hops]]\nkind = \"tls-terminator\"\nwebsocket = \"yes\"\nmasking = \"require\"\n",
    );
    let errors = load_all(&[path]).unwrap_err();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].ends_with(
            "hop.toml:3:13: `websocket`: invalid type: string \"yes\", expected true or false"
        ),
        "{messages:#?}"
    );
}

/// With every value readable, each check across options is made, not
/// only the first.
#[test]
fn every_option_without_effect_is_named() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "hop.toml",
        "[[hops]]\nkind = \"tls-terminator\"\nmode = \"tcp\"\nmasking = \"require\"\n\
         read_timeout = \"5s\"\n",
    );
    let errors = load_all(&[path]).unwrap_err();
    insta::assert_snapshot!(rendered(dir.path(), &errors));
}

/// A name taken from the file's name is on no line of it: the error is its
/// first line alone, not a caret under whatever line 1 says.
#[test]
fn a_mistake_of_the_whole_file_shows_no_line() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    write(dir.path(), "a/edge.toml", "description = \"one\"\n");
    write(dir.path(), "b/edge.toml", "description = \"two\"\n");
    let errors = load_all(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(
        rendered(dir.path(), &errors),
        format!(
            "b/edge.toml:1:1: scenario name \"edge\" is already used by {}/a/edge.toml; \
             names must be unique in a run\n",
            dir.path().display()
        )
        .replace(&format!("{}/", dir.path().display()), "")
    );
}
