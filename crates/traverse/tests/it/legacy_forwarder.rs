//! Every `body` of `legacy-forwarder`, with the hixie-76 tunnel whose
//! undeclared key bytes tell them apart, and the tunnels that carry no
//! such bytes.

use std::time::Duration;

use traverse_runner::RunOptions;

use crate::support::{assert_cells, run, scenario};

#[tokio::test]
async fn declared_only_drops_the_key_bytes_and_the_handshake_times_out() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "nginx"
        body = "declared-only"
    "#;
    assert_cells(
        topology,
        &["tcp", "ws", "hixie76"],
        &[
            "tcp fail refused 400 blame=nginx",
            "ws pass",
            "hixie76 fail timeout 504 blame=nginx",
        ],
    )
    .await;
    let results = run(topology, &["hixie76"]).await;
    assert!(
        results[0]
            .detail
            .contains("dropped 8 bytes that followed the request headers with no Content-Length"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn hold_until_response_deadlocks_the_handshake() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        name = "haproxy"
        body = "hold-until-response"
    "#;
    assert_cells(
        topology,
        &["ws", "hixie76"],
        &["ws pass", "hixie76 fail timeout 504 blame=haproxy"],
    )
    .await;
    let results = run(topology, &["hixie76"]).await;
    assert!(
        results[0].detail.contains("holding 8 bytes"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn forward_passes_hixie76_through() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
        body = "forward"
    "#;
    assert_cells(topology, &["hixie76", "ws"], &["hixie76 pass", "ws pass"]).await;
}

#[tokio::test]
async fn tls_is_not_its_business() {
    let topology = r#"
        [[hops]]
        kind = "legacy-forwarder"
    "#;
    assert_cells(topology, &["tls", "wss"], &["tls pass", "wss pass"]).await;
}

#[tokio::test]
async fn every_body_mode_ends_a_hixie76_cell_within_its_deadline() {
    // The runner itself must never hang on a deadlocked handshake.
    for body in ["declared-only", "hold-until-response", "forward"] {
        let topology = scenario(&format!(
            "[[hops]]\nkind = \"legacy-forwarder\"\nbody = \"{body}\"\n"
        ));
        let tunnel = traverse_tunnel::find("hixie76").expect("hixie76");
        let cells = traverse_runner::plan(&[topology], &[tunnel]);
        let options = RunOptions {
            step_timeout: Duration::from_millis(500),
            ..RunOptions::default()
        };
        let run = traverse_runner::run(cells, &options, |_| {});
        let results = tokio::time::timeout(Duration::from_secs(15), run)
            .await
            .unwrap_or_else(|_| panic!("body = {body}: the run did not end"))
            .expect("run");
        assert_eq!(results.len(), 1, "body = {body}");
    }
}

#[tokio::test]
async fn hixie76_at_an_l7_load_balancer_is_held_like_haproxy_held_it() {
    let topology = r#"
        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        websocket = true
    "#;
    assert_cells(topology, &["hixie76"], &["hixie76 fail timeout blame=lb"]).await;
}

/// One framing case: the hop's `body` option, the raw bytes a client
/// sends (then half-closes), the first line it must read back, exactly
/// what reaches the origin (`None`: the hop never connects to it), and
/// the hop's record as `action status` and words from its detail.
struct Framing {
    name: &'static str,
    body: &'static str,
    sent: fn() -> Vec<u8>,
    answer: &'static str,
    origin: Option<&'static str>,
    record: &'static str,
    words: &'static str,
}

const CHUNKED_THEN_GET: &str = "POST /form HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /extra HTTP/1.1\r\nHost: origin.test\r\n\r\n";
const CHUNKED_BODY: &str = "POST /form HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

const FRAMING: &[Framing] = &[
    Framing {
        name: "declared-only drops what follows the last chunk",
        body: "declared-only",
        sent: || CHUNKED_THEN_GET.into(),
        answer: "HTTP/1.1 200 OK",
        origin: Some(CHUNKED_BODY),
        record: "dropped-bytes -",
        words: "dropped 42 bytes that followed the last chunk of its chunked body",
    },
    Framing {
        name: "trailers are part of the chunked body",
        body: "declared-only",
        sent: || {
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nGET /extra HTTP/1.1\r\n\r\n".into()
        },
        answer: "HTTP/1.1 200 OK",
        origin: Some(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n",
        ),
        record: "dropped-bytes -",
        words: "dropped 23 bytes that followed the last chunk",
    },
    Framing {
        name: "hold-until-response sends what follows the last chunk only after the answer",
        body: "hold-until-response",
        sent: || CHUNKED_THEN_GET.into(),
        answer: "HTTP/1.1 200 OK",
        origin: Some(CHUNKED_THEN_GET),
        record: "forwarded 200",
        words: "then sent the 42 bytes it held",
    },
    Framing {
        name: "a complete chunked body alone is forwarded whole",
        body: "declared-only",
        sent: || CHUNKED_BODY.into(),
        answer: "HTTP/1.1 200 OK",
        origin: Some(CHUNKED_BODY),
        record: "forwarded 200",
        words: "it answered 200",
    },
    Framing {
        name: "Content-Length with Transfer-Encoding is refused",
        body: "declared-only",
        sent: || {
            "POST / HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /extra HTTP/1.1\r\n\r\n".into()
        },
        answer: "HTTP/1.0 400 Bad Request",
        origin: None,
        record: "responded 400",
        words: "both Content-Length and Transfer-Encoding",
    },
    Framing {
        name: "a coding other than chunked is not implemented, as nginx says",
        body: "forward",
        sent: || {
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET /extra HTTP/1.1\r\n\r\n".into()
        },
        answer: "HTTP/1.0 501 Not Implemented",
        origin: None,
        record: "responded 501",
        words: "not \"gzip\"",
    },
    Framing {
        name: "a body over nginx's client_max_body_size is answered 413",
        body: "declared-only",
        sent: || "POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\nabc".into(),
        answer: "HTTP/1.0 413 Request Entity Too Large",
        origin: None,
        record: "responded 413",
        words: "larger than 1 MiB",
    },
    Framing {
        name: "a body cut short of its Content-Length is not a request",
        body: "forward",
        sent: || "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc".into(),
        answer: "HTTP/1.0 400 Bad Request",
        origin: None,
        record: "responded 400",
        words: "closed before the 10-byte body its Content-Length declares",
    },
    Framing {
        name: "a bad chunk-size line is refused",
        body: "declared-only",
        sent: || "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".into(),
        answer: "HTTP/1.0 400 Bad Request",
        origin: None,
        record: "responded 400",
        words: "not a valid chunked body",
    },
    Framing {
        name: "a 1 MB header is answered 400, as nginx does",
        body: "declared-only",
        sent: || {
            let mut bytes = b"GET / HTTP/1.1\r\nCookie: ".to_vec();
            bytes.resize(bytes.len() + 1024 * 1024, b'a');
            bytes.extend_from_slice(b"\r\n\r\n");
            bytes
        },
        answer: "HTTP/1.0 400 Bad Request",
        origin: None,
        record: "responded 400",
        words: "Request Header Or Cookie Too Large",
    },
    Framing {
        name: "a request line over 8 KiB is answered 414, as nginx does",
        body: "declared-only",
        sent: || format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000)).into_bytes(),
        answer: "HTTP/1.0 414 Request-URI Too Large",
        origin: None,
        record: "responded 414",
        words: "request line is longer than 8 KiB",
    },
    Framing {
        name: "headers over 32 KiB in all are answered 400",
        body: "declared-only",
        sent: || {
            let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
            for n in 0..8 {
                bytes.extend_from_slice(format!("X-{n}: {}\r\n", "b".repeat(5000)).as_bytes());
            }
            bytes.extend_from_slice(b"\r\n");
            bytes
        },
        answer: "HTTP/1.0 400 Bad Request",
        origin: None,
        record: "responded 400",
        words: "longer than 32 KiB",
    },
];

#[tokio::test]
async fn forwards_what_http_framing_declares() {
    let rows = FRAMING.iter().map(|case| async move {
        let topology = format!(
            "[[hops]]\nkind = \"legacy-forwarder\"\nname = \"old\"\nbody = \"{}\"\n",
            case.body
        );
        let got = exchange(&topology, case).await;
        let expected = (
            case.answer.to_string(),
            case.origin.map(str::to_string),
            case.record.to_string(),
        );
        let right = (got.0 == expected.0 && got.1 == expected.1 && got.2 == expected.2)
            && got.3.contains(case.words);
        (!right).then(|| {
            format!(
                "{}:\n  expected {:?}, record …{}…\n  got      {:?}",
                case.name, expected, case.words, got
            )
        })
    });
    crate::support::assert_rows(futures_util::future::join_all(rows).await);
}

#[tokio::test]
async fn a_complete_request_then_a_half_close_is_answered() {
    // Clients may shut their write side while they wait for the answer;
    // the hyper-based hops once closed on that EOF without answering.
    let case = Framing {
        name: "half-close",
        body: "",
        sent: || b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n".to_vec(),
        answer: "HTTP/1.1 200 OK",
        origin: Some("GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n"),
        record: "",
        words: "",
    };
    let rows = [
        "[[hops]]\nkind = \"legacy-forwarder\"\n",
        "[[hops]]\nkind = \"transparent\"\n",
    ]
    .map(|topology| {
        let case = &case;
        async move {
            let (answer, ..) = exchange(topology, case).await;
            (answer != case.answer)
                .then(|| format!("{topology}: expected {}, got {answer}", case.answer))
        }
    });
    crate::support::assert_rows(futures_util::future::join_all(rows).await);
}

/// A listener for the origin's plain port, and the hop's way to it.
async fn plain_origin() -> (tokio::net::TcpListener, traverse_net::Endpoints) {
    let listener = traverse_net::bind_loopback().await.expect("bind");
    let next = traverse_net::Endpoints::new(
        [(
            traverse_scenario::address::PLAIN_PORT,
            listener.local_addr().expect("addr"),
        )]
        .into(),
    );
    (listener, next)
}

/// The client's first line back, what the origin received, the record as
/// `action status` and its detail.
async fn exchange(topology: &str, case: &Framing) -> (String, Option<String>, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Duration::from_secs(5);
    let (listener, next) = plain_origin().await;
    let (received, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    // An origin that answers the head at once, then keeps every byte the
    // hop sends until the hop closes.
    let origin = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let Ok((mut bytes, _)) = traverse_net::http::read_head(&mut stream, b"").await
                else {
                    return;
                };
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
                let _ = stream.read_to_end(&mut bytes).await;
                let _ = received.send(bytes);
            });
        }
    });
    let hop = crate::support::LoneHop::start(topology, next).await;
    let stream = tokio::net::TcpStream::connect(hop.addr(traverse_scenario::address::PLAIN_PORT))
        .await
        .expect("the hop listens");
    let (mut reader, mut writer) = stream.into_split();
    let sent = (case.sent)();
    let send = async move {
        // The hop may stop reading once it has answered; the answer is
        // what this case judges, so a refused write is not a failure.
        let _ = writer.write_all(&sent).await;
        let _ = writer.shutdown().await;
    };
    let answer = async move {
        let mut bytes = Vec::new();
        match reader.read_to_end(&mut bytes).await {
            Ok(_) => String::from_utf8_lossy(&bytes)
                .lines()
                .next()
                .unwrap_or("(closed without an answer)")
                .to_string(),
            Err(error) => format!("(error: {error})"),
        }
    };
    let ((), answer) = tokio::time::timeout(deadline, async { tokio::join!(send, answer) })
        .await
        .unwrap_or_else(|_| panic!("{}: no answer within {deadline:?}", case.name));
    let record = hop.record().await;
    let reached = if case.origin.is_some() {
        tokio::time::timeout(deadline, arrived.recv())
            .await
            .ok()
            .flatten()
    } else {
        // The hop has decided and closed: had it connected to the origin,
        // its bytes would be there, or its record would name a target.
        record.target.as_ref().map(|_| Vec::new())
    };
    origin.abort();
    let status = record
        .status
        .map_or("-".to_string(), |status| status.to_string());
    let action = serde_json::to_value(record.action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    (
        answer,
        reached.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        format!("{action} {status}"),
        record.detail,
    )
}

