//! The transports products fall back to when WebSocket fails, `long-poll`
//! (engine.io) and `sse` (SignalR's server-sent events), through every kind
//! of hop that decides their fate, as data: plain HTTP requests, many of
//! them on many connections, where `ws` needs one upgraded connection.

use crate::support::{assert_cells, run};

const FALLBACKS: [&str; 3] = ["ws", "long-poll", "sse"];

#[tokio::test]
async fn both_pass_with_nothing_on_the_path() {
    assert_cells("", &FALLBACKS, &["ws pass", "long-poll pass", "sse pass"]).await;
}

#[tokio::test]
async fn a_proxy_that_strips_upgrade_breaks_ws_and_neither_fallback() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "proxy"
        upgrade = "strip"
    "#;
    assert_cells(
        topology,
        &FALLBACKS,
        &[
            "ws fail refused 426 blame=proxy",
            "long-poll pass",
            "sse pass",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_load_balancer_without_websocket_support_passes_plain_http() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        websocket = false
    "#;
    assert_cells(
        topology,
        &FALLBACKS,
        &["ws fail refused 426 blame=lb", "long-poll pass", "sse pass"],
    )
    .await;
}

/// A forwarder that serves one request per connection: every poll, POST
/// and stream is a new connection, and the session spans them all.
#[tokio::test]
async fn a_forwarder_of_one_request_per_connection_keeps_the_session() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "nginx"
    "#;
    let results = run(topology, &["long-poll", "sse"]).await;
    for cell in &results {
        assert_eq!(
            cell.verdict.as_str(),
            "pass",
            "{}: {}",
            cell.tunnel,
            cell.detail
        );
        let forwarder = &cell.logs[0];
        let origin = cell.logs.last().expect("the origin's log");
        assert_eq!(forwarder.node, "nginx");
        // The probe's 1 MiB alone goes up in four POSTs at least.
        assert!(
            forwarder.records.len() >= 6,
            "{}: {} connections through the forwarder",
            cell.tunnel,
            forwarder.records.len()
        );
        assert_eq!(
            origin.records.len(),
            forwarder.records.len(),
            "{}: the origin sees each request on its own connection",
            cell.tunnel
        );
    }
}

/// A corporate proxy denies `CONNECT` to any port but 443, but it is a
/// forward proxy: plain `http://` requests in absolute form, which is how
/// browsers and HTTP libraries send them to a proxy, go through. That is
/// where long-polling gets through and WebSocket, which must `CONNECT`
/// (RFC 6455 §4.1), does not; credentials are asked of both alike.
#[tokio::test]
async fn an_explicit_proxy_forwards_the_fallbacks_requests_where_it_denies_connect() {
    let tls_only = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443]
    "#;
    assert_cells(
        tls_only,
        &FALLBACKS,
        &[
            "ws fail refused 403 blame=squid",
            "long-poll pass",
            "sse pass",
        ],
    )
    .await;
    let results = run(tls_only, &["long-poll"]).await;
    let squid = &results[0].logs[0];
    assert!(
        squid.records.len() >= 2
            && squid.records.iter().all(|record| {
                record.action == traverse_net::Action::Forwarded
                    && record.target.as_deref() == Some("origin.test:80")
            }),
        "every request forwarded to origin.test:80, none tunnelled: {:#?}",
        squid.records
    );

    let with_auth = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443]
        auth = "alice:wonderland"
    "#;
    assert_cells(
        with_auth,
        &FALLBACKS,
        &[
            "ws fail refused 403 blame=squid",
            "long-poll pass",
            "sse pass",
        ],
    )
    .await;
    let without_credentials = format!("{with_auth}\n[client]\nproxy_auth = \"\"\n");
    assert_cells(
        &without_credentials,
        &FALLBACKS,
        &[
            "ws fail refused 407 blame=squid",
            "long-poll fail refused 407 blame=squid",
            "sse fail refused 407 blame=squid",
        ],
    )
    .await;
}

/// A proxy cutting connections idle for 60 s, and a client quiet for 120 s:
/// the held poll is answered every 25 s (engine.io's pingInterval) and the
/// stream gets a comment every 15 s, so neither is idle for long enough;
/// the idle POST connection is cut, and the next POST dials anew.
#[tokio::test]
async fn the_poll_timeout_and_the_comments_outlast_an_idle_cut() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443, 80]
        idle_timeout = "60s"

        [probe]
        idle = "120s"
    "#;
    assert_cells(
        topology,
        &FALLBACKS,
        &["ws fail idle-cut blame=squid", "long-poll pass", "sse pass"],
    )
    .await;
}

