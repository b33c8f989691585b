//! Results that survive the run's end, whatever ends it: the stream beside
//! `--json` that a SIGKILL leaves and `merge` reads back, the complete
//! document marked incomplete after Ctrl-C or SIGTERM, and the flags that
//! choose what runs (`--scenario`, `--fail-fast`, `--rerun`, `--jobs`).
//! Every run is a real `traverse run` on small scenarios in a temp dir.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{finished_within, signal_and_wait, wait_until};

/// A direct scenario that passes at once.
const QUICK: &str = "";
/// A cell that idles long enough (a minute at the default time scale) to
/// be interrupted in the middle, or to show that it was cancelled.
const SLOW: &str = "[probe]\nidle = \"6000s\"\n";
/// A direct scenario that wrongly expects TCP to fail: its tcp cell is
/// not as expected.
const WRONG: &str = "[expect]\ntcp = \"fail\"\n";

/// A temp dir holding one scenario file per `(name, toml)`, in `scenarios/`.
pub(crate) fn scenarios(files: &[(&str, &str)]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(folder.path().join("scenarios")).expect("mkdir");
    for (name, toml) in files {
        std::fs::write(folder.path().join(format!("scenarios/{name}.toml")), toml).expect("write");
    }
    folder
}

/// `traverse` with `line`'s words as arguments, run in `folder`.
fn traverse(folder: &Path, line: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
    command
        .args(line.split_whitespace())
        .current_dir(folder)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// [`traverse`] run to its end within a minute.
fn ran(folder: &Path, line: &str) -> Output {
    finished_within(traverse(folder, line), Duration::from_secs(60))
}

/// Fails unless `output` exited with `code` and said `said` on stderr.
fn assert_ended(output: &Output, code: i32, said: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(said), "{said:?} not in:\n{stderr}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    let written =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&written)
        .unwrap_or_else(|error| panic!("{} is not JSON ({error}):\n{written}", path.display()))
}

/// Each cell as `scenario × tunnel`, in the document's order.
fn cells_of(document: &serde_json::Value) -> Vec<String> {
    document["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|cell| {
            format!(
                "{} × {}",
                cell["scenario"].as_str().expect("scenario"),
                cell["tunnel"].as_str().expect("tunnel")
            )
        })
        .collect()
}

/// The names in `folder`, sorted.
fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The finished cells in the stream at `path` (its lines after the
/// header), once there are at least `count`; fails after 30 s.
fn wait_for_cells(path: &Path, count: usize, child: &mut Child) -> usize {
    let mut lines = 0;
    wait_until(
        Duration::from_secs(30),
        &format!("{count} finished cells in {}", path.display()),
        || {
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "the run ended before it was stopped"
            );
            let text = std::fs::read_to_string(path).unwrap_or_default();
            lines = text.matches('\n').count().saturating_sub(1);
            lines >= count
        },
    );
    lines
}

