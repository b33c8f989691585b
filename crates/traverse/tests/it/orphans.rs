//! Nothing outlives a run: a `traverse run` killed outright (SIGKILL, a
//! cancelled CI job) during cells with nginx, Squid and websocat leaves no
//! program and no listening socket once the next `traverse` command has
//! started, and a run that ends normally leaves no Squid helper behind.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{finished_within, repo_root, require, wait_until};

/// A cell whose one hop runs the real program of `preset`, held open by
/// the probe's idle pause of `idle` (scaled by the default time scale).
fn held_by(preset: &str, idle: &str) -> String {
    format!(
        "[[hops]]\nkind = \"external\"\nname = \"{preset}\"\npreset = \"{preset}\"\n\n[probe]\nidle = \"{idle}\"\n"
    )
}

/// A program started by the `traverse` whose pid is `owner`: its pid, its
/// name and the inodes of its sockets.
#[derive(Debug)]
struct Program {
    pid: u32,
    name: String,
    sockets: BTreeSet<u64>,
}

/// Every live program carrying `owner`'s mark in its environment.
fn programs_of(owner: u32) -> Vec<Program> {
    let namespace = std::fs::metadata("/proc/self/ns/pid")
        .expect("pid namespace")
        .ino();
    let mark = format!("TRAVERSE_OWNER={namespace}.{owner}.");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environment = std::fs::read(entry.path().join("environ")).ok()?;
            let marked = environment
                .split(|byte| *byte == 0)
                .any(|entry| entry.starts_with(mark.as_bytes()));
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (_, after_name) = stat.rsplit_once(") ")?;
            let zombie = after_name.starts_with('Z');
            let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (marked && !zombie).then(|| Program {
                pid,
                name: name.trim().to_string(),
                sockets: sockets_of(&entry.path()),
            })
        })
        .collect()
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(!stat.rsplit_once(") ")?.1.starts_with('Z')))
        .unwrap_or(false)
}

fn sockets_of(process: &Path) -> BTreeSet<u64> {
    let Ok(descriptors) = std::fs::read_dir(process.join("fd")) else {
        return BTreeSet::new();
    };
    descriptors
        .flatten()
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The inodes of every listening TCP socket on the machine.
fn listening_sockets() -> BTreeSet<u64> {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    (fields.get(3) == Some(&LISTEN)).then(|| fields.get(9)?.parse().ok())?
                })
                .collect::<Vec<u64>>()
        })
        .collect()
}

/// Cells that hold nginx, Squid and websocat running through a long idle
/// pause (20 s at the default time scale), long enough to be killed in.
fn scenarios_folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("tempdir");
    for preset in ["nginx-websocket", "squid"] {
        std::fs::write(
            folder.path().join(format!("held-{preset}.toml")),
            held_by(preset, "2000s"),
        )
        .expect("write");
    }
    folder
}

fn traverse_run(scenarios: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
    command
        .arg("run")
        .arg(scenarios)
        .args(["--tunnel", "wss", "--tunnel", "websocat", "--tunnel-file"])
        .arg(repo_root().join("tunnels/websocat.toml"))
        .arg("-q")
        .stdin(Stdio::null());
    command
}

#[test]
fn a_killed_run_leaves_nothing_once_the_next_command_starts() {
    for program in ["nginx", "squid", "websocat"] {
        require(program);
    }
    let scenarios = scenarios_folder();
    let mut run = traverse_run(scenarios.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("traverse runs");
    let owner = run.id();
    let mut started = Vec::new();
    wait_until(
        Duration::from_secs(30),
        "nginx, squid and websocat running",
        || {
            started = programs_of(owner);
            let names: BTreeSet<&str> = started
                .iter()
                .map(|program| program.name.as_str())
                .collect();
            ["nginx", "squid", "websocat"]
                .iter()
                .all(|name| names.contains(name))
        },
    );
    let sockets: BTreeSet<u64> = started
        .iter()
        .flat_map(|program| program.sockets.iter().copied())
        .collect();
    assert!(
        !sockets.is_disjoint(&listening_sockets()),
        "they listen: {started:?}"
    );
    let namespace = std::fs::metadata("/proc/self/ns/pid")
        .expect("pid namespace")
        .ino();
    let cell_folders = |owner: u32| -> Vec<String> {
        std::fs::read_dir(std::env::temp_dir())
            .expect("temp dir")
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&format!("traverse-{namespace}.{owner}.")))
            .collect()
    };
    assert!(!cell_folders(owner).is_empty(), "the cells have folders");

    run.kill().expect("SIGKILL");
    run.wait().expect("reaped");

    let next = finished_within(
        {
            let mut list = Command::new(env!("CARGO_BIN_EXE_traverse"));
            list.arg("list");
            list
        },
        Duration::from_secs(30),
    );
    assert!(next.status.success());
    let left = programs_of(owner);
    assert!(
        left.is_empty(),
        "left running: {left:?} (started: {started:?})"
    );
    let survivors: Vec<&Program> = started
        .iter()
        .filter(|program| is_running(program.pid))
        .collect();
    assert!(survivors.is_empty(), "left running: {survivors:?}");
    let still_listening: Vec<u64> = sockets
        .intersection(&listening_sockets())
        .copied()
        .collect();
    assert_eq!(still_listening, Vec::<u64>::new(), "sockets of {started:?}");
    assert_eq!(cell_folders(owner), Vec::<String>::new());
}

#[test]
fn a_run_that_ends_leaves_no_squid_helper() {
    require("squid");
    let scenarios = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        scenarios.path().join("squid.toml"),
        held_by("squid", "300s"),
    )
    .expect("write");
    let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
    command
        .arg("run")
        .arg(scenarios.path())
        .args(["--tunnel", "wss", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut run = command.spawn().expect("traverse runs");
    let owner = run.id();
    // Squid and its helpers (pinger, which starts a session of its own)
    // are seen while the cell pauses, so the check below can fail.
    let mut seen = Vec::new();
    wait_until(Duration::from_secs(30), "squid's pinger running", || {
        seen = programs_of(owner);
        seen.iter().any(|program| program.name == "pinger")
    });
    let mut status = None;
    wait_until(Duration::from_secs(60), "the run finished", || {
        status = run.try_wait().expect("try_wait");
        status.is_some()
    });
    assert!(
        status.is_some_and(|status| status.success()),
        "the cell passes: {status:?}"
    );
    let left = programs_of(owner);
    assert!(left.is_empty(), "left running: {left:?} (seen: {seen:?})");
}
