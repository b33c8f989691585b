//! The runner turns validated scenarios into results. It expands scenarios
//! × tunnels into cells, and for each cell builds the topology inside out
//! (echo app, origin, hops from the origin outward), points the tunnel
//! client at whatever the origin's name resolves to, runs the probe, reads
//! every node's transaction log and decides the verdict. Cells run in
//! parallel, each under a hard deadline, and each cell's tasks and sockets
//! are gone before its result is reported. What happens goes out as
//! [`Event`]s, the interface every reporter builds on.

mod cell;
mod external;
mod fallback;
mod lateness;
mod probe;
mod starvation;
mod verdict;
mod websocket_features;

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use traverse_pki::{Pki, PkiError};
use traverse_scenario::{Location, Scenario, ScenarioError, TimeScale, TunnelDefinition};
use traverse_tunnel::{Configured, Tunnel};

pub use fallback::Fallback;
pub use probe::ECHO_SIZES;
pub use verdict::{Category, Failure, NodeLog, Observation, Verdict, judge};

/// One matrix cell: a scenario with a tunnel.
#[derive(Debug, Clone)]
pub struct CellSpec {
    /// Its place in the full plan, kept when a shard takes a slice.
    pub index: usize,
    pub scenario: Arc<Scenario>,
    pub tunnel: TunnelSpec,
}

impl CellSpec {
    /// Whether the cell runs programs: an external tunnel's halves, or a
    /// hop that is a real proxy program.
    pub fn runs_processes(&self) -> bool {
        self.tunnel.runs_processes() || self.scenario.hops.iter().any(|hop| hop.kind.runs_process())
    }

    /// How long the cell waits by design (the probe's idle pause), in
    /// scenario time: the least it can take, whatever else it does.
    pub fn deliberate_wait(&self) -> Duration {
        self.scenario.probe.idle.unwrap_or_default()
    }
}

/// A tunnel a run can use: built in, or the user's own commands.
#[derive(Debug, Clone)]
pub enum TunnelSpec {
    Builtin(Configured),
    External(Arc<TunnelDefinition>),
    /// Several of the others, tried in order (see [`Fallback`]).
    Fallback(Arc<Fallback>),
}

impl TunnelSpec {
    pub fn name(&self) -> &str {
        match self {
            TunnelSpec::Builtin(tunnel) => tunnel.name(),
            TunnelSpec::External(definition) => &definition.name,
            TunnelSpec::Fallback(fallback) => &fallback.name,
        }
    }

    /// The logical port its client dials (a fallback's first transport's).
    pub fn port(&self) -> u16 {
        match self {
            TunnelSpec::Builtin(configured) => configured.tunnel.port(),
            TunnelSpec::External(definition) => definition.transport.port(),
            TunnelSpec::Fallback(fallback) => fallback.transports[0].port(),
        }
    }

    /// The longest its origin keeps a request unanswered on purpose, in
    /// scenario time, where the harness knows it (a built-in tunnel).
    pub(crate) fn holds_requests(&self) -> Option<Duration> {
        match self {
            TunnelSpec::Builtin(configured) => Some(configured.tunnel.protocol.holds_requests()),
            TunnelSpec::External(_) | TunnelSpec::Fallback(_) => None,
        }
    }

    /// Whether its halves are programs of their own.
    fn runs_processes(&self) -> bool {
        match self {
            TunnelSpec::Builtin(_) => false,
            TunnelSpec::External(_) => true,
            TunnelSpec::Fallback(fallback) => {
                fallback.transports.iter().any(TunnelSpec::runs_processes)
            }
        }
    }
}

impl TunnelSpec {
    /// The tunnel called `name`: one of `known`, a built-in tunnel with
    /// parameters (`ws+ping=30s`), or a fallback among such tunnels
    /// (`fallback(ws,long-poll)`). The error says what is wrong with it.
    pub fn resolve(name: &str, known: &[TunnelSpec]) -> Result<TunnelSpec, String> {
        if let Some(tunnel) = known.iter().find(|tunnel| tunnel.name() == name) {
            return Ok(tunnel.clone());
        }
        if Fallback::is_written(name) {
            let resolve_one = |transport: &str| TunnelSpec::resolve(transport, known);
            return Fallback::parse(name, resolve_one)
                .map(|fallback| TunnelSpec::Fallback(Arc::new(fallback)));
        }
        if name.contains('+') {
            return Configured::parse(name).map(TunnelSpec::Builtin);
        }
        let names: Vec<&str> = known.iter().map(TunnelSpec::name).collect();
        Err(format!(
            "unknown tunnel \"{name}\"; tunnels: {}",
            names.join(", ")
        ))
    }
}

