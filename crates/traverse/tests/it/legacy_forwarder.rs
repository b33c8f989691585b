//! Every `body` of `legacy-forwarder`, with the hixie-76 tunnel whose
//! undeclared key bytes tell them apart, and the tunnels that carry no
//! such bytes.

use std::time::Duration;

use traverse_runner::RunOptions;

use crate::support::{assert_cells, run, scenario};

#[tokio::test]
async fn declared_only_drops_the_key_bytes_and_the_handshake_times_out() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "nginx"
        body = "declared-only"
    "#;
    assert_cells(
        topology,
        &["tcp", "ws", "hixie76"],
        &[
            "tcp fail refused 400 blame=nginx",
            "ws pass",
            "hixie76 fail timeout 504 blame=nginx",
        ],
    )
    .await;
    let results = run(topology, &["hixie76"]).await;
    assert!(
        results[0]
            .detail
            .contains("dropped 8 bytes that followed the request headers with no Content-Length"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn hold_until_response_deadlocks_the_handshake() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "haproxy"
        body = "hold-until-response"
    "#;
    assert_cells(
        topology,
        &["ws", "hixie76"],
        &["ws pass", "hixie76 fail timeout 504 blame=haproxy"],
    )
    .await;
    let results = run(topology, &["hixie76"]).await;
    assert!(
        results[0].detail.contains("holding 8 bytes"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn forward_passes_hixie76_through() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        body = "forward"
    "#;
    assert_cells(topology, &["hixie76", "ws"], &["hixie76 pass", "ws pass"]).await;
}

#[tokio::test]
async fn tls_is_not_its_business() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
    "#;
    assert_cells(topology, &["tls", "wss"], &["tls pass", "wss pass"]).await;
}

#[tokio::test]
async fn every_body_mode_ends_a_hixie76_cell_within_its_deadline() {
    // The runner itself must never hang on a deadlocked handshake.
    for body in ["declared-only", "hold-until-response", "forward"] {
        let topology = scenario(&format!(
            "[[hops]]\nkind = \"legacy-forwarder\"\nbody = \"{body}\"\n"
        ));
        let tunnel = traverse_tunnel::find("hixie76").expect("hixie76");
        let cells = traverse_runner::plan(&[topology], &[tunnel]);
        let options = RunOptions {
            step_timeout: Duration::from_millis(500),
            ..RunOptions::default()
        };
        let run = traverse_runner::run(cells, &options, |_| {});
        let results = tokio::time::timeout(Duration::from_secs(15), run)
            .await
            .unwrap_or_else(|_| panic!("body = {body}: the run did not end"))
            .expect("run");
        assert_eq!(results.len(), 1, "body = {body}");
    }
}

#[tokio::test]
async fn hixie76_at_an_l7_load_balancer_is_held_like_haproxy_held_it() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        websocket = true
    "#;
    assert_cells(topology, &["hixie76"], &["hixie76 fail timeout blame=lb"]).await;
}
