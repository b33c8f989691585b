//! One cell, start to finish: build the topology inside out, open the
//! tunnel through it, probe, collect the logs, tear everything down. Every
//! node's log, the echo app and the probe share one activity clock, so a
//! handshake or echo that nothing on the path is working on any more is
//! decided as a deadlock after [`QUIET`], not after `--step-timeout`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use traverse_middlebox::HopContext;
use traverse_net::websocket::FrameSummary;
use traverse_net::{ActivityClock, ClosedPort, QuietWatch, Tasks, TransactionLog};
use traverse_pki::Pki;
use traverse_scenario::address::PROXY_PORT;
use traverse_tunnel::{ClientPath, ExplicitProxy, KeepaliveKind, OriginContext};

use crate::external::ExternalCell;
use crate::lateness::Lateness;
use crate::probe::{ProbePlan, probe};
use crate::starvation::{
    Silence, starved_answer, starved_clock, starved_keepalive, starved_silence,
};
use crate::verdict::{Category, Failure, NodeLog, Observation, Verdict, judge};
use crate::websocket_features;
use crate::{CellResult, CellSpec, Fallback, RunOptions, TunnelSpec};

/// Past this, a cell is stopped whatever it is doing: each probe step has
/// its own timeout, so reaching it means the harness itself is stuck.
const CELL_DEADLINE: Duration = Duration::from_secs(60);

/// How long nothing may move anywhere in the topology, with no node's timer
/// armed to act within the step and the runtime idle since (see
/// [`QuietWatch::until_quiet`]), before a handshake or echo step is decided
/// as a deadlock. Chosen by measurement with `ci/oversubscribe.sh` (the
/// bundled matrix 20 times, `--jobs 64`, 4 busy loops on 2 cores, at times
/// shared with two other builds): gaps between moves inside steps that went
/// on to succeed reached 205-521 ms (99th percentile 113-290 ms), while the
/// runtime was saturated, which the idle condition rules out. With it,
/// 20 ms still flipped 1 cell of 3,220 (a 1 MiB hixie-76 echo: one task
/// computing while the rest idled); 150 ms flipped none of 3,220, decided
/// 209 of the 220 deadlocks early (the rest by the step timeout). With every
/// worker required to have been idle since the last move, 20 runs of the
/// 250-cell matrix flipped none of 5,000 cells (gaps up to 182 ms, 99th
/// percentile 109 ms; every deadlock decided by stillness with a 10 s step
/// timeout), and a bundled deadlock cell takes 0.15-0.17 s on the defaults.
pub(crate) const QUIET: Duration = Duration::from_millis(150);

/// How long a failing cell waits for nodes to record their last decisions.
const SETTLE: Duration = Duration::from_secs(1);

/// How long torn-down tasks get to drop their sockets.
const TEARDOWN: Duration = Duration::from_secs(2);

/// How a cell ended, before blame is judged. Only a failed probe says
/// something about the tunnel; the other failures are the harness's own.
#[derive(Debug)]
enum CellOutcome {
    /// The tunnel opened and carried every step of the probe.
    Passed,
    /// The tunnel or the probe failed; what the client saw, whom to blame
    /// still to be read from the logs.
    Failed(Observation),
    /// The harness could not build or drive the cell (a node did not
    /// start, an external tunnel never did).
    Harness(String),
    /// The cell was still going at its deadline: every step has its own
    /// timeout, so the harness itself is stuck.
    MissedDeadline(Duration),
}

impl CellOutcome {
    /// Drives the cell, stopping it at `deadline` whatever it is doing.
    async fn within(
        deadline: Duration,
        driving: impl Future<Output = Result<CellOutcome, String>>,
    ) -> CellOutcome {
        match tokio::time::timeout(deadline, driving).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(harness)) => CellOutcome::Harness(harness),
            Err(_elapsed) => CellOutcome::MissedDeadline(deadline),
        }
    }

    /// The verdict rules: a pass has no failure; a failed probe is blamed
    /// on the node its logs point at; anything else is the harness's.
    fn failure(self, spec: &CellSpec, logs: &[NodeLog]) -> Option<Failure> {
        let harness = Failure::harness;
        match self {
            CellOutcome::Passed => None,
            CellOutcome::Failed(observation) => {
                Some(explain_bypass(judge(observation, logs), spec, logs))
            }
            CellOutcome::Harness(detail) => Some(harness(detail)),
            CellOutcome::MissedDeadline(deadline) => Some(harness(format!(
                "the cell did not finish within its {}s deadline",
                deadline.as_secs()
            ))),
        }
    }
}

