//! What a person sees when their input is wrong, and what help says:
//! every mistake of every file in one pass, in file order, each under its
//! source line with a caret; `--set` mistakes named by the argument; help
//! that offers only flags that act, each with a line of text.

use std::path::Path;
use std::process::Output;

use crate::cli::{titles, traverse};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `text` with the temporary folder written as `DIR`, the same on every
/// machine.
fn in_dir(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "DIR")
}

/// The file users reported: four mistakes, which took four rounds.
const FOUR_MISTAKES: &str = r#"description = "an F5 in front of the origin"

[[hops]]
kind = "tls-terminator"
mode = "l7"
websocket = "yes"
idle_timout = "60s"

[probe]
idle = 100
"#;

#[test]
fn validate_and_run_report_all_four_mistakes_of_a_file_in_file_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f5.toml");
    std::fs::write(&file, FOUR_MISTAKES).expect("write");
    let path = file.to_string_lossy();
    let validate = traverse(&["validate", &path]);
    assert_eq!(validate.status.code(), Some(2), "{}", stderr(&validate));
    assert!(stdout(&validate).is_empty(), "{}", stdout(&validate));
    let lines: Vec<String> = titles(&stderr(&validate))
        .iter()
        .map(|title| in_dir(title, dir.path()))
        .map(|title| title.split(": ").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "DIR/f5.toml:5:8",
            "DIR/f5.toml:6:13",
            "DIR/f5.toml:7:1",
            "DIR/f5.toml:10:8"
        ]
    );
    insta::assert_snapshot!(in_dir(&stderr(&validate), dir.path()));

    let run = traverse(&["run", &path]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stdout(&run).is_empty(), "nothing ran: {}", stdout(&run));
    assert_eq!(stderr(&run), stderr(&validate));
}

#[test]
fn every_file_is_checked_and_reported_file_by_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    };
    // Given out of order, and one with a syntax error that ends its own
    // reading but no other file's.
    // What a file with mistakes expects is checked in the same pass.
    let second = write(
        "b.toml",
        "weight = -1\n\n[probe]\nidle = \"soon\"\n\n[expect]\nhixie = \"fail\"\n",
    );
    let first = write("a.toml", "name = \"open\n");
    // Of its expectations, the one of the tunnel whose file has mistakes
    // is no second error; the one of no tunnel at all is.
    let good = write(
        "c.toml",
        "[expect]\nws = \"pass\"\nmine = \"pass\"\nwsss = \"pass\"\n",
    );
    let tunnel = write(
        "mine.tunnel.toml",
        "name = \"mine\"\ntransport = \"plain\"\nserver = [\"srv\", \"{nope}\"]\nclient = []\n",
    );
    let output = traverse(&["validate", &second, &good, &first, "--tunnel-file", &tunnel]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(in_dir(&stderr(&output), dir.path()));

    // `run` reads the tunnel files first, and says the same in one round.
    let run = traverse(&["run", &second, &good, &first, "--tunnel-file", &tunnel]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stdout(&run).is_empty(), "nothing ran: {}", stdout(&run));
    assert_eq!(stderr(&run), stderr(&output));
}

#[test]
fn a_set_mistake_names_the_argument_with_a_caret_under_it() {
    let output = traverse(&[
        "proxy",
        "tls-terminator",
        "--set",
        "websockets=true",
        "--set",
        "mode=\"tcp\"",
        "--set",
        "idle_timeout=100",
        "--upstream",
        "127.0.0.1:9",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(!stderr.contains("command line"), "{stderr}");
    insta::assert_snapshot!(stderr);
}

/// Each flag of `help`'s Options section with its help text, whether
/// clap writes the text beside the flag or, when it is long, under it.
fn options(help: &str) -> Vec<(String, String)> {
    let section = help
        .split("\nOptions:\n")
        .nth(1)
        .expect("an Options: section");
    let mut options: Vec<(String, String)> = Vec::new();
    for line in section.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('-') {
            let (flag, text) = trimmed.split_once("  ").unwrap_or((trimmed, ""));
            options.push((flag.to_string(), text.trim().to_string()));
        } else if let Some((_, text)) = options.last_mut() {
            // A line under the flag: its text, or a part of it.
            *text = format!("{text} {trimmed}").trim().to_string();
        }
    }
    options
}

#[test]
fn tunnel_serve_and_connect_say_what_every_flag_is() {
    for command in ["serve", "connect"] {
        let output = traverse(&["tunnel", command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        let help = stdout(&output);
        let options = options(&help);
        assert!(options.len() >= 4, "{help}");
        for (flag, text) in options {
            assert!(
                !text.is_empty(),
                "`traverse tunnel {command} --help` has a flag without help: {flag}\n{help}"
            );
        }
    }
}

#[test]
fn color_is_a_flag_of_the_commands_that_print_a_matrix_only() {
    let help = stdout(&traverse(&["run", "--help"]));
    assert!(
        options(&help)
            .iter()
            .any(|(flag, text)| flag == "--color <COLOR>" && text.starts_with("Colour the matrix")),
        "{help}"
    );
    for command in [
        &["validate"][..],
        &["list"],
        &["certs"],
        &["tunnel", "serve"],
    ] {
        let help = stdout(&traverse(&[command, &["--help"]].concat()));
        assert!(!help.contains("--color"), "{command:?}: {help}");
    }
    let output = traverse(&["validate", "scenarios", "--color", "never"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unexpected argument '--color'"),
        "{}",
        stderr(&output)
    );
}

/// A name or a key is the file's text: an escape sequence in it reaches
/// the terminal as a visible character, not as a command to the terminal.
#[test]
fn text_from_a_file_reaches_the_terminal_without_its_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A name with an escape is refused (names become file names); its
    // error quotes it escaped.
    let named = dir.path().join("named.toml");
    std::fs::write(&named, "name = \"a\\u001b[2Jb\"\n").expect("write");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "\"\\u001b]0;owned\\u0007\" = 1\n").expect("write");

    let output = traverse(&["validate", &named.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let refused = stderr(&output);
    assert!(!refused.contains('\u{1b}'), "{refused:?}");
    assert!(
        refused.contains(r#"scenario `name` "a\u{1b}[2Jb" contains a control character"#),
        "{refused}"
    );

    let output = traverse(&["validate", &bad.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(!stderr.contains(['\u{1b}', '\u{7}']), "{stderr:?}");
    // Escaped in the error's first line as a name's error escapes it.
    assert!(
        stderr.contains(r"unknown key `\u{1b}]0;owned\u{7}`"),
        "{stderr}"
    );
}