impl From<Tunnel> for TunnelSpec {
    fn from(tunnel: Tunnel) -> TunnelSpec {
        TunnelSpec::Builtin(tunnel.into())
    }
}

impl From<Configured> for TunnelSpec {
    fn from(tunnel: Configured) -> TunnelSpec {
        TunnelSpec::Builtin(tunnel)
    }
}

impl From<TunnelDefinition> for TunnelSpec {
    fn from(definition: TunnelDefinition) -> TunnelSpec {
        TunnelSpec::External(Arc::new(definition))
    }
}

/// The result of one cell, as JSON results and every reporter show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CellResult {
    /// The cell's place in the full plan (scenario by scenario, tunnels in
    /// order), so shards merge back into one run's order.
    #[serde(default)]
    pub cell: usize,
    /// The scenario's name: the matrix row.
    pub scenario: String,
    /// The tunnel's name: the matrix column.
    pub tunnel: String,
    pub verdict: Verdict,
    /// What the scenario file expects, if it says.
    pub expected: Option<Verdict>,
    /// Why it failed, as one word; null on pass.
    pub category: Option<Category>,
    /// The HTTP status seen, for refusals.
    pub status: Option<u16>,
    /// `client`, a hop's name, `origin` or `harness`; null on pass.
    pub blame: Option<String>,
    /// What went wrong and where, for a person to act on; on a pass empty,
    /// or what a poisonable cell's cache read.
    pub detail: String,
    /// The cell's wall time, in milliseconds.
    pub duration_ms: u64,
    /// The scenario's weight, for weighted success rates.
    pub weight: f64,
    /// Whether bytes inside the tunnel could poison a caching hop on the
    /// path; null where no hop caches. A passing tunnel can be poisonable.
    pub poisonable: Option<bool>,
    /// How many of the tunnel's keepalives (pings, heartbeats) were
    /// answered: each crossed the whole path and back. Absent for a tunnel
    /// named without one, and for TCP keepalive, whose probes the kernel
    /// sends and no hop that relays bytes sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalives: Option<u64>,
    /// The transport a fallback tunnel got through on, or the one an
    /// external tunnel's client half said it used last; absent for other
    /// tunnels, and on a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Every node's transaction log, client side first, origin last.
    pub logs: Vec<NodeLog>,
    /// What an external tunnel's halves printed, for failing cells.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, String>,
}

impl CellResult {
    /// Whether the verdict is what the scenario expects (true without one).
    /// A harness failure never is: it says nothing about the tunnel, and a
    /// run whose harness broke must not pass for one whose tunnel failed.
    pub fn as_expected(&self) -> bool {
        self.category != Some(Category::Harness)
            && self
                .expected
                .is_none_or(|expected| expected == self.verdict)
    }

    /// The log of the node blamed for the failure.
    pub fn blamed_log(&self) -> Option<&NodeLog> {
        let blame = self.blame.as_deref()?;
        self.logs.iter().find(|log| log.node == blame)
    }
}

/// How a run behaves; the defaults are what `traverse run` uses.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Cells running at once.
    pub jobs: usize,
    /// Of those, cells that run programs (an external tunnel's halves, an
    /// external hop such as nginx or Squid) at once: starting and stopping
    /// processes is what costs a cell compute.
    pub process_jobs: usize,
    pub time_scale: TimeScale,
    /// The longest a single step (connect, handshake, one echo) may take.
    pub step_timeout: Duration,
}

