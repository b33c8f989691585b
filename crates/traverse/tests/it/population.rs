//! The port-80 population of 2010 (populations/port80-2010): its weights
//! are shares of one measured population of clients, so its weighted
//! success rates must come out as the measurement did, POST-based
//! long-polling above Upgrade-based WebSocket in the measured proportion.

use traverse_runner::{RunOptions, TunnelSpec};

use crate::support::{assert_as_expected, repo_root};

/// Huang et al., W2SP 2011: 49,218 POST-based and 47,338 Upgrade-based
/// handshakes succeeded, of 54,534 on port 80.
const POST_SUCCEEDED: f64 = 49_218.0;
const UPGRADE_SUCCEEDED: f64 = 47_338.0;

#[tokio::test]
async fn long_polling_gets_through_more_of_the_2010_population_than_websocket() {
    let folder = repo_root().join("populations/port80-2010");
    let scenarios = traverse_scenario::load_all(&[folder])
        .unwrap_or_else(|errors| panic!("the population set is invalid: {errors:?}"));
    let known: Vec<TunnelSpec> = traverse_tunnel::BUILTIN
        .iter()
        .copied()
        .map(TunnelSpec::from)
        .collect();
    let tunnels: Vec<TunnelSpec> = ["ws", "long-poll", "fallback(ws,long-poll)"]
        .iter()
        .map(|name| TunnelSpec::resolve(name, &known).expect("a built-in tunnel"))
        .collect();
    let cells = traverse_runner::plan(&scenarios, &tunnels);
    let results = traverse_runner::run(cells, &RunOptions::default(), |_| {})
        .await
        .expect("run");
    assert_as_expected(&results);

    let summary = traverse_report::Summary::of(&results);
    let weighted = |tunnel: &str| summary.tunnels[tunnel].weighted_success_rate;
    assert_eq!(weighted("long-poll"), 1.0, "long-poll: {summary:?}");
    assert_eq!(
        weighted("fallback(ws,long-poll)"),
        1.0,
        "fallback: {summary:?}"
    );
    // The set leaves out the clients no handshake reached (see its
    // README), so its rates are the measured ones relative to POST's.
    let measured = UPGRADE_SUCCEEDED / POST_SUCCEEDED;
    assert!(
        (weighted("ws") - measured).abs() < 0.001,
        "ws is weighted {:.4}, the measurement {measured:.4}",
        weighted("ws")
    );
    // The fallback gets through by long-polling exactly where ws fails.
    let via_long_poll: Vec<&str> = results
        .iter()
        .filter(|cell| cell.transport.as_deref() == Some("long-poll"))
        .map(|cell| cell.scenario.as_str())
        .collect();
    assert_eq!(
        via_long_poll,
        ["http10-cache-strips-upgrade", "proxy-refuses-upgrade"]
    );
}
