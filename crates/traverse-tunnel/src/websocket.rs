//! The `ws`, `wss`, `ws-unmasked` and `wss-unmasked` tunnels: RFC 6455
//! with tokio-tungstenite, the byte stream carried in binary messages,
//! client frames masked as the RFC requires or, for the unmasked ones, sent
//! in clear as wstunnel's client does by default. The origin half is a real
//! HTTP/1.1 server (hyper) that answers a request without `Upgrade:
//! websocket` with `426 Upgrade Required`, as a WebSocket endpoint behind a
//! header-stripping proxy would.
//!
//! The client uses the RFC 6455 features the tunnel's parameters ask for
//! (a subprotocol it requires, messages of a size, fragments, text, a close
//! code) and counts the frames it sends. The origin selects the first
//! subprotocol offered, answers in the kind of message it received, and
//! records what it saw (the offers, the client's frames as they arrived,
//! the close code), which the runner holds against the client's count.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use traverse_net::http::is_websocket_upgrade;
use traverse_net::websocket::{self as frames, CloseSeen, FrameScanner, FrameSummary};
use traverse_net::{Action, BoxedIo, ConnEntry, Io, Protocol as Recognised, Tasks};

use crate::bridge::{self, FrameSink, FrameSource, Inbound, Keepalives};
use crate::deflate;
use crate::parameters::Deflate;
use crate::protocol::websocket_url;
use crate::{
    ClientOptions, Connection, Dialer, KeepaliveKind, Protocol, Security, ServeContext,
    TunnelError, WebSocketOptions, echo,
};