/// A run killed with SIGKILL has no chance to write its report; every
/// cell it had finished is still on disk, in the stream beside `--json`,
/// and `merge` reads them back as incomplete results.
#[test]
fn a_killed_run_leaves_every_finished_cell_for_merge_to_read() {
    let folder = scenarios(&[("quick-1", QUICK), ("quick-2", QUICK), ("slow", SLOW)]);
    let mut run = traverse(
        folder.path(),
        "run -q --tunnel tcp --tunnel ws --json r.json scenarios",
    )
    .spawn()
    .expect("the traverse binary runs");
    let stream = folder.path().join("r.json.partial.jsonl");
    wait_for_cells(&stream, 4, &mut run);
    run.kill().expect("SIGKILL");
    run.wait().expect("wait");
    assert_eq!(
        names_in(folder.path()),
        ["r.json.partial.jsonl", "scenarios"],
        "no report, no temporary file: only the stream"
    );

    let merged = ran(
        folder.path(),
        "merge --json merged.json r.json.partial.jsonl",
    );
    assert_ended(
        &merged,
        0,
        "r.json.partial.jsonl is from a run that did not finish",
    );
    let document = json(&folder.path().join("merged.json"));
    assert_eq!(document["incomplete"], true, "{document}");
    assert_eq!(
        cells_of(&document),
        [
            "quick-1 × tcp",
            "quick-1 × ws",
            "quick-2 × tcp",
            "quick-2 × ws"
        ],
        "every finished cell, in plan order; the slow ones never finished"
    );
    assert!(
        document["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .all(|cell| cell["verdict"] == "pass"),
        "{document}"
    );
    assert_eq!(document["summary"]["cells"], 4, "{document}");
}

/// Ctrl-C or SIGTERM: the cells that finished are shown and written as
/// complete documents marked incomplete, with their logs; the stream is
/// gone, and no file is empty or temporary.
#[test]
fn an_interrupted_run_writes_its_finished_cells_marked_incomplete() {
    for signal in ["INT", "TERM"] {
        let folder = scenarios(&[("quick", QUICK), ("slow", SLOW)]);
        std::fs::write(folder.path().join("r.html"), "an earlier run's report").expect("write");
        let mut run = traverse(
            folder.path(),
            "run -q --tunnel tcp --json r.json --html r.html --logs logs scenarios",
        )
        .spawn()
        .expect("the traverse binary runs");
        wait_for_cells(&folder.path().join("r.json.partial.jsonl"), 1, &mut run);
        let output = signal_and_wait(run, signal);
        assert_eq!(output.status.code(), Some(130), "SIG{signal}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("interrupted: every cell's processes and sockets are gone; 1 of 2 cells finished, written as incomplete results"),
            "SIG{signal}: {stderr}"
        );
        assert!(
            text(&output.stdout).contains("quick"),
            "SIG{signal}: the finished cells' matrix: {}",
            text(&output.stdout)
        );
        assert_eq!(
            names_in(folder.path()),
            ["logs", "r.html", "r.json", "scenarios"],
            "SIG{signal}: the reports, no stream, no temporary file"
        );
        let document = json(&folder.path().join("r.json"));
        assert_eq!(document["incomplete"], true, "SIG{signal}: {document}");
        assert_eq!(cells_of(&document), ["quick × tcp"], "SIG{signal}");
        let html = std::fs::read_to_string(folder.path().join("r.html")).expect("read");
        assert!(html.contains("quick"), "SIG{signal}: the new report");
        assert_eq!(
            names_in(&folder.path().join("logs")),
            ["quick--tcp.jsonl"],
            "SIG{signal}: the finished cell's log"
        );
        // What `compare` failed on before: it reads.
        let compared = ran(folder.path(), "compare r.json");
        assert_eq!(
            compared.status.code(),
            Some(0),
            "SIG{signal}: {}",
            text(&compared.stderr)
        );
    }
}

#[test]
fn scenario_globs_choose_the_scenarios_and_one_matching_none_is_an_error() {
    let folder = scenarios(&[
        ("corp-a", QUICK),
        ("corp-b", QUICK),
        ("home", QUICK),
        ("cafe", QUICK),
    ]);
    let run = ran(
        folder.path(),
        "run --tunnel tcp --scenario corp-* --scenario h?me --json r.json scenarios",
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(
        cells_of(&json(&folder.path().join("r.json"))),
        ["corp-a × tcp", "corp-b × tcp", "home × tcp"]
    );

    let typo = ran(
        folder.path(),
        "run --tunnel tcp --scenario corp-* --scenario hom --json typo.json scenarios",
    );
    assert_eq!(typo.status.code(), Some(2));
    assert_eq!(
        text(&typo.stderr),
        "error: --scenario \"hom\" matches no scenario; scenarios: \"cafe\", \"corp-a\", \"corp-b\", \"home\"\n"
    );
    assert!(!folder.path().join("typo.json").exists(), "nothing ran");
    assert!(!folder.path().join("typo.json.partial.jsonl").exists());
}

/// The first unexpected cell ends the run: the slow cell running beside
/// it is cancelled rather than waited for, and the results say they are
/// incomplete.
#[test]
fn fail_fast_stops_at_the_first_cell_not_as_expected() {
    let mut files = vec![("slow", SLOW), ("a-wrong", WRONG)];
    let quick: Vec<String> = (1..=6).map(|n| format!("quick-{n}")).collect();
    files.extend(quick.iter().map(|name| (name.as_str(), QUICK)));
    let folder = scenarios(&files);
    // Two at a time: the slow cell takes its turn first, the wrong one
    // next (first in plan order), and the quick ones wait.
    let run = finished_within(
        traverse(
            folder.path(),
            "run --fail-fast --jobs 2 --tunnel tcp --json r.json scenarios",
        ),
        // The slow cell alone would take a minute.
        Duration::from_secs(30),
    );
    assert_ended(
        &run,
        1,
        "stopped at the first cell not as expected (--fail-fast); ",
    );
    let document = json(&folder.path().join("r.json"));
    assert_eq!(document["incomplete"], true, "{document}");
    let cells = cells_of(&document);
    assert!(cells.contains(&"a-wrong × tcp".to_string()), "{cells:?}");
    assert!(
        !cells.contains(&"slow × tcp".to_string()),
        "cancelled: {cells:?}"
    );
    assert!(cells.len() < 8, "the cells after it are not run: {cells:?}");
    assert!(!folder.path().join("r.json.partial.jsonl").exists());
}

/// `--rerun` runs only what was not as expected, tells of a cell whose
/// scenario is gone, and has nothing to do after a clean run.
#[test]
fn rerun_runs_only_the_cells_not_as_expected() {
    let folder = scenarios(&[("wrong", WRONG), ("fine", QUICK), ("gone", WRONG)]);
    let first = ran(
        folder.path(),
        "run --tunnel tcp --tunnel ws --json first.json scenarios",
    );
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    assert_eq!(cells_of(&json(&folder.path().join("first.json"))).len(), 6);

    std::fs::remove_file(folder.path().join("scenarios/gone.toml")).expect("rm");
    let again = ran(
        folder.path(),
        "run --rerun first.json --json again.json scenarios",
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    // Then the progress lines a CI log gets.
    let stderr = text(&again.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some(
            "warning: first.json: \"gone\" × \"tcp\" is not rerun: that scenario or tunnel is not in this run"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nnot as expected: wrong × tcp: passed (expected fail)\n"),
        "{stderr}"
    );
    let document = json(&folder.path().join("again.json"));
    assert_eq!(cells_of(&document), ["wrong × tcp"]);
    assert_eq!(document.get("incomplete"), None, "a whole run: {document}");

    let fine = ran(
        folder.path(),
        "run --scenario fine --json fine.json scenarios",
    );
    assert_eq!(fine.status.code(), Some(0), "{}", text(&fine.stderr));
    let nothing = ran(
        folder.path(),
        "run --tunnel tcp --rerun fine.json --json nothing.json scenarios",
    );
    assert_ended(
        &nothing,
        0,
        "nothing to rerun: every cell in fine.json was as expected",
    );
    assert!(cells_of(&json(&folder.path().join("nothing.json"))).is_empty());
}

#[test]
fn zero_jobs_is_refused_before_anything_runs() {
    let folder = scenarios(&[("quick", QUICK)]);
    let output = ran(folder.path(), "run --jobs 0 --json r.json scenarios");
    assert_ended(
        &output,
        2,
        "invalid value '0' for '--jobs <JOBS>': 0 cells at once would run nothing; give 1 or more",
    );
    assert_eq!(names_in(folder.path()), ["scenarios"]);
}
