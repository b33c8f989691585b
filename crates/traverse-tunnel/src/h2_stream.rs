//! The `h2` tunnel: one bidirectional HTTP/2 stream, a streaming `POST` to
//! `/tunnel` whose request body carries the probe's bytes up and whose
//! response body carries them down, as cloudflared's HTTP/2 transport
//! carries its streams. It runs over TLS whose ALPN must choose `h2`
//! (`dial.rs` insists), so a hop that terminates TLS and speaks only
//! HTTP/1.1 to clients stops it at the handshake. The client half is the
//! `h2` crate, driving the connection in a task beside the bridge; the
//! origin half is hyper's automatic server, which serves the same tunnel
//! as an HTTP/2 stream or, when a hop translated it (an AWS ALB speaks
//! HTTP/1.1 to its targets by default), as an HTTP/1.1 streaming POST,
//! chunked both ways, and records which it saw.
//! `websocket_h2.rs` shares this file's HTTP/2 client and server.

use std::convert::Infallible;
use std::future::{Future, poll_fn};

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use h2::client::SendRequest;
use h2::{Ping, RecvStream, SendStream};
use http::{Method, Request, Response, StatusCode, Version, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use traverse_net::{Action, BoxedIo, Protocol as Recognised, Tasks};
use traverse_scenario::address::ORIGIN_HOST;

use crate::bridge::{self, FrameSink, FrameSource, Inbound, Keepalives};
use crate::{Connection, Dialer, Protocol, Security, ServeContext, TunnelError, echo};

/// One HTTP/2 stream carrying the byte stream, as cloudflared's HTTP/2
/// transport does.
#[derive(Debug)]
pub(crate) struct H2Stream;

/// The only protocol these tunnels speak once TLS is up.
pub(crate) const ALPN_H2: &[&[u8]] = &[b"h2"];

/// What the origin records for each way the tunnel can reach it.
const OVER_HTTP2: &str = "HTTP/2 stream; relaying to the target";
const OVER_HTTP1: &str = "HTTP/1.1 streaming POST, translated by a hop; relaying to the target";

impl Protocol for H2Stream {
    fn url(&self, _security: Security) -> String {
        format!("https://{ORIGIN_HOST}/tunnel")
    }

    /// None of HTTP/2's own: its PING frames cross no hop as stream bytes,
    /// and an ALB's idle timer does not count them.
    fn keepalive(&self) -> Option<crate::KeepaliveKind> {
        None
    }

    fn alpn(&self) -> &'static [&'static [u8]] {
        ALPN_H2
    }

    /// Client half: the HTTP/2 connection, the POST's head, the answer's
    /// head, then the two bodies carry the probe's stream.
    async fn connect(
        &self,
        io: BoxedIo,
        _dialer: Dialer,
        url: &str,
        _options: &crate::ClientOptions,
    ) -> Result<Connection, TunnelError> {
        let mut client = Http2Client::handshake(io).await?;
        let request = Request::post(url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(())
            .map_err(|error| TunnelError::Protocol(format!("bad request for {url}: {error}")))?;
        let (answer, body) = client.open(request, "the streaming POST").await?;
        Ok(bridge::client_connection_driven(
            StreamSink(body),
            StreamSource(answer),
            None,
            client.driver,
        ))
    }

    /// Origin half: an HTTP/1.1 and HTTP/2 server whose `POST` (to any
    /// path) is relayed to the echo app.
    async fn serve(&self, io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        let tasks = context.tasks.clone();
        let service = service_fn(move |request| {
            let context = context.clone();
            async move { Ok::<_, Infallible>(answer(request, context).await) }
        });
        server(&tasks, false)
            .serve_connection(TokioIo::new(io), service)
            .await
            .map_err(|error| from_hyper(error.as_ref(), "serving HTTP at the origin"))
    }
}

/// The origin's answer to one request: `200` whose body streams what the
/// echo app sends back while the request's body streams to it.
async fn answer(request: Request<Incoming>, context: ServeContext) -> Response<Body> {
    let ServeContext {
        entry,
        target,
        tasks,
        ..
    } = context;
    entry.set_protocol(Recognised::Http);
    if request.method() != Method::POST {
        let detail = format!(
            "answered 405: the tunnel is a streaming POST, the request was a {}",
            request.method()
        );
        entry.act(Action::Responded, Some(405), detail);
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "this endpoint carries a tunnel in a streaming POST\n",
        );
    }
    let echo = match echo::connect(target).await {
        Ok(echo) => echo,
        Err(error) => {
            entry.act(Action::UpstreamFailed, None, error.to_string());
            return plain(StatusCode::BAD_GATEWAY, "the target is unreachable\n");
        }
    };
    let detail = if request.version() == Version::HTTP_2 {
        OVER_HTTP2
    } else {
        OVER_HTTP1
    };
    entry.act(Action::Forwarded, None, detail);
    // A few chunks in flight, no more: the client's window is what paces
    // the echo app, as it would a real server.
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    let upload = request.into_body();
    tasks.spawn(async move {
        if let Err(error) = bridge::bridge(
            echo,
            BodySink(Some(sender)),
            BodySource(upload),
            "the echo app",
            Keepalives::default(),
        )
        .await
        {
            tracing::debug!(%error, "origin HTTP stream relay ended");
        }
    });
    let download = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let data = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(data)), receiver))
    });
    let mut response = Response::new(StreamBody::new(download).boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// Every answer's body: streamed or whole.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed_unsync());
    *response.status_mut() = status;
    response
}

pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().boxed_unsync());
    *response.status_mut() = status;
    response
}

/// The origin's HTTP server: HTTP/2 or HTTP/1.1, whichever the peer's
/// first bytes are (a hop may have translated the tunnel), with RFC 8441's
/// extended CONNECT enabled when `extended_connect`. Its streams are the
/// cell's tasks, so none outlives the cell. It has no timer, as the other
/// origins have none: a header timeout of its own would act on wall time,
/// unscaled, where the probe's steps bound every wait already.
pub(crate) fn server(tasks: &Tasks, extended_connect: bool) -> auto::Builder<CellExecutor> {
    let mut builder = auto::Builder::new(CellExecutor(tasks.clone()));
    if extended_connect {
        builder.http2().enable_connect_protocol();
    }
    builder
}

/// Runs hyper's HTTP/2 stream tasks as the cell's tasks.
#[derive(Debug, Clone)]
pub(crate) struct CellExecutor(Tasks);

impl<F> hyper::rt::Executor<F> for CellExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, work: F) {
        self.0.spawn(async move {
            work.await;
        });
    }
}

/// The client's HTTP/2 connection, its frames read and written by a task
/// that `driver` ends with.
pub(crate) struct Http2Client {
    requests: SendRequest<Bytes>,
    /// The connection's task: it fails with the connection (a GOAWAY, a
    /// broken TLS stream), and is aborted when dropped.
    pub(crate) driver: BoxFuture<'static, Result<(), TunnelError>>,
}

impl Http2Client {
    /// The connection preface both ways, and the server's SETTINGS known:
    /// a server's first frame is its SETTINGS (RFC 9113 §3.4), so once our
    /// PING is answered its settings have been read.
    pub(crate) async fn handshake(io: BoxedIo) -> Result<Http2Client, TunnelError> {
        let (requests, mut connection) = h2::client::handshake(io)
            .await
            .map_err(|error| from_h2(&error, "the HTTP/2 handshake"))?;
        let ping = connection.ping_pong();
        let task = AbortOnDropHandle::new(tokio::spawn(connection));
        let mut driver = async move {
            match task.await {
                Ok(result) => result.map_err(|error| from_h2(&error, "the HTTP/2 connection")),
                Err(error) => Err(TunnelError::Protocol(format!(
                    "the HTTP/2 connection's task failed: {error}"
                ))),
            }
        }
        .boxed();
        if let Some(mut ping) = ping {
            tokio::select! {
                pong = ping.ping(Ping::opaque()) => {
                    if let Err(error) = pong {
                        let during = "waiting for the server's HTTP/2 SETTINGS";
                        return Err(why(&mut driver, &error, during).await);
                    }
                }
                ended = &mut driver => {
                    ended?;
                    return Err(TunnelError::Closed {
                        during: "waiting for the server's HTTP/2 SETTINGS".to_string(),
                    });
                }
            }
        }
        let requests = requests
            .ready()
            .await
            .map_err(|error| from_h2(&error, "opening an HTTP/2 stream"))?;
        Ok(Http2Client { requests, driver })
    }

    /// Whether the server's SETTINGS enable RFC 8441's extended CONNECT.
    pub(crate) fn extended_connect(&self) -> bool {
        self.requests.is_extended_connect_protocol_enabled()
    }