/// The reason the client's close frame gives, which the origin must
/// receive as sent.
pub const CLOSE_REASON: &str = "traverse: the probe is done";

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

    fn websocket_features(&self) -> bool {
        true
    }

    fn masks_frames(&self) -> bool {
        self.masked
    }

    /// Client half: the opening handshake, then the probe's stream as messages.
    async fn connect(
        &self,
        io: BoxedIo,
        _dialer: Dialer,
        url: &str,
        options: &ClientOptions,
    ) -> Result<Connection, TunnelError> {
        let features = &options.websocket;
        let mut request = url
            .into_client_request()
            .map_err(|error| TunnelError::Protocol(format!("bad WebSocket URL {url}: {error}")))?;
        if let Some(subprotocol) = &features.subprotocol {
            let value = header::HeaderValue::from_str(subprotocol).map_err(|_| {
                TunnelError::Protocol(format!("bad subprotocol name {subprotocol:?}"))
            })?;
            request
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        if features.deflate.is_some() {
            request.headers_mut().insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                header::HeaderValue::from_static(deflate::OFFER),
            );
        }
        let (socket, response) =
            tokio_tungstenite::client_async(request, io)
                .await
                .map_err(|error| match error {
                    tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(why),
                    ) => TunnelError::Declined {
                        reason: format!(
                            "the WebSocket handshake was answered without the subprotocol the \
                         client requires ({}: {why})",
                            features.subprotocol.as_deref().unwrap_or_default()
                        ),
                    },
                    error => from_ws(error, "the WebSocket handshake"),
                })?;
        let agreed = response
            .headers()
            .get(header::SEC_WEBSOCKET_EXTENSIONS)
            .and_then(|value| value.to_str().ok())
            .filter(|value| deflate::names_deflate(value))
            .map(str::to_string);
        // Every frame the client sends is counted as it is written: with
        // compression its sizes are the deflater's, not the sink's.
        let sent = Arc::new(Mutex::new(FrameSummary::default()));
        let tapped = FrameTap {
            io: socket.into_inner(),
            scanner: FrameScanner::default(),
            counts: Counts::Writes(sent.clone()),
        };
        let framing = Framing::Client {
            features: features.clone(),
            closing: Arc::default(),
        };
        let mut connection = match (features.deflate, agreed) {
            (Some(Deflate::Require), None) => {
                return Err(TunnelError::Declined {
                    reason: "the WebSocket handshake was answered without permessage-deflate, \
                             which the client requires (Sec-WebSocket-Extensions)"
                        .to_string(),
                });
            }
            (Some(_), Some(agreed)) => {
                let (sink, source) = deflate::wrap(tapped, self.masked, &agreed)?.split();
                let sink = deflate::DeflateSink { sink, framing };
                let source = sink.source(source);
                bridge::client_connection(sink, source, options.keepalive)
            }
            _ => {
                // tungstenite masks every client frame; a client that does
                // not is, on the wire, a server-role endpoint after the
                // handshake.
                let (role, config) = if self.masked {
                    (Role::Client, None)
                } else {
                    (Role::Server, Some(lenient()))
                };
                let (sink, source) = WebSocketStream::from_raw_socket(tapped, role, config)
                    .await
                    .split();
                let sink = WsSink { sink, framing };
                let source = sink.source(source);
                bridge::client_connection(sink, source, options.keepalive)
            }
        };
        connection.frames_sent = Some(sent);
        Ok(connection)
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
    let offered = |name| {
        request
            .headers()
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .reduce(|all, next| format!("{all}, {next}"))
    };
    let (subprotocols, extensions) = (
        offered(header::SEC_WEBSOCKET_PROTOCOL),
        offered(header::SEC_WEBSOCKET_EXTENSIONS),
    );
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
    // The origin serves any subprotocol: it selects the first offered, as
    // a server that speaks the client's would. It supports no extension.
    let selected = subprotocols
        .as_deref()
        .map(frames::first_offer)
        .and_then(|first| header::HeaderValue::from_str(first).ok());
    // It agrees to permessage-deflate, as most servers do.
    let compresses = extensions.as_deref().is_some_and(deflate::names_deflate);
    entry.note_websocket(|seen| {
        seen.subprotocols = subprotocols;
        seen.extensions = extensions;
    });
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    tasks.spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            entry.act(Action::ProtocolError, None, "the upgrade never completed");
            return;
        };
        let agreed = compresses.then_some(deflate::AGREED);
        relay_upgraded(TokioIo::new(upgraded), &entry, target, 101, opened, agreed).await;
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
    if let Some(selected) = selected {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, selected);
    }
    if compresses {
        headers.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            header::HeaderValue::from_static(deflate::AGREED),
        );
    }
    response
}

