//! Every option of `transparent`, each as a topology, the tunnels driven
//! through it, and the verdicts expected.

use crate::support::{assert_cells, run};

const ALL: [&str; 4] = ["tcp", "tls", "ws", "wss"];

#[tokio::test]
async fn upgrade_forward_passes_websocket_and_refuses_raw_bytes() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        upgrade = "forward"
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 400 blame=proxy",
            "tls pass",
            "ws pass",
            "wss pass",
        ],
    )
    .await;
}

#[tokio::test]
async fn upgrade_strip_breaks_plain_websocket_only() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        upgrade = "strip"
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &["ws fail refused 426 blame=proxy", "wss pass"],
    )
    .await;
}

#[tokio::test]
async fn upgrade_reject_answers_400_itself() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        upgrade = "reject"
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &["ws fail refused 400 blame=proxy", "wss pass"],
    )
    .await;
}

#[tokio::test]
async fn http_1_0_upstream_cannot_carry_the_upgrade() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        upgrade = "forward"
        http_version = "1.0"
    "#;
    assert_cells(topology, &["ws"], &["ws fail refused 426 blame=proxy"]).await;
    let results = run(topology, &["ws"]).await;
    assert!(
        results[0].detail.contains("HTTP/1.0"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn tls_block_resets_every_tls_transport() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "firewall"
        upgrade = "forward"
        tls = "block"
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 400 blame=firewall",
            "tls fail blocked blame=firewall",
            "ws pass",
            "wss fail blocked blame=firewall",
        ],
    )
    .await;
}

#[tokio::test]
async fn tls_inspect_breaks_pinning_but_passes_a_managed_client() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "swg"
        upgrade = "forward"
        tls = "inspect"
    "#;
    assert_cells(
        topology,
        &["tls", "wss"],
        &["tls fail tls blame=swg", "wss pass"],
    )
    .await;
    let results = run(topology, &["wss"]).await;
    let record = &results[0].logs[0].records[0];
    assert_eq!(
        serde_json::to_value(record.protocol).expect("json"),
        "websocket-tls"
    );
}

#[tokio::test]
async fn tls_inspect_applies_the_http_rules_inside_tls() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "swg"
        upgrade = "strip"
        tls = "inspect"
    "#;
    assert_cells(topology, &["wss"], &["wss fail refused 426 blame=swg"]).await;
}

#[tokio::test]
async fn tls_inspect_validates_the_origin_certificate() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "swg"
        upgrade = "forward"
        tls = "inspect"

        [origin]
        certificate = "self-signed"
    "#;
    assert_cells(topology, &["wss"], &["wss fail refused 502 blame=swg"]).await;
}

#[tokio::test]
async fn websocket_block_rules_block_by_host() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "swg"
        upgrade = "forward"
        tls = "inspect"
        websocket_block = ["origin.test"]
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &[
            "ws fail blocked 403 blame=swg",
            "wss fail blocked 403 blame=swg",
        ],
    )
    .await;
}

#[tokio::test]
async fn websocket_allow_rules_block_every_other_host() {
    let allowed_elsewhere = r#"
        [[hops]]
        kind = "transparent"
        name = "swg"
        upgrade = "forward"
        websocket_allow = ["chat.example"]
    "#;
    assert_cells(
        allowed_elsewhere,
        &["ws"],
        &["ws fail blocked 403 blame=swg"],
    )
    .await;
    let allowed_here = r#"
        [[hops]]
        kind = "transparent"
        upgrade = "forward"
        websocket_allow = ["origin.test"]
    "#;
    assert_cells(allowed_here, &["ws"], &["ws pass"]).await;
}

#[tokio::test]
async fn idle_timeout_cuts_passed_through_tls_and_upgraded_websockets() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        upgrade = "forward"
        idle_timeout = "60s"

        [probe]
        idle = "90s"
    "#;
    assert_cells(
        topology,
        &["tls", "ws"],
        &[
            "tls fail idle-cut blame=proxy",
            "ws fail idle-cut blame=proxy",
        ],
    )
    .await;
}

#[tokio::test]
async fn ports_it_does_not_intercept_pass_untouched() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        tls = "block"
        ports = [80]
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &["ws fail refused 426 blame=proxy", "wss pass"],
    )
    .await;
}
