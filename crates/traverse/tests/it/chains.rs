//! Hops in any order: each forwards to the next one inward by the logical
//! address, and blame lands on the first that breaks the traffic.

use crate::support::assert_cells;

const ALL: [&str; 4] = ["tcp", "tls", "ws", "wss"];

#[tokio::test]
async fn corporate_proxy_then_websocket_aware_load_balancer() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"

        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        websocket = true
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 403 blame=squid",
            "tls fail tls blame=f5",
            "ws fail refused 403 blame=squid",
            "wss pass",
        ],
    )
    .await;
}

#[tokio::test]
async fn stripping_proxy_then_load_balancer_without_websocket() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "isp"
        upgrade = "strip"

        [[hops]]
        kind = "tls-terminator"
        name = "f5"
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 400 blame=isp",
            "tls fail tls blame=f5",
            "ws fail refused 426 blame=isp",
            "wss fail refused 426 blame=f5",
        ],
    )
    .await;
}

#[tokio::test]
async fn three_hops_proxy_gateway_and_load_balancer() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443, 80]
        auth = "alice:wonderland"

        [[hops]]
        kind = "transparent"
        name = "swg"
        upgrade = "forward"
        tls = "inspect"

        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        websocket = true
        backend = "tls-verify"
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 400 blame=swg",
            "tls fail tls blame=swg",
            "ws pass",
            "wss pass",
        ],
    )
    .await;
}

#[tokio::test]
async fn three_hops_where_the_innermost_breaks_it() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "isp"
        upgrade = "forward"

        [[hops]]
        kind = "tls-terminator"
        name = "cdn"
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
