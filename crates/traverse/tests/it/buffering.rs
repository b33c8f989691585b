//! `response_buffering`, `request_buffering` and `x_accel_buffering` on the
//! L7 kinds, each hop driven by itself: the client is a hyper client on a
//! raw loopback socket, the next node a small hyper origin that streams an
//! event stream piece by piece as the test says, answers a long poll whole,
//! and echoes a request body as it arrives. Each test waits on the hop's
//! record or on the stream, never on the clock: that the hop holds bytes is
//! read from its record (`buffered`, with the bytes held) and from its byte
//! count toward the client, which stays at zero while it holds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use traverse_net::{Action, ConnRecord, Endpoints, TransactionLog, bind_loopback};
use traverse_scenario::address::{PLAIN_PORT, PROXY_PORT, TLS_PORT};

use crate::support::{LoneHop, assert_rows};

/// Every wait in this file: a step on loopback takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(5);

type TestBody = BoxBody<Bytes, Infallible>;

/// A body the test feeds piece by piece; dropping the sender ends it.
fn fed_body() -> (mpsc::UnboundedSender<Bytes>, TestBody) {
    let (send, receive) = mpsc::unbounded_channel::<Bytes>();
    let stream = futures_util::stream::unfold(receive, |mut receive| async move {
        let bytes = receive.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), receive))
    });
    (send, StreamBody::new(stream).boxed())
}

fn full(bytes: &'static [u8]) -> TestBody {
    Full::new(Bytes::from_static(bytes)).boxed()
}

/// The next node: `/events` streams what the test feeds it (with
/// `X-Accel-Buffering: no` as `/events?unbuffered`), `/poll` answers one
/// complete event, `/echo` sends back each piece of the request body as it
/// arrives. Each request's path is reported as its head arrives.
struct Origin {
    endpoints: Endpoints,
    events: Option<mpsc::UnboundedSender<Bytes>>,
    arrived: mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    async fn start() -> Origin {
        let listener = bind_loopback().await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (events, body) = fed_body();
        let body = Arc::new(Mutex::new(Some(body)));
        let (report, arrived) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (body, report) = (body.clone(), report.clone());
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (body, report) = (body.clone(), report.clone());
                    async move {
                        let path = request
                            .uri()
                            .path_and_query()
                            .map_or("/", |path| path.as_str())
                            .to_string();
                        let _ = report.send(path.clone());
                        Ok::<_, Infallible>(answer(&path, request, &body))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Origin {
            endpoints: Endpoints::new([(PLAIN_PORT, addr), (TLS_PORT, addr)].into()),
            events: Some(events),
            arrived,
            task,
        }
    }

    fn send_event(&self, event: impl Into<Bytes>) {
        self.events
            .as_ref()
            .and_then(|events| events.send(event.into()).ok())
            .expect("the event stream is open");
    }

    /// Ends the event stream; the origin goes on serving.
    fn end_events(&mut self) {
        self.events = None;
    }
}

fn answer(
    path: &str,
    request: Request<Incoming>,
    events: &Mutex<Option<TestBody>>,
) -> Response<TestBody> {
    let event_stream = |body: TestBody| {
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .expect("response")
    };
    match path {
        "/events" | "/events?unbuffered" => {
            let body = events
                .lock()
                .expect("lock")
                .take()
                .expect("one event stream per origin");
            let mut response = event_stream(body);
            if path.ends_with("unbuffered") {
                response
                    .headers_mut()
                    .insert("x-accel-buffering", http::HeaderValue::from_static("no"));
            }
            response
        }
        "/poll" => event_stream(full(b"data: the answer\n\n")),
        "/echo" => {
            // A body that breaks off ends the echo: the test sees it end.
            let echo = futures_util::stream::unfold(request.into_body(), |mut body| async move {
                match body.frame().await {
                    Some(Ok(frame)) => Some((Ok::<_, Infallible>(frame), body)),
                    _ => None,
                }
            });
            Response::new(StreamBody::new(echo).boxed())
        }
        _ => Response::builder()
            .status(404)
            .body(full(b""))
            .expect("response"),
    }
}

/// A client connection to the hop, as a browser's would be.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<TestBody>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("the hop listens");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Client { sender }
    }

    fn send(
        &mut self,
        method: &str,
        uri: &str,
        body: TestBody,
    ) -> impl Future<Output = hyper::Result<Response<Incoming>>> + use<> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "origin.test")
            .body(body)
            .expect("request");
        self.sender.send_request(request)
    }
}