    /// Sends `request`'s head on a new stream, its body left open, and
    /// waits for a `200`; anything else is the server's refusal of
    /// `handshake`. Hands back the answer's body and the request's.
    pub(crate) async fn open(
        &mut self,
        request: Request<()>,
        handshake: &'static str,
    ) -> Result<(RecvStream, SendStream<Bytes>), TunnelError> {
        let during = format!("{handshake} over HTTP/2");
        let (answer, body) = self
            .requests
            .send_request(request, false)
            .map_err(|error| from_h2(&error, &during))?;
        let answer = match answer.await {
            Ok(answer) => answer,
            Err(error) => return Err(why(&mut self.driver, &error, &during).await),
        };
        let status = answer.status();
        if status != StatusCode::OK {
            return Err(TunnelError::Refused {
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_string(),
                handshake,
            });
        }
        Ok((answer.into_body(), body))
    }
}

/// Why a stream failed with `error`: a stream fails with the connection
/// it is on, as a broken pipe, and the connection's own end (the server's
/// GOAWAY and its code) says more, once its task has it.
async fn why(
    driver: &mut BoxFuture<'static, Result<(), TunnelError>>,
    error: &h2::Error,
    during: &str,
) -> TunnelError {
    if error.get_io().is_none() {
        return from_h2(error, during);
    }
    match tokio::time::timeout(CONNECTION_END, driver).await {
        Ok(Err(ended)) => ended,
        _ => from_h2(error, during),
    }
}

/// How long a failed stream waits for its connection's task to say why:
/// the task ends as soon as it has read the connection's end.
const CONNECTION_END: std::time::Duration = std::time::Duration::from_millis(500);

/// An HTTP/2 failure as a person reads it: the peer's reset of the stream
/// or its GOAWAY, with the code it gave, or the connection underneath.
pub(crate) fn from_h2(error: &h2::Error, during: &str) -> TunnelError {
    if let Some(io) = error.get_io() {
        return TunnelError::from_io(io, during);
    }
    let who = if error.is_remote() {
        "the peer"
    } else {
        "this side"
    };
    let code = error
        .reason()
        .map_or_else(|| "no code".to_string(), |reason| format!("{reason:?}"));
    if error.is_go_away() {
        TunnelError::Closed {
            during: format!("{during} ({who} closed the HTTP/2 connection with GOAWAY {code})"),
        }
    } else if error.is_reset() {
        TunnelError::Reset {
            during: format!("{during} ({who} reset the HTTP/2 stream with RST_STREAM {code})"),
        }
    } else {
        TunnelError::Protocol(format!("HTTP/2 error during {during}: {error}"))
    }
}

/// A hyper failure: the HTTP/2 or I/O error inside it, where there is one.
pub(crate) fn from_hyper(error: &(dyn std::error::Error + 'static), during: &str) -> TunnelError {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return from_h2(h2, during);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return TunnelError::from_io(io, during);
        }
        cause = error.source();
    }
    TunnelError::Protocol(format!("HTTP error during {during}: {error}"))
}

/// The sending half of an HTTP/2 stream, paced by the peer's window.
pub(crate) struct StreamSink(pub(crate) SendStream<Bytes>);

impl StreamSink {
    /// Why the stream can take no more: the peer's reset, if it sent one.
    fn closed(&mut self, during: &str) -> TunnelError {
        match poll_fn(|cx| self.0.poll_reset(cx)).now_or_never() {
            Some(Ok(reason)) => TunnelError::Reset {
                during: format!(
                    "{during} (the peer reset the HTTP/2 stream with RST_STREAM {reason:?})"
                ),
            },
            Some(Err(error)) => from_h2(&error, during),
            None => TunnelError::Closed {
                during: format!("{during} (the HTTP/2 stream is closed)"),
            },
        }
    }
}

impl FrameSink for StreamSink {
    fn send(&mut self, mut data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            let during = "sending on the HTTP/2 stream";
            // Each turn sends at least one byte: h2 grants capacity above zero.
            while !data.is_empty() {
                self.0.reserve_capacity(data.len());
                match poll_fn(|cx| self.0.poll_capacity(cx)).await {
                    Some(Ok(granted)) => {
                        let chunk = data.split_to(granted.min(data.len()));
                        self.0
                            .send_data(chunk, false)
                            .map_err(|error| from_h2(&error, during))?;
                    }
                    Some(Err(error)) => return Err(from_h2(&error, during)),
                    None => return Err(self.closed(during)),
                }
            }
            Ok(())
        })
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.0
                .send_data(Bytes::new(), true)
                .map_err(|error| from_h2(&error, "ending the HTTP/2 stream"))
        })
    }
}