impl From<Result<(), Observation>> for CellOutcome {
    fn from(probed: Result<(), Observation>) -> CellOutcome {
        match probed {
            Ok(()) => CellOutcome::Passed,
            Err(observation) => CellOutcome::Failed(observation),
        }
    }
}

/// Runs one cell; a fallback's, one attempt per transport until one
/// passes (or the harness cannot judge).
pub(crate) async fn run(
    spec: &CellSpec,
    pki: &Arc<Pki>,
    options: &RunOptions,
    turn: &crate::Turn,
    lateness: &Lateness,
) -> CellResult {
    let TunnelSpec::Fallback(fallback) = &spec.tunnel else {
        return run_cell(spec, pki, options, turn, lateness).await;
    };
    let mut attempts = Vec::new();
    for transport in &fallback.transports {
        let attempt = Fallback::attempt(spec, transport);
        let result = run_cell(&attempt, pki, options, turn, lateness).await;
        let decided = result.verdict == Verdict::Pass || result.category == Some(Category::Harness);
        attempts.push(result);
        if decided {
            break;
        }
    }
    fallback.result(spec, attempts)
}

async fn run_cell(
    spec: &CellSpec,
    pki: &Arc<Pki>,
    options: &RunOptions,
    turn: &crate::Turn,
    lateness: &Lateness,
) -> CellResult {
    let started = Instant::now();
    let mark = lateness.mark();
    let tasks = Tasks::new();
    let idle = spec
        .scenario
        .probe
        .idle
        .map(|written| (options.time_scale.apply(written), written));
    let deadline = CELL_DEADLINE + idle.map_or(Duration::ZERO, |(wall, _)| wall);
    let mut gathered = Gathered::default();
    let outcome = CellOutcome::within(
        deadline,
        drive(spec, pki, options, turn, &tasks, idle, &mut gathered),
    )
    .await;
    let Gathered {
        logs,
        outputs,
        keepalives,
        keepalive_lateness,
        transport,
        paused,
        frames_sent,
    } = gathered;
    if !matches!(outcome, CellOutcome::Passed) {
        settle(&logs).await;
    }
    let all_ended = tasks.shutdown(TEARDOWN).await;
    if !all_ended {
        tracing::warn!(scenario = %spec.scenario.name, tunnel = spec.tunnel.name(), "cell tasks outlived teardown");
    }
    let logs: Vec<NodeLog> = logs
        .into_iter()
        .map(|(node, log): (String, TransactionLog)| NodeLog {
            node,
            records: log.snapshot(),
        })
        .collect();
    // A pass by the probe's bytes is a pass once the WebSocket's features
    // crossed the path too.
    let outcome = match (outcome, &spec.tunnel) {
        (CellOutcome::Passed, TunnelSpec::Builtin(configured)) => {
            websocket_features::confirm(configured, frames_sent.as_ref(), &logs).into()
        }
        (outcome, _) => outcome,
    };
    let behind = lateness.since(&mark);
    // What the starvation checks below weigh, for ci/oversubscribe.sh to
    // show beside a cell they left blamed on a node.
    tracing::debug!(
        scenario = %spec.scenario.name,
        tunnel = %spec.tunnel.name(),
        worst_ms = behind.worst.as_millis(),
        total_ms = behind.total.as_millis(),
        waited_ms = behind.waited.as_millis(),
        span_ms = started.elapsed().as_millis(),
        "cell lateness"
    );
    let failure = outcome
        .failure(spec, &logs)
        .map(|failure| starved_keepalive(failure, keepalive_lateness))
        .map(|failure| {
            // Before its pause the probe is never silent on purpose: a cut
            // during a handshake or an echo leaves it nothing to mean.
            let silence = Silence {
                pause: idle.filter(|_| paused).map(|(wall, _)| wall),
                keepalive_every: keepalive_lateness.map(|(every, _)| every),
            };
            starved_silence(failure, &logs, silence, behind)
        })
        .map(|failure| {
            let hold = spec
                .tunnel
                .holds_requests()
                .map(|hold| options.time_scale.apply(hold));
            starved_answer(failure, &logs, hold, behind)
        })
        .map(|failure| {
            starved_clock(
                failure,
                &logs,
                behind,
                options.step_timeout,
                started.elapsed(),
            )
        });
    let poisoned = poisoning(&logs);
    let poisonable = has_cache(&spec.scenario).then_some(poisoned.is_some());
    // A pass that an idle timer nearly cut says so: it may not pass on a
    // real network. A failure's reason is what matters there.
    let close_call = failure.is_none().then(|| close_call(&logs)).flatten();
    let notes: Vec<String> = [
        failure.as_ref().map(|failure| failure.detail.clone()),
        close_call,
        poisoned,
    ]
    .into_iter()
    .flatten()
    .collect();
    let detail = notes.join("; ");
    CellResult {
        cell: spec.index,
        scenario: spec.scenario.name.clone(),
        tunnel: spec.tunnel.name().to_string(),
        poisonable,
        verdict: if failure.is_none() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        expected: spec.scenario.expectation(spec.tunnel.name()),
        category: failure.as_ref().map(|failure| failure.category),
        status: failure.as_ref().and_then(|failure| failure.status),
        blame: failure.as_ref().map(|failure| failure.blame.clone()),
        detail,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        weight: spec.scenario.weight,
        keepalives,
        transport: failure.is_none().then_some(transport).flatten(),
        logs,
        output: outputs,
    }
}

