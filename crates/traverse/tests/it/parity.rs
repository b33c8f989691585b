//! The real products are the judge: the same topology once with a mock and
//! once with the real program from the distribution's packages, every
//! tunnel through both, and the verdicts must agree. Where they differ, the
//! mock is wrong.

use crate::support::{assert_cells, require, run};

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

/// HAProxy in `mode http` with `timeout tunnel 1s` in its own config: after
/// the 101 it is in tunnel mode, and a second with no byte either way
/// closes the connection with a plain FIN (no WebSocket close frame).
/// Real programs' timeouts are wall time, so the probe's pause (200 s of
/// scenario time, 2 s at the default scale) outlasts it.
const HAPROXY_TUNNEL_1S: &str = r#"
[[hops]]
kind = "external"
name = "haproxy"
command = ["haproxy", "-db", "-f", "{config}"]
ports = [443, 80]
config = """
global
    log stderr format raw local0 warning
    pidfile {dir}/haproxy.pid
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1s
frontend https
    bind {listen_443} ssl crt {cert_key_pem}
    default_backend origin_tls
frontend http
    bind {listen_80}
    default_backend origin_plain
backend origin_tls
    server origin {upstream_443} ssl verify none
backend origin_plain
    server origin {upstream_80}
"""

[probe]
idle = "200s"
"#;

#[tokio::test]
async fn haproxy_cutting_a_quiet_websocket_reads_as_an_idle_cut_blamed_on_it() {
    require("haproxy");
    assert_cells(
        HAPROXY_TUNNEL_1S,
        &["ws", "wss"],
        &[
            "ws fail idle-cut blame=haproxy",
            "wss fail idle-cut blame=haproxy",
        ],
    )
    .await;
    let cells = run(HAPROXY_TUNNEL_1S, &["ws"]).await;
    assert!(
        cells[0]
            .detail
            .contains("haproxy closed the connection after 1.")
            && cells[0].detail.contains("in which no byte moved"),
        "{}",
        cells[0].detail
    );
    // The mock with the same timer (100 s of scenario time is 1 s) agrees.
    assert_parity_with(
        HAPROXY_TUNNEL_1S,
        r#"
        [[hops]]
        kind = "tls-terminator"
        name = "haproxy"
        websocket = true
        backend = "tls"
        idle_timeout = "100s"

        [probe]
        idle = "200s"
        "#,
        &["ws", "wss"],
    )
    .await;
}
