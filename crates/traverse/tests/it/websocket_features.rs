//! The RFC 6455 features a WebSocket client uses, one tunnel parameter
//! each, as data: on `direct` every one passes and the origin saw it used,
//! and against the hop option that breaks it the cell fails as documented,
//! blamed on that hop.

use traverse_net::websocket::WebSocketSeen;
use traverse_runner::CellResult;

use crate::support::{assert_cells, run};

/// What the origin saw of the WebSocket of a passing cell.
fn origin_saw(cell: &CellResult) -> WebSocketSeen {
    assert_eq!(
        cell.verdict.as_str(),
        "pass",
        "{}: {}",
        cell.tunnel,
        cell.detail
    );
    let origin = cell.logs.last().expect("the origin's log");
    assert_eq!(origin.node, "origin");
    origin
        .records
        .iter()
        .find_map(|record| record.websocket.clone())
        .unwrap_or_else(|| panic!("{}: the origin recorded no WebSocket", cell.tunnel))
}

/// Each parameter on `direct`, with what the origin must have seen.
#[tokio::test]
async fn every_feature_passes_on_direct_and_the_origin_saw_it() {
    type Saw = fn(&WebSocketSeen) -> bool;
    let table: [(&str, &str, Saw); 10] = [
        ("ws", "binary messages, closed with 1000", |seen| {
            seen.frames.binary_messages > 0
                && seen.frames.text_messages == 0
                && seen.frames.continuations == 0
                && seen.close.as_ref().is_some_and(|close| close.code == 1000)
        }),
        ("ws+subprotocol=mqtt", "the subprotocol offered", |seen| {
            seen.subprotocols.as_deref() == Some("mqtt")
        }),
        (
            "ws+deflate=offer",
            "permessage-deflate offered and used",
            |seen| {
                seen.extensions
                    .as_deref()
                    .is_some_and(|offer| offer.starts_with("permessage-deflate"))
                    && seen.frames.reserved_bits == seen.frames.binary_messages
                    && seen.frames.binary_messages > 0
            },
        ),
        (
            "wss+subprotocol=mqtt+deflate=require+message=70000+text+close=4000",
            "compressed text in large messages, with a subprotocol and a code",
            |seen| {
                seen.subprotocols.as_deref() == Some("mqtt")
                    && seen.frames.reserved_bits > 0
                    && seen.frames.text_messages > 0
                    && seen.frames.length_64 > 0
                    && seen.close.as_ref().is_some_and(|close| close.code == 4000)
            },
        ),
        (
            "ws+message=200",
            "200-byte frames in the 16-bit form",
            |seen| {
                seen.frames.largest_frame == 200
                    && seen.frames.length_16 > 0
                    && seen.frames.length_64 == 0
            },
        ),
        ("wss+message=70000", "frames in the 64-bit form", |seen| {
            seen.frames.largest_frame == 70_000 && seen.frames.length_64 > 0
        }),
        (
            "ws+fragment=1000",
            "continuation frames of 1000 bytes",
            |seen| seen.frames.continuations > 0 && seen.frames.largest_frame == 1000,
        ),
        ("ws+text", "text messages only", |seen| {
            seen.frames.text_messages > 0 && seen.frames.binary_messages == 0
        }),
        (
            "ws+close=4000",
            "the close code 4000 and its reason",
            |seen| {
                seen.close.as_ref().is_some_and(|close| {
                    close.code == 4000 && close.reason == traverse_tunnel::CLOSE_REASON
                })
            },
        ),
        (
            "ws-unmasked+subprotocol=chat+message=300+fragment=100+text+close=3001",
            "everything at once, unmasked",
            |seen| {
                seen.subprotocols.as_deref() == Some("chat")
                    && seen.frames.text_messages > 0
                    && seen.frames.continuations > 0
                    && seen.frames.largest_frame == 100
                    && seen.close.as_ref().is_some_and(|close| close.code == 3001)
            },
        ),
    ];
    let tunnels: Vec<&str> = table.iter().map(|(tunnel, _, _)| *tunnel).collect();
    let results = run("", &tunnels).await;
    for ((tunnel, what, saw), cell) in table.iter().zip(&results) {
        assert_eq!(cell.tunnel, *tunnel);
        let seen = origin_saw(cell);
        assert!(
            saw(&seen),
            "{tunnel}: the origin did not see {what}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_hop_that_strips_the_subprotocol_fails_a_client_that_requires_one() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "waf"
        websocket = true
        websocket_offers = "strip-subprotocol"
    "#;
    assert_cells(
        topology,
        &["wss", "wss+subprotocol=mqtt"],
        &["wss pass", "wss+subprotocol=mqtt fail refused blame=waf"],
    )
    .await;
    let results = run(topology, &["wss+subprotocol=mqtt"]).await;
    let waf = &results[0].logs[0].records[0];
    assert_eq!(waf.action, traverse_net::Action::StrippedHeaders);
    assert_eq!(
        waf.detail,
        "removed `Sec-WebSocket-Protocol: mqtt` from the WebSocket handshake before forwarding \
         (websocket_offers = \"strip-subprotocol\")"
    );
    assert!(
        results[0].detail.starts_with(
            "the WebSocket handshake was answered without the subprotocol the client requires (mqtt"
        ),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn a_legacy_forwarder_strips_offers_as_the_other_kinds_do() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "fwd"
        websocket_offers = "strip-both"
    "#;
    assert_cells(
        topology,
        &["ws+text", "ws+subprotocol=mqtt"],
        &["ws+text pass", "ws+subprotocol=mqtt fail refused blame=fwd"],
    )
    .await;
}

/// A 64 KiB frame cap: the default 16 KiB messages and fragmented large
/// ones pass, a single 70,000-byte frame is closed with 1009.
#[tokio::test]
async fn a_frame_cap_closes_large_frames_with_1009_and_passes_fragments() {
    let topology = r#"
        [[hops]]
        kind = "transparent"
        name = "gateway"
        upgrade = "forward"
        max_frame_size = "64k"
    "#;
    assert_cells(
        topology,
        &["ws", "ws+message=70000", "ws+message=70000+fragment=4096"],
        &[
            "ws pass",
            "ws+message=70000 fail blocked blame=gateway",
            "ws+message=70000+fragment=4096 pass",
        ],
    )
    .await;
    let results = run(topology, &["ws+message=70000"]).await;
    assert!(
        results[0]
            .detail
            .contains("the peer closed the WebSocket with 1009: frame too big")
            && results[0].detail.contains(
                "gateway: closed the WebSocket with 1009: the client sent a frame of 70000 \
                 bytes, over max_frame_size = 65536"
            ),
        "{}",
        results[0].detail
    );
}

/// A message cap counts a message's fragments together: fragmenting does
/// not get a large message through.
#[tokio::test]
async fn a_message_cap_closes_large_messages_however_fragmented() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "alb"
        websocket = true
        max_message_size = "64k"
    "#;
    assert_cells(
        topology,
        &["wss+fragment=4096", "wss+message=70000+fragment=4096"],
        &[
            "wss+fragment=4096 pass",
            "wss+message=70000+fragment=4096 fail blocked blame=alb",
        ],
    )
    .await;
}

/// A WAF that strips `Sec-WebSocket-Extensions`: a client that offers
/// compression goes on without it, one that requires it fails on the WAF.
#[tokio::test]
async fn without_the_extensions_header_compression_falls_back_or_fails_as_the_client_asks() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "waf"
        websocket = true
        websocket_offers = "strip-extensions"
    "#;
    let results = run(topology, &["wss+deflate=offer", "wss+deflate=require"]).await;
    let seen = origin_saw(&results[0]);
    assert_eq!(seen.extensions, None);
    assert_eq!(seen.frames.reserved_bits, 0, "{seen:?}");
    assert_eq!(
        crate::support::summary(&results[1]),
        "wss+deflate=require fail refused blame=waf"
    );
    assert!(
        results[1].detail.starts_with(
            "the WebSocket handshake was answered without permessage-deflate, which the client \
             requires"
        ),
        "{}",
        results[1].detail
    );
}

/// A gateway that validates frames without knowing the negotiated
/// extensions closes a compressed WebSocket with 1002 on its first
/// frame; an uncompressed one passes.
#[tokio::test]
async fn a_hop_that_rejects_reserved_bits_closes_compressed_websockets() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "gateway"
        reserved_bits = "reject"
    "#;
    assert_cells(
        topology,
        &["ws", "ws+deflate=offer"],
        &["ws pass", "ws+deflate=offer fail blocked blame=gateway"],
    )
    .await;
}
