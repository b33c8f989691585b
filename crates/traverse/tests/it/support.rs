//! Helpers that keep the tests reading like data.

use std::path::{Path, PathBuf};

use traverse_runner::{CellResult, RunOptions, TunnelSpec};
use traverse_scenario::Scenario;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn scenario(toml: &str) -> Scenario {
    traverse_scenario::parse(Path::new("inline.toml"), toml)
        .unwrap_or_else(|error| panic!("test scenario is invalid: {error}\n{toml}"))
}

/// Runs every named tunnel (built in, with parameters, or a fallback among
/// them) through the topology and returns the results in tunnel order.
pub async fn run(toml: &str, tunnels: &[&str]) -> Vec<CellResult> {
    let builtin: Vec<TunnelSpec> = traverse_tunnel::BUILTIN
        .iter()
        .copied()
        .map(TunnelSpec::from)
        .collect();
    let tunnels: Vec<TunnelSpec> = tunnels
        .iter()
        .map(|name| TunnelSpec::resolve(name, &builtin).unwrap_or_else(|why| panic!("{why}")))
        .collect();
    let cells = traverse_runner::plan(&[scenario(toml)], &tunnels);
    traverse_runner::run(cells, &RunOptions::default(), |_| {})
        .await
        .expect("run")
}

/// A cell as a short line: verdict, category with status, blame.
pub fn summary(cell: &CellResult) -> String {
    let mut line = format!("{} {}", cell.tunnel, cell.verdict.as_str());
    if let Some(transport) = &cell.transport {
        line += &format!(" via {transport}");
    }
    if let Some(category) = cell.category {
        line += &format!(" {}", category.as_str());
    }
    if let Some(status) = cell.status {
        line += &format!(" {status}");
    }
    if let Some(blame) = &cell.blame {
        line += &format!(" blame={blame}");
    }
    if cell.poisonable == Some(true) {
        line += " poisonable";
    }
    line
}

/// Runs `tunnels` through `topology` and compares each cell's summary.
pub async fn assert_cells(topology: &str, tunnels: &[&str], expected: &[&str]) {
    let results = run(topology, tunnels).await;
    let got: Vec<String> = results.iter().map(summary).collect();
    assert_eq!(
        got,
        expected,
        "topology:\n{topology}\ndetails:\n{}",
        results
            .iter()
            .map(|cell| format!("  {}: {}", cell.tunnel, cell.detail))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Fails listing every cell whose verdict is not what its scenario expects.
pub fn assert_as_expected(results: &[CellResult]) {
    let unexpected: Vec<String> = results
        .iter()
        .filter(|cell| !cell.as_expected())
        .map(|cell| format!("{} × {}: {}", cell.scenario, cell.tunnel, cell.detail))
        .collect();
    assert!(
        unexpected.is_empty(),
        "not as expected:\n{}",
        unexpected.join("\n")
    );
}

/// Fails listing every row of a table test that came out wrong: each
/// row's line says what was expected and what happened, `None` when it
/// came out right.
pub fn assert_rows(rows: impl IntoIterator<Item = Option<String>>) {
    let wrong: Vec<String> = rows.into_iter().flatten().collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Fails, naming what is missing and what installs it, when a program a
/// test drives is not installed: a test that cannot run never passes.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|folder| folder.join(program).is_file())
    }) || Path::new("/usr/sbin").join(program).is_file();
    assert!(
        found,
        "{program} is not installed: `bash ci/install.sh` installs it from Debian's packages"
    );
}

/// Fails, saying how to build it, when a container image a test runs is
/// not there (no registry is reachable: images are built locally).
pub fn require_image(image: &str) {
    require("docker");
    let inspected = std::process::Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .expect("docker runs");
    assert!(
        inspected.status.success(),
        "the image {image} is missing: `bash ci/build-image.sh` builds it from this repository"
    );
}