/// Lets nodes record their last decisions before blame is judged: from the
/// client inward, each undecided node gets until the deadline, and once a
/// node holds a fault, those behind it cannot change the verdict.
async fn settle(logs: &[(String, TransactionLog)]) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    for (_, log) in logs {
        if log.first_fault().is_some() {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        log.settle(left).await;
        if log.first_fault().is_some() {
            return;
        }
    }
}

/// An explicit proxy that saw nothing while the client failed: the client
/// did not use it, and the network refuses everything else.
fn explain_bypass(mut failure: Failure, spec: &CellSpec, logs: &[NodeLog]) -> Failure {
    let proxy = spec
        .scenario
        .hops
        .first()
        .filter(|hop| hop.kind.is_explicit_proxy());
    let unused = proxy
        .and_then(|hop| logs.iter().find(|log| log.node == hop.name))
        .is_some_and(|log| log.records.is_empty());
    if unused && failure.blame == "client" {
        failure.detail += "; the explicit proxy saw no connection: the tunnel's client did not use it, \
                           and the network refuses direct connections";
    }
    failure
}

/// The longest gap between two moves in the step just done, in
/// microseconds: what `ci/oversubscribe.sh` measures [`QUIET`] against.
fn deadlock_gap(plan: &ProbePlan) -> u64 {
    plan.deadlock.as_ref().map_or(0, |watch| {
        u64::try_from(watch.clock.longest_gap().as_micros()).unwrap_or(u64::MAX)
    })
}

/// Whether a hop on the path is a cache that may be poisoned.
fn has_cache(scenario: &traverse_scenario::Scenario) -> bool {
    scenario.hops.iter().any(|hop| hop.kind.caches())
}

/// Which cache, if any, read the attacker's request as its own, and for what.
fn poisoning(logs: &[NodeLog]) -> Option<String> {
    logs.iter().find_map(|log| {
        log.records.iter().find_map(|record| {
            record.cache_poisoned.as_ref().map(|url| {
                format!(
                    "poisonable: {} read bytes inside the tunnel as a request for {url} and would cache the answer",
                    log.node
                )
            })
        })
    })
}

/// The hop whose idle timer came closest to cutting, if that was a close
/// call (see [`traverse_net::IdleTimerLeft::is_close_call`]).
fn close_call(logs: &[NodeLog]) -> Option<String> {
    let timers = logs.iter().flat_map(|log| {
        log.records
            .iter()
            .filter_map(move |record| record.idle_timer.map(|timer| (&log.node, timer)))
    });
    let (node, timer) = timers
        .filter(|(_, timer)| timer.is_close_call())
        .min_by_key(|(_, timer)| timer.least_left_ms)?;
    Some(format!(
        "close call: {node}'s {} idle timer had {} left when a byte reset it; \
         on a real network, latency decides whether the byte or the cut comes first",
        format_millis(timer.limit_ms),
        format_millis(timer.least_left_ms),
    ))
}

