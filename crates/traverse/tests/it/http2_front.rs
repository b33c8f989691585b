//! HTTP/2 towards clients on `tls-terminator` and inspecting `transparent`
//! hops. Each test starts one hop by itself in front of an origin written
//! here (or the `ws` tunnel's own origin), plays an HTTP/2 client over TLS
//! with ALPN `h2` trusting the run's public CA (or, for frames a compliant
//! client would never send, writes HTTP/2 frames by hand), and checks the
//! bytes end to end, what the origin saw and what the hop recorded.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, Response, Version};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use traverse_net::{Action, Endpoints, Tasks, TransactionLog, bind_loopback};
use traverse_pki::Pki;
use traverse_scenario::OriginCertificate;
use traverse_scenario::address::{PLAIN_PORT, TLS_PORT};

use crate::support::{LoneHop, assert_cells};

/// Every wait in these tests ends by this.
const DEADLINE: Duration = Duration::from_secs(5);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} within {DEADLINE:?}"))
}

/// What the test origin saw of each request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    version: Version,
    chunked: bool,
}

/// An origin on 80 that echoes each request body as it arrives, over
/// HTTP/1.1, or over HTTP/2 by prior knowledge with `h2c`.
struct EchoOrigin {
    endpoints: Endpoints,
    seen: Arc<Mutex<Vec<Seen>>>,
    _tasks: Tasks,
}

