//! Scaling out: the bundled matrix in four shards, merged, is the same run
//! as one; and `compare` says what changed between runs.

use std::path::Path;
use std::process::Command;

use crate::support::repo_root;

fn traverse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_traverse"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("the traverse binary runs")
}

/// What must not depend on how the run was split: no timings, no details
/// that carry timing (an idle cut's exact wording). Also used by
/// `kubernetes_job`.
pub(crate) fn verdicts(path: &Path) -> Vec<String> {
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    document["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|cell| {
            if starved(cell) {
                return format!("{} {} {STARVED}", cell["scenario"], cell["tunnel"]);
            }
            format!(
                "{} {} {} {} {} {}",
                cell["scenario"],
                cell["tunnel"],
                cell["verdict"],
                cell["category"],
                cell["status"],
                cell["blame"]
            )
        })
        .collect()
}

/// How `verdicts` writes a cell the harness could not judge.
const STARVED: &str = "starved";

/// A cell the harness could not judge because the machine was too busy: it
/// says nothing about the path, so two runs of one matrix (on a loaded CI
/// machine, beside other tests) need not agree on it.
fn starved(cell: &serde_json::Value) -> bool {
    cell["category"] == "harness"
        && cell["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("the harness was starved"))
}

/// The cells of two runs of one matrix that both runs could judge.
pub(crate) fn judged_by_both(a: Vec<String>, b: Vec<String>) -> (Vec<String>, Vec<String>) {
    assert_eq!(a.len(), b.len(), "the same cells in both");
    a.into_iter()
        .zip(b)
        .filter(|(a, b)| !a.ends_with(STARVED) && !b.ends_with(STARVED))
        .unzip()
}

/// Whether a run or merge that wrote `results` ended with all as expected
/// (exit 0), or with only cells the harness could not judge not (exit 1).
pub(crate) fn as_expected_unless_starved(code: Option<i32>, results: &Path) -> bool {
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).expect("read")).expect("json");
    let unexpected_all_starved = document["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|cell| !cell["expected"].is_null() && cell["expected"] != cell["verdict"])
        .all(starved);
    code == Some(0) || (code == Some(1) && unexpected_all_starved)
}

#[test]
fn four_shards_merged_are_the_same_run_as_one() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = |name: &str| folder.path().join(name).to_string_lossy().into_owned();
    let whole = traverse(&["run", "-q", "--json", &file("whole.json")]);
    assert!(
        as_expected_unless_starved(whole.status.code(), &folder.path().join("whole.json")),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let mut shards = Vec::new();
    for shard in 1..=4 {
        let name = file(&format!("shard-{shard}.json"));
        let output = traverse(&[
            "run",
            "-q",
            "--shard",
            &format!("{shard}/4"),
            "--json",
            &name,
        ]);
        assert!(
            as_expected_unless_starved(output.status.code(), Path::new(&name)),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        shards.push(name);
    }
    let mut merge = vec!["merge", "--json"];
    let merged_name = file("merged.json");
    merge.push(&merged_name);
    merge.extend(shards.iter().map(String::as_str));
    let merged = traverse(&merge);
    assert!(
        as_expected_unless_starved(merged.status.code(), Path::new(&merged_name)),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let (whole_cells, merged_cells) = (
        verdicts(&folder.path().join("whole.json")),
        verdicts(&folder.path().join("merged.json")),
    );
    assert!(whole_cells.len() > 100, "the bundled matrix ran");
    let any_starved = whole_cells
        .iter()
        .chain(&merged_cells)
        .any(|cell| cell.ends_with(STARVED));
    let (whole_cells, merged_cells) = judged_by_both(whole_cells, merged_cells);
    assert_eq!(merged_cells, whole_cells);

    // The same cells, compared: nothing regressed (a starved cell would
    // read as one, rightly for compare, whose user reran nothing).
    if !any_starved {
        let same = traverse(&["compare", &file("whole.json"), &merged_name]);
        assert_eq!(same.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&same.stdout)
                .contains("0 regressed, 0 fixed, 0 added, 0 removed")
        );
    }

    // A shard merged twice is refused.
    let twice = traverse(&["merge", "--json", &file("bad.json"), &shards[0], &shards[0]]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("is in two of these files"));
}

/// `traverse run -q --json JSON ARGS…`, which must succeed; its results.
fn run_to_json(json: &Path, args: &[&str]) -> serde_json::Value {
    let json_arg = json.to_string_lossy();
    let mut all = vec!["run", "-q", "--json", &json_arg];
    all.extend_from_slice(args);
    let output = traverse(&all);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).expect("read")).expect("json")
}

