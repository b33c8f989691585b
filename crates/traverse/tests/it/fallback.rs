//! Fallback tunnels: `fallback(A,B)` tries each transport in order through
//! the same topology and passes over the first that passes, naming it, as
//! Socket.IO and SignalR clients fall back. Each row is a topology, the
//! fallbacks, and the cells expected.

use crate::support::{run, summary};

/// Port 80 intercepted by an HTTP/1.0 cache that drops `Upgrade`; TLS on
/// 443 relayed untouched (scenarios/intercepting-http10-proxy.toml).
const HTTP10_CACHE: &str = r#"
[[hops]]
kind = "transparent"
name = "isp-cache"
http_version = "1.0"
upgrade = "strip"
tls = "passthrough"
"#;

#[tokio::test]
async fn a_fallback_passes_over_the_first_transport_that_gets_through() {
    let results = run(
        HTTP10_CACHE,
        &["fallback(ws,wss)", "fallback(wss,ws)", "fallback(tcp,ws)"],
    )
    .await;
    let got: Vec<String> = results.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            "fallback(ws,wss) pass via wss",
            "fallback(wss,ws) pass via wss",
            "fallback(tcp,ws) fail refused 426 blame=isp-cache",
        ],
        "{results:#?}"
    );
    // What the transports before the one that passed met stays in view.
    assert!(
        results[0]
            .detail
            .starts_with("passed over wss after ws failed: answered HTTP 426 Upgrade Required"),
        "{}",
        results[0].detail
    );
    assert!(
        results[0].detail.contains("isp-cache: "),
        "{}",
        results[0].detail
    );
    assert_eq!(
        results[1].detail, "",
        "the first transport passed: nothing to tell"
    );
    // Every transport failed: the last one's verdict, and each one's reason.
    let every = &results[2].detail;
    assert!(
        every.starts_with("every transport failed: tcp failed: ")
            && every.contains("; ws failed: "),
        "{every}"
    );
    assert_eq!(results[2].transport, None);
    // The cell's logs are the deciding attempt's: the hop it blames.
    assert!(results[2].blamed_log().is_some());
}