impl EchoOrigin {
    async fn start(h2c: bool) -> EchoOrigin {
        let listener = bind_loopback().await.expect("bind");
        let endpoints = Endpoints::new(BTreeMap::from([(
            PLAIN_PORT,
            listener.local_addr().expect("addr"),
        )]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tasks = Tasks::new();
        let (spawner, recorded) = (tasks.clone(), seen.clone());
        tasks.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    recorded.lock().unwrap().push(Seen {
                        version: request.version(),
                        chunked: request
                            .headers()
                            .get(http::header::TRANSFER_ENCODING)
                            .is_some_and(|value| value == "chunked"),
                    });
                    async move { Ok::<_, Infallible>(Response::new(request.into_body())) }
                });
                let io = TokioIo::new(stream);
                spawner.spawn(async move {
                    if h2c {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        EchoOrigin {
            endpoints,
            seen,
            _tasks: tasks,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// TLS to the hop as a browser trusting the public CA, offering `alpn`.
async fn tls_to(
    addr: SocketAddr,
    pki: &Pki,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut config = (*pki.public_client()).clone();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.expect("the hop listens");
    let name = ServerName::try_from("origin.test").expect("name");
    within(
        "the TLS handshake with the hop",
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("the hop's certificate is publicly trusted")
}

/// An HTTP/2 client connection to the hop, which must have picked `h2`.
async fn h2_client(
    addr: SocketAddr,
    pki: &Pki,
) -> hyper::client::conn::http2::SendRequest<http_body_util::combinators::BoxBody<Bytes, Infallible>>
{
    let tls = tls_to(addr, pki, &[b"h2", b"http/1.1"]).await;
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "the hop picks h2"
    );
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("the HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

/// A streaming POST over HTTP/2: each chunk is sent only once the one
/// before it has come back, so a hop that held the body would stall it.
async fn streaming_post(addr: SocketAddr, pki: &Pki, chunks: &[&'static [u8]]) -> Vec<u8> {
    let mut sender = h2_client(addr, pki).await;
    let (up, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(Frame::data(chunk)), rx))
    }));
    let request = Request::post("https://origin.test/echo")
        .body(BodyExt::boxed(body))
        .expect("request");
    let response = within("the response head", sender.send_request(request))
        .await
        .expect("the hop answers");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut echoed = Vec::new();
    for chunk in chunks {
        up.send(Bytes::from_static(chunk)).await.expect("send");
        let want = echoed.len() + chunk.len();
        while echoed.len() < want {
            let frame = within("the echo of a chunk before the next is sent", body.frame())
                .await
                .expect("the body goes on")
                .expect("a frame");
            if let Ok(data) = frame.into_data() {
                echoed.extend_from_slice(&data);
            }
        }
    }
    drop(up);
    while let Some(frame) = within("the end of the echo", body.frame()).await {
        if let Ok(data) = frame.expect("frame").into_data() {
            echoed.extend_from_slice(&data);
        }
    }
    echoed
}

const CHUNKS: [&[u8]; 3] = [b"first chunk ", b"second chunk ", b"last chunk"];

#[tokio::test]
async fn an_h2_streaming_post_streams_to_an_http11_origin_as_chunks_and_back() {
    let origin = EchoOrigin::start(false).await;
    let hop = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\nname = \"alb\"\nvendor = \"alb\"\nbackend = \"plain\"\n",
        origin.endpoints.clone(),
    )
    .await;
    let echoed = streaming_post(hop.addr(TLS_PORT), &hop.pki, &CHUNKS).await;
    assert_eq!(echoed, CHUNKS.concat());
    assert_eq!(
        origin.seen(),
        [Seen {
            version: Version::HTTP_11,
            chunked: true
        }]
    );
    let record = hop.record().await;
    assert_eq!(record.action, Action::Forwarded, "{record:?}");
    assert_eq!(
        record.detail,
        "HTTP/2 from the client, HTTP/1.1 to origin.test:80; it answered 200"
    );
}

#[tokio::test]
async fn backend_http2_speaks_http2_to_the_next_node_by_prior_knowledge_over_plain() {
    let origin = EchoOrigin::start(true).await;
    let hop = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\nvendor = \"alb\"\nbackend = \"plain\"\nbackend_http = \"http2\"\n",
        origin.endpoints.clone(),
    )
    .await;
    let echoed = streaming_post(hop.addr(TLS_PORT), &hop.pki, &CHUNKS).await;
    assert_eq!(echoed, CHUNKS.concat());
    assert_eq!(
        origin.seen(),
        [Seen {
            version: Version::HTTP_2,
            chunked: false
        }]
    );
    assert_eq!(
        hop.record().await.detail,
        "HTTP/2 from the client, HTTP/2 to origin.test:80; it answered 200"
    );
}

/// Cloudflare offers h2 to a TLS origin by ALPN; one that offers only
/// HTTP/1.1 (as the harness's origins do) gets HTTP/1.1.
#[tokio::test]
async fn cloudflare_falls_back_to_http11_when_the_origin_offers_no_h2() {
    let (endpoints, origin_log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let hop = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\nname = \"edge\"\nvendor = \"cloudflare\"\nbackend = \"tls\"\n",
        endpoints,
    )
    .await;
    let mut sender = h2_client(hop.addr(TLS_PORT), &hop.pki).await;
    let request = Request::get("https://origin.test/")
        .body(Empty::new().boxed())
        .expect("request");
    let response = within("the answer", sender.send_request(request))
        .await
        .expect("the hop answers");
    // The ws origin answers a request without `Upgrade` 426.
    assert_eq!(response.status(), 426);
    assert_eq!(
        hop.record().await.detail,
        "HTTP/2 from the client, HTTP/1.1 to origin.test:443 (it offered no h2 by ALPN); \
         it answered 426"
    );
    let origin = origin_log.snapshot();
    assert_eq!(
        origin.len(),
        1,
        "one connection to the origin, on which ALPN said HTTP/1.1: {origin:?}"
    );
}

/// The `ws` tunnel's origin, plain on 80 and TLS on 443, relaying to an
/// echo app; its log says what reached it.
async fn ws_origin(pki: &Pki) -> (Endpoints, TransactionLog, Tasks) {
    let tasks = Tasks::new();
    let log = TransactionLog::new();
    let echo = traverse_tunnel::start_echo(&tasks, log.activity())
        .await
        .expect("echo");
    let context = traverse_tunnel::OriginContext {
        tls: pki
            .origin(OriginCertificate::Public)
            .server_config("origin")
            .expect("origin tls"),
        target: echo,
        log: log.clone(),
        tasks: tasks.clone(),
        step_timeout: DEADLINE,
        time_scale: traverse_scenario::TimeScale::DEFAULT,
    };
    let ws = traverse_tunnel::find("ws").expect("ws").protocol;
    let endpoints = traverse_tunnel::serve_origin(ws, context)
        .await
        .expect("origin");
    (endpoints, log, tasks)
}

const TRANSLATING: &str = r#"
[[hops]]
kind = "tls-terminator"
name = "haproxy"
http2 = true
websocket = true
backend = "plain"
extended_connect = "translate"
"#;

/// Opens an RFC 8441 WebSocket through the hop at `addr`: the stream
/// after the hop's `200`, with frames masked as a client's (`Role::Client`)
/// or unmasked (`Role::Server`, as wstunnel's client sends them).
async fn open_h2_websocket(
    addr: SocketAddr,
    pki: &Pki,
    role: Role,
) -> WebSocketStream<TokioIo<hyper::upgrade::Upgraded>> {
    let mut sender = h2_client(addr, pki).await;
    let request = Request::builder()
        .method(Method::CONNECT)
        .uri("https://origin.test/tunnel")
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13")
        .body(Empty::new().boxed())
        .expect("request");
    let mut response = within(
        "the extended CONNECT's answer",
        sender.send_request(request),
    )
    .await
    .expect("the hop answers");
    assert_eq!(response.status(), 200, "RFC 8441 §5: 200, not 101");
    let stream = within("the stream to open", hyper::upgrade::on(&mut response))
        .await
        .expect("the stream opens");
    // The client's connection task keeps the stream; the sender may go.
    drop(sender);
    // An unmasked sender reads the hop's unmasked frames all the same.
    let config = WebSocketConfig::default().accept_unmasked_frames(true);
    WebSocketStream::from_raw_socket(TokioIo::new(stream), role, Some(config)).await
}

#[tokio::test]
async fn a_translating_hop_applies_its_masking_rules_to_the_translated_stream() {
    let (endpoints, _log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let hop = LoneHop::start(&format!("{TRANSLATING}masking = \"require\"\n"), endpoints).await;
    let mut socket = open_h2_websocket(hop.addr(TLS_PORT), &hop.pki, Role::Server).await;
    within(
        "sending an unmasked frame",
        socket.send(Message::binary(b"unmasked".to_vec())),
    )
    .await
    .expect("send");
    let closed = loop {
        match within("the hop's close", socket.next()).await {
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed, Some(1002));
    let record = hop.record().await;
    assert_eq!(record.action, Action::Blocked, "{record:?}");
    assert!(
        record.detail.contains("(masking = require)"),
        "{}",
        record.detail
    );
}

#[tokio::test]
async fn a_translated_stream_is_cut_by_the_hops_idle_timeout() {
    let (endpoints, _log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    // 10 s at the default time scale is 100 ms of wall time.
    let hop = LoneHop::start(&format!("{TRANSLATING}idle_timeout = \"10s\"\n"), endpoints).await;
    let mut socket = open_h2_websocket(hop.addr(TLS_PORT), &hop.pki, Role::Client).await;
    loop {
        match within("the idle cut", socket.next()).await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => {}
        }
    }
    let record = hop.record().await;
    assert_eq!(record.action, Action::IdleCut, "{record:?}");
    assert_eq!(
        record.detail,
        "cut the WebSocket after 10s without traffic (idle_timeout)"
    );
}

#[tokio::test]
async fn a_translating_hop_carries_an_rfc8441_websocket_to_an_http11_origin() {
    let (endpoints, origin_log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let hop = LoneHop::start(TRANSLATING, endpoints).await;
    let mut socket = open_h2_websocket(hop.addr(TLS_PORT), &hop.pki, Role::Client).await;
    let sent = b"through h2 and back".to_vec();
    within(
        "sending a frame",
        socket.send(Message::binary(sent.clone())),
    )
    .await
    .expect("send");
    let mut echoed = Vec::new();
    while echoed.len() < sent.len() {
        match within("the echoed frame", socket.next()).await {
            Some(Ok(Message::Binary(data))) => echoed.extend_from_slice(&data),
            Some(Ok(_)) => {}
            other => panic!("the WebSocket ended early: {other:?}"),
        }
    }
    assert_eq!(echoed, sent);
    let record = hop.record().await;
    assert_eq!(record.action, Action::Upgraded, "{record:?}");
    assert_eq!(
        record.detail,
        "translated the extended CONNECT (:protocol websocket) into an HTTP/1.1 Upgrade to \
         origin.test:80; it answered 101, the stream 200; relaying frames"
    );
    let origin = origin_log.snapshot();
    assert_eq!(origin.len(), 1, "{origin:?}");
    assert_eq!(
        origin[0].action,
        Action::Upgraded,
        "the origin got an HTTP/1.1 Upgrade"
    );
}

/// A hop's SETTINGS, read from the raw frames after sending the preface.
async fn settings_of(tls: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Vec<(u16, u32)> {
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    tls.write_all(&frame(0x4, 0, 0, &[]))
        .await
        .expect("settings");
    let (kind, _, _, payload) = read_frame(tls).await;
    assert_eq!(kind, 0x4, "a server's first frame is SETTINGS");
    tls.write_all(&frame(0x4, 0x1, 0, &[])).await.expect("ack");
    payload
        .chunks_exact(6)
        .map(|entry| {
            (
                u16::from_be_bytes([entry[0], entry[1]]),
                u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]),
            )
        })
        .collect()
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("small").to_be_bytes();
    let mut bytes = vec![length[1], length[2], length[3], kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// (type, flags, stream, payload) of the next frame.
async fn read_frame(
    tls: &mut tokio_rustls::client::TlsStream<TcpStream>,
) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0_u8; 9];
    within("a frame", tls.read_exact(&mut head))
        .await
        .expect("frame head");
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0_u8; length];
    within("a frame's payload", tls.read_exact(&mut payload))
        .await
        .expect("frame payload");
    let stream = u32::from_be_bytes([head[5] & 0x7f, head[6], head[7], head[8]]);
    (head[3], head[4], stream, payload)
}

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
const ENABLE_CONNECT_PROTOCOL: (u16, u32) = (0x8, 1);

#[tokio::test]
async fn only_a_translating_hop_advertises_extended_connect() {
    let (endpoints, _log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let translating = LoneHop::start(TRANSLATING, endpoints.clone()).await;
    let mut tls = tls_to(translating.addr(TLS_PORT), &translating.pki, &[b"h2"]).await;
    assert!(
        settings_of(&mut tls)
            .await
            .contains(&ENABLE_CONNECT_PROTOCOL)
    );

    let alb = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\nvendor = \"alb\"\nwebsocket = true\nbackend = \"plain\"\n",
        endpoints,
    )
    .await;
    let mut tls = tls_to(alb.addr(TLS_PORT), &alb.pki, &[b"h2"]).await;
    let settings = settings_of(&mut tls).await;
    assert!(
        !settings
            .iter()
            .any(|(id, _)| *id == ENABLE_CONNECT_PROTOCOL.0),
        "an ALB does not offer RFC 8441: {settings:?}"
    );
}

/// An HPACK header block of literal fields, never indexed names, without
/// Huffman: enough for a request a compliant client would not send.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        block.push(u8::try_from(name.len()).expect("short name"));
        block.extend_from_slice(name.as_bytes());
        block.push(u8::try_from(value.len()).expect("short value"));
        block.extend_from_slice(value.as_bytes());
    }
    block
}

#[tokio::test]
async fn a_refusing_hop_resets_a_forced_extended_connect_and_records_it() {
    let (endpoints, origin_log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let hop = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\nname = \"alb\"\nvendor = \"alb\"\nwebsocket = true\nbackend = \"plain\"\n",
        endpoints,
    )
    .await;
    let mut tls = tls_to(hop.addr(TLS_PORT), &hop.pki, &[b"h2"]).await;
    assert!(
        !settings_of(&mut tls)
            .await
            .contains(&ENABLE_CONNECT_PROTOCOL)
    );
    let block = header_block(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/tunnel"),
        (":authority", "origin.test"),
        ("sec-websocket-version", "13"),
    ]);
    // HEADERS, END_HEADERS, on stream 1.
    tls.write_all(&frame(0x1, 0x4, 1, &block))
        .await
        .expect("headers");
    let reset = loop {
        let (kind, _, stream, payload) = read_frame(&mut tls).await;
        match kind {
            0x3 if stream == 1 => break u32::from_be_bytes(payload[..4].try_into().unwrap()),
            0x7 => break u32::from_be_bytes(payload[4..8].try_into().unwrap()),
            _ => {}
        }
    };
    assert_eq!(reset, 0x1, "PROTOCOL_ERROR");
    drop(tls);
    let record = hop.record().await;
    assert_eq!(record.action, Action::Blocked, "{record:?}");
    assert!(
        record
            .detail
            .contains("SETTINGS_ENABLE_CONNECT_PROTOCOL (extended_connect = refuse)"),
        "{}",
        record.detail
    );
    assert!(
        origin_log.snapshot().is_empty(),
        "nothing reached the origin"
    );
}

/// The built-in tunnels offer only `http/1.1` by ALPN: a hop offering h2
/// serves them as a hop without it does.
#[tokio::test]
async fn http11_clients_pass_an_http2_hop_as_before() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "alb"
        vendor = "alb"
        websocket = true
        extended_connect = "translate"
    "#;
    assert_cells(
        topology,
        &["tcp", "tls", "ws", "wss"],
        &[
            "tcp fail refused 400 blame=alb",
            "tls fail tls blame=alb",
            "ws pass",
            "wss pass",
        ],
    )
    .await;
}