/// Waits for the hop's one record to satisfy `done`, which names what it
/// waits for; returns it.
async fn record_until(
    log: &TransactionLog,
    what: &str,
    done: impl Fn(&ConnRecord) -> bool,
) -> ConnRecord {
    let wait = async {
        loop {
            let changed = log.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(record) = log.snapshot().into_iter().find(|record| done(record)) {
                return record;
            }
            changed.await;
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the hop's record {what} within {DEADLINE:?}: {:?}",
                log.snapshot()
            )
        })
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} within {DEADLINE:?}"))
}

/// Reads the body until `bytes` have come, or it ends.
async fn read_body(body: &mut Incoming, bytes: usize) -> Vec<u8> {
    let mut read = Vec::new();
    while read.len() < bytes {
        let frame = within("a piece of the body", body.frame()).await;
        match frame {
            Some(Ok(frame)) => {
                read.extend_from_slice(frame.data_ref().map_or(&[][..], |data| data))
            }
            Some(Err(error)) => panic!("the body broke: {error}"),
            None => break,
        }
    }
    read
}

/// Each L7 kind, with its hop's options, the port a client reaches it on,
/// the request target it sends there, and whether the bytes it counts are
/// the origin's chunk framing too (the legacy forwarder relays raw bytes:
/// the 11-byte event comes as 16, the 22-byte stream with its last chunk
/// as 37).
fn kinds(options: &str) -> [(String, u16, &'static str, bool); 4] {
    let hop = |kind: &str| format!("[[hops]]\nkind = \"{kind}\"\nname = \"waf\"\n{options}\n");
    [
        (hop("tls-terminator"), PLAIN_PORT, "/events", false),
        (hop("transparent"), PLAIN_PORT, "/events", false),
        (
            hop("connect-proxy"),
            PROXY_PORT,
            "http://origin.test/events",
            false,
        ),
        (hop("legacy-forwarder"), PLAIN_PORT, "/events", true),
    ]
}

#[tokio::test]
async fn a_whole_buffering_hop_holds_an_event_stream_until_it_ends_on_every_l7_kind() {
    for (topology, port, target, framed) in kinds(r#"response_buffering = "whole""#) {
        let (first, all) = if framed { (16, 37) } else { (11, 22) };
        let mut origin = Origin::start().await;
        let hop = LoneHop::start(&topology, origin.endpoints.clone()).await;
        let mut client = Client::connect(hop.addr(port)).await;
        let mut response = Box::pin(client.send("GET", target, full(b"")));
        origin.send_event(&b"data: one\n\n"[..]);
        let held = record_until(&hop.log, "holds the first event", |record| {
            record.action == Action::Buffered
                && record
                    .detail
                    .ends_with(&format!("; {first} bytes of its body held"))
        })
        .await;
        assert_eq!(
            held.detail,
            format!(
                "holding the 200 response from origin.test:80 until it ends \
                 (response_buffering = \"whole\"); {first} bytes of its body held"
            ),
            "{topology}"
        );
        assert_eq!(held.bytes_down, 0, "nothing reached the client: {topology}");
        assert!(
            (&mut response).now_or_never().is_none(),
            "no head yet: {topology}"
        );
        // The stream ends: the whole of it arrives, and the record recovers.
        origin.send_event(&b"data: two\n\n"[..]);
        origin.end_events();
        let mut body = within("the response once the stream ended", response)
            .await
            .expect("a response")
            .into_body();
        assert_eq!(
            read_body(&mut body, usize::MAX).await,
            b"data: one\n\ndata: two\n\n"
        );
        let released = record_until(&hop.log, "recovers", |record| {
            record.action == Action::Forwarded
        })
        .await;
        assert!(
            released.detail.ends_with(&format!(
                "buffered: held until it ended (response_buffering = \"whole\"), {all} bytes"
            )),
            "{topology}: {}",
            released.detail
        );
    }
}

#[tokio::test]
async fn with_buffering_off_the_first_event_arrives_while_the_stream_is_open() {
    for (topology, port, target, _) in kinds("") {
        let origin = Origin::start().await;
        let hop = LoneHop::start(&topology, origin.endpoints.clone()).await;
        let mut client = Client::connect(hop.addr(port)).await;
        let response = client.send("GET", target, full(b""));
        origin.send_event(&b"data: one\n\n"[..]);
        let mut body = within("the head", response)
            .await
            .expect("a response")
            .into_body();
        assert_eq!(
            read_body(&mut body, 11).await,
            b"data: one\n\n",
            "{topology}"
        );
        let record = hop.log.snapshot().remove(0);
        assert_eq!(
            record.action,
            Action::Forwarded,
            "{topology}: {}",
            record.detail
        );
        assert_eq!(
            record.detail,
            "forwarded to origin.test:80; it answered 200"
        );
    }
}

#[tokio::test]
async fn a_long_poll_answer_passes_a_whole_buffering_hop_whole() {
    let origin = Origin::start().await;
    let topology = "[[hops]]\nkind = \"tls-terminator\"\nresponse_buffering = \"whole\"\n";
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let response = within("the answer", client.send("GET", "/poll", full(b"")))
        .await
        .expect("a response");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    assert_eq!(
        read_body(&mut body, usize::MAX).await,
        b"data: the answer\n\n"
    );
    let record = record_until(&hop.log, "recovers", |record| {
        record.action == Action::Forwarded
    })
    .await;
    assert_eq!(
        record.detail,
        "forwarded to origin.test:80; it answered 200, buffered: held until it ended \
         (response_buffering = \"whole\"), 18 bytes"
    );
}

#[tokio::test]
async fn nginx_sized_buffers_pass_each_buffer_when_it_fills_and_hold_the_rest() {
    const BUFFER: &[u8] = &[b'x'; 4096];
    let mut origin = Origin::start().await;
    let topology =
        "[[hops]]\nkind = \"transparent\"\nname = \"nginx\"\nresponse_buffering = \"4k\"\n";
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let mut response = Box::pin(client.send("GET", "/events", full(b"")));
    origin.send_event(&b"data: one\n\n"[..]);
    let held = record_until(&hop.log, "holds a partial buffer", |record| {
        record.action == Action::Buffered && record.detail.contains("11 bytes of its body held")
    })
    .await;
    assert_eq!(
        held.detail,
        "holding the 200 response from origin.test:80 until 4k gather or it ends \
         (response_buffering = \"4k\"); 11 bytes of its body held"
    );
    assert_eq!(held.bytes_down, 0);
    assert!(
        (&mut response).now_or_never().is_none(),
        "no head before a buffer fills"
    );
    // A full buffer goes, head first; the 11 bytes past it wait for the next.
    origin.send_event(BUFFER);
    let mut body = within("the first buffer", response)
        .await
        .expect("a response")
        .into_body();
    let first = read_body(&mut body, 4096).await;
    assert_eq!(first.len(), 4096);
    assert!(first.starts_with(b"data: one\n\n"));
    let rest = record_until(&hop.log, "holds what follows the buffer", |record| {
        record.action == Action::Buffered && record.detail.contains("4096 passed on")
    })
    .await;
    assert!(
        rest.detail
            .ends_with("; 11 bytes of its body held, 4096 passed on"),
        "{}",
        rest.detail
    );
    origin.end_events();
    assert_eq!(read_body(&mut body, usize::MAX).await, vec![b'x'; 11]);
    let record = record_until(&hop.log, "recovers", |record| {
        record.action == Action::Forwarded
    })
    .await;
    assert!(
        record
            .detail
            .ends_with("buffered: passed on in buffers (response_buffering = \"4k\"), 4107 bytes"),
        "{}",
        record.detail
    );
}

/// (the hop's kind and options, whether the first event of an
/// `X-Accel-Buffering: no` stream reaches the client while the stream is
/// open)
const X_ACCEL: &[(&str, &str, bool)] = &[
    ("tls-terminator", "response_buffering = \"8k\"", true),
    (
        "tls-terminator",
        "response_buffering = \"8k\"\nx_accel_buffering = false",
        false,
    ),
    ("tls-terminator", "response_buffering = \"whole\"", false),
    (
        "tls-terminator",
        "response_buffering = \"whole\"\nx_accel_buffering = true",
        true,
    ),
    ("legacy-forwarder", "response_buffering = \"8k\"", true),
    ("legacy-forwarder", "response_buffering = \"whole\"", false),
];

#[tokio::test]
async fn x_accel_buffering_no_is_honoured_by_nginx_buffers_and_not_by_a_scanning_gateway() {
    let mut rows = Vec::new();
    for &(kind, options, passes) in X_ACCEL {
        let origin = Origin::start().await;
        let topology = format!("[[hops]]\nkind = \"{kind}\"\n{options}\n");
        let hop = LoneHop::start(&topology, origin.endpoints.clone()).await;
        let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
        let mut response = Box::pin(client.send("GET", "/events?unbuffered", full(b"")));
        origin.send_event(&b"data: one\n\n"[..]);
        let got = if passes {
            let response = within("the head", response).await.expect("a response");
            let header_passed = response.headers().contains_key("x-accel-buffering");
            let mut body = response.into_body();
            let first = read_body(&mut body, 11).await;
            let record = record_until(&hop.log, "forwards", |record| {
                record.action == Action::Forwarded
            })
            .await;
            (first == b"data: one\n\n"
                && !header_passed
                && record.detail.ends_with(
                    "(not buffered: origin.test:80 sent X-Accel-Buffering: no, which this hop honours)",
                ))
            .then_some(true)
        } else {
            let held = record_until(&hop.log, "holds the event", |record| {
                record.action == Action::Buffered
                    && record.detail.contains("bytes of its body held")
                    && !record.detail.contains("; 0 bytes")
            })
            .await;
            (held.bytes_down == 0 && (&mut response).now_or_never().is_none()).then_some(false)
        };
        rows.push((got != Some(passes)).then(|| {
            format!(
                "{kind} [{}]: expected the first event to {}; record {:?}",
                options.replace('\n', "; "),
                if passes { "pass at once" } else { "be held" },
                hop.log.snapshot()
            )
        }));
    }
    assert_rows(rows);
}

#[tokio::test]
async fn request_buffering_holds_a_streaming_body_and_passes_a_complete_one() {
    let topology =
        "[[hops]]\nkind = \"tls-terminator\"\nname = \"nginx\"\nrequest_buffering = \"whole\"\n";
    // A streaming POST: its body never ends, so the request never leaves.
    let mut origin = Origin::start().await;
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let (up, body) = fed_body();
    let mut response = Box::pin(client.send("POST", "/echo", body));
    up.send(Bytes::from_static(b"hello")).expect("open");
    let held = record_until(&hop.log, "holds the body", |record| {
        record.action == Action::Buffered && record.detail.ends_with("; 5 bytes held")
    })
    .await;
    assert_eq!(
        held.detail,
        "holding the request body for origin.test:80 until it ends \
         (request_buffering = \"whole\"); 5 bytes held"
    );
    assert!(
        origin.arrived.try_recv().is_err(),
        "no request reached the origin"
    );
    assert!((&mut response).now_or_never().is_none());
    drop((up, hop));

    // A complete body goes on whole once it has all arrived.
    let mut origin = Origin::start().await;
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let response = within("the echo", client.send("POST", "/echo", full(b"hello")))
        .await
        .expect("a response");
    assert_eq!(
        within("the origin's request", origin.arrived.recv())
            .await
            .as_deref(),
        Some("/echo")
    );
    let mut body = response.into_body();
    assert_eq!(read_body(&mut body, usize::MAX).await, b"hello");
    let record = record_until(&hop.log, "forwards", |record| {
        record.action == Action::Forwarded
    })
    .await;
    assert_eq!(
        record.detail,
        "forwarded to origin.test:80 (it held the 5-byte request body until it ended: \
         request_buffering = \"whole\"); it answered 200"
    );
}

#[tokio::test]
async fn without_request_buffering_a_streaming_body_is_echoed_while_it_is_still_open() {
    let origin = Origin::start().await;
    let hop = LoneHop::start(
        "[[hops]]\nkind = \"tls-terminator\"\n",
        origin.endpoints.clone(),
    )
    .await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let (up, body) = fed_body();
    let response = client.send("POST", "/echo", body);
    up.send(Bytes::from_static(b"hello")).expect("open");
    let mut body = within("the echo's head", response)
        .await
        .expect("a response")
        .into_body();
    assert_eq!(read_body(&mut body, 5).await, b"hello");
    up.send(Bytes::from_static(b" again")).expect("still open");
    assert_eq!(read_body(&mut body, 6).await, b" again");
    assert_eq!(hop.log.snapshot()[0].action, Action::Forwarded);
}

#[tokio::test]
async fn a_whole_buffer_holds_at_most_one_mebibyte_then_streams_the_rest() {
    const CAP: usize = 1024 * 1024;
    let origin = Origin::start().await;
    let topology = "[[hops]]\nkind = \"tls-terminator\"\nresponse_buffering = \"whole\"\n";
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let response = client.send("GET", "/events", full(b""));
    origin.send_event(vec![b'x'; CAP + 10]);
    // The stream is still open: only the cap lets the bytes through.
    let mut body = within("the head", response)
        .await
        .expect("a response")
        .into_body();
    assert_eq!(read_body(&mut body, CAP + 10).await.len(), CAP + 10);
    let record = record_until(&hop.log, "streams past the cap", |record| {
        record.action == Action::Forwarded
    })
    .await;
    assert!(
        record
            .detail
            .contains("it held the first 1 MiB, the most it holds, and streams the rest"),
        "{}",
        record.detail
    );
}

#[tokio::test]
async fn a_request_body_beyond_the_cap_is_answered_413_and_never_sent() {
    let mut origin = Origin::start().await;
    let topology = "[[hops]]\nkind = \"transparent\"\nrequest_buffering = \"whole\"\n";
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let body = Full::new(Bytes::from(vec![b'x'; 1024 * 1024 + 1])).boxed();
    let response = within("the answer", client.send("POST", "/echo", body))
        .await
        .expect("a response");
    assert_eq!(response.status(), 413);
    let record = record_until(&hop.log, "answers", |record| {
        record.action == Action::Responded
    })
    .await;
    assert_eq!(record.status, Some(413));
    assert!(
        record.detail.contains("larger than 1 MiB"),
        "{}",
        record.detail
    );
    assert!(
        origin.arrived.try_recv().is_err(),
        "no request reached the origin"
    );
}

#[tokio::test]
async fn the_legacy_forwarder_passes_raw_bytes_in_buffers_of_its_size() {
    const BUFFER: &[u8] = &[b'x'; 4096];
    let mut origin = Origin::start().await;
    let topology = "[[hops]]\nkind = \"legacy-forwarder\"\nresponse_buffering = \"4k\"\n";
    let hop = LoneHop::start(topology, origin.endpoints.clone()).await;
    let mut client = Client::connect(hop.addr(PLAIN_PORT)).await;
    let mut response = Box::pin(client.send("GET", "/events", full(b"")));
    // It counts the origin's chunk framing: the 11-byte event is 16 bytes.
    origin.send_event(&b"data: one\n\n"[..]);
    let held = record_until(&hop.log, "holds a partial buffer", |record| {
        record.action == Action::Buffered && record.detail.contains("16 bytes of its body held")
    })
    .await;
    assert_eq!(held.bytes_down, 0);
    assert!((&mut response).now_or_never().is_none());
    // 16 + 4104 framed bytes: one 4096-byte buffer goes, 24 wait.
    origin.send_event(BUFFER);
    let head = within("the first buffer", response)
        .await
        .expect("a response");
    assert_eq!(head.status(), 200);
    let rest = record_until(&hop.log, "holds what follows the buffer", |record| {
        record.action == Action::Buffered && record.detail.contains("4096 passed on")
    })
    .await;
    assert!(
        rest.detail
            .ends_with("; 24 bytes of its body held, 4096 passed on"),
        "{}",
        rest.detail
    );
    origin.end_events();
    let mut body = head.into_body();
    assert_eq!(read_body(&mut body, usize::MAX).await.len(), 11 + 4096);
    let record = record_until(&hop.log, "recovers", |record| {
        record.action == Action::Forwarded && record.detail.contains("buffered")
    })
    .await;
    assert!(
        record
            .detail
            .ends_with("buffered: passed on in buffers (response_buffering = \"4k\"), 4125 bytes"),
        "{}",
        record.detail
    );
}
