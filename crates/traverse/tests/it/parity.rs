//! The real products are the judge: the same topology once with a mock and
//! once with the real program from the distribution's packages, every
//! tunnel through both, and the verdicts must agree. Where they differ, the
//! mock is wrong.

use crate::support::{require, run};

/// The tunnels a plain-HTTP reverse proxy sees the bytes of.
const TUNNELS: [&str; 4] = ["tcp", "ws", "ws-unmasked", "hixie76"];

async fn assert_parity(real: &str, mock: &str) {
    let verdicts = |cells: Vec<traverse_runner::CellResult>| -> Vec<String> {
        cells
            .iter()
            .map(|cell| {
                let category = cell.category.map_or("", |category| category.as_str());
                format!("{} {} {category}", cell.tunnel, cell.verdict.as_str())
            })
            .collect()
    };
    let real_cells = run(real, &TUNNELS).await;
    let details: Vec<String> = real_cells
        .iter()
        .map(|cell| format!("  {}: {}", cell.tunnel, cell.detail))
        .collect();
    assert_eq!(
        verdicts(real_cells),
        verdicts(run(mock, &TUNNELS).await),
        "the mock disagrees with the real product\nreal:\n{real}\nmock:\n{mock}\nreal details:\n{}",
        details.join("\n")
    );
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