/// HTTP/2 inside the TLS an inspecting gateway opens, from a managed
/// device that trusts the enterprise inspection CA.
async fn inspected_h2_client(
    hop: &LoneHop,
) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let mut config = (*hop.pki.verifying_client()).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(hop.addr(TLS_PORT))
        .await
        .expect("listens");
    let tls = within(
        "the inspected TLS",
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("origin.test").expect("name"), tcp),
    )
    .await
    .expect("a managed device trusts the inspection CA");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "the gateway picks h2"
    );
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("HTTP/2 inside the inspected TLS");
    tokio::spawn(connection);
    sender
}

#[tokio::test]
async fn an_inspecting_gateway_serves_h2_inside_the_tls_it_opens() {
    // The gateway re-encrypts to the origin and checks its certificate
    // against the public CA, so both share the run's PKI.
    let pki = Arc::new(Pki::generate().expect("pki"));
    let (endpoints, _log, _tasks) = ws_origin(&pki).await;
    let hop = LoneHop::start_with(
        "[[hops]]\nkind = \"transparent\"\nname = \"swg\"\ntls = \"inspect\"\nhttp2 = true\n",
        endpoints,
        pki,
    )
    .await;
    let mut sender = inspected_h2_client(&hop).await;
    let request = Request::get("https://origin.test/")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = within("the answer", sender.send_request(request))
        .await
        .expect("answers");
    assert_eq!(
        response.status(),
        426,
        "the ws origin's answer to a plain GET"
    );
    assert_eq!(
        hop.record().await.detail,
        "HTTP/2 from the client, HTTP/1.1 to origin.test:443; it answered 426"
    );
}