/// Scenario milliseconds as the scenario would write them.
fn format_millis(millis: u64) -> String {
    traverse_scenario::format_duration(Duration::from_millis(millis))
}

/// The result of a cell the harness itself could not run.
pub(crate) fn harness_failure(spec: &CellSpec, why: &str) -> CellResult {
    CellResult {
        cell: spec.index,
        scenario: spec.scenario.name.clone(),
        tunnel: spec.tunnel.name().to_string(),
        verdict: Verdict::Fail,
        expected: spec.scenario.expectation(spec.tunnel.name()),
        category: Some(Category::Harness),
        status: None,
        blame: Some("harness".to_string()),
        detail: format!("the harness failed while running this cell: {why}"),
        poisonable: None,
        duration_ms: 0,
        weight: spec.scenario.weight,
        keepalives: None,
        transport: None,
        logs: Vec::new(),
        output: BTreeMap::new(),
    }
}

/// What a cell gathers as it goes, kept however it ends: every node's
/// log, what an external tunnel printed, the keepalives answered.
#[derive(Default)]
struct Gathered {
    logs: Vec<(String, TransactionLog)>,
    outputs: BTreeMap<String, String>,
    keepalives: Option<u64>,
    /// The keepalive interval in wall time, and the most one went out late.
    keepalive_lateness: Option<(Duration, Duration)>,
    /// The transport an external client half said it used last.
    transport: Option<String>,
    /// Whether the probe had begun its idle pause.
    paused: bool,
    /// The WebSocket frames a built-in WebSocket client sent.
    frames_sent: Option<FrameSummary>,
}

