//! The `ws-h2` tunnel: RFC 8441 WebSocket over HTTP/2. Over TLS whose ALPN
//! chose `h2`, the client waits for the server's SETTINGS and sends an
//! extended CONNECT (`:protocol = websocket`) only if they enable it
//! (`SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`; RFC 8441 §3 forbids it
//! otherwise); on `200`, RFC 6455 frames travel on the stream, with
//! tokio-tungstenite over a pipe that the stream's DATA frames carry. The
//! origin half serves the extended CONNECT, and also the HTTP/1.1
//! `Upgrade: websocket` a hop makes of it when it speaks HTTP/1.1 inward
//! (HAProxy 2.4+ translates), recording which it saw. The HTTP/2 client and
//! server are `h2_stream.rs`'s; the WebSocket frames are `websocket.rs`'s.

use std::convert::Infallible;
use std::net::SocketAddr;

use futures_util::StreamExt as _;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use traverse_net::{Action, BoxedIo, ConnEntry, Protocol as Recognised, Tasks};

use crate::bridge::{self, Keepalives};
use crate::h2_stream::{self, ALPN_H2, Body, Http2Client, StreamSink, StreamSource, from_hyper};
use crate::protocol::websocket_url;
use crate::websocket::{self, WsSink};
use crate::{
    ClientOptions, Connection, Dialer, KeepaliveKind, Protocol, Security, ServeContext, TunnelError,
};

/// RFC 8441 WebSocket over an HTTP/2 stream, client frames masked.
#[derive(Debug)]
pub(crate) struct WebSocketH2;

/// What the origin records for each way the WebSocket can reach it.
const OVER_HTTP2: &str = "RFC 8441 WebSocket on an HTTP/2 stream; relaying to the target";
const OVER_HTTP1: &str = "HTTP/1.1 WebSocket Upgrade, translated by a hop; relaying to the target";

/// A pipe's capacity between tungstenite and the stream: a few frames.
const PIPE: usize = 64 * 1024;

impl Protocol for WebSocketH2 {
    fn url(&self, security: Security) -> String {
        websocket_url(security)
    }

    fn keepalive(&self) -> Option<KeepaliveKind> {
        Some(KeepaliveKind::Ping)
    }

    fn alpn(&self) -> &'static [&'static [u8]] {
        ALPN_H2
    }

    /// Client half: the HTTP/2 connection and the server's SETTINGS, the
    /// extended CONNECT, then the probe's stream as WebSocket messages.
    async fn connect(
        &self,
        io: BoxedIo,
        _dialer: Dialer,
        url: &str,
        options: &ClientOptions,
    ) -> Result<Connection, TunnelError> {
        let mut client = Http2Client::handshake(io).await?;
        if !client.extended_connect() {
            return Err(TunnelError::Declined {
                reason: "the HTTP/2 server did not enable extended CONNECT (its SETTINGS lack \
                         SETTINGS_ENABLE_CONNECT_PROTOCOL = 1), so RFC 8441 §3 forbids the \
                         WebSocket's CONNECT"
                    .to_string(),
            });
        }
        // RFC 8441 §4: the `wss` URI's scheme is `https` on the stream.
        let target = url.replacen("wss://", "https://", 1);
        let request = Request::builder()
            .method(Method::CONNECT)
            .uri(&target)
            .header("sec-websocket-version", "13")
            .extension(h2::ext::Protocol::from_static("websocket"))
            .body(())
            .map_err(|error| TunnelError::Protocol(format!("bad request for {url}: {error}")))?;
        let (answer, body) = client
            .open(request, "the extended CONNECT (RFC 8441)")
            .await?;
        // tungstenite reads and writes a byte stream; the stream's DATA
        // frames carry the pipe's other end.
        let (socket_side, stream_side) = tokio::io::duplex(PIPE);
        let carried = bridge::bridge(
            stream_side,
            StreamSink(body),
            StreamSource(answer),
            "the WebSocket's bytes",
            Keepalives::default(),
        );
        let driver = client.driver;
        let driver = async move { tokio::try_join!(driver, carried).map(|_| ()) };
        let socket = WebSocketStream::from_raw_socket(socket_side, Role::Client, None).await;
        let (sink, source) = socket.split();
        let sink = WsSink::plain(sink);
        let source = sink.source(source);
        Ok(bridge::client_connection_driven(
            sink,
            source,
            options.keepalive,
            driver,
        ))
    }

    /// Origin half: HTTP/2 with extended CONNECT enabled, or HTTP/1.1 with
    /// upgrades, whichever arrives; both relay WebSocket to the echo app.
    async fn serve(&self, io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        let ServeContext {
            entry,
            target,
            tasks,
            ..
        } = context;
        let server = h2_stream::server(&tasks, true);
        let service = service_fn(move |request| {
            let entry = entry.clone();
            let tasks = tasks.clone();
            async move { Ok::<_, Infallible>(answer(request, entry, target, &tasks)) }
        });
        server
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .await
            .map_err(|error| from_hyper(error.as_ref(), "serving HTTP at the origin"))
    }
}