/// Waits until `done` holds, or fails after `deadline` saying `what`. For
/// states nothing announces (a process gone from /proc, a container
/// removed by docker): a short poll, bounded.
pub fn wait_until(deadline: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + deadline;
    while !done() {
        assert!(
            std::time::Instant::now() < until,
            "{what} within {deadline:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `command` to its end with its output captured, or fails if it
/// takes longer than `deadline` (killing it first).
pub fn finished_within(
    mut command: std::process::Command,
    deadline: std::time::Duration,
) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the traverse binary runs");
    let id = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    finished
        .recv_timeout(deadline)
        .unwrap_or_else(|_| {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("traverse did not finish within {deadline:?}")
        })
        .expect("wait")
}

/// Sends `signal` (`INT`, `TERM`) to `child` and waits for it to end, or
/// fails if it does not within 10 s: what a stuck Ctrl-C looks like.
pub fn signal_and_wait(child: std::process::Child, signal: &str) -> std::process::Output {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("it stops within 10 s of SIG{signal}"))
        .expect("wait")
}

/// One hop started by itself in front of `next`, for tests that play the
/// client and the next node with raw sockets: what a hop does when the
/// next node misbehaves, or when only one side talks.
pub struct LoneHop {
    pub handle: traverse_middlebox::MiddleboxHandle,
    pub log: traverse_net::TransactionLog,
    pub pki: std::sync::Arc<traverse_pki::Pki>,
}

impl LoneHop {
    /// Starts the only hop of `topology` (a scenario's TOML) in front of
    /// `next`, at the default time scale.
    pub async fn start(topology: &str, next: traverse_net::Endpoints) -> LoneHop {
        let pki = std::sync::Arc::new(traverse_pki::Pki::generate().expect("pki"));
        LoneHop::start_with(topology, next, pki).await
    }

    /// Starts it with `pki`, for a next node that must trust the same CAs.
    pub async fn start_with(
        topology: &str,
        next: traverse_net::Endpoints,
        pki: std::sync::Arc<traverse_pki::Pki>,
    ) -> LoneHop {
        let scenario = scenario(topology);
        let [hop] = scenario.hops.as_slice() else {
            panic!("the topology must have exactly one hop:\n{topology}");
        };
        let log = traverse_net::TransactionLog::new();
        let tasks = traverse_net::Tasks::new();
        let context = traverse_middlebox::HopContext {
            name: hop.name.clone(),
            next,
            pki: pki.clone(),
            time_scale: traverse_scenario::TimeScale::DEFAULT,
            log: log.clone(),
            tasks: tasks.clone(),
            step_timeout: std::time::Duration::from_secs(2),
            bind: Default::default(),
        };
        let handle = traverse_middlebox::start(hop, context)
            .await
            .expect("the hop starts");
        LoneHop { handle, log, pki }
    }

    /// Where the hop listens for logical `port`.
    pub fn addr(&self, port: u16) -> std::net::SocketAddr {
        self.handle.endpoints.get(port).expect("the hop serves it")
    }

    /// The hop's record of its one connection, once it has decided.
    pub async fn record(&self) -> traverse_net::ConnRecord {
        self.log.settle(std::time::Duration::from_secs(2)).await;
        let records = self.log.snapshot();
        assert_eq!(records.len(), 1, "one connection: {records:?}");
        records[0].clone()
    }
}

/// Runs again, twice at most, the scenarios in which a cell could not be
/// judged (the harness was starved: a busy machine), for a test that
/// compares cells: a `harness` cell says nothing to compare. What stays
/// unjudged is left for the comparison to report.
pub async fn rerun_unjudged(
    results: &mut [CellResult],
    scenarios: &[Scenario],
    tunnels: &[TunnelSpec],
    options: &RunOptions,
) {
    for _ in 0..2 {
        let unjudged: Vec<&Scenario> = scenarios
            .iter()
            .filter(|scenario| {
                results.iter().any(|cell| {
                    cell.scenario == scenario.name
                        && cell.category == Some(traverse_runner::Category::Harness)
                })
            })
            .collect();
        if unjudged.is_empty() {
            return;
        }
        let again: Vec<Scenario> = unjudged.into_iter().cloned().collect();
        let rerun = traverse_runner::run(traverse_runner::plan(&again, tunnels), options, |_| {})
            .await
            .expect("run");
        for cell in rerun {
            if let Some(earlier) = results.iter_mut().find(|earlier| {
                (&earlier.scenario, &earlier.tunnel) == (&cell.scenario, &cell.tunnel)
            }) {
                *earlier = cell;
            }
        }
    }
}
