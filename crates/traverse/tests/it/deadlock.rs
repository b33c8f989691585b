//! Deadlocks seen without waiting: a handshake that nothing in the topology
//! is working on any more is decided as `timeout` once nothing has moved
//! anywhere for the quiet period, blamed as a timeout would be, while a hop
//! whose own timer will act within the step is waited for and its answer
//! reported. The step timeout here is 10 s, so a cell decided as a deadlock
//! is unmistakably quicker than one that waited the step out.

use std::time::Duration;

use traverse_runner::RunOptions;

use crate::support::{scenario, summary};

/// One cell and what it must come to.
struct Case {
    topology: &'static str,
    tunnel: &'static str,
    /// Verdict, category with status, blame, as `support::summary` writes it.
    expected: &'static str,
    /// How the detail begins: what the client saw.
    detail_starts: &'static str,
    /// What the blamed hop's record says, somewhere in the detail.
    detail_has: &'static str,
    /// The least the cell can take: a hop's timer it must wait for.
    at_least: Duration,
}

const STEP_TIMEOUT: Duration = Duration::from_secs(10);

const DEADLOCKED: &str =
    "no byte moved anywhere in the topology for 150ms during the tunnel handshake";

const CASES: &[Case] = &[
    // nginx dropping the key bytes, with a read timeout far past the step
    // (2000 s scaled is 20 s): no timer of the hop's will ever answer.
    Case {
        topology: r#"
            [[hops]]
            kind = "legacy-forwarder"
            name = "nginx"
            body = "declared-only"
            read_timeout = "2000s"
        "#,
        tunnel: "hixie76",
        expected: "hixie76 fail timeout blame=nginx",
        detail_starts: DEADLOCKED,
        detail_has: "nginx: dropped 8 bytes that followed the request headers",
        at_least: Duration::ZERO,
    },
    // hyper holding the key bytes until the origin answers the handshake,
    // which waits for them.
    Case {
        topology: r#"
            [[hops]]
            kind = "transparent"
            name = "proxy"
            upgrade = "forward"
        "#,
        tunnel: "hixie76",
        expected: "hixie76 fail timeout blame=proxy",
        detail_starts: DEADLOCKED,
        detail_has: "proxy: holding 8 bytes that followed the request headers",
        at_least: Duration::ZERO,
    },
    // The same hold behind a forwarder whose read timeout (100 s, 1 s
    // scaled) fires within the step: the topology is still, but the hop is
    // waiting on its own timer, and its 504 is the answer.
    Case {
        topology: r#"
            [[hops]]
            kind = "legacy-forwarder"
            name = "haproxy"
            body = "hold-until-response"
            read_timeout = "100s"
        "#,
        tunnel: "hixie76",
        expected: "hixie76 fail timeout 504 blame=haproxy",
        detail_starts: "answered HTTP 504 Gateway Timeout to the hixie-76 handshake",
        detail_has: "haproxy: holding 8 bytes",
        at_least: Duration::from_secs(1),
    },
];

#[tokio::test]
async fn a_still_topology_is_a_deadlock_unless_a_hop_waits_on_its_own_timer() {
    let options = RunOptions {
        step_timeout: STEP_TIMEOUT,
        ..RunOptions::default()
    };
    let tunnel = traverse_tunnel::find("hixie76").expect("hixie76");
    let scenarios: Vec<_> = CASES.iter().map(|case| scenario(case.topology)).collect();
    let cells = traverse_runner::plan(&scenarios, &[tunnel]);
    let results = traverse_runner::run(cells, &options, |_| {})
        .await
        .expect("run");
    for (case, cell) in CASES.iter().zip(&results) {
        assert_eq!(case.tunnel, cell.tunnel);
        let context = format!("topology:{}detail: {}", case.topology, cell.detail);
        assert_eq!(summary(cell), case.expected, "{context}");
        assert!(cell.detail.starts_with(case.detail_starts), "{context}");
        assert!(cell.detail.contains(case.detail_has), "{context}");
        let took = Duration::from_millis(cell.duration_ms);
        assert!(
            took >= case.at_least && took < STEP_TIMEOUT / 2,
            "took {took:?}; {context}"
        );
    }
}
