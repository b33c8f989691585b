//! Tunnels are what a matrix compares. Each built-in tunnel is a protocol
//! (how bytes are framed end to end) over a transport security (plain, TLS
//! checked against the public CA, or TLS pinned to the origin's certificate).
//! Its origin half runs on the topology's origin, serving both logical ports
//! like a real gateway does, and forwards every stream to the echo app; its
//! client half dials the path the client sees and hands the probe a plain
//! byte stream. When that stream breaks, [`Connection::outcome`] says why in
//! the tunnel's own terms (an HTTP status, a TLS error, a reset), which is
//! what the verdict's category is made from.
//!
//! Each protocol is one file holding both halves behind the [`Protocol`]
//! trait (`framed.rs`, `websocket.rs`, `hixie76.rs`, `long_poll.rs`,
//! `sse.rs`, `h2_stream.rs`, `websocket_h2.rs`); [`BUILTIN`] is the one
//! list of tunnels that matrices, `[expect]`, `--tunnel` and `traverse list`
//! read. `dial.rs` and `origin.rs` do what every protocol shares (the way to
//! the server; accepting on both ports) and know no protocol by name, as
//! do `http_client.rs` and `session.rs`, what the HTTP fallbacks share
//! (requests through the dialer, the origin's session table).

mod bridge;
mod deflate;
mod dial;
mod echo;
mod error;
mod framed;
/// The fuzz target's properties, shared with the corpus regression test.
#[doc(hidden)]
pub mod fuzzing;
mod h2_stream;
mod hixie76;
mod http_client;
mod keepalive;
mod long_poll;
mod origin;
mod parameters;
mod protocol;
mod session;
mod sse;
mod websocket;
mod websocket_h2;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio_util::task::AbortOnDropHandle;
use traverse_net::{BoxedIo, QuietWatch};
use traverse_scenario::address::{PLAIN_PORT, TLS_PORT};

pub use dial::{Dialer, ThroughProxy};
pub use echo::start_echo;
pub use error::TunnelError;
pub use keepalive::{Keepalive, KeepaliveKind};
pub use origin::{OriginContext, serve_listener, serve_origin};
pub use parameters::{
    Configured, Deflate, PARAMETERS, Parameter, Takes, Value, WebSocketOptions, keepalives,
};
pub use protocol::{AnyProtocol, ClientOptions, Protocol, ServeContext};
pub use session::Sessions;
pub use websocket::{CLOSE_CHANGED, CLOSE_REASON};

/// How the client protects the bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    /// TLS with the certificate checked against the public CA, as browsers do.
    TlsVerified,
    /// TLS accepting only the origin's own certificate: any termination on
    /// the path makes the handshake fail.
    TlsPinned,
}

/// A built-in tunnel, by name.
#[derive(Debug, Clone, Copy)]
pub struct Tunnel {
    pub name: &'static str,
    pub description: &'static str,
    pub protocol: &'static dyn AnyProtocol,
    pub security: Security,
}

/// Every built-in tunnel, in the order matrices show them.
pub const BUILTIN: &[Tunnel] = &[
    Tunnel {
        name: "tcp",
        description: "custom length-prefixed protocol straight over TCP, port 80",
        protocol: &framed::Framed,
        security: Security::Plain,
    },
    Tunnel {
        name: "tls",
        description: "the same protocol inside TLS pinned to the origin's certificate, port 443",
        protocol: &framed::Framed,
        security: Security::TlsPinned,
    },
    Tunnel {
        name: "ws",
        description: "RFC 6455 WebSocket over plain HTTP (ws://), port 80",
        protocol: &websocket::WebSocket { masked: true },
        security: Security::Plain,
    },
    Tunnel {
        name: "wss",
        description: "RFC 6455 WebSocket over TLS checked against the device's roots (wss://), port 443",
        protocol: &websocket::WebSocket { masked: true },
        security: Security::TlsVerified,
    },
    Tunnel {
        name: "ws-unmasked",
        description: "ws with unmasked client frames, as wstunnel sends by default; port 80",
        protocol: &websocket::WebSocket { masked: false },
        security: Security::Plain,
    },
    Tunnel {
        name: "wss-unmasked",
        description: "wss with unmasked client frames; port 443",
        protocol: &websocket::WebSocket { masked: false },
        security: Security::TlsVerified,
    },
    Tunnel {
        name: "hixie76",
        description: "draft-76 WebSocket (2010): key bytes after the headers, text frames; port 80",
        protocol: &hixie76::Hixie76,
        security: Security::Plain,
    },
    Tunnel {
        name: "long-poll",
        description: "engine.io-style HTTP long-polling: a held GET down, POSTs up, one session \
                      across connections; port 80",
        protocol: &long_poll::LongPoll,
        security: Security::Plain,
    },
    Tunnel {
        name: "sse",
        description: "server-sent events down (text/event-stream, base64 data), POSTs up, as \
                      SignalR's fallback; port 80",
        protocol: &sse::ServerSentEvents,
        security: Security::Plain,
    },
    Tunnel {
        name: "h2",
        description: "one bidirectional HTTP/2 stream (a streaming POST, as cloudflared's HTTP/2 \
                      transport), TLS with ALPN h2 checked against the device's roots; port 443",
        protocol: &h2_stream::H2Stream,
        security: Security::TlsVerified,
    },
    Tunnel {
        name: "ws-h2",
        description: "RFC 8441 WebSocket over HTTP/2 (extended CONNECT, :protocol websocket), \
                      TLS with ALPN h2 checked against the device's roots; port 443",
        protocol: &websocket_h2::WebSocketH2,
        security: Security::TlsVerified,
    },
];

