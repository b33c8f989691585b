//! The HTTP/2 tunnels (`h2`, a streaming POST on one stream; `ws-h2`, RFC
//! 8441 WebSocket over an extended CONNECT) through each kind of hop that
//! meets their TLS, as topologies with the verdicts expected: `tunnel
//! verdict [category status] blame=node`. Both insist on ALPN `h2`, so a
//! hop that terminates TLS and speaks HTTP/1.1 to clients stops them at
//! the handshake; the origin also serves them translated to HTTP/1.1,
//! tested with an HTTP/1.1 client of its own.

use traverse_runner::{RunOptions, TunnelSpec};

use crate::support::{assert_cells, require, run, scenario};

const BOTH: [&str; 2] = ["h2", "ws-h2"];

/// The origin's record of the tunnel it served, the last node's.
fn origin_detail(cell: &traverse_runner::CellResult) -> String {
    let origin = cell.logs.last().expect("the origin has a log");
    assert_eq!(origin.node, "origin");
    origin
        .records
        .iter()
        .map(|record| record.detail.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn direct_path_passes_both_over_http2() {
    let results = run("", &BOTH).await;
    let got: Vec<String> = results.iter().map(crate::support::summary).collect();
    assert_eq!(got, ["h2 pass", "ws-h2 pass"], "{results:#?}");
    assert_eq!(
        origin_detail(&results[0]),
        "HTTP/2 stream; relaying to the target"
    );
    assert_eq!(
        origin_detail(&results[1]),
        "RFC 8441 WebSocket on an HTTP/2 stream; relaying to the target"
    );
}

#[tokio::test]
async fn ws_h2_keeps_itself_alive_with_rfc_6455_pings() {
    assert_cells("", &["ws-h2+ping=30s"], &["ws-h2+ping=30s pass"]).await;
}

#[tokio::test]
async fn an_http1_terminator_refuses_the_h2_alpn_and_is_blamed() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        mode = "http"
        websocket = true
    "#;
    let results = run(topology, &BOTH).await;
    let got: Vec<String> = results.iter().map(crate::support::summary).collect();
    assert_eq!(got, ["h2 fail tls blame=f5", "ws-h2 fail tls blame=f5"]);
    for cell in &results {
        assert!(
            cell.detail.starts_with(
                "TLS handshake failed: the server did not agree to HTTP/2 (it answered the \
                 ALPN offer h2 with no_application_protocol"
            ),
            "{}",
            cell.detail
        );
        assert!(
            cell.detail.ends_with(
                "f5: TLS handshake failed: this server speaks none of the protocols the \
                 client offered in ALPN (no_application_protocol)"
            ),
            "{}",
            cell.detail
        );
    }
}

#[tokio::test]
async fn an_l4_offload_terminates_tls_with_http1_alpn_and_stops_both() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "offload"
        mode = "tcp"
        backend = "tls"
    "#;
    assert_cells(
        topology,
        &BOTH,
        &["h2 fail tls blame=offload", "ws-h2 fail tls blame=offload"],
    )
    .await;
}

#[tokio::test]
async fn a_tls_inspecting_gateway_without_http2_stops_both() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "swg"
        tls = "inspect"
        upgrade = "forward"
    "#;
    assert_cells(
        topology,
        &BOTH,
        &["h2 fail tls blame=swg", "ws-h2 fail tls blame=swg"],
    )
    .await;
}

#[tokio::test]
async fn a_transparent_proxy_passing_tls_through_passes_both() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "isp"
        upgrade = "strip"
    "#;
    assert_cells(topology, &BOTH, &["h2 pass", "ws-h2 pass"]).await;
}

#[tokio::test]
async fn the_corporate_connect_proxy_passes_both() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443]
        auth = "alice:wonderland"
    "#;
    assert_cells(topology, &BOTH, &["h2 pass", "ws-h2 pass"]).await;
}

/// Both tunnels as `traverse tunnel serve` and `traverse tunnel connect`
/// processes, driven by a definition file, agree with their built-in
/// selves on verdict and blame.
#[tokio::test]
async fn as_processes_both_agree_with_their_built_in_selves() {
    let folder = tempfile::tempdir().expect("tempdir");
    let binary = env!("CARGO_BIN_EXE_traverse");
    let topologies = [
        "",
        r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443]
        auth = "alice:wonderland"
        "#,
        r#"
        [[hops]]
        kind = "tls-terminator"
        name = "f5"
        websocket = true
        "#,
    ];
    let scenarios: Vec<_> = topologies.iter().map(|toml| scenario(toml)).collect();
    for name in BOTH {
        let path = folder.path().join(format!("traverse-{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "transport = \"tls\"\n\
                 server = [\"{binary}\", \"tunnel\", \"serve\", \"{name}\", \"--listen\", \"{{listen}}\", \"--target\", \"{{target}}\", \"--cert\", \"{{cert_pem}}\", \"--key\", \"{{key_pem}}\"]\n\
                 client = [\"{binary}\", \"tunnel\", \"connect\", \"{name}\", \"--local\", \"{{local}}\", \"--connect\", \"{{connect}}\", \"--ca\", \"{{ca_pem}}\", \"--proxy\", \"{{proxy}}\", \"--proxy-auth-file\", \"{{proxy_auth_file}}\"]\n"
            ),
        )
        .expect("write");
        let external: TunnelSpec = traverse_scenario::load_tunnel(&path).expect("valid").into();
        let builtin: TunnelSpec = traverse_tunnel::find(name).expect("built in").into();
        let results = traverse_runner::run(
            traverse_runner::plan(&scenarios, &[builtin, external]),
            &RunOptions::default(),
            |_| {},
        )
        .await
        .expect("run");
        let verdicts: Vec<(&str, Option<&str>)> = results
            .iter()
            .map(|cell| (cell.verdict.as_str(), cell.blame.as_deref()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("pass", None),
                ("pass", None),
                ("pass", None),
                ("pass", None),
                ("fail", Some("f5")),
                ("fail", Some("f5")),
            ],
            "{name}: {:#?}",
            results.iter().map(|cell| &cell.detail).collect::<Vec<_>>()
        );
    }
}

/// Real products: HAProxy relaying TCP and Squid's CONNECT carry both;
/// HAProxy terminating TLS with no `alpn` on its `bind` chooses no ALPN
/// at all, which the client refuses in so many words.
#[tokio::test]
async fn real_haproxy_and_squid_carry_both_where_they_leave_tls_alone() {
    require("haproxy");
    require("squid");
    let real = |preset: &str| {
        format!(
            r#"
            [[hops]]
            kind = "external"
            name = "{preset}"
            preset = "{preset}"
            "#
        )
    };
    for preset in ["haproxy-tcp", "squid"] {
        assert_cells(&real(preset), &BOTH, &["h2 pass", "ws-h2 pass"]).await;
    }
    for cell in run(&real("haproxy-http"), &BOTH).await {
        assert_eq!(
            (
                cell.verdict.as_str(),
                cell.category.map(|category| category.as_str())
            ),
            ("fail", Some("tls")),
            "{}: {}",
            cell.tunnel,
            cell.detail
        );
        assert_eq!(
            cell.detail,
            "TLS handshake failed: the server did not agree to HTTP/2 (ALPN chose none)"
        );
    }
}
