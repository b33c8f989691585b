//! `idle_counts` on every kind with an idle timer: a tunnel through one hop
//! where only one side talks while the other stays quiet for longer than
//! `idle_timeout`, and whether the hop cuts it. Each row is the hop, the
//! rule (written, or the kind's default), who talks and what happens. The
//! hop is driven by itself between raw loopback sockets, so "one side
//! talks" is exactly that: a byte every 50 ms for 900 ms of wall time,
//! against an idle timeout of 30 s scenario time (300 ms at the default
//! scale).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use traverse_net::{Endpoints, bind_loopback};
use traverse_scenario::address::{PLAIN_PORT, PROXY_PORT, TLS_PORT};

use crate::support::{LoneHop, assert_rows};

/// Which side sends while the other is quiet.
#[derive(Debug, Clone, Copy)]
enum Talker {
    Client,
    Upstream,
}

/// (hop kind and options, `idle_counts` line or "" for the default, who talks, outcome)
#[rustfmt::skip]
const CASES: &[(&str, &str, Talker, &str)] = &[
    // An ALB-like terminator counts both ways by default.
    ("tls-terminator", "", Talker::Client, "kept"),
    ("tls-terminator", "", Talker::Upstream, "kept"),
    ("tls-terminator", r#"idle_counts = "upstream""#, Talker::Client, "cut"),
    ("tls-terminator", r#"idle_counts = "upstream""#, Talker::Upstream, "kept"),
    ("tls-terminator", r#"idle_counts = "client""#, Talker::Client, "kept"),
    ("tls-terminator", r#"idle_counts = "client""#, Talker::Upstream, "cut"),
    // nginx-like: only reads from upstream count.
    ("transparent", "", Talker::Client, "cut"),
    ("transparent", "", Talker::Upstream, "kept"),
    ("transparent", r#"idle_counts = "both""#, Talker::Client, "kept"),
    // Squid: read_timeout counts reads from the server.
    ("connect-proxy", "", Talker::Client, "cut"),
    ("connect-proxy", "", Talker::Upstream, "kept"),
    ("connect-proxy", r#"idle_counts = "client""#, Talker::Upstream, "cut"),
    // nginx's proxy_read_timeout again, after a 101.
    ("legacy-forwarder", "", Talker::Client, "cut"),
    ("legacy-forwarder", "", Talker::Upstream, "kept"),
    ("legacy-forwarder", r#"idle_counts = "both""#, Talker::Client, "kept"),
];

#[tokio::test]
async fn one_side_talking_keeps_the_tunnel_only_where_the_rule_counts_its_bytes() {
    let rows = CASES
        .iter()
        .map(|&(kind, rule, talker, expected)| async move {
            let got = run_case(kind, rule, talker).await;
            (!got.starts_with(expected)).then(|| {
                format!("{kind} [{rule}] {talker:?} talks: expected {expected}, got {got}")
            })
        });
    assert_rows(join_all(rows).await);
}

/// `cut` (with the hop's record) or `kept`.
async fn run_case(kind: &str, rule: &str, talker: Talker) -> String {
    let next = bind_loopback().await.expect("bind");
    let next_addr = next.local_addr().expect("addr");
    let endpoints = Endpoints::new([(TLS_PORT, next_addr), (PLAIN_PORT, next_addr)].into());
    let mode = if kind == "tls-terminator" {
        "mode = \"tcp\"" // every connection is a relay, under the idle timer
    } else {
        ""
    };
    let topology = format!(
        "[[hops]]\nkind = \"{kind}\"\nname = \"hop\"\n{mode}\nidle_timeout = \"30s\"\n{rule}\n"
    );
    let hop = LoneHop::start(&topology, endpoints).await;
    let (mut client, mut server) =
        tokio::time::timeout(Duration::from_secs(5), open_tunnel(kind, &hop, &next))
            .await
            .expect("the tunnel opens within 5 s");

    let (talking, quiet): (&mut TcpStream, &mut TcpStream) = match talker {
        Talker::Client => (&mut client, &mut server),
        Talker::Upstream => (&mut server, &mut client),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..18 {
        tick.tick().await;
        if talking.write_all(b".").await.is_err() {
            break;
        }
    }
    if let Some(fault) = hop.log.first_fault() {
        return format!("cut: {:?} {}", fault.action, fault.detail).replace("IdleCut", "idle-cut");
    }
    // Kept: the quiet side can still be heard.
    quiet.write_all(b"!").await.expect("the quiet side writes");
    let heard = tokio::time::timeout(Duration::from_secs(2), read_until(talking, b'!')).await;
    match heard {
        Ok(true) if hop.log.first_fault().is_none() => "kept".to_string(),
        _ => format!("broken: {:?}", hop.log.snapshot()),
    }
}

/// Opens a byte stream through the hop as its kind relays one: plain TCP
/// in tcp mode, TLS passed through (a 0x16 first byte), a CONNECT tunnel,
/// or a WebSocket after a 101. Returns the client's end and the next
/// node's end.
async fn open_tunnel(kind: &str, hop: &LoneHop, next: &TcpListener) -> (TcpStream, TcpStream) {
    match kind {
        "tls-terminator" => {
            let client = connect(hop.addr(PLAIN_PORT)).await;
            let (server, _) = next.accept().await.expect("accept");
            (client, server)
        }
        "transparent" => {
            let mut client = connect(hop.addr(TLS_PORT)).await;
            client.write_all(&[0x16]).await.expect("write");
            let (mut server, _) = next.accept().await.expect("accept");
            let mut first = [0_u8; 1];
            server
                .read_exact(&mut first)
                .await
                .expect("the 0x16 arrives");
            (client, server)
        }
        "connect-proxy" => {
            let mut client = connect(hop.addr(PROXY_PORT)).await;
            client
                .write_all(b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
                .await
                .expect("write");
            let (server, _) = next.accept().await.expect("accept");
            let head = read_head(&mut client).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            (client, server)
        }
        "legacy-forwarder" => {
            let mut client = connect(hop.addr(PLAIN_PORT)).await;
            client
                .write_all(
                    b"GET / HTTP/1.1\r\nHost: origin.test\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                      Sec-WebSocket-Version: 13\r\n\r\n",
                )
                .await
                .expect("write");
            let (mut server, _) = next.accept().await.expect("accept");
            read_head(&mut server).await;
            server
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\n\
                      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                )
                .await
                .expect("write");
            let head = read_head(&mut client).await;
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            (client, server)
        }
        other => panic!("no idle timer on {other}"),
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("the hop listens");
    let _ = stream.set_nodelay(true);
    stream
}

/// An HTTP head, read a byte at a time so nothing after it is consumed.
async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0_u8; 1];
        let read = stream.read(&mut byte).await.expect("read");
        assert!(read > 0, "closed before the end of a head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads until `wanted` arrives; false if the stream ends first.
async fn read_until(stream: &mut TcpStream, wanted: u8) -> bool {
    let mut buffer = [0_u8; 64];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(read) if buffer[..read].contains(&wanted) => return true,
            Ok(_) => {}
        }
    }
}

#[test]
fn every_kind_with_an_idle_timer_has_rows() {
    let kinds: std::collections::BTreeSet<&str> = CASES.iter().map(|case| case.0).collect();
    let with_idle_counts: std::collections::BTreeSet<&str> = traverse_scenario::HopKind::ALL
        .iter()
        .filter(|info| info.option("idle_counts").is_some())
        .map(|info| info.name)
        .collect();
    assert_eq!(kinds, with_idle_counts);
}