#[tokio::test]
async fn a_response_ends_at_its_length_and_says_the_connection_closes_though_the_origin_keeps_it_open()
 {
    // A long-running forwarder in front of a keep-alive origin held both
    // sockets and its task until the origin gave up on the connection: one
    // per request, which `traverse proxy` piled up by the thousand.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Duration::from_secs(5);
    let (listener, next) = plain_origin().await;
    let (closed, mut hop_closed) = tokio::sync::oneshot::channel();
    let origin = tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let _ = traverse_net::http::read_head(&mut stream, b"").await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
            .await;
        // Keeps its side open, as a keep-alive server does, until the hop
        // closes the connection.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        let _ = closed.send(());
    });
    let topology = "[[hops]]\nkind = \"legacy-forwarder\"\n";
    let hop = crate::support::LoneHop::start(topology, next).await;
    let mut client =
        tokio::net::TcpStream::connect(hop.addr(traverse_scenario::address::PLAIN_PORT))
            .await
            .expect("the hop listens");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(deadline, client.read_to_end(&mut answer))
        .await
        .expect("the hop closes after the declared body")
        .expect("read");
    // It serves one request per connection and says so, in place of the
    // origin's keep-alive, so a client sends its next request elsewhere.
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    tokio::time::timeout(deadline, &mut hop_closed)
        .await
        .expect("the hop closes its side to the origin too")
        .expect("the origin saw it");
    let record = hop.record().await;
    assert_eq!(
        (record.action, record.status),
        (traverse_net::Action::Forwarded, Some(200))
    );
    origin.abort();
}
