//! What a `tls-terminator` answers when the next node fails, per `vendor`:
//! each row is the hop's options, an origin that misbehaves one way
//! (refuses, is slow to accept, never answers, closes without an answer,
//! speaks no TLS, presents a certificate no public CA issued), the status a
//! client sees and what the hop's record says about why. The hop is driven
//! by itself: the client and the next node are raw loopback sockets, so
//! each row is exactly one failure, and the vendor timeouts run at the
//! default time scale (Cloudflare's 120 s read timeout is 1.2 s here).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use traverse_net::{Action, ClosedPort, Endpoints, bind_loopback};
use traverse_pki::Pki;
use traverse_scenario::address::{PLAIN_PORT, TLS_PORT};

use crate::support::{LoneHop, assert_rows};

/// How the next node misbehaves.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Nothing listens: the TCP connect is refused.
    Refuses,
    /// Its accept queue is full, so the TCP connect never completes.
    SlowToAccept,
    /// Accepts and reads the request, and never answers.
    NeverAnswers,
    /// Accepts, reads the request head and closes.
    ClosesWithoutAnswer,
    /// Answers plain HTTP where the hop speaks TLS.
    SpeaksNoTls,
    /// Speaks TLS with a self-signed certificate (the hop checks it).
    SelfSigned,
}

