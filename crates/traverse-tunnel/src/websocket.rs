//! The `ws`, `wss`, `ws-unmasked` and `wss-unmasked` tunnels: RFC 6455
//! with tokio-tungstenite, the byte stream carried in binary messages,
//! client frames masked as the RFC requires or, for the unmasked ones, sent
//! in clear as wstunnel's client does by default. The origin half is a real
//! HTTP/1.1 server (hyper) that answers a request without `Upgrade:
//! websocket` with `426 Upgrade Required`, as a WebSocket endpoint behind a
//! header-stripping proxy would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use traverse_net::http::is_websocket_upgrade;
use traverse_net::{Action, BoxedIo, ConnEntry, Io, Protocol as Recognised, Tasks};

use crate::bridge::{self, FrameSink, FrameSource, Inbound, Keepalives};
use crate::protocol::websocket_url;
use crate::{
    Connection, Dialer, KeepaliveKind, Protocol, Security, ServeContext, TunnelError, echo,
};

/// RFC 6455 WebSocket; `masked` says whether the client masks its frames.
/// The origin half is the same for both: it accepts either.
#[derive(Debug)]
pub(crate) struct WebSocket {
    pub(crate) masked: bool,
}

impl Protocol for WebSocket {
    fn url(&self, security: Security) -> String {
        websocket_url(security)
    }

    fn keepalive(&self) -> Option<KeepaliveKind> {
        Some(KeepaliveKind::Ping)
    }

    /// Client half: the opening handshake, then the probe's stream as messages.
    async fn connect(
        &self,
        io: BoxedIo,
        _dialer: Dialer,
        url: &str,
        keepalive: Option<Duration>,
    ) -> Result<Connection, TunnelError> {
        let request = url
            .into_client_request()
            .map_err(|error| TunnelError::Protocol(format!("bad WebSocket URL {url}: {error}")))?;
        let (socket, _response) = tokio_tungstenite::client_async(request, io)
            .await
            .map_err(|error| from_ws(error, "the WebSocket handshake"))?;
        let socket = if self.masked {
            socket
        } else {
            // tungstenite masks every client frame; a client that does not is,
            // on the wire, a server-role endpoint after the handshake.
            WebSocketStream::from_raw_socket(socket.into_inner(), Role::Server, Some(lenient()))
                .await
        };
        let (sink, source) = socket.split();
        Ok(bridge::client_connection(
            WsSink(sink),
            WsSource(source),
            keepalive,
        ))
    }

    /// Origin half: an HTTP server that upgrades `/tunnel` (or any path) to
    /// WebSocket and relays it to the echo app.
    async fn serve(&self, io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        let ServeContext {
            entry,
            target,
            tasks,
            ..
        } = context;
        let service = service_fn(move |request| {
            let entry = entry.clone();
            let tasks = tasks.clone();
            async move { Ok::<_, Infallible>(answer(request, entry, target, &tasks, OPENED)) }
        });
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
            .await
            .map_err(|error| TunnelError::Protocol(format!("HTTP error at the origin: {error}")))
    }
}

pub(crate) fn from_ws(error: tungstenite::Error, during: &str) -> TunnelError {
    match error {
        tungstenite::Error::Http(response) => TunnelError::Refused {
            status: response.status().as_u16(),
            reason: response
                .status()
                .canonical_reason()
                .unwrap_or_default()
                .to_string(),
            handshake: "the WebSocket handshake",
        },
        tungstenite::Error::Io(error) => TunnelError::from_io(&error, during),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            TunnelError::Closed {
                during: during.to_string(),
            }
        }
        tungstenite::Error::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete) => {
            TunnelError::Closed {
                during: during.to_string(),
            }
        }
        // The peer's TCP connection ended with no close frame: something on
        // the path closed it (HAProxy's `timeout tunnel` sends a plain FIN),
        // which is a closed connection, not a peer speaking another protocol.
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => TunnelError::Closed {
            during: format!("{during} (no WebSocket close frame)"),
        },
        other => TunnelError::Protocol(format!("{other} during {during}")),
    }
}

/// What the origin records when an HTTP/1.1 upgrade opens the WebSocket.
const OPENED: &str = "WebSocket open; relaying to the target";