/// The built-in tunnel called `name`.
pub fn find(name: &str) -> Option<Tunnel> {
    BUILTIN.iter().copied().find(|tunnel| tunnel.name == name)
}

/// The path as the tunnel client sees it.
#[derive(Debug, Clone)]
pub struct ClientPath {
    /// Where the client's lookup of the origin's name and port leads: the
    /// first hop that owns the name, or the origin itself. Unused when the
    /// client goes through an explicit proxy, which does its own lookup.
    pub connect_to: SocketAddr,
    /// How a TLS-verified client checks the server (the device's roots).
    pub verifying: Arc<rustls::ClientConfig>,
    /// How a pinning client checks the server (the origin's certificate).
    pub pinning: Arc<rustls::ClientConfig>,
    /// The longest any single step (connect, handshake) may take.
    pub step_timeout: Duration,
    /// The explicit proxy the client is configured with, if any: it then
    /// dials the proxy and asks it to `CONNECT` to the origin's name.
    pub proxy: Option<ExplicitProxy>,
    /// How a deadlocked handshake is seen before `step_timeout`: in a cell,
    /// where the harness sees every socket; `None` on a real network.
    pub deadlock: Option<QuietWatch>,
}

/// An explicit proxy as a client's settings name it.
#[derive(Debug, Clone)]
pub struct ExplicitProxy {
    pub addr: SocketAddr,
    pub credentials: Option<traverse_scenario::Credentials>,
}

/// An open tunnel: the probe reads and writes `stream`; the task behind it
/// carries the bytes and ends with the reason the tunnel stopped.
pub struct Connection {
    pub stream: BoxedIo,
    pub outcome: OutcomeHandle,
    /// What became of the client's keepalives, as the bridge counts them.
    pub keepalives: Arc<KeepaliveStats>,
    /// The WebSocket frames the client sent, as it built them, for a
    /// WebSocket tunnel: the origin's count of what arrived must match.
    pub frames_sent: Option<Arc<std::sync::Mutex<traverse_net::websocket::FrameSummary>>>,
}

/// The client's keepalives, counted as they go.
#[derive(Debug, Default)]
pub struct KeepaliveStats {
    /// How many were answered: each crossed the whole path and back.
    pub answered: AtomicU64,
    /// The most one went out after its time, in microseconds: a starved
    /// harness sends its keepalives late, and a hop may cut the tunnel
    /// for it.
    pub latest_us: AtomicU64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// The task carrying a connection's bytes; it is aborted when dropped.
pub type OutcomeHandle = AbortOnDropHandle<Result<(), TunnelError>>;

impl Tunnel {
    /// The logical port the client dials.
    pub fn port(&self) -> u16 {
        match self.security {
            Security::Plain => PLAIN_PORT,
            Security::TlsVerified | Security::TlsPinned => TLS_PORT,
        }
    }

    /// The URL a person would configure the client with.
    pub fn url(&self) -> String {
        self.protocol.url(self.security)
    }

    /// Opens the tunnel through the path and hands back its byte stream;
    /// `keepalive`, in wall time, is how it keeps itself alive, and
    /// `websocket` the RFC 6455 features a WebSocket client uses.
    pub async fn connect(
        &self,
        path: &ClientPath,
        keepalive: Option<Keepalive>,
        websocket: &WebSocketOptions,
    ) -> Result<Connection, TunnelError> {
        let every = |kind| {
            keepalive
                .filter(|keepalive| keepalive.kind == kind)
                .map(|keepalive| keepalive.every)
        };
        let dialer = Dialer::new(
            path,
            self.security,
            self.port(),
            every(KeepaliveKind::TcpKeepalive),
            self.protocol.alpn(),
            self.protocol.through_proxy(),
        );
        let io = dialer.dial().await?;
        let url = self.url();
        let options = ClientOptions {
            keepalive: self.protocol.keepalive().and_then(every),
            websocket: websocket.clone(),
        };
        let during = "the tunnel handshake";
        let started = tokio::time::Instant::now();
        let horizon = started + path.step_timeout;
        if let Some(watch) = &path.deadlock {
            watch.clock.restart_gaps();
        }
        let deadlocked = traverse_net::deadlock(path.deadlock.as_ref(), started, horizon);
        tokio::select! {
            handshake = tokio::time::timeout_at(horizon, self.protocol.connect(io, dialer, &url, &options)) => {
                handshake.map_err(|_| TunnelError::Timeout {
                    during: during.to_string(),
                    after: path.step_timeout,
                })?
            }
            quiet = deadlocked => Err(TunnelError::Deadlock {
                during: during.to_string(),
                quiet,
            }),
        }
    }
}