/// Builds the topology and probes it. An error is the harness's own
/// failure; what the tunnel went through is in the outcome.
async fn drive(
    spec: &CellSpec,
    pki: &Arc<Pki>,
    options: &RunOptions,
    turn: &crate::Turn,
    tasks: &Tasks,
    idle: Option<(Duration, Duration)>,
    gathered: &mut Gathered,
) -> Result<CellOutcome, String> {
    let Gathered {
        logs,
        outputs,
        keepalives,
        keepalive_lateness,
        transport,
        paused,
        frames_sent,
    } = gathered;
    let scenario = &spec.scenario;
    let activity = ActivityClock::new();
    let echo = traverse_tunnel::start_echo(tasks, &activity)
        .await
        .map_err(|error| format!("cannot start the echo app: {error}"))?;
    let origin_leaf = pki.origin(scenario.origin.certificate);
    let origin_log = TransactionLog::with_activity(activity.clone());
    let mut external = None;
    let mut next = match &spec.tunnel {
        TunnelSpec::Builtin(configured) => traverse_tunnel::serve_origin(
            configured.tunnel.protocol,
            OriginContext {
                tls: origin_leaf
                    .server_config("origin")
                    .map_err(|error| error.to_string())?,
                target: echo,
                log: origin_log.clone(),
                tasks: tasks.clone(),
                step_timeout: options.step_timeout,
                time_scale: options.time_scale,
            },
        )
        .await
        .map_err(|error| format!("cannot start the origin: {error}"))?,
        TunnelSpec::External(definition) => {
            let (cell, endpoints) = ExternalCell::start(
                definition,
                pki,
                origin_leaf,
                echo,
                tasks,
                &activity,
                options.time_scale,
            )
            .await?;
            external = Some(cell);
            endpoints
        }
        TunnelSpec::Fallback(_) => {
            return Err("a fallback runs one transport at a time, never as a whole".to_string());
        }
    };

    // Hops are started from the origin outward so each knows its next node.
    let mut hop_logs = Vec::new();
    let mut handles = Vec::new();
    let mut proxy = None;
    for hop in scenario.hops.iter().rev() {
        let log = TransactionLog::with_activity(activity.clone());
        let handle = traverse_middlebox::start(
            hop,
            HopContext {
                name: hop.name.clone(),
                next: next.clone(),
                pki: pki.clone(),
                time_scale: options.time_scale,
                log: log.clone(),
                tasks: tasks.clone(),
                step_timeout: options.step_timeout,
                bind: Default::default(),
            },
        )
        .await
        .map_err(|error| error.to_string())?;
        if hop.kind.is_explicit_proxy() {
            // Clients are configured with an explicit proxy; the names on
            // the path still lead where they did.
            let addr = handle
                .endpoints
                .get(PROXY_PORT)
                .ok_or_else(|| format!("hop {} has no proxy listener", hop.name))?;
            let credentials = match &scenario.client.proxy_auth {
                Some(configured) => configured.clone(),
                None => hop.kind.proxy_credentials().cloned(),
            };
            proxy = Some(ExplicitProxy { addr, credentials });
        } else {
            next = handle.endpoints.clone();
        }
        hop_logs.push((hop.name.clone(), log));
        handles.push(handle);
    }
    logs.extend(hop_logs.into_iter().rev());
    logs.push(("origin".to_string(), origin_log));

    // Behind an explicit proxy the network lets nothing else out: a client
    // that ignores the proxy and dials the origin's name is refused.
    let firewall = match &proxy {
        Some(_) => Some(ClosedPort::new().map_err(|error| error.to_string())?),
        None => None,
    };
    let connect_to = match &firewall {
        Some(refusing) => refusing.addr(),
        None => next
            .get(spec.tunnel.port())
            .ok_or_else(|| format!("no endpoint for logical port {}", spec.tunnel.port()))?,
    };
    let deadlock = QuietWatch {
        clock: activity,
        period: QUIET,
        waits: Some(traverse_net::run_queue_wait),
    };
    let path = ClientPath {
        connect_to,
        verifying: pki.verifying_client(),
        pinning: pki.pinning_client(&origin_leaf.cert),
        step_timeout: options.step_timeout,
        proxy,
        deadlock: Some(deadlock.clone()),
    };
    let plan = ProbePlan {
        idle,
        step_timeout: options.step_timeout,
        poison: has_cache(&spec.scenario),
        deadlock: Some(deadlock),
        turn: turn.clone(),
        paused: Default::default(),
    };
    let result = match (&spec.tunnel, external.as_mut()) {
        (TunnelSpec::External(_), Some(cell)) => {
            match cell.connect(path.connect_to, path.proxy.as_ref()).await? {
                Ok(connection) => probe(connection, &plan).await,
                Err(observation) => Err(observation),
            }
        }
        (TunnelSpec::Builtin(configured), _) => {
            let keepalive = configured
                .keepalive
                .map(|keepalive| keepalive.scaled(options.time_scale));
            let connected = configured
                .tunnel
                .connect(&path, keepalive, &configured.websocket)
                .await;
            tracing::debug!(
                step = "the tunnel handshake",
                longest_gap_us = deadlock_gap(&plan),
                ok = connected.is_ok(),
                "probe step"
            );
            match connected {
                Ok(connection) => {
                    let stats = connection.keepalives.clone();
                    let sent = connection.frames_sent.clone();
                    let result = probe(connection, &plan).await;
                    *frames_sent = sent.map(|sent| {
                        sent.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .clone()
                    });
                    // The kernel's probes are not the harness's to count.
                    let sent =
                        keepalive.filter(|keepalive| keepalive.kind != KeepaliveKind::TcpKeepalive);
                    *keepalives = sent.map(|_| stats.answered.load(Ordering::Relaxed));
                    *keepalive_lateness = sent.map(|keepalive| {
                        let late = stats.latest_us.load(Ordering::Relaxed);
                        (keepalive.every, Duration::from_micros(late))
                    });
                    result
                }
                Err(error) => Err(Observation::from(&error)),
            }
        }
        (TunnelSpec::External(_), None) => {
            return Err("the external tunnel never started".to_string());
        }
        (TunnelSpec::Fallback(_), _) => {
            return Err("a fallback runs one transport at a time, never as a whole".to_string());
        }
    };
    *paused = plan.paused.load(Ordering::Relaxed);
    if let Some(cell) = &external {
        *transport = cell.transport();
        if result.is_err() {
            outputs.extend(cell.outputs());
        }
    }
    drop(handles);
    Ok(result.into())
}
