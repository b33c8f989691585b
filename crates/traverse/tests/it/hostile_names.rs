//! Names from files on their way out of the program: into `--logs` file
//! names, terminals and the matrix. A hostile name is refused by
//! `validate` and `run` before anything is written; valid names, even
//! with dots, `+` and `=`, put every file a run writes inside the folders
//! it was given. Every run is a real `traverse` in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::results_files::scenarios;
use crate::support::finished_within;

/// Every file under `root`, relative to it, sorted; folders are walked,
/// not listed.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", folder.display()));
        for entry in entries {
            let path = entry.expect("a readable entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                found.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// `traverse ARGS` run in `root` with its temp dir inside `root/tmp`, so
/// that what it leaves there is seen; finished within a minute.
fn traverse_in(root: &Path, args: &[&str]) -> Output {
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir tmp");
    let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
    command
        .args(args)
        .current_dir(root)
        .env("TMPDIR", &tmp)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finished_within(command, Duration::from_secs(60))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_file_a_run_writes_for_valid_names_lands_in_the_logs_folder() {
    let root = scenarios(&[
        // Named by the file: dots, `+` and `=` are allowed.
        ("corp.f5+idle=60s", ""),
        // Named in the file, unlike its file name.
        ("written", "name = \"edge_lb.v2\"\n"),
    ]);
    let output = traverse_in(
        root.path(),
        &[
            "run",
            "scenarios",
            "--tunnel",
            "tcp",
            "--logs",
            "out/logs",
            "--quiet",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let written: Vec<PathBuf> = files_under(root.path())
        .into_iter()
        .filter(|path| !path.starts_with("scenarios"))
        .collect();
    assert_eq!(
        written,
        [
            PathBuf::from("out/logs/corp.f5+idle=60s--tcp.jsonl"),
            PathBuf::from("out/logs/edge_lb.v2--tcp.jsonl"),
        ],
        "files outside the scenarios' folder after the run (the temp dir must be left empty)"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("corp.f5+idle=60s") && stdout.contains("edge_lb.v2"),
        "the matrix names both scenarios:\n{stdout}"
    );
}

#[test]
fn a_hostile_scenario_name_stops_validate_and_run_before_anything_is_written() {
    let root = scenarios(&[("climb", "name = \"../../escaped-x\"\n"), ("direct", "")]);
    let expected = format!(
        "scenarios/climb.toml:1:8: scenario `name` \"../../escaped-x\" contains a path \
         separator; {}",
        traverse_scenario::NAME_RULE
    );
    for args in [
        &["validate", "scenarios"][..],
        &[
            "run",
            "scenarios",
            "--tunnel",
            "tcp",
            "--logs",
            "logs",
            "--quiet",
        ],
    ] {
        let output = traverse_in(root.path(), args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "{args:?}: {expected:?} not in:\n{stderr}"
        );
        let left: Vec<PathBuf> = files_under(root.path())
            .into_iter()
            .filter(|path| !path.starts_with("scenarios"))
            .collect();
        assert!(left.is_empty(), "{args:?} wrote {left:?}");
    }
    let outside = root
        .path()
        .parent()
        .expect("a parent")
        .join("escaped-x--tcp.jsonl");
    assert!(!outside.exists(), "{} was written", outside.display());
}

#[test]
fn a_hostile_tunnel_name_is_refused_located_and_harmless_on_the_terminal() {
    let root = scenarios(&[("direct", "")]);
    let definition = "name = \"<script>\\u001b[2J\"\ntransport = \"plain\"\n\
         server = [\"socat\", \"TCP-LISTEN:{listen_port}\", \"TCP:{target}\"]\n\
         client = [\"socat\", \"TCP-LISTEN:{local_port}\", \"TCP:{connect}\"]\n";
    std::fs::write(root.path().join("evil.toml"), definition).expect("write");
    let output = traverse_in(
        root.path(),
        &["validate", "scenarios", "--tunnel-file", "evil.toml"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "evil.toml:1:8: tunnel `name` \"<script>\\u{{1b}}[2J\" contains a control character; {}",
        traverse_scenario::NAME_RULE
    );
    assert!(stderr.contains(&expected), "{expected:?} not in:\n{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "an escape reached the terminal:\n{stderr:?}"
    );
}

#[test]
fn built_in_tunnel_names_and_their_parameters_keep_to_the_rule() {
    let mut names: Vec<String> = traverse_tunnel::BUILTIN
        .iter()
        .map(|tunnel| tunnel.name.to_string())
        .collect();
    for configured in ["ws+ping=30s", "wss+ping=15s"] {
        let tunnel = traverse_tunnel::Configured::parse(configured)
            .unwrap_or_else(|why| panic!("{configured}: {why}"));
        names.push(tunnel.name().to_string());
    }
    assert!(
        names.iter().any(|name| name.contains(['+', '='])),
        "{names:?}"
    );
    let broken: Vec<String> = names
        .iter()
        .filter_map(|name| {
            traverse_scenario::name_problem(name).map(|problem| format!("{name}: {problem}"))
        })
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
}
