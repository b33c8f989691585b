//! The real products are the judge: the same topology once with a mock and
//! once with the real program from the distribution's packages, every
//! tunnel through both, and the verdicts must agree. Where they differ, the
//! mock is wrong.

use crate::support::{require, run};

/// The tunnels a plain-HTTP reverse proxy sees the bytes of.
const TUNNELS: [&str; 4] = ["tcp", "ws", "ws-unmasked", "hixie76"];

async fn assert_parity(real: &str, mock: &str) {
    assert_parity_with(real, mock, &TUNNELS).await;
}

#[tokio::test]
async fn nginx_with_its_defaults_is_an_http_1_0_proxy_that_strips_upgrade() {
    require("nginx");
    assert_parity(
        r#"
        [[hops]]
        kind = "external"
        name = "nginx"
        preset = "nginx"
        "#,
        r#"
        [[hops]]
        kind = "transparent"
        name = "nginx"
        upgrade = "strip"
        http_version = "1.0"
        "#,
    )
    .await;
}

#[tokio::test]
async fn nginx_configured_for_websocket_passes_it_and_drops_hixie76_key_bytes() {
    require("nginx");
    assert_parity(
        r#"
        [[hops]]
        kind = "external"
        name = "nginx"
        preset = "nginx-websocket"
        "#,
        r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "nginx"
        body = "declared-only"
        "#,
    )
    .await;
}

/// Every tunnel: these presets serve both logical ports.
const ALL: [&str; 7] = [
    "tcp",
    "tls",
    "ws",
    "wss",
    "ws-unmasked",
    "wss-unmasked",
    "hixie76",
];

async fn assert_parity_with(real: &str, mock: &str, tunnels: &[&str]) {
    let verdicts = |cells: &[traverse_runner::CellResult]| -> Vec<String> {
        cells
            .iter()
            .map(|cell| {
                let category = cell.category.map_or("", |category| category.as_str());
                format!("{} {} {category}", cell.tunnel, cell.verdict.as_str())
            })
            .collect()
    };
    let real_cells = run(real, tunnels).await;
    let mock_cells = run(mock, tunnels).await;
    assert_eq!(
        verdicts(&real_cells),
        verdicts(&mock_cells),
        "the mock disagrees with the real product\nreal:\n{real}\nmock:\n{mock}\nreal details:\n{}",
        real_cells
            .iter()
            .map(|cell| format!("  {}: {}", cell.tunnel, cell.detail))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn haproxy_in_mode_http_terminates_tls_passes_websocket_and_rejects_hixie76() {
    require("haproxy");
    assert_parity_with(
        r#"
        [[hops]]
        kind = "external"
        name = "haproxy"
        preset = "haproxy-http"
        "#,
        r#"
        [[hops]]
        kind = "tls-terminator"
        name = "haproxy"
        websocket = true
        backend = "tls"
        undeclared_bytes = "reject"
        "#,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn haproxy_in_mode_tcp_is_invisible_to_every_tunnel() {
    require("haproxy");
    assert_parity_with(
        r#"
        [[hops]]
        kind = "external"
        name = "haproxy"
        preset = "haproxy-tcp"
        "#,
        "",
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn squid_with_the_stock_connect_rule_tunnels_only_to_443() {
    require("squid");
    assert_parity_with(
        r#"
        [[hops]]
        kind = "external"
        name = "squid"
        preset = "squid"
        "#,
        r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443]
        "#,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn squid_is_blamed_for_its_own_refusals() {
    require("squid");
    let results = run(
        r#"
        [[hops]]
        kind = "external"
        name = "squid"
        preset = "squid"
        "#,
        &["ws", "wss"],
    )
    .await;
    assert_eq!(
        results[0].blame.as_deref(),
        Some("squid"),
        "{}",
        results[0].detail
    );
    assert_eq!(results[0].status, Some(403));
    assert_eq!(results[1].verdict.as_str(), "pass", "{}", results[1].detail);
}
