//! A harness that cannot keep time says so. A run frozen (SIGSTOP) while a
//! real program's own inactivity timeout runs, as a starved machine
//! freezes it, finds the tunnel closed when it wakes: the cell reads
//! `harness`, not a failure of the hop, and the run tells the user to
//! lower `--jobs`. The same cell passes when the run keeps time.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{require, wait_until};

/// socat closing a connection idle for 1 s, in front of the origin; the
/// probe pauses 0.5 s (50 s at the default scale), so the cell passes
/// unless the harness loses more than half a second.
const IDLE_CLOSING_SOCAT: &str = r##"
[[hops]]
kind = "external"
name = "socat"
ports = [80]
command = ["sh", "-c", "exec socat -T 1 TCP-LISTEN:${0##*:},bind=${0%:*},reuseaddr,fork TCP:$1", "{listen_80}", "{upstream_80}"]
config = "# socat takes everything on its command line"

[probe]
idle = "50s"
"##;

struct Ran {
    cell: serde_json::Value,
    stderr: String,
}

/// Runs the scenario with `tcp`; `freeze` is called with the run's pid once
/// the probe has started its pause.
fn run_pausing(freeze: impl FnOnce(u32)) -> Ran {
    let folder = tempfile::tempdir().expect("tempdir");
    let scenario = folder.path().join("idle-closing.toml");
    std::fs::write(&scenario, IDLE_CLOSING_SOCAT).expect("write");
    let json = folder.path().join("results.json");
    let mut run = Command::new(env!("CARGO_BIN_EXE_traverse"))
        .arg("run")
        .arg(&scenario)
        .args(["--tunnel", "tcp", "-q", "--json"])
        .arg(&json)
        .env("TRAVERSE_LOG", "traverse_runner=debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("traverse runs");
    let mut stderr = BufReader::new(run.stderr.take().expect("stderr"));
    let mut seen = String::new();
    // The debug line the probe writes as it starts its pause; the read
    // ends at the latest when the run exits.
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read") == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains("probe idles") {
            freeze(run.id());
            break;
        }
    }
    let mut status = None;
    wait_until(Duration::from_secs(60), "the run finished", || {
        status = run.try_wait().expect("try_wait");
        status.is_some()
    });
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read");
    seen.push_str(&rest);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("results")).expect("json");
    Ran {
        cell: results["cells"][0].clone(),
        stderr: seen,
    }
}

fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

#[test]
fn a_cell_the_harness_was_frozen_in_is_the_harness_s_and_the_run_says_lower_jobs() {
    require("socat");
    let kept_time = run_pausing(|_| {});
    assert_eq!(
        kept_time.cell["verdict"], "pass",
        "{}",
        kept_time.cell["detail"]
    );
    assert!(
        !kept_time.stderr.contains("warning:"),
        "{}",
        kept_time.stderr
    );

    let frozen = run_pausing(|pid| {
        signal(pid, "STOP");
        // The starvation itself, not a wait for something: socat's 1 s
        // runs out while the harness cannot run.
        std::thread::sleep(Duration::from_millis(1500));
        signal(pid, "CONT");
    });
    let cell = &frozen.cell;
    assert_eq!(cell["category"], "harness", "{}", cell["detail"]);
    assert_eq!(cell["blame"], "harness");
    let detail = cell["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("the harness was starved: its timers fired up to 1."),
        "{detail}"
    );
    assert!(detail.contains("lower --jobs"), "{detail}");
    assert!(
        frozen.stderr.contains(
            "warning: 1 of 1 cells could not be judged: the harness was starved (this machine is too busy for --jobs"
        ),
        "{}",
        frozen.stderr
    );
}