#[tokio::test]
async fn a_generic_terminator_keeps_http11_for_a_client_offering_h2() {
    let (endpoints, _log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let hop = LoneHop::start("[[hops]]\nkind = \"tls-terminator\"\n", endpoints).await;
    let tls = tls_to(hop.addr(TLS_PORT), &hop.pki, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn a_translated_handshake_meets_the_gateways_host_rules() {
    let pki = Arc::new(Pki::generate().expect("pki"));
    let (endpoints, origin_log, _tasks) = ws_origin(&pki).await;
    let topology = r#"
[[hops]]
kind = "transparent"
name = "swg"
tls = "inspect"
upgrade = "forward"
http2 = true
extended_connect = "translate"
websocket_block = ["origin.test"]
"#;
    let hop = LoneHop::start_with(topology, endpoints, pki).await;
    let mut sender = inspected_h2_client(&hop).await;
    let request = Request::builder()
        .method(Method::CONNECT)
        .uri("https://origin.test/tunnel")
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = within("the answer", sender.send_request(request))
        .await
        .expect("answers");
    assert_eq!(response.status(), 403);
    let record = hop.record().await;
    assert_eq!(record.action, Action::Blocked, "{record:?}");
    assert_eq!(
        record.detail,
        "answered 403: blocked by policy: WebSocket to origin.test is not allowed"
    );
    assert!(
        origin_log.snapshot().is_empty(),
        "nothing reached the origin"
    );
}

/// HTTP/2 is negotiated by ALPN: in clear, on 80, the HTTP/2 preface is
/// bytes that are not HTTP/1.1, and the hop refuses them as such.
#[tokio::test]
async fn http2_in_clear_is_refused_as_not_http11() {
    let (endpoints, origin_log, _tasks) = ws_origin(&Pki::generate().expect("pki")).await;
    let hop = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\nname = \"alb\"\nvendor = \"alb\"\n",
        endpoints,
    )
    .await;
    let mut tcp = TcpStream::connect(hop.addr(PLAIN_PORT))
        .await
        .expect("listens");
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    let mut answer = Vec::new();
    within("the hop's answer", tcp.read_to_end(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    // hyper closes on the preface without a word: no SETTINGS, no status.
    assert!(answer.is_empty(), "{answer}");
    let record = hop.record().await;
    assert_eq!(record.action, Action::Responded, "{record:?}");
    assert!(record.detail.contains("not HTTP"), "{}", record.detail);
    assert!(
        origin_log.snapshot().is_empty(),
        "nothing reached the origin"
    );
}
