//! Tunnels that keep themselves alive through idle timers: every keepalive
//! kind against hops that cut idle connections, as data. A protocol's own
//! keepalive (pings, heartbeats) is bytes every relaying hop sees in both
//! directions, the keepalive and its answer; TCP keepalive is the kernel's
//! and no hop that relays bytes in user space sees it, so it is cut as a
//! tunnel that sends nothing is.

use crate::support::{assert_cells, run};

/// An L4 relay, so the framed protocol gets through too: a corporate proxy
/// that cuts CONNECT tunnels idle for a minute, and a client that goes
/// quiet for two. Heartbeats every 15 s leave 45 s (0.45 s of wall time at
/// the default scale) for a loaded machine to be late before a cut.
const IDLE_PROXY: &str = r#"
    [[hops]]
    kind = "connect-proxy"
    name = "squid"
    allowed_ports = [443, 80]
    idle_timeout = "60s"

    [probe]
    idle = "120s"
"#;

/// Cloudflare's 100 s cut of idle WebSockets, and a client quiet for 120 s.
const CLOUDFLARE_IDLE: &str = r#"
    [[hops]]
    kind = "tls-terminator"
    name = "cloudflare"
    websocket = true
    idle_timeout = "100s"

    [probe]
    idle = "120s"
"#;

#[tokio::test]
async fn pings_and_heartbeats_bridge_an_idle_cut_and_tcp_keepalive_does_not() {
    assert_cells(
        IDLE_PROXY,
        &[
            "tcp",
            "tcp+heartbeat=15s",
            "tcp+tcp-keepalive=15s",
            "tls+heartbeat=15s",
            "ws",
            "ws+ping=15s",
            "wss+ping=15s",
            "ws-unmasked+ping=15s",
            "wss+tcp-keepalive=30s",
            "hixie76+tcp-keepalive=30s",
        ],
        &[
            "tcp fail idle-cut blame=squid",
            "tcp+heartbeat=15s pass",
            "tcp+tcp-keepalive=15s fail idle-cut blame=squid",
            "tls+heartbeat=15s pass",
            "ws fail idle-cut blame=squid",
            "ws+ping=15s pass",
            "wss+ping=15s pass",
            "ws-unmasked+ping=15s pass",
            "wss+tcp-keepalive=30s fail idle-cut blame=squid",
            "hixie76+tcp-keepalive=30s fail idle-cut blame=squid",
        ],
    )
    .await;
}

#[tokio::test]
async fn pings_keep_a_websocket_through_cloudflares_idle_cut() {
    assert_cells(
        CLOUDFLARE_IDLE,
        &["ws", "wss", "ws+ping=30s", "wss+ping=30s", "wss+ping=3600s"],
        &[
            "ws fail idle-cut blame=cloudflare",
            "wss fail idle-cut blame=cloudflare",
            "ws+ping=30s pass",
            "wss+ping=30s pass",
            // A ping an hour after the tunnel opened comes after the cut,
            // however long the echoes before the pause took.
            "wss+ping=3600s fail idle-cut blame=cloudflare",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_results_count_the_keepalives_that_crossed_and_only_those() {
    let results = run(
        IDLE_PROXY,
        &[
            "ws",
            "ws+ping=15s",
            "tcp+heartbeat=15s",
            "ws+tcp-keepalive=30s",
        ],
    )
    .await;
    let counted: Vec<(&str, Option<u64>)> = results
        .iter()
        .map(|cell| (cell.tunnel.as_str(), cell.keepalives))
        .collect();
    assert_eq!(counted[0], ("ws", None), "no keepalive, no count");
    assert_eq!(
        counted[3],
        ("ws+tcp-keepalive=30s", None),
        "the kernel's probes are not counted"
    );
    // 120 s of quiet at 15 s intervals: eight pings and eight heartbeats
    // are due; at least half crossed even on a loaded machine.
    assert!(
        counted[1].1.is_some_and(|answered| answered >= 4),
        "{counted:?}"
    );
    assert!(
        counted[2].1.is_some_and(|answered| answered >= 4),
        "{counted:?}"
    );
}

/// Every keepalive kind against every idle-timer rule, through a hop that
/// relays at L4 (so the framed protocol gets through): a keepalive that is
/// answered moves bytes both ways, which every rule counts; TCP keepalive
/// moves none, which no rule counts.
#[tokio::test]
async fn every_keepalive_kind_against_every_idle_timer_rule() {
    for rule in ["both", "upstream", "client"] {
        let topology = format!(
            r#"
            [[hops]]
            kind = "connect-proxy"
            name = "proxy"
            allowed_ports = [443, 80]
            idle_timeout = "60s"
            idle_counts = "{rule}"

            [probe]
            idle = "120s"
            "#
        );
        assert_cells(
            &topology,
            &[
                "tcp",
                "tcp+heartbeat=15s",
                "tcp+tcp-keepalive=15s",
                "wss",
                "wss+ping=15s",
                "wss+tcp-keepalive=30s",
            ],
            &[
                "tcp fail idle-cut blame=proxy",
                "tcp+heartbeat=15s pass",
                "tcp+tcp-keepalive=15s fail idle-cut blame=proxy",
                "wss fail idle-cut blame=proxy",
                "wss+ping=15s pass",
                "wss+tcp-keepalive=30s fail idle-cut blame=proxy",
            ],
        )
        .await;
    }
}

/// An ALB whose idle timer is as long as the client's ping interval (AWS's
/// 60 s against a 60 s ping, here 300 s against 300 s so that the echoes'
/// few milliseconds before the pause are small beside it). The ping was
/// set at connect and the timer by the last echo, so the ping gets there
/// first by the echoes' time: a pass, which says how close it was. On a
/// real network, latency decides the race, as AWS's users saw.
const ALB_PING_AS_LONG_AS_ITS_TIMER: &str = r#"
    [[hops]]
    kind = "tls-terminator"
    name = "alb"
    vendor = "alb"
    websocket = true
    idle_timeout = "300s"

    [probe]
    idle = "400s"
"#;

#[tokio::test]
async fn a_ping_as_long_as_the_idle_timer_passes_as_a_close_call() {
    let cells = run(
        ALB_PING_AS_LONG_AS_ITS_TIMER,
        &["ws+ping=300s", "ws+ping=100s"],
    )
    .await;
    let [racing, comfortable] = &cells[..] else {
        panic!("two cells: {cells:?}")
    };
    assert_eq!(racing.verdict.as_str(), "pass", "{}", racing.detail);
    assert!(
        racing
            .detail
            .starts_with("close call: alb's 300s idle timer had ")
            && racing.detail.ends_with(
                " left when a byte reset it; on a real network, \
                 latency decides whether the byte or the cut comes first"
            ),
        "{}",
        racing.detail
    );
    let timer = racing.logs[0].records[0]
        .idle_timer
        .expect("the ALB's record");
    assert!(timer.least_left_ms < 30_000, "{timer:?}");
    // A ping every 100 s resets the timer with 200 s in hand.
    assert_eq!(
        comfortable.verdict.as_str(),
        "pass",
        "{}",
        comfortable.detail
    );
    assert_eq!(comfortable.detail, "");
    let timer = comfortable.logs[0].records[0]
        .idle_timer
        .expect("the ALB's record");
    assert!(timer.least_left_ms >= 190_000, "{timer:?}");
}