/// The origin's half of an open WebSocket, however it was opened (an
/// HTTP/1.1 upgrade, an HTTP/2 extended CONNECT): RFC 6455 frames on
/// `upgraded`, compressed where the handshake `agreed` on permessage-deflate,
/// relayed to the echo app, recorded as `Upgraded` with `status` and
/// `detail` once the echo app is reached.
pub(crate) async fn relay_upgraded(
    upgraded: impl Io,
    entry: &ConnEntry,
    target: SocketAddr,
    status: u16,
    detail: &'static str,
    agreed: Option<&str>,
) {
    let tapped = FrameTap {
        io: upgraded,
        scanner: FrameScanner::default(),
        counts: Counts::Reads(entry.clone()),
    };
    let echo = match echo::connect(target).await {
        Ok(echo) => echo,
        Err(error) => {
            entry.act(Action::UpstreamFailed, None, error.to_string());
            return;
        }
    };
    let framing = Framing::Mirror {
        text: Arc::default(),
        entry: entry.clone(),
    };
    let relayed = match agreed {
        Some(agreed) => {
            // Clients that do not mask frame as servers do (see `lenient`).
            let socket = match deflate::wrap(tapped, false, agreed) {
                Ok(socket) => socket,
                Err(error) => {
                    entry.act(Action::ProtocolError, None, error.to_string());
                    return;
                }
            };
            entry.act(Action::Upgraded, Some(status), detail);
            let (sink, source) = socket.split();
            let sink = deflate::DeflateSink { sink, framing };
            let source = sink.source(source);
            bridge::bridge(echo, sink, source, "the echo app", Keepalives::default()).await
        }
        None => {
            let socket =
                WebSocketStream::from_raw_socket(tapped, Role::Server, Some(lenient())).await;
            entry.act(Action::Upgraded, Some(status), detail);
            let (sink, source) = socket.split();
            let sink = WsSink { sink, framing };
            let source = sink.source(source);
            bridge::bridge(echo, sink, source, "the echo app", Keepalives::default()).await
        }
    };
    if let Err(error) = relayed {
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

/// How a sending half frames the stream.
pub(crate) enum Framing {
    /// The client: messages, fragments and text as its parameters say.
    Client {
        features: WebSocketOptions,
        /// Set once the client's close is on its way.
        closing: Arc<AtomicBool>,
    },
    /// The origin: one message per piece, text when the client's last
    /// message was (`text`, which its receiving half sets), the client's
    /// close recorded in `entry`.
    Mirror {
        text: Arc<AtomicBool>,
        entry: ConnEntry,
    },
}

/// What a receiving half does with the peer's close frame.
pub(crate) enum Closing {
    /// The client: once its close is on its way (`sent`), the origin's
    /// answer must carry the code it sent. A close before that is the
    /// peer's own.
    Expect { code: u16, sent: Arc<AtomicBool> },
    /// The origin: the code is recorded for the runner to check.
    Record(ConnEntry),
}

pub(crate) struct WsSink<S> {
    pub(crate) sink: SplitSink<WebSocketStream<S>, Message>,
    pub(crate) framing: Framing,
}

pub(crate) struct WsSource<S> {
    pub(crate) source: SplitStream<WebSocketStream<S>>,
    pub(crate) closing: Closing,
    /// Whether text messages are the tunnel's (the client's parameter, or
    /// what the origin last received).
    pub(crate) text: Arc<AtomicBool>,
}

impl<S: Io> WsSink<S> {
    /// A sink with no parameters: binary messages, a plain close.
    pub(crate) fn plain(sink: SplitSink<WebSocketStream<S>, Message>) -> WsSink<S> {
        WsSink {
            sink,
            framing: Framing::Client {
                features: WebSocketOptions::default(),
                closing: Arc::default(),
            },
        }
    }

    /// The source that goes with this sink's close.
    pub(crate) fn source(&self, source: SplitStream<WebSocketStream<S>>) -> WsSource<S> {
        let (closing, text) = self.framing.receiving();
        WsSource {
            source,
            closing,
            text,
        }
    }

    async fn send_frames(&mut self, data: Bytes) -> Result<(), tungstenite::Error> {
        let pieces = self.framing.pieces(data);
        if let [whole] = &pieces[..] {
            let message = if whole.opcode == frames::TEXT {
                Message::Text(
                    tungstenite::Utf8Bytes::try_from(whole.payload.clone())
                        .map_err(|_| tungstenite::Error::Utf8(String::new()))?,
                )
            } else {
                Message::Binary(whole.payload.clone())
            };
            return self.sink.send(message).await;
        }
        for piece in pieces {
            let opcode = match piece.opcode {
                frames::TEXT => OpCode::Data(Data::Text),
                frames::BINARY => OpCode::Data(Data::Binary),
                _ => OpCode::Data(Data::Continue),
            };
            self.sink
                .feed(Message::Frame(Frame::message(
                    piece.payload,
                    opcode,
                    piece.fin,
                )))
                .await?;
        }
        self.sink.flush().await
    }
}

/// One frame of a message as a sending half builds it.
pub(crate) struct Piece {
    /// [`frames::TEXT`], [`frames::BINARY`] or [`frames::CONTINUATION`].
    pub(crate) opcode: u8,
    pub(crate) payload: Bytes,
    pub(crate) fin: bool,
}

impl Framing {
    /// The frames one piece of the stream goes in: one message, text
    /// (base64) or binary, cut into fragments where the client asks.
    pub(crate) fn pieces(&self, data: Bytes) -> Vec<Piece> {
        let (text, fragment) = match self {
            Framing::Client { features, .. } => (features.text, features.fragment),
            Framing::Mirror { text, .. } => (text.load(Ordering::Relaxed), None),
        };
        let (payload, first) = if text {
            (Bytes::from(BASE64.encode(&data)), frames::TEXT)
        } else {
            (data, frames::BINARY)
        };
        let size = fragment
            .map(|size| usize::try_from(size).unwrap_or(usize::MAX))
            .filter(|size| payload.len() > *size)
            .unwrap_or(payload.len().max(1));
        let count = payload.len().div_ceil(size).max(1);
        (0..count)
            .map(|index| Piece {
                opcode: if index == 0 {
                    first
                } else {
                    frames::CONTINUATION
                },
                payload: payload.slice(index * size..payload.len().min((index + 1) * size)),
                fin: index + 1 == count,
            })
            .collect()
    }

    /// The most bytes of the stream in one message.
    pub(crate) fn chunk(&self) -> usize {
        match self {
            Framing::Client { features, .. } => features.message_size(),
            Framing::Mirror { .. } => bridge::CHUNK,
        }
    }

    /// The code and reason this side closes with, `None` for the origin,
    /// which answers the client's close; the client's is on its way from
    /// here on.
    pub(crate) fn close(&self) -> Option<u16> {
        match self {
            Framing::Client {
                features, closing, ..
            } => {
                closing.store(true, Ordering::Relaxed);
                Some(features.close_code())
            }
            Framing::Mirror { .. } => None,
        }
    }

    /// What the receiving half beside this sending half checks of the
    /// peer's messages and close.
    pub(crate) fn receiving(&self) -> (Closing, Arc<AtomicBool>) {
        match self {
            Framing::Client {
                features, closing, ..
            } => (
                Closing::Expect {
                    code: features.close_code(),
                    sent: closing.clone(),
                },
                Arc::new(AtomicBool::new(features.text)),
            ),
            Framing::Mirror { text, entry } => (Closing::Record(entry.clone()), text.clone()),
        }
    }
}

impl<S: Io> FrameSink for WsSink<S> {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.send_frames(data)
                .await
                .map_err(|error| from_ws(error, "sending a WebSocket message"))
        })
    }

    fn chunk(&self) -> usize {
        self.framing.chunk()
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            // The client closes with its code and reason; the origin's
            // close answers the client's, which tungstenite has queued.
            let close = self.framing.close().map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: CLOSE_REASON.into(),
            });
            let closed = match close {
                Some(frame) => self.sink.send(Message::Close(Some(frame))).await,
                None => self.sink.close().await,
            };
            match closed {
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
            self.sink
                .send(Message::Ping(Bytes::from_static(b"traverse")))
                .await
                .map_err(|error| from_ws(error, "sending a WebSocket ping"))
        })
    }
}