/// The origin's answer to one HTTP/1.1 request: `101` and the WebSocket
/// relayed to the echo app, or `426` to a request that does not ask for
/// it. `opened` is what the origin records once the WebSocket is open.
pub(crate) fn answer(
    mut request: Request<Incoming>,
    entry: ConnEntry,
    target: SocketAddr,
    tasks: &Tasks,
    opened: &'static str,
) -> Response<Full<Bytes>> {
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (is_websocket_upgrade(request.headers()), key) else {
        entry.set_protocol(Recognised::Http);
        entry.act(
            Action::Responded,
            Some(426),
            "answered 426: the request reached the origin without `Upgrade: websocket`",
        );
        return plain(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket; the request arrived without `Upgrade: websocket`\n",
        );
    };
    entry.set_protocol(Recognised::Websocket);
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    tasks.spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            entry.act(Action::ProtocolError, None, "the upgrade never completed");
            return;
        };
        relay_upgraded(TokioIo::new(upgraded), &entry, target, 101, opened).await;
    });
    let mut response = plain(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

/// The origin's half of an open WebSocket, however it was opened (an
/// HTTP/1.1 upgrade, an HTTP/2 extended CONNECT): RFC 6455 frames on
/// `upgraded`, relayed to the echo app, recorded as `Upgraded` with
/// `status` and `detail` once the echo app is reached.
pub(crate) async fn relay_upgraded(
    upgraded: impl Io,
    entry: &ConnEntry,
    target: SocketAddr,
    status: u16,
    detail: &'static str,
) {
    let socket = WebSocketStream::from_raw_socket(upgraded, Role::Server, Some(lenient())).await;
    let echo = match echo::connect(target).await {
        Ok(echo) => echo,
        Err(error) => {
            entry.act(Action::UpstreamFailed, None, error.to_string());
            return;
        }
    };
    entry.act(Action::Upgraded, Some(status), detail);
    let (sink, source) = socket.split();
    if let Err(error) = bridge::bridge(
        echo,
        WsSink(sink),
        WsSource(source),
        "the echo app",
        Keepalives::default(),
    )
    .await
    {
        tracing::debug!(%error, "origin WebSocket relay ended");
    }
}

/// The tunnel's own server half accepts unmasked client frames, as
/// wstunnel's server does: telling them apart is the middleboxes' business.
fn lenient() -> WebSocketConfig {
    WebSocketConfig::default().accept_unmasked_frames(true)
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

pub(crate) struct WsSink<S>(pub(crate) SplitSink<WebSocketStream<S>, Message>);
pub(crate) struct WsSource<S>(pub(crate) SplitStream<WebSocketStream<S>>);

impl<S: Io> FrameSink for WsSink<S> {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.0
                .send(Message::Binary(data))
                .await
                .map_err(|error| from_ws(error, "sending a WebSocket message"))
        })
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            // Sends our Close, or flushes the reply to the peer's Close.
            match self.0.close().await {
                Ok(())
                | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    Ok(())
                }
                Err(error) => Err(from_ws(error, "closing the WebSocket")),
            }
        })
    }

    fn keepalive(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.0
                .send(Message::Ping(Bytes::from_static(b"traverse")))
                .await
                .map_err(|error| from_ws(error, "sending a WebSocket ping"))
        })
    }
}

impl<S: Io> FrameSource for WsSource<S> {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            loop {
                match self.0.next().await {
                    Some(Ok(Message::Binary(data))) => return Ok(Some(Inbound::Data(data))),
                    Some(Ok(Message::Pong(_))) => return Ok(Some(Inbound::Answer)),
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            Some(frame) if frame.code != CloseCode::Normal => {
                                Err(TunnelError::Protocol(format!(
                                    "the peer closed the WebSocket with {}: {}",
                                    u16::from(frame.code),
                                    frame.reason
                                )))
                            }
                            _ => Ok(None),
                        };
                    }
                    Some(Ok(Message::Text(_))) => {
                        return Err(TunnelError::Protocol(
                            "received a text message where the tunnel sends binary".to_string(),
                        ));
                    }
                    // tungstenite answers pings itself, with the pong RFC 6455 asks for.
                    Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
                    Some(Err(error)) => return Err(from_ws(error, "receiving WebSocket messages")),
                    None => {
                        return Err(TunnelError::Closed {
                            during: "the WebSocket, before its Close frame".to_string(),
                        });
                    }
                }
            }
        })
    }
}
