//! The runner turns validated scenarios into results. It expands scenarios
//! × tunnels into cells, and for each cell builds the topology inside out
//! (echo app, origin, hops from the origin outward), points the tunnel
//! client at whatever the origin's name resolves to, runs the probe, reads
//! every node's transaction log and decides the verdict. Cells run in
//! parallel, each under a hard deadline, and each cell's tasks and sockets
//! are gone before its result is reported. Progress goes out as [`Event`]s,
//! the interface reporters build on.

mod cell;
mod external;
mod probe;
mod verdict;

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use traverse_pki::{Pki, PkiError};
use traverse_scenario::{Location, Scenario, ScenarioError, TimeScale, TunnelDefinition};
use traverse_tunnel::Tunnel;

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

/// A tunnel a run can use: built in, or the user's own commands.
#[derive(Debug, Clone)]
pub enum TunnelSpec {
    Builtin(Tunnel),
    External(Arc<TunnelDefinition>),
}

impl TunnelSpec {
    pub fn name(&self) -> &str {
        match self {
            TunnelSpec::Builtin(tunnel) => tunnel.name,
            TunnelSpec::External(definition) => &definition.name,
        }
    }

    /// The logical port its client dials.
    pub fn port(&self) -> u16 {
        match self {
            TunnelSpec::Builtin(tunnel) => tunnel.port(),
            TunnelSpec::External(definition) => definition.transport.port(),
        }
    }
}

impl From<Tunnel> for TunnelSpec {
    fn from(tunnel: Tunnel) -> TunnelSpec {
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
    pub time_scale: TimeScale,
    /// The longest a single step (connect, handshake, one echo) may take.
    pub step_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism().map_or(2, usize::from),
            time_scale: TimeScale::DEFAULT,
            step_timeout: Duration::from_secs(2),
        }
    }
}

/// What a run tells its reporters while it goes.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        cells: usize,
    },
    CellFinished {
        done: usize,
        total: usize,
        result: &'a CellResult,
    },
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
/// scenario file so a typo is found before anything runs.
pub fn check_expectations(scenarios: &[Scenario], known: &[&str]) -> Vec<ScenarioError> {
    scenarios
        .iter()
        .flat_map(|scenario| &scenario.expect)
        .filter(|expectation| !known.contains(&expectation.tunnel.as_str()))
        .map(|expectation| ScenarioError::Invalid {
            location: Location::clone(&expectation.location),
            message: format!(
                "[expect] names unknown tunnel \"{}\"; tunnels: {}",
                expectation.tunnel,
                known.join(", ")
            ),
        })
        .collect()
}

/// Runs every cell, at most `options.jobs` at once, and returns the
/// results in plan order.
pub async fn run(
    cells: Vec<CellSpec>,
    options: &RunOptions,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<Vec<CellResult>, RunError> {
    let pki = Arc::new(Pki::generate()?);
    let total = cells.len();
    on_event(Event::Started { cells: total });
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut running = JoinSet::new();
    for (index, spec) in cells.into_iter().enumerate() {
        let (pki, permits, options) = (pki.clone(), permits.clone(), options.clone());
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let cell = AssertUnwindSafe(cell::run_cell(&spec, &pki, &options)).catch_unwind();
            // A panic is a harness bug; it becomes this cell's verdict
            // instead of a hole in the matrix or the end of the run.
            let result = cell
                .await
                .unwrap_or_else(|panic| cell::harness_failure(&spec, &panic_message(&panic)));
            (index, result)
        });
    }
    let mut results: Vec<Option<CellResult>> = vec![None; total];
    let mut done = 0;
    while let Some(joined) = running.join_next().await {
        // Cell tasks catch their own panics and are never aborted here.
        let Ok((index, result)) = joined else {
            continue;
        };
        done += 1;
        on_event(Event::CellFinished {
            done,
            total,
            result: &result,
        });
        results[index] = Some(result);
    }
    Ok(results.into_iter().flatten().collect())
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
}
