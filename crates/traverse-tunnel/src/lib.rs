//! Tunnels are what a matrix compares. Each built-in tunnel is a protocol
//! (how bytes are framed end to end) over a transport security (plain, TLS
//! checked against the public CA, or TLS pinned to the origin's certificate).
//! Its origin half runs on the topology's origin, serving both logical ports
//! like a real gateway does, and forwards every stream to the echo app; its
//! client half dials the path the client sees and hands the probe a plain
//! byte stream. When that stream breaks, [`Connection::outcome`] says why in
//! the tunnel's own terms (an HTTP status, a TLS error, a reset), which is
//! what the verdict's category is made from.

mod bridge;
mod dial;
mod echo;
mod error;
mod framed;
pub mod hixie76;
mod origin;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::AbortOnDropHandle;
use traverse_net::BoxedIo;
use traverse_scenario::address::{PLAIN_PORT, TLS_PORT};

pub use echo::start_echo;
pub use error::TunnelError;
pub use origin::{OriginContext, serve_listener, serve_origin};

/// How a tunnel frames bytes end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A small custom protocol: a hello, then length-prefixed frames; any
    /// middlebox that expects HTTP refuses it.
    Framed,
    /// RFC 6455 WebSocket, binary messages, masked client frames.
    WebSocket,
    /// The same, with client frames sent unmasked (wstunnel's default):
    /// what a masking-enforcing middlebox or a cache misreading the stream
    /// tells apart from a compliant client.
    WebSocketUnmasked,
    /// The draft-76 WebSocket of 2010: 8 undeclared key bytes after the
    /// handshake's headers, text frames.
    Hixie76,
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub name: &'static str,
    pub description: &'static str,
    pub protocol: Protocol,
    pub security: Security,
}

/// Every built-in tunnel, in the order matrices show them.
pub const BUILTIN: [Tunnel; 7] = [
    Tunnel {
        name: "tcp",
        description: "custom length-prefixed protocol straight over TCP, port 80",
        protocol: Protocol::Framed,
        security: Security::Plain,
    },
    Tunnel {
        name: "tls",
        description: "the same protocol inside TLS pinned to the origin's certificate, port 443",
        protocol: Protocol::Framed,
        security: Security::TlsPinned,
    },
    Tunnel {
        name: "ws",
        description: "RFC 6455 WebSocket over plain HTTP (ws://), port 80",
        protocol: Protocol::WebSocket,
        security: Security::Plain,
    },
    Tunnel {
        name: "wss",
        description: "RFC 6455 WebSocket over TLS checked against the device's roots (wss://), port 443",
        protocol: Protocol::WebSocket,
        security: Security::TlsVerified,
    },
    Tunnel {
        name: "ws-unmasked",
        description: "ws with unmasked client frames, as wstunnel sends by default; port 80",
        protocol: Protocol::WebSocketUnmasked,
        security: Security::Plain,
    },
    Tunnel {
        name: "wss-unmasked",
        description: "wss with unmasked client frames; port 443",
        protocol: Protocol::WebSocketUnmasked,
        security: Security::TlsVerified,
    },
    Tunnel {
        name: "hixie76",
        description: "draft-76 WebSocket (2010): key bytes after the headers, text frames; port 80",
        protocol: Protocol::Hixie76,
        security: Security::Plain,
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
        let host = traverse_scenario::address::ORIGIN_HOST;
        match (self.protocol, self.security) {
            (Protocol::Framed, Security::Plain) => format!("tcp://{host}:{PLAIN_PORT}"),
            (Protocol::Framed, _) => format!("tls://{host}:{TLS_PORT}"),
            (_, Security::Plain) => format!("ws://{host}/tunnel"),
            (_, _) => format!("wss://{host}/tunnel"),
        }
    }

    /// Opens the tunnel through the path and hands back its byte stream.
    pub async fn connect(&self, path: &ClientPath) -> Result<Connection, TunnelError> {
        let io = dial::dial(path, self.security, self.port()).await?;
        let handshake = async {
            match self.protocol {
                Protocol::Framed => framed::connect(io).await,
                Protocol::WebSocket => websocket::connect(io, &self.url(), true).await,
                Protocol::WebSocketUnmasked => websocket::connect(io, &self.url(), false).await,
                Protocol::Hixie76 => hixie76::connect(io).await,
            }
        };
        tokio::time::timeout(path.step_timeout, handshake)
            .await
            .map_err(|_| TunnelError::Timeout {
                during: "the tunnel handshake".to_string(),
                after: path.step_timeout,
            })?
    }
}
