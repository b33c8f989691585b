//! Every option of `tls-terminator`, each as a topology, the tunnels driven
//! through it, and the verdicts expected: `tunnel verdict [category status]
//! blame=node`.

use crate::support::{assert_cells, run};

const ALL: [&str; 4] = ["tcp", "tls", "ws", "wss"];

#[tokio::test]
async fn direct_path_passes_every_tunnel() {
    assert_cells("", &ALL, &["tcp pass", "tls pass", "ws pass", "wss pass"]).await;
}

#[tokio::test]
async fn http_mode_without_websocket_refuses_raw_bytes_and_strips_the_upgrade() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        mode = "http"
        websocket = false
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 400 blame=f5",
            "tls fail tls blame=f5",
            "ws fail refused 426 blame=f5",
            "wss fail refused 426 blame=f5",
        ],
    )
    .await;
}

#[tokio::test]
async fn http_mode_with_websocket_passes_websocket_only() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        websocket = true
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 400 blame=f5",
            "tls fail tls blame=f5",
            "ws pass",
            "wss pass",
        ],
    )
    .await;
}

#[tokio::test]
async fn tcp_mode_passes_everything_but_a_pinned_client() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "offload"
        mode = "tcp"
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp pass",
            "tls fail tls blame=offload",
            "ws pass",
            "wss pass",
        ],
    )
    .await;
}

#[tokio::test]
async fn plain_backend_reaches_the_origin_over_port_80() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "flexible"
        websocket = true
        backend = "plain"
    "#;
    assert_cells(topology, &["wss"], &["wss pass"]).await;
}

#[tokio::test]
async fn tls_backend_does_not_check_the_origin_certificate() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "full"
        websocket = true
        backend = "tls"

        [origin]
        certificate = "self-signed"
    "#;
    assert_cells(topology, &["wss"], &["wss pass"]).await;
}

#[tokio::test]
async fn tls_verify_backend_refuses_a_self_signed_origin_with_502() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "strict"
        websocket = true
        backend = "tls-verify"

        [origin]
        certificate = "self-signed"
    "#;
    assert_cells(topology, &["wss"], &["wss fail refused 502 blame=strict"]).await;
    let results = run(topology, &["wss"]).await;
    assert!(
        results[0].detail.contains("unknown issuer"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn tls_verify_backend_accepts_a_publicly_trusted_origin() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "strict"
        websocket = true
        backend = "tls-verify"
    "#;
    assert_cells(topology, &["wss"], &["wss pass"]).await;
}

#[tokio::test]
async fn idle_timeout_cuts_a_quiet_websocket_and_says_so() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "cloudflare"
        websocket = true
        idle_timeout = "100s"

        [probe]
        idle = "150s"
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &[
            "ws fail idle-cut blame=cloudflare",
            "wss fail idle-cut blame=cloudflare",
        ],
    )
    .await;
    let results = run(topology, &["wss"]).await;
    assert!(
        results[0].detail.contains("after 100s without traffic"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn idle_timeout_spares_a_connection_quiet_for_less() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        websocket = true
        idle_timeout = "100s"

        [probe]
        idle = "40s"
    "#;
    assert_cells(topology, &["wss"], &["wss pass"]).await;
}

#[tokio::test]
async fn idle_timeout_also_applies_in_tcp_mode() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "nlb"
        mode = "tcp"
        idle_timeout = "100s"

        [probe]
        idle = "150s"
    "#;
    assert_cells(topology, &["tcp"], &["tcp fail idle-cut blame=nlb"]).await;
}

#[tokio::test]
async fn a_port_without_a_listener_refuses_the_connection() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        websocket = true
        ports = [443]
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &["ws fail refused blame=f5", "wss pass"],
    )
    .await;
}

#[tokio::test]
async fn a_self_signed_origin_fails_a_verifying_client_and_is_blamed() {
    let topology = r#"
        [origin]
        certificate = "self-signed"
    "#;
    assert_cells(
        topology,
        &["tls", "wss"],
        &["tls pass", "wss fail tls blame=origin"],
    )
    .await;
}

#[tokio::test]
async fn in_a_chain_the_first_hop_that_breaks_the_traffic_is_blamed() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "cloudflare"
        websocket = true

        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        websocket = false
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &[
            "ws fail refused 426 blame=f5",
            "wss fail refused 426 blame=f5",
        ],
    )
    .await;
}

#[tokio::test]
async fn failing_cells_carry_the_blamed_hops_transaction_log() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "f5"
    "#;
    let results = run(topology, &["tcp"]).await;
    let log = results[0].blamed_log().expect("the blamed hop's log");
    assert_eq!(log.node, "f5");
    let record = &log.records[0];
    assert_eq!(record.status, Some(400));
    assert_eq!(record.port, 80);
    assert!(
        record.first_bytes.starts_with("00 00 00 10"),
        "{}",
        record.first_bytes
    );
    assert!(record.bytes_down > 0, "the 400 response was written back");
}

#[tokio::test]
async fn cloudflare_full_strict_answers_526_for_a_self_signed_origin() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "cloudflare"
        vendor = "cloudflare"
        websocket = true
        backend = "tls-verify"

        [origin]
        certificate = "self-signed"
    "#;
    assert_cells(
        topology,
        &["wss"],
        &["wss fail refused 526 blame=cloudflare"],
    )
    .await;
}

#[tokio::test]
async fn cloudflare_answers_521_when_the_next_node_refuses_the_connection() {
    // Flexible goes on to port 80, where the load balancer behind has no
    // listener.
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "cloudflare"
        vendor = "cloudflare"
        websocket = true
        backend = "plain"

        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        ports = [443]
    "#;
    assert_cells(
        topology,
        &["wss"],
        &["wss fail refused 521 blame=cloudflare"],
    )
    .await;
}

#[tokio::test]
async fn cloudflare_answers_524_when_no_response_head_comes_within_its_read_timeout() {
    // The hop holds hixie-76's key bytes, so the origin never answers the
    // handshake: after the read timeout (120 s, 1.2 s scaled) the edge
    // answers 524, a timeout, blamed on the edge that held the bytes.
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "cloudflare"
        vendor = "cloudflare"
        websocket = true
    "#;
    assert_cells(
        topology,
        &["hixie76"],
        &["hixie76 fail timeout 524 blame=cloudflare"],
    )
    .await;
    let results = run(topology, &["hixie76"]).await;
    assert!(
        results[0].detail.contains("holding 8 bytes"),
        "{}",
        results[0].detail
    );
}