fn answer(
    mut request: Request<Incoming>,
    entry: ConnEntry,
    target: SocketAddr,
    tasks: &Tasks,
) -> Response<Body> {
    if request.version() != Version::HTTP_2 {
        return websocket::answer(request, entry, target, tasks, OVER_HTTP1)
            .map(|body| body.boxed_unsync());
    }
    let protocol = request
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(|protocol| protocol.as_str().to_string());
    if request.method() != Method::CONNECT || protocol.as_deref() != Some("websocket") {
        entry.set_protocol(Recognised::Http);
        let asked = match protocol {
            Some(protocol) => format!("{} with :protocol {protocol}", request.method()),
            None => request.method().to_string(),
        };
        entry.act(
            Action::Responded,
            Some(400),
            format!(
                "answered 400: the HTTP/2 request ({asked}) is not an extended CONNECT \
                 for websocket"
            ),
        );
        return h2_stream::plain(
            StatusCode::BAD_REQUEST,
            "this endpoint speaks WebSocket over HTTP/2 (RFC 8441 extended CONNECT)\n",
        );
    }
    entry.set_protocol(Recognised::Websocket);
    let upgrade = hyper::upgrade::on(&mut request);
    tasks.spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                websocket::relay_upgraded(
                    TokioIo::new(upgraded),
                    &entry,
                    target,
                    200,
                    OVER_HTTP2,
                    None,
                )
                .await;
            }
            Err(error) => entry.act(
                Action::ProtocolError,
                None,
                format!("the extended CONNECT's stream never opened: {error}"),
            ),
        }
    });
    h2_stream::empty(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::h2_stream::tests::{context, h2_server, record};

    async fn connect(io: BoxedIo) -> Result<Connection, TunnelError> {
        WebSocketH2
            .connect(
                io,
                Dialer::nowhere(),
                &WebSocketH2.url(Security::TlsVerified),
                &Default::default(),
            )
            .await
    }

    #[tokio::test]
    async fn a_server_that_did_not_enable_extended_connect_is_declined_without_asking() {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = asked.clone();
        let io = h2_server(false, move |_, _| {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let error = connect(io).await.expect_err("declined");
        assert!(matches!(error, TunnelError::Declined { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("lack SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"),
            "{error}"
        );
        assert!(
            !asked.load(std::sync::atomic::Ordering::Relaxed),
            "RFC 8441 §3: no extended CONNECT is sent"
        );
    }

    #[tokio::test]
    async fn an_extended_connect_answered_with_a_status_is_refused_with_it() {
        let io = h2_server(true, |_, mut respond| {
            let mut answer = Response::new(());
            *answer.status_mut() = StatusCode::NOT_IMPLEMENTED;
            let _ = respond.send_response(answer, true);
        });
        let error = connect(io).await.expect_err("refused");
        assert_eq!(
            error.to_string(),
            "answered HTTP 501 Not Implemented to the extended CONNECT (RFC 8441)"
        );
    }

    #[tokio::test]
    async fn over_http2_the_origin_opens_the_websocket_on_the_stream() {
        let (context, log) = context().await;
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(WebSocketH2.serve(Box::new(server), context));
        let mut connection = connect(Box::new(client)).await.expect("connects");
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        connection.stream.write_all(b"frames").await.expect("write");
        let mut back = [0_u8; 6];
        tokio::time::timeout(
            Duration::from_secs(5),
            connection.stream.read_exact(&mut back),
        )
        .await
        .expect("in time")
        .expect("read");
        assert_eq!(&back, b"frames");
        let record = record(&log);
        assert_eq!(
            (record.action, record.status, record.detail.as_str()),
            (Action::Upgraded, Some(200), OVER_HTTP2)
        );
    }

    /// What HAProxy 2.4+ makes of the extended CONNECT towards an HTTP/1.1
    /// server: an `Upgrade: websocket` request, which the origin serves.
    #[tokio::test]
    async fn an_http1_upgrade_is_served_and_recorded_as_translated() {
        let (context, log) = context().await;
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(WebSocketH2.serve(Box::new(server), context));
        let (mut socket, answer) =
            tokio_tungstenite::client_async("ws://origin.test/tunnel", client)
                .await
                .expect("upgraded");
        assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
        socket
            .send(Message::Binary("translated".into()))
            .await
            .expect("send");
        let echoed = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("in time")
            .expect("a message")
            .expect("no error");
        assert_eq!(echoed, Message::Binary("translated".into()));
        let record = record(&log);
        assert_eq!(
            (record.action, record.status, record.detail.as_str()),
            (Action::Upgraded, Some(101), OVER_HTTP1)
        );
    }

    #[tokio::test]
    async fn an_http2_request_that_is_not_an_extended_connect_is_answered_400() {
        let (context, log) = context().await;
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(WebSocketH2.serve(Box::new(server), context));
        let mut client = Http2Client::handshake(Box::new(client))
            .await
            .expect("HTTP/2");
        let request = Request::get("https://origin.test/tunnel")
            .body(())
            .expect("request");
        let error = client.open(request, "a GET").await.expect_err("refused");
        assert_eq!(error.to_string(), "answered HTTP 400 Bad Request to a GET");
        assert_eq!(record(&log).status, Some(400));
    }
}