/// An idle timer shorter than engine.io's 25 s poll cuts the held GET; the
/// event stream's 15 s comments still beat it.
#[tokio::test]
async fn an_idle_timer_shorter_than_the_poll_cuts_it() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "l4"
        mode = "tcp"
        idle_timeout = "20s"

        [probe]
        idle = "60s"
    "#;
    assert_cells(
        topology,
        &["long-poll", "sse"],
        &["long-poll fail idle-cut blame=l4", "sse pass"],
    )
    .await;
}

/// A gateway that waits 20 s for a response head answers the poll held
/// through the client's quiet minute with its timeout; the stream's head
/// came at once.
#[tokio::test]
async fn a_read_timeout_shorter_than_the_poll_answers_it_504() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        read_timeout = "20s"

        [probe]
        idle = "60s"
    "#;
    let results = run(topology, &["long-poll", "sse"]).await;
    let got: Vec<String> = results.iter().map(crate::support::summary).collect();
    assert_eq!(
        got,
        ["long-poll fail timeout 504 blame=lb", "sse pass"],
        "{}",
        results[0].detail
    );
    assert!(
        results[0].detail.contains("a long-poll GET"),
        "names the request: {}",
        results[0].detail
    );
}

/// A TLS terminator in front of the plain port changes nothing for plain
/// HTTP, and its L4 mode relays the bytes as they are.
#[tokio::test]
async fn a_tls_terminator_in_either_mode_passes_both() {
    for mode in ["http", "tcp"] {
        let topology = format!(
            r#"
            [[hops]]
            kind = "tls-terminator"
            name = "f5"
            mode = "{mode}"
            websocket = true
            "#
        );
        assert_cells(
            &topology,
            &["long-poll", "sse"],
            &["long-poll pass", "sse pass"],
        )
        .await;
    }
}

/// nginx's default `proxy_buffering on`: an event stream's small events sit
/// in a part-filled 8k buffer, so `sse` times out, blamed on nginx with the
/// buffering named; a long-poll answer is a whole response and passes, and
/// so does a WebSocket, relayed after its 101 (scenarios/nginx-proxy-buffering.toml).
#[tokio::test]
async fn response_buffering_stalls_the_event_stream_and_passes_the_long_poll() {
    const NGINX: &str = r#"
[[hops]]
kind = "transparent"
name = "nginx"
upgrade = "forward"
response_buffering = "8k"
"#;
    let cells = run(
        NGINX,
        &["sse", "long-poll", "ws", "fallback(sse,long-poll)"],
    )
    .await;
    let got: Vec<String> = cells.iter().map(crate::support::summary).collect();
    assert_eq!(
        got,
        [
            "sse fail timeout blame=nginx",
            "long-poll pass",
            "ws pass",
            "fallback(sse,long-poll) pass via long-poll",
        ],
        "{cells:#?}"
    );
    let detail = &cells[0].detail;
    assert!(
        detail.contains("nginx: holding the 200 response from origin.test:80")
            && detail.contains("(response_buffering = \"8k\")"),
        "{detail}"
    );
}

/// A WAF that reads request bodies whole before it sends them on
/// (Cloudflare's full request body buffering): the h2 tunnel's streaming
/// POST never ends, so it is never sent and times out, blamed on the edge
/// with the buffering named; long-poll's POSTs are whole and pass
/// (scenarios/cloudflare-request-body-buffering.toml).
#[tokio::test]
async fn request_buffering_stalls_the_streaming_post_and_passes_the_long_poll() {
    const WAF: &str = r#"
[[hops]]
kind = "tls-terminator"
name = "cloudflare"
vendor = "cloudflare"
websocket = true
request_buffering = "whole"
"#;
    let cells = run(WAF, &["h2", "long-poll", "wss"]).await;
    let got: Vec<String> = cells.iter().map(crate::support::summary).collect();
    assert_eq!(
        got,
        [
            "h2 fail timeout blame=cloudflare",
            "long-poll pass",
            "wss pass"
        ],
        "{cells:#?}"
    );
    assert!(
        cells[0]
            .detail
            .contains("cloudflare: holding the request body for origin.test:443 until it ends (request_buffering = \"whole\")"),
        "{}",
        cells[0].detail
    );
}