/// (hop options, origin, status the client sees, words of the hop's record)
#[rustfmt::skip]
const CASES: &[(&str, Origin, u16, &str)] = &[
    (r#"vendor = "cloudflare""#, Origin::ClosesWithoutAnswer, 520, "closed the connection without an answer"),
    (r#"vendor = "cloudflare""#, Origin::Refuses, 521, "refused"),
    (r#"vendor = "cloudflare""#, Origin::SlowToAccept, 522, "TCP connect to origin.test:80 did not complete within 19s"),
    (r#"vendor = "cloudflare""#, Origin::NeverAnswers, 524, "no response head within 120s (read_timeout)"),
    (r#"vendor = "cloudflare""#, Origin::SpeaksNoTls, 525, "TLS handshake with origin.test:443 failed"),
    (r#"vendor = "cloudflare""#, Origin::SelfSigned, 526, "unknown issuer"),
    ("vendor = \"cloudflare\"\nread_timeout = \"50s\"", Origin::NeverAnswers, 524, "within 50s"),
    (r#"vendor = "alb""#, Origin::ClosesWithoutAnswer, 502, "closed the connection without an answer"),
    (r#"vendor = "alb""#, Origin::Refuses, 502, "refused"),
    (r#"vendor = "alb""#, Origin::SlowToAccept, 504, "did not complete within 10s"),
    (r#"vendor = "alb""#, Origin::NeverAnswers, 504, "no response head within 60s"),
    ("vendor = \"alb\"\nidle_timeout = \"30s\"", Origin::NeverAnswers, 504, "no response head within 30s"),
    (r#"vendor = "alb""#, Origin::SpeaksNoTls, 502, "TLS handshake with origin.test:443 failed"),
    (r#"vendor = "alb""#, Origin::SelfSigned, 502, "unknown issuer"),
    (r#"vendor = "f5""#, Origin::Refuses, 502, "refused"),
    ("vendor = \"f5\"\nread_timeout = \"50s\"", Origin::NeverAnswers, 504, "within 50s"),
    ("", Origin::ClosesWithoutAnswer, 502, "closed the connection without an answer"),
    ("", Origin::Refuses, 502, "refused"),
    ("connect_timeout = \"50s\"", Origin::SlowToAccept, 504, "did not complete within 50s"),
    ("read_timeout = \"50s\"", Origin::NeverAnswers, 504, "within 50s"),
    ("", Origin::SpeaksNoTls, 502, "TLS handshake with origin.test:443 failed"),
    ("", Origin::SelfSigned, 502, "unknown issuer"),
];

#[tokio::test]
async fn each_vendor_answers_each_origin_failure_with_its_own_status() {
    let rows = CASES.iter().map(|&(options, origin, status, words)| async move {
        let got = run_case(options, origin).await;
        let right = got.starts_with(&format!("{status} upstream-failed ")) && got.contains(words);
        (!right).then(|| {
            format!(
                "{origin:?} with [{}]:\n  expected {status} upstream-failed …{words}…\n  got      {got}",
                options.replace('\n', "; ")
            )
        })
    });
    assert_rows(join_all(rows).await);
}

/// One row: the status the client read, the hop's action and its detail.
async fn run_case(options: &str, origin: Origin) -> String {
    let backend = match origin {
        Origin::SpeaksNoTls => "tls",
        Origin::SelfSigned => "tls-verify",
        _ => "plain",
    };
    let pki = Arc::new(Pki::generate().expect("pki"));
    let next = Next::start(origin, &pki).await;
    let topology = format!(
        "[[hops]]\nkind = \"tls-terminator\"\nname = \"edge\"\nwebsocket = true\nbackend = \"{backend}\"\n{options}\n"
    );
    let hop = LoneHop::start(&topology, next.endpoints.clone()).await;
    let status = request_status(hop.addr(TLS_PORT), &hop.pki).await;
    let record = hop.record().await;
    let action = if record.action == Action::UpstreamFailed {
        "upstream-failed".to_string()
    } else {
        format!("{:?}", record.action)
    };
    drop(next);
    format!("{status} {action} {}", record.detail)
}

/// Sends one request over TLS, as a browser trusting the public CA does,
/// and reads the status of the answer.
async fn request_status(addr: std::net::SocketAddr, pki: &Pki) -> u16 {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.expect("the hop listens");
        let name = ServerName::try_from("origin.test").expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(pki.public_client())
            .connect(name, tcp)
            .await
            .expect("the hop's certificate is publicly trusted");
        tls.write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n") {
            let read = tls.read(&mut byte).await.expect("read");
            assert!(read > 0, "the hop closed without an answer: {head:?}");
            head.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&head).into_owned();
        line.split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {line}"))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the hop answers within 10 s")
}

/// The next node: its address on both logical ports, and whatever must
/// live as long as it misbehaves.
struct Next {
    endpoints: Endpoints,
    _kept: Vec<Box<dyn Any + Send>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Next {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Next {
    async fn start(origin: Origin, pki: &Pki) -> Next {
        let mut kept: Vec<Box<dyn Any + Send>> = Vec::new();
        let (addr, task) = match origin {
            Origin::Refuses => {
                let closed = ClosedPort::new().expect("bind");
                let addr = closed.addr();
                kept.push(Box::new(closed));
                (addr, None)
            }
            Origin::SlowToAccept => {
                let (addr, listener, fillers) = full_backlog().await;
                kept.push(Box::new(listener));
                kept.push(Box::new(fillers));
                (addr, None)
            }
            Origin::NeverAnswers | Origin::ClosesWithoutAnswer | Origin::SpeaksNoTls => {
                let listener = bind_loopback().await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let task = tokio::spawn(async move {
                    let mut held = Vec::new();
                    while let Ok((mut stream, _)) = listener.accept().await {
                        let mut buffer = vec![0_u8; 4096];
                        let _ = stream.read(&mut buffer).await;
                        match origin {
                            Origin::SpeaksNoTls => {
                                let _ = stream
                                    .write_all(
                                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
                                    )
                                    .await;
                            }
                            // Holding the socket open is the misbehaviour.
                            Origin::NeverAnswers => held.push(stream),
                            _ => {}
                        }
                    }
                });
                (addr, Some(task))
            }
            Origin::SelfSigned => {
                let listener = bind_loopback().await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let config = pki
                    .origin_self_signed
                    .server_config("origin")
                    .expect("config");
                let task = tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    while let Ok((stream, _)) = listener.accept().await {
                        // The hop refuses the certificate: this fails.
                        let _ = acceptor.accept(stream).await;
                    }
                });
                (addr, Some(task))
            }
        };
        Next {
            endpoints: Endpoints::new(BTreeMap::from([(TLS_PORT, addr), (PLAIN_PORT, addr)])),
            _kept: kept,
            task,
        }
    }
}

/// A listener that never accepts, with its accept queue filled: the kernel
/// drops further SYNs, so a connect to it hangs until its own timeout.
async fn full_backlog() -> (
    std::net::SocketAddr,
    tokio::net::TcpListener,
    Vec<TcpStream>,
) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind((std::net::Ipv4Addr::LOCALHOST, 0).into())
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..32 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(error)) => {
                panic!("connect to a full backlog failed instead of hanging: {error}")
            }
            // The queue is full: the next connect hangs, which is the point.
            Err(_) => return (addr, listener, fillers),
        }
    }
    panic!("32 connections did not fill a listen(0) accept queue");
}
