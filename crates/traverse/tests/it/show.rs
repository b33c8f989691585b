//! What a person reads after a run: `traverse show` telling one cell's
//! whole story from the JSON results, `--why` choosing which cells the
//! matrix explains, and the lines a CI log gets while cells finish.

use std::path::Path;

use crate::cli::{text, traverse};

const F5: &str = "scenarios/f5-no-websocket-profile.toml";

/// Runs tcp and ws through the F5 without a WebSocket profile (both fail,
/// as the scenario expects) and writes the results to `json`.
fn f5_results(json: &Path) {
    let output = traverse(&[
        "run",
        "-q",
        "--tunnel",
        "tcp",
        "--tunnel",
        "ws",
        "--json",
        &json.to_string_lossy(),
        F5,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

#[test]
fn show_tells_one_cell_s_whole_story() {
    let folder = tempfile::tempdir().expect("tempdir");
    let json = folder.path().join("results.json");
    f5_results(&json);
    let output = traverse(&[
        "show",
        &json.to_string_lossy(),
        "f5-no-websocket-profile",
        "ws",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let story = text(&output.stdout);
    let lines: Vec<&str> = story.lines().collect();
    assert_eq!(lines[0], "f5-no-websocket-profile × ws: fail (as expected)");
    for line in [
        "path:       client → f5 (tls-terminator: mode = \"http\", websocket = false, \
         backend = \"tls\") → origin (public certificate)",
        "verdict:    fail",
        "expected:   fail",
        "category:   refused 426",
        "blame:      f5",
        // The blamed hop's log in full, field by field.
        "log of f5 (blamed), 1 connection:",
        "  connection 1",
        "    action: stripped-upgrade",
        "    protocol: websocket",
        "    target: origin.test:80",
        "other nodes:",
    ] {
        assert!(lines.contains(&line), "no line {line:?} in:\n{story}");
    }
    assert!(
        story.contains("\ndetail:     answered HTTP 426 Upgrade Required"),
        "{story}"
    );
    // Every other node folded to one line.
    let origin: Vec<&&str> = lines
        .iter()
        .filter(|line| line.starts_with("  origin: "))
        .collect();
    assert_eq!(origin.len(), 1, "{story}");
    assert!(
        origin[0].starts_with("  origin: 1 connection; last: responded 426: "),
        "{story}"
    );
}

#[test]
fn show_of_an_unknown_cell_exits_2_and_lists_what_there_is() {
    let folder = tempfile::tempdir().expect("tempdir");
    let json = folder.path().join("results.json");
    f5_results(&json);
    let json = json.to_string_lossy();
    let output = traverse(&["show", &json, "corp", "ws"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert_eq!(
        text(&output.stderr).trim(),
        format!("error: {json}: no scenario \"corp\"; scenarios: f5-no-websocket-profile")
    );
    let output = traverse(&["show", &json, "f5-no-websocket-profile", "h2"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr).trim(),
        format!(
            "error: {json}: no tunnel \"h2\" in scenario \"f5-no-websocket-profile\"; \
             tunnels: tcp, ws"
        )
    );
    let output = traverse(&["show", "no-such-results.json", "f5", "ws"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot read no-such-results.json"),
        "{}",
        text(&output.stderr)
    );
}

/// Names and details in a results file are data, not terminal commands.
#[test]
fn show_escapes_what_the_file_says() {
    let folder = tempfile::tempdir().expect("tempdir");
    let json = folder.path().join("results.json");
    f5_results(&json);
    let mut document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("read")).expect("json");
    let evil = "f5\u{1b}]0;owned\u{7}";
    // Renamed where the file lists it too, so readers take the file.
    for scenario in document["scenarios"].as_array_mut().expect("scenarios") {
        scenario["name"] = evil.into();
    }
    for cell in document["cells"].as_array_mut().expect("cells") {
        cell["scenario"] = evil.into();
        cell["detail"] = "fine\r\u{1b}[2Kreally".into();
        cell["logs"][0]["records"][0]["detail"] = "\u{1b}[31mred".into();
    }
    std::fs::write(&json, document.to_string()).expect("write");
    let json = json.to_string_lossy();
    let output = traverse(&["show", &json, evil, "ws"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let story = text(&output.stdout);
    assert!(
        !story.contains('\u{1b}') && !story.contains('\r'),
        "{story:?}"
    );
    assert!(
        story.starts_with("f5\\u{1b}]0;owned\\u{7} × ws: "),
        "{story}"
    );
    assert!(story.contains("fine\\u{d}\\u{1b}[2Kreally"), "{story}");
    let unknown = traverse(&["show", &json, "x", "ws"]);
    assert!(
        text(&unknown.stderr).ends_with("scenarios: f5\\u{1b}]0;owned\\u{7}\n"),
        "{:?}",
        text(&unknown.stderr)
    );
}

fn why_section(stdout: &str) -> Vec<String> {
    stdout
        .split("\nWhy")
        .nth(1)
        .map(|why| {
            why.lines()
                .skip(1)
                .take_while(|line| !line.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn why_explains_the_cells_asked_for_on_run_and_merge() {
    let folder = tempfile::tempdir().expect("tempdir");
    let json = folder.path().join("results.json");
    f5_results(&json);
    let json = json.to_string_lossy();
    let args = ["run", "-q", "--tunnel", "tcp", "--tunnel", "ws"];
    // Every cell met its expectation: by default there is nothing to say.
    let default = text(&traverse(&[&args[..], &[F5]].concat()).stdout);
    assert!(why_section(&default).is_empty(), "{default}");
    assert!(!default.contains("Why"), "{default}");

    let all = text(&traverse(&[&args[..], &["--why", "all", F5]].concat()).stdout);
    let expected = [
        "  f5-no-websocket-profile × tcp: refused 400 by f5: answered 400 Bad Request: \
         the bytes it received are not HTTP (first bytes 00 00 00 10 54 52 41 56 45 52 53 45 2f 31 20 48)",
        "  f5-no-websocket-profile × ws: refused 426 by f5: removed `Upgrade: websocket` and \
         `Connection: upgrade` before forwarding (WebSocket support is off on this hop)",
    ];
    assert_eq!(why_section(&all), expected, "{all}");
    let merged = traverse(&["merge", "--why", "all", &json]);
    assert_eq!(merged.status.code(), Some(0));
    assert_eq!(why_section(&text(&merged.stdout)), expected);

    let none = text(&traverse(&["merge", "--why", "none", &json]).stdout);
    assert!(!none.contains("Why"), "{none}");
    // The ranking closes the output.
    assert!(
        none.ends_with(
            "Tunnels by how much of these topologies they traverse:\n  \
             1. tcp  weighted 0 %, 0/1 topologies\n  2. ws   weighted 0 %, 0/1 topologies\n"
        ),
        "{none}"
    );

    let wrong = traverse(&["merge", "--why", "some", &json]);
    assert_eq!(wrong.status.code(), Some(2));
}

/// Into a CI log, a cell not as expected is said as it finishes, with a
/// progress line; an expected failure says nothing.
#[test]
fn a_log_hears_of_cells_not_as_expected_as_they_finish() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("wrong.toml");
    std::fs::write(&file, "[expect]\ntcp = \"fail\"\nws = \"pass\"\n").expect("write");
    let output = traverse(&[
        "run",
        "--tunnel",
        "tcp",
        "--tunnel",
        "ws",
        &file.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.contains(&"not as expected: wrong × tcp: passed (expected fail)"),
        "{stderr}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.starts_with("not as expected: "))
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|line| line.starts_with("progress: 2/2 cells, 1 not as expected, ")),
        "{stderr}"
    );
    let quiet = traverse(&["run", "-q", "--tunnel", "tcp", &file.to_string_lossy()]);
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
}