/// The receiving half of an HTTP/2 stream; what it hands on is released
/// to the peer's window at once, since the bridge has taken it.
pub(crate) struct StreamSource(pub(crate) RecvStream);

impl FrameSource for StreamSource {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            match self.0.data().await {
                Some(Ok(data)) => {
                    let _ = self.0.flow_control().release_capacity(data.len());
                    Ok(Some(Inbound::Data(data)))
                }
                Some(Err(error)) => Err(from_h2(&error, "receiving on the HTTP/2 stream")),
                None => Ok(None),
            }
        })
    }
}

/// The origin's response body, fed chunk by chunk; dropping the sender
/// ends it (`END_STREAM`, or HTTP/1.1's last chunk).
struct BodySink(Option<mpsc::Sender<Bytes>>);

impl FrameSink for BodySink {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            let gone = || TunnelError::Closed {
                during: "sending the response body (the client's side is gone)".to_string(),
            };
            let sender = self.0.as_ref().ok_or_else(gone)?;
            sender.send(data).await.map_err(|_| gone())
        })
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        self.0 = None;
        Box::pin(async { Ok(()) })
    }
}

/// The request body as it arrives at the origin, HTTP/2 or HTTP/1.1.
struct BodySource(Incoming);

impl FrameSource for BodySource {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            // Trailers carry no stream bytes; a body has at most one set.
            for _ in 0..2 {
                match self.0.frame().await {
                    None => return Ok(None),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(Inbound::Data(data)));
                        }
                    }
                    Some(Err(error)) => {
                        return Err(from_hyper(&error, "receiving the request body"));
                    }
                }
            }
            Ok(None)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use h2::Reason;
    use traverse_net::{ActivityClock, ConnRecord, TransactionLog};

    use super::*;

    /// An origin half's context with a live echo app, and its log.
    pub(crate) async fn context() -> (ServeContext, TransactionLog) {
        let tasks = Tasks::new();
        let target = echo::start_echo(&tasks, &ActivityClock::new())
            .await
            .expect("echo");
        let log = TransactionLog::new();
        let entry = log.open(([127, 0, 0, 1], 1).into(), 443);
        let context = ServeContext {
            entry,
            target,
            sessions: crate::session::Sessions::new(&tasks),
            tasks,
            step_timeout: Duration::from_secs(2),
            time_scale: traverse_scenario::TimeScale::DEFAULT,
        };
        (context, log)
    }

    pub(crate) fn record(log: &TransactionLog) -> ConnRecord {
        log.snapshot().into_iter().next().expect("one record")
    }

    /// An HTTP/2 server (the `h2` crate's) on the far end of the returned
    /// stream, answering its first request with `answer`: what a hop on
    /// the path that speaks HTTP/2 might say.
    pub(crate) fn h2_server(
        extended_connect: bool,
        answer: impl FnOnce(
            &mut h2::server::Connection<tokio::io::DuplexStream, Bytes>,
            h2::server::SendResponse<Bytes>,
        ) + Send
        + 'static,
    ) -> BoxedIo {
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut builder = h2::server::Builder::new();
            if extended_connect {
                builder.enable_connect_protocol();
            }
            let Ok(mut connection) = builder.handshake(server).await else {
                return;
            };
            if let Some(Ok((_request, respond))) = connection.accept().await {
                answer(&mut connection, respond);
            }
            // Drives the connection, so what was answered is written,
            // until the client leaves.
            while let Some(Ok(_)) = connection.accept().await {}
        });
        Box::new(client)
    }

    fn status(code: StatusCode) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = code;
        response
    }

    async fn connect(io: BoxedIo) -> Result<Connection, TunnelError> {
        H2Stream
            .connect(
                io,
                Dialer::nowhere(),
                &H2Stream.url(Security::TlsVerified),
                &Default::default(),
            )
            .await
    }

    #[tokio::test]
    async fn an_answer_other_than_200_is_a_refusal_with_its_status() {
        let io = h2_server(false, |_, mut respond| {
            let _ = respond.send_response(status(StatusCode::NOT_FOUND), true);
        });
        let error = connect(io).await.expect_err("refused");
        assert_eq!(
            error.to_string(),
            "answered HTTP 404 Not Found to the streaming POST"
        );
    }

    #[tokio::test]
    async fn a_reset_stream_is_a_reset_naming_its_code() {
        let io = h2_server(false, |_, mut respond| {
            respond.send_reset(Reason::REFUSED_STREAM);
        });
        let error = connect(io).await.expect_err("reset");
        assert!(matches!(error, TunnelError::Reset { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "connection reset during the streaming POST over HTTP/2 (the peer reset the HTTP/2 \
             stream with RST_STREAM REFUSED_STREAM)"
        );
    }

    #[tokio::test]
    async fn a_goaway_is_a_closed_connection_naming_its_code() {
        // Over TCP, closed as servers close: FIN after the GOAWAY, then
        // reading on until the client leaves (a close with unread bytes
        // would reset the connection before the client reads the GOAWAY).
        let listener = traverse_net::bind_loopback().await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            let (tcp, _) = listener.accept().await.expect("accept");
            let (h2_side, mut relayed) = tokio::io::duplex(64 * 1024);
            let server = async move {
                let mut connection = h2::server::handshake(h2_side).await.expect("handshake");
                // Before any stream: the client's POST is past its last stream.
                connection.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                while let Some(Ok(_)) = connection.accept().await {}
            };
            let (mut from_client, mut to_client) = tcp.into_split();
            let (mut from_server, mut to_server) = tokio::io::split(&mut relayed);
            let down = async {
                let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                let _ = to_client.shutdown().await;
            };
            let up = async {
                let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                let _ = tokio::io::copy(&mut from_client, &mut tokio::io::sink()).await;
            };
            tokio::join!(server, down, up);
        });
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let error = connect(Box::new(client)).await.expect_err("closed");
        assert!(matches!(error, TunnelError::Closed { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .ends_with("(the peer closed the HTTP/2 connection with GOAWAY ENHANCE_YOUR_CALM)"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn over_http2_the_stream_carries_bytes_both_ways_and_the_origin_says_so() {
        let (context, log) = context().await;
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(H2Stream.serve(Box::new(server), context));
        let mut connection = connect(Box::new(client)).await.expect("connects");
        let echoed = exchange(&mut connection.stream, b"over one stream").await;
        assert_eq!(echoed, b"over one stream");
        let record = record(&log);
        assert_eq!(
            (record.action, record.detail.as_str()),
            (Action::Forwarded, OVER_HTTP2)
        );
    }

    /// Writes `bytes` and reads as many back.
    async fn exchange(stream: &mut BoxedIo, bytes: &[u8]) -> Vec<u8> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        stream.write_all(bytes).await.expect("write");
        let mut back = vec![0_u8; bytes.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .expect("echoed in time")
            .expect("read");
        back
    }

    /// What a hop that speaks HTTP/1.1 to the origin (an ALB's default)
    /// makes of the tunnel: a chunked POST whose chunked answer streams
    /// while the request is still open.
    #[tokio::test]
    async fn an_http1_streaming_post_is_served_full_duplex_and_recorded_as_translated() {
        let (context, log) = context().await;
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(H2Stream.serve(Box::new(server), context));
        let (mut requests, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(client))
                .await
                .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        let (upload, chunks) = mpsc::channel::<Bytes>(4);
        let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
            let chunk = chunks.recv().await?;
            Some((Ok::<_, Infallible>(Frame::data(chunk)), chunks))
        });
        let request = Request::post("/tunnel")
            .header(header::HOST, ORIGIN_HOST)
            .body(StreamBody::new(body))
            .expect("request");
        let answer = requests.send_request(request);
        upload
            .send(Bytes::from_static(b"first"))
            .await
            .expect("send");
        let mut answer = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("answered while the request is open")
            .expect("answer");
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.version(), Version::HTTP_11);
        assert_eq!(
            answer.headers().get(header::TRANSFER_ENCODING),
            Some(&header::HeaderValue::from_static("chunked"))
        );
        let body = answer.body_mut();
        let mut next = async || {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .expect("a chunk in time");
            frame.map(|frame| frame.expect("frame").into_data().expect("data"))
        };
        assert_eq!(next().await.as_deref(), Some(&b"first"[..]));
        upload
            .send(Bytes::from_static(b"second"))
            .await
            .expect("send");
        assert_eq!(next().await.as_deref(), Some(&b"second"[..]));
        drop(upload);
        assert_eq!(next().await, None, "the answer ends after the request");
        let record = record(&log);
        assert_eq!(
            (record.action, record.detail.as_str()),
            (Action::Forwarded, OVER_HTTP1)
        );
    }
}