impl<S: Io> FrameSource for WsSource<S> {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            let receiving = Receiving {
                closing: &self.closing,
                text: &self.text,
            };
            loop {
                match self.source.next().await {
                    Some(Ok(Message::Binary(data))) => return receiving.data(false, data),
                    Some(Ok(Message::Text(text))) => {
                        return receiving.data(true, Bytes::from(text));
                    }
                    Some(Ok(Message::Pong(_))) => return Ok(Some(Inbound::Answer)),
                    Some(Ok(Message::Close(frame))) => {
                        return receiving.closed(
                            frame.map(|frame| (u16::from(frame.code), frame.reason.to_string())),
                        );
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

/// What a receiving half makes of the peer's messages, whichever library
/// read them: text or binary as the tunnel sends it, and the close.
pub(crate) struct Receiving<'a> {
    pub(crate) closing: &'a Closing,
    /// Whether text messages are the tunnel's (the client's parameter, or
    /// what the origin last received).
    pub(crate) text: &'a AtomicBool,
}

impl Receiving<'_> {
    /// A data message: the stream's bytes, from base64 for text.
    pub(crate) fn data(&self, text: bool, payload: Bytes) -> Result<Option<Inbound>, TunnelError> {
        if let Closing::Record(_) = self.closing {
            self.text.store(text, Ordering::Relaxed);
        } else if self.text.load(Ordering::Relaxed) != text {
            let (got, sends) = if text {
                ("text", "binary")
            } else {
                ("binary", "text")
            };
            return Err(TunnelError::Protocol(format!(
                "received a {got} message where the tunnel sends {sends}"
            )));
        }
        if !text {
            return Ok(Some(Inbound::Data(payload)));
        }
        let data = BASE64.decode(&payload).map_err(|error| {
            TunnelError::Protocol(format!(
                "a text message was not the stream in base64: {error}"
            ))
        })?;
        Ok(Some(Inbound::Data(Bytes::from(data))))
    }

    /// The peer's close, as its code and reason: the end of the stream,
    /// once its code is what this side requires or has recorded it.
    pub(crate) fn closed(
        &self,
        frame: Option<(u16, String)>,
    ) -> Result<Option<Inbound>, TunnelError> {
        let code = frame.as_ref().map(|(code, _)| *code);
        match self.closing {
            Closing::Record(entry) => {
                let close = frame.map(|(code, reason)| CloseSeen { code, reason });
                entry.note_websocket(|seen| seen.close = close);
                Ok(None)
            }
            Closing::Expect { sent, .. } if !sent.load(Ordering::Relaxed) => match frame {
                Some((code, reason)) if code != u16::from(CloseCode::Normal) => {
                    Err(TunnelError::Protocol(format!(
                        "the peer closed the WebSocket with {code}: {reason}"
                    )))
                }
                _ => Ok(None),
            },
            Closing::Expect { code: sent, .. } if code == Some(*sent) => Ok(None),
            Closing::Expect { code: sent, .. } => Err(TunnelError::Protocol(format!(
                "{CLOSE_CHANGED}: the client closed with {sent}, and the answer came back with {}",
                match frame {
                    Some((code, reason)) => format!("{code}: {reason}"),
                    None => "no code".to_string(),
                }
            ))),
        }
    }
}

/// How a detail begins when a close code did not cross the path intact.
pub const CLOSE_CHANGED: &str = "the WebSocket close code changed";

/// A WebSocket's stream with the frame headers going one way read off
/// and counted: what the origin receives, into its record, or what the
/// client sends, into its own count.
pub(crate) struct FrameTap<I> {
    pub(crate) io: I,
    pub(crate) scanner: FrameScanner,
    pub(crate) counts: Counts,
}

/// Which way a [`FrameTap`] counts, and where to.
pub(crate) enum Counts {
    Reads(ConnEntry),
    Writes(Arc<Mutex<FrameSummary>>),
}

impl<I> FrameTap<I> {
    fn count(&mut self, bytes: &[u8]) {
        match &self.counts {
            Counts::Reads(entry) => {
                let mut found = FrameSummary::default();
                let mut any = false;
                self.scanner.feed(bytes, |header| {
                    found.count(&header);
                    any = true;
                });
                if any {
                    entry.note_websocket(|seen| seen.frames.add(&found));
                }
            }
            Counts::Writes(sent) => {
                let mut sent = lock(sent);
                self.scanner.feed(bytes, |header| sent.count(&header));
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FrameTap<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(context, buffer);
        if let (Poll::Ready(Ok(())), Counts::Reads(_)) = (&polled, &self.counts) {
            self.count(&buffer.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FrameTap<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(context, data);
        if let (Poll::Ready(Ok(written)), Counts::Writes(_)) = (&polled, &self.counts) {
            let written = *written;
            self.count(&data[..written]);
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(context)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