#[test]
fn compare_exits_1_on_a_regression_and_names_it() {
    let folder = tempfile::tempdir().expect("tempdir");
    let old = folder.path().join("old.json");
    let mut document = run_to_json(
        &old,
        &[
            "--tunnel",
            "ws",
            "--tunnel",
            "wss",
            "scenarios/direct.toml",
            "scenarios/f5-websocket-profile.toml",
        ],
    );
    // The next release breaks wss behind the F5.
    for cell in document["cells"].as_array_mut().expect("cells") {
        if cell["scenario"] == "f5-websocket-profile" && cell["tunnel"] == "wss" {
            cell["verdict"] = "fail".into();
            cell["detail"] = "answered HTTP 400 Bad Request to the WebSocket handshake".into();
        }
    }
    let new = folder.path().join("new.json");
    std::fs::write(&new, document.to_string()).expect("write");
    let markdown = folder.path().join("comparison.md");
    let compared = traverse(&[
        "compare",
        &old.to_string_lossy(),
        &new.to_string_lossy(),
        "--markdown",
        &markdown.to_string_lossy(),
    ]);
    assert_eq!(compared.status.code(), Some(1));
    let text = String::from_utf8_lossy(&compared.stdout);
    assert!(text.contains("Regressed (passed, now fail):"), "{text}");
    assert!(
        text.contains("f5-websocket-profile × wss: answered HTTP 400 Bad Request"),
        "{text}"
    );
    assert!(text.contains("wss  100 % → 50 % (-50)"), "{text}");
    // The Markdown says the same, for a pull-request comment.
    let comment = std::fs::read_to_string(&markdown).expect("the Markdown was written");
    assert!(
        comment.contains("**1 cell regressed: passed in the old run, fails in the new one."),
        "{comment}"
    );
    assert!(
        comment.contains(
            "| f5-websocket-profile | wss | answered HTTP 400 Bad Request to the WebSocket handshake |"
        ),
        "{comment}"
    );
    assert!(
        comment.contains("| wss | 100 % → 50 % | -50 |"),
        "{comment}"
    );
    // One run alone: the tunnels ranked.
    let ranking = folder.path().join("ranking.md");
    let ranking_json = folder.path().join("ranking.json");
    let ranked = traverse(&[
        "compare",
        &new.to_string_lossy(),
        "--markdown",
        &ranking.to_string_lossy(),
        "--json",
        &ranking_json.to_string_lossy(),
    ]);
    assert_eq!(ranked.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&ranked.stdout).contains("1. ws"),
        "{}",
        String::from_utf8_lossy(&ranked.stdout)
    );
    let table = std::fs::read_to_string(&ranking).expect("the ranking was written");
    assert!(
        table.contains("| 1 | ws | 100 % | 100 % | 2/2 |"),
        "{table}"
    );
    assert!(table.contains("| 2 | wss |"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ranking_json).expect("ranking JSON"))
            .expect("JSON");
    assert_eq!(json["tunnels"][0]["tunnel"], "ws", "{json}");
    assert_eq!(json["tunnels"][0]["rank"], 1, "{json}");
    assert_eq!(json["tunnels"][1]["tunnel"], "wss", "{json}");
}

/// A new run holding a cell twice, [fail, pass], must not read as "0
/// regressed": the file is refused, named, with the cell.
#[test]
fn compare_refuses_a_file_with_a_cell_twice() {
    let folder = tempfile::tempdir().expect("tempdir");
    let old = folder.path().join("old.json");
    let mut document = run_to_json(&old, &["--tunnel", "ws", "scenarios/direct.toml"]);
    let cells = document["cells"].as_array_mut().expect("cells");
    let mut failed = cells[0].clone();
    failed["verdict"] = "fail".into();
    failed["detail"] = "answered HTTP 400".into();
    cells.insert(0, failed);
    let new = folder.path().join("new.json");
    std::fs::write(&new, document.to_string()).expect("write");
    let compared = traverse(&["compare", &old.to_string_lossy(), &new.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&compared.stderr);
    assert_eq!(compared.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: cell 0 (direct × ws) is in the file twice; each scenario × tunnel has one result",
            new.display()
        )),
        "{stderr}"
    );
    assert!(compared.stdout.is_empty(), "nothing compared");
}