/// Cells per core by default, counting only cells at work: a cell in its
/// probe's idle pause gives its turn back (see [`Turn`]). A cell of
/// built-in nodes spends most of its time waiting on loopback sockets and
/// timers, not computing, but its echoes do compute (1 MiB through TLS,
/// frames, hixie-76's text), and too many at once make each outlast
/// `--step-timeout`: a debug build's 1 MiB echoes timed out with 16 per
/// core on a loaded machine. On 2 cores the bundled matrix (250 cells)
/// ran in a median 3.0 s with 8 per core holding their turns through the
/// pauses, 1.9 s with 16, and 2.8 s with all at once (`ci/bench.sh`).
pub const JOBS_PER_CORE: usize = 8;

/// Cells with programs of their own, per core, by default: a few, so
/// starting nginx or Squid for one cell does not starve the others.
pub const PROCESS_JOBS_PER_CORE: usize = 2;

/// The machine's cores, as the defaults count them.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: JOBS_PER_CORE * cores(),
            process_jobs: PROCESS_JOBS_PER_CORE * cores(),
            time_scale: TimeScale::DEFAULT,
            step_timeout: Duration::from_secs(2),
        }
    }
}

/// What a run tells its reporters, as it happens: the one interface every
/// reporter builds on (the progress bar, the matrix, the report files, and
/// streaming output to come), as nextest's reporter events are.
///
/// The order is a contract. A run that starts at all sends
/// [`RunStarted`](Event::RunStarted) first and exactly once; then, for
/// every cell, one [`CellStarted`](Event::CellStarted) and later one
/// [`CellFinished`](Event::CellFinished), cells interleaved as they run;
/// then [`RunFinished`](Event::RunFinished) last and exactly once. A run
/// that cannot start (its certificates cannot be made) sends nothing, and
/// a run that is dropped midway (Ctrl-C) stops sending: it never sends
/// `RunFinished`, so a reporter that writes only then writes nothing.
///
/// Events are sent from the task that awaits [`run`], never from two
/// places at once, so a reporter needs no locking; one that takes long
/// holds up the events behind it, not the cells.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The run has its certificates and is about to start cells: `cells`
    /// of them, each of which will finish.
    RunStarted { cells: usize },
    /// A cell got its turn (at most [`RunOptions::jobs`] run at once, and
    /// of those at most [`RunOptions::process_jobs`] that run programs) and
    /// starts building its topology. `cell.index` is its place in the full
    /// plan, as its result's `cell` will be.
    CellStarted { cell: &'a CellSpec },
    /// A cell is over and its tasks and sockets are gone. Cells finish in
    /// the order they end, not in plan order; `done` counts the cells
    /// finished so far, this one included, out of `total` (the count
    /// `RunStarted` gave), so the last one has `done == total`.
    CellFinished {
        cell: &'a CellSpec,
        done: usize,
        total: usize,
        result: &'a CellResult,
    },
    /// Every cell has finished: `results` holds one result per cell, in
    /// plan order, the same results [`run`] returns.
    RunFinished { results: &'a [CellResult] },
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot make the run's certificates: {0}")]
    Pki(#[from] PkiError),
}

/// Every cell of `scenarios` × `tunnels`, scenario by scenario.
pub fn plan<T: Clone + Into<TunnelSpec>>(scenarios: &[Scenario], tunnels: &[T]) -> Vec<CellSpec> {
    let tunnels: Vec<TunnelSpec> = tunnels.iter().cloned().map(Into::into).collect();
    scenarios
        .iter()
        .map(|scenario| Arc::new(scenario.clone()))
        .flat_map(|scenario| {
            tunnels.iter().map(move |tunnel| CellSpec {
                index: 0,
                scenario: scenario.clone(),
                tunnel: tunnel.clone(),
            })
        })
        .enumerate()
        .map(|(index, spec)| CellSpec { index, ..spec })
        .collect()
}

/// Shard `number` of `count` (from 1): every `count`-th cell of the plan,
/// so each shard gets a fair mix of slow and quick cells and the same
/// plan always splits the same way.
pub fn shard(cells: Vec<CellSpec>, number: usize, count: usize) -> Vec<CellSpec> {
    cells
        .into_iter()
        .filter(|spec| count > 0 && spec.index % count == number.saturating_sub(1))
        .collect()
}

/// Expectations that name a tunnel the run does not know, located in the
/// scenario file so a typo is found before anything runs. A built-in
/// tunnel with parameters (`ws+ping=30s`) is known once its name reads.
pub fn check_expectations(scenarios: &[Scenario], known: &[TunnelSpec]) -> Vec<ScenarioError> {
    scenarios
        .iter()
        .flat_map(|scenario| &scenario.expect)
        .filter_map(|expectation| {
            let why = TunnelSpec::resolve(&expectation.tunnel, known).err()?;
            // A parameter's or a fallback's error names the tunnel itself.
            let names =
                if expectation.tunnel.contains('+') || Fallback::is_written(&expectation.tunnel) {
                    ""
                } else {
                    "names "
                };
            Some(ScenarioError::Invalid {
                location: Location::clone(&expectation.location),
                message: format!("[expect] {names}{why}"),
            })
        })
        .collect()
}

/// The built-in tunnels with parameters that the scenarios expect
/// something of, and `known` lacks: a run of every tunnel runs them too,
/// so an expectation such as `"ws+ping=30s" = "pass"` is put to the test.
pub fn expected_tunnels(scenarios: &[Scenario], known: &[TunnelSpec]) -> Vec<TunnelSpec> {
    let mut extra: Vec<TunnelSpec> = Vec::new();
    for expectation in scenarios.iter().flat_map(|scenario| &scenario.expect) {
        let name = expectation.tunnel.as_str();
        let listed = known
            .iter()
            .chain(&extra)
            .any(|tunnel| tunnel.name() == name);
        if !listed && let Ok(tunnel) = TunnelSpec::resolve(name, known) {
            extra.push(tunnel);
        }
    }
    extra
}

/// Runs every cell, at most `options.jobs` at once, telling `on_event`
/// how it goes (see [`Event`] for what comes when), and returns the
/// results in plan order.
pub async fn run(
    cells: Vec<CellSpec>,
    options: &RunOptions,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<Vec<CellResult>, RunError> {
    let pki = Arc::new(Pki::generate()?);
    let total = cells.len();
    on_event(Event::RunStarted { cells: total });
    let lateness = lateness::Lateness::start();
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let process_permits = Arc::new(Semaphore::new(options.process_jobs.max(1)));
    // Cells report through one channel, so each cell's start is received
    // before its end; the join set owns the tasks, and dropping the run
    // drops every cell with it.
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut running = JoinSet::new();
    // Longest first: a cell that must wait out an idle pause, started last,
    // would keep the run going long after the others had finished. Turns
    // are taken in the order the cells are spawned; results keep plan
    // order whatever it is.
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by_key(|position| std::cmp::Reverse(cells[*position].deliberate_wait()));
    for position in order {
        let spec = cells[position].clone();
        let (pki, permits, options) = (pki.clone(), permits.clone(), options.clone());
        let lateness = lateness.clone();
        let process_permits = spec.runs_processes().then(|| process_permits.clone());
        let sender = sender.clone();
        running.spawn(async move {
            // The scarcer permit first: a cell waiting for a process slot
            // must not hold a job slot that a built-in cell could use.
            let _process_permit = match process_permits {
                Some(permits) => Some(permits.acquire_owned().await),
                None => None,
            };
            let turn = Turn::holding(permits.acquire_owned().await.ok());
            let _ = sender.send(CellProgress::Started(position));
            let cell =
                AssertUnwindSafe(cell::run(&spec, &pki, &options, &turn, &lateness)).catch_unwind();
            // A panic is a harness bug; it becomes this cell's verdict
            // instead of a hole in the matrix or the end of the run.
            let result = cell
                .await
                .unwrap_or_else(|panic| cell::harness_failure(&spec, &panic_message(&panic)));
            let _ = sender.send(CellProgress::Finished(position, Box::new(result)));
        });
    }
    // Once every cell's sender is gone, the channel ends.
    drop(sender);
    let mut results: Vec<Option<CellResult>> = vec![None; total];
    let mut done = 0;
    while let Some(progress) = received.recv().await {
        match progress {
            CellProgress::Started(position) => on_event(Event::CellStarted {
                cell: &cells[position],
            }),
            CellProgress::Finished(position, result) => {
                done += 1;
                on_event(Event::CellFinished {
                    cell: &cells[position],
                    done,
                    total,
                    result: &result,
                });
                results[position] = Some(*result);
            }
        }
    }
    // Every cell has sent its result; what is left of the tasks is ending.
    while running.join_next().await.is_some() {}
    let results: Vec<CellResult> = results.into_iter().flatten().collect();
    on_event(Event::RunFinished { results: &results });
    Ok(results)
}

/// Whether a cell reads `harness` because the harness could not keep time
/// (a machine busier than its cores): a run with such cells should be
/// repeated with fewer `--jobs`.
pub fn was_starved(result: &CellResult) -> bool {
    result.category == Some(Category::Harness) && result.detail.starts_with(starvation::STARVED)
}

/// A cell's turn among the run's `--jobs`: held while it works, given back
/// when it only waits (the probe's idle pause) or ends.
#[derive(Debug, Clone, Default)]
pub struct Turn(Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>);

impl Turn {
    fn holding(permit: Option<OwnedSemaphorePermit>) -> Turn {
        Turn(Arc::new(std::sync::Mutex::new(permit)))
    }

    /// Lets the next cell start; a second call does nothing.
    pub fn give_back(&self) {
        let permit = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(permit);
    }
}

/// What a cell's task tells the run, by the cell's place in `cells`.
enum CellProgress {
    Started(usize),
    Finished(usize, Box<CellResult>),
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(category: Option<Category>, verdict: Verdict, expected: Option<Verdict>) -> CellResult {
        CellResult {
            cell: 0,
            scenario: "s".to_string(),
            tunnel: "t".to_string(),
            verdict,
            expected,
            category,
            status: None,
            blame: None,
            detail: String::new(),
            duration_ms: 0,
            weight: 1.0,
            poisonable: None,
            keepalives: None,
            transport: None,
            logs: Vec::new(),
            output: BTreeMap::new(),
        }
    }

    #[test]
    fn a_harness_failure_never_meets_an_expectation() {
        let failed = Some(Verdict::Fail);
        assert!(cell(Some(Category::Refused), Verdict::Fail, failed).as_expected());
        assert!(!cell(Some(Category::Harness), Verdict::Fail, failed).as_expected());
        assert!(!cell(Some(Category::Harness), Verdict::Fail, None).as_expected());
        assert!(cell(None, Verdict::Pass, None).as_expected());
    }

    /// What a reporter saw, as plain data: the event and the cell's place.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        RunStarted(usize),
        CellStarted(usize),
        CellFinished {
            cell: usize,
            done: usize,
            total: usize,
        },
        RunFinished(Vec<(String, String)>),
    }

    /// A direct scenario with two built-in tunnels, the run's events in
    /// the order a reporter got them, and the results the run returned.
    async fn events_of_a_small_run(jobs: usize) -> (Vec<Seen>, Vec<CellResult>) {
        let direct = traverse_scenario::parse(std::path::Path::new("direct.toml"), "")
            .expect("an empty scenario is a direct one");
        let tunnels = ["tcp", "ws"].map(|name| traverse_tunnel::find(name).expect("built in"));
        let options = RunOptions {
            jobs,
            ..RunOptions::default()
        };
        let mut seen = Vec::new();
        let results = run(plan(&[direct], &tunnels), &options, |event| {
            seen.push(match event {
                Event::RunStarted { cells } => Seen::RunStarted(cells),
                Event::CellStarted { cell } => Seen::CellStarted(cell.index),
                Event::CellFinished {
                    cell,
                    done,
                    total,
                    result,
                } => {
                    assert_eq!(result.cell, cell.index, "the result is the cell's");
                    Seen::CellFinished {
                        cell: cell.index,
                        done,
                        total,
                    }
                }
                Event::RunFinished { results } => Seen::RunFinished(
                    results
                        .iter()
                        .map(|result| (result.scenario.clone(), result.tunnel.clone()))
                        .collect(),
                ),
            });
        })
        .await
        .expect("run");
        (seen, results)
    }

    /// A cell that must wait out an idle pause takes its turn first, and
    /// gives it back for the pause: with one job, the other cell runs and
    /// finishes during it. The results keep plan order.
    #[tokio::test]
    async fn cells_with_an_idle_pause_go_first_and_wait_without_a_turn() {
        let direct = traverse_scenario::parse(std::path::Path::new("direct.toml"), "")
            .expect("an empty scenario is a direct one");
        // 100 s of scenario time is 1 s at the default scale: far longer
        // than a direct cell takes.
        let pausing = traverse_scenario::parse(
            std::path::Path::new("pausing.toml"),
            "[probe]\nidle = \"100s\"\n",
        )
        .expect("a probe with an idle pause");
        let tcp = [traverse_tunnel::find("tcp").expect("built in")];
        let options = RunOptions {
            jobs: 1,
            ..RunOptions::default()
        };
        let mut seen = Vec::new();
        let results = run(
            plan(&[direct, pausing], &tcp),
            &options,
            |event| match event {
                Event::CellStarted { cell } => seen.push(format!("start {}", cell.scenario.name)),
                Event::CellFinished { cell, .. } => {
                    seen.push(format!("end {}", cell.scenario.name))
                }
                _ => {}
            },
        )
        .await
        .expect("run");
        assert_eq!(
            seen,
            ["start pausing", "start direct", "end direct", "end pausing"]
        );
        let in_plan: Vec<&str> = results.iter().map(|r| r.scenario.as_str()).collect();
        assert_eq!(in_plan, ["direct", "pausing"]);
        assert!(
            results.iter().all(|r| r.verdict == Verdict::Pass),
            "{results:?}"
        );
    }

    #[tokio::test]
    async fn a_run_tells_its_reporters_every_step_in_order() {
        for jobs in [1, 2] {
            let (seen, results) = events_of_a_small_run(jobs).await;
            assert_eq!(seen.first(), Some(&Seen::RunStarted(2)), "{seen:?}");
            let every_result = vec![
                ("direct".to_string(), "tcp".to_string()),
                ("direct".to_string(), "ws".to_string()),
            ];
            assert_eq!(
                seen.last(),
                Some(&Seen::RunFinished(every_result.clone())),
                "last, with every result in plan order: {seen:?}"
            );
            let returned: Vec<(String, String)> = results
                .iter()
                .map(|result| (result.scenario.clone(), result.tunnel.clone()))
                .collect();
            assert_eq!(returned, every_result, "the results RunFinished gave");
            assert_eq!(seen.len(), 6, "two events per cell between: {seen:?}");
            for cell in [0, 1] {
                let started = seen
                    .iter()
                    .position(|event| *event == Seen::CellStarted(cell));
                let finished: Vec<usize> = seen
                    .iter()
                    .enumerate()
                    .filter(|(_, event)| matches!(event, Seen::CellFinished { cell: c, .. } if *c == cell))
                    .map(|(at, _)| at)
                    .collect();
                assert_eq!(finished.len(), 1, "cell {cell} finishes once: {seen:?}");
                assert!(
                    started.is_some_and(|started| started < finished[0]),
                    "cell {cell} starts before it finishes: {seen:?}"
                );
            }
            let counts: Vec<(usize, usize)> = seen
                .iter()
                .filter_map(|event| match event {
                    Seen::CellFinished { done, total, .. } => Some((*done, *total)),
                    _ => None,
                })
                .collect();
            assert_eq!(counts, [(1, 2), (2, 2)], "done counts up to total");
        }
    }

    /// One job at a time: a cell starts only once the one before finished.
    #[tokio::test]
    async fn one_job_runs_one_cell_at_a_time() {
        let (seen, _) = events_of_a_small_run(1).await;
        let steps: Vec<&Seen> = seen[1..seen.len() - 1].iter().collect();
        assert!(
            matches!(
                steps.as_slice(),
                [
                    Seen::CellStarted(first),
                    Seen::CellFinished { cell: a, .. },
                    Seen::CellStarted(second),
                    Seen::CellFinished { cell: b, .. },
                ] if first == a && second == b
            ),
            "{seen:?}"
        );
    }
}
