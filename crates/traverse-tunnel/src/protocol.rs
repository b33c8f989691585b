//! The one shape every built-in protocol has, between the dial and the
//! origin: a client half handed a stream that already reaches the server
//! (TCP, an explicit proxy's `CONNECT` and TLS are done by `dial.rs`), and
//! an origin half handed one accepted connection (TLS already accepted on
//! the TLS port) that it serves and relays to the echo app. A protocol's
//! file implements [`Protocol`] with plain `async fn`s; `BUILTIN` holds it
//! as a `&'static dyn` [`AnyProtocol`], the same methods with boxed futures
//! (a trait object cannot return `impl Future`), so the origin and
//! [`Tunnel::connect`](crate::Tunnel::connect) serve whichever one they are
//! handed without naming it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use traverse_net::{BoxedIo, ConnEntry, Tasks};
use traverse_scenario::address::ORIGIN_HOST;

use traverse_scenario::TimeScale;

use crate::session::Sessions;
use crate::{
    Connection, Dialer, KeepaliveKind, Security, ThroughProxy, TunnelError, WebSocketOptions,
};

/// How a tunnel frames bytes end to end: its client and origin halves.
pub trait Protocol: fmt::Debug + Send + Sync {
    /// The URL a person would configure the client with, over `security`.
    fn url(&self, security: Security) -> String;

    /// The keepalive the protocol itself has, if any (RFC 6455's pings).
    fn keepalive(&self) -> Option<KeepaliveKind> {
        None
    }

    /// The ALPN protocols the client offers in TLS, in order, and insists
    /// on: a server that picks none of them has refused the tunnel. Empty
    /// for protocols that leave ALPN to the device's defaults (HTTP/1.1).
    /// The origin offers these first, then `http/1.1`, so a hop that
    /// speaks HTTP/1.1 inward still reaches it.
    fn alpn(&self) -> &'static [&'static [u8]] {
        &[]
    }

    /// How the client goes through an explicit proxy in clear: `CONNECT`
    /// for most, plain requests in absolute form for the HTTP fallbacks.
    fn through_proxy(&self) -> ThroughProxy {
        ThroughProxy::Connect
    }

    /// The longest the origin keeps a request unanswered on purpose, in
    /// scenario time: `long-poll`'s held poll. Every other origin answers
    /// at once. A hop's read timeout far longer than this can only run out
    /// on an origin that ran late, which the runner's starvation checks
    /// weigh.
    fn holds_requests(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether the client half uses the WebSocket parameters (`subprotocol`,
    /// `message`, `fragment`, `text`, `close`): RFC 6455 over HTTP/1.1.
    fn websocket_features(&self) -> bool {
        false
    }

    /// Whether the client masks its RFC 6455 frames, as the RFC asks;
    /// permessage-deflate is offered only by a client that does.
    fn masks_frames(&self) -> bool {
        false
    }

    /// The client half: the protocol's handshake over `io`, then the
    /// probe's stream. `dialer` opens further connections the way `io` was
    /// opened, for a protocol that needs more than one (or must re-dial
    /// when a proxy closes one). `url` is [`Protocol::url`] for the tunnel's security;
    /// `options` are what the tunnel's parameters ask of the client.
    fn connect(
        &self,
        io: BoxedIo,
        dialer: Dialer,
        url: &str,
        options: &ClientOptions,
    ) -> impl Future<Output = Result<Connection, TunnelError>> + Send;

    /// The origin half for one connection, until it ends. What it did goes
    /// into `context.entry`, which is what blame on the origin is made of.
    fn serve(
        &self,
        io: BoxedIo,
        context: ServeContext,
    ) -> impl Future<Output = Result<(), TunnelError>> + Send;
}

/// A [`Protocol`] as the registry holds it; every protocol is one.
pub trait AnyProtocol: fmt::Debug + Send + Sync {
    fn url(&self, security: Security) -> String;
    fn keepalive(&self) -> Option<KeepaliveKind>;
    fn alpn(&self) -> &'static [&'static [u8]];
    fn through_proxy(&self) -> ThroughProxy;
    fn holds_requests(&self) -> Duration;
    fn websocket_features(&self) -> bool;
    fn masks_frames(&self) -> bool;
    fn connect<'a>(
        &'a self,
        io: BoxedIo,
        dialer: Dialer,
        url: &'a str,
        options: &'a ClientOptions,
    ) -> BoxFuture<'a, Result<Connection, TunnelError>>;
    fn serve(&self, io: BoxedIo, context: ServeContext) -> BoxFuture<'_, Result<(), TunnelError>>;
}

impl<P: Protocol> AnyProtocol for P {
    fn url(&self, security: Security) -> String {
        Protocol::url(self, security)
    }

    fn keepalive(&self) -> Option<KeepaliveKind> {
        Protocol::keepalive(self)
    }

    fn alpn(&self) -> &'static [&'static [u8]] {
        Protocol::alpn(self)
    }

    fn through_proxy(&self) -> ThroughProxy {
        Protocol::through_proxy(self)
    }

    fn holds_requests(&self) -> Duration {
        Protocol::holds_requests(self)
    }

    fn websocket_features(&self) -> bool {
        Protocol::websocket_features(self)
    }

    fn masks_frames(&self) -> bool {
        Protocol::masks_frames(self)
    }

    fn connect<'a>(
        &'a self,
        io: BoxedIo,
        dialer: Dialer,
        url: &'a str,
        options: &'a ClientOptions,
    ) -> BoxFuture<'a, Result<Connection, TunnelError>> {
        Box::pin(Protocol::connect(self, io, dialer, url, options))
    }

    fn serve(&self, io: BoxedIo, context: ServeContext) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(Protocol::serve(self, io, context))
    }
}

/// What the client half is asked to do, from the tunnel's parameters.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The interval (wall time) of the protocol's own keepalive, when the
    /// tunnel is named with one.
    pub keepalive: Option<Duration>,
    /// The RFC 6455 features a WebSocket client uses.
    pub websocket: WebSocketOptions,
}

/// What the origin half of one connection is given.
#[derive(Debug, Clone)]
pub struct ServeContext {
    /// This connection's record in the origin's log.
    pub entry: ConnEntry,
    /// The echo app every stream is relayed to (see `echo::connect`).
    pub target: SocketAddr,
    /// The cell's tasks, for work that outlives the call (an upgraded
    /// connection hyper hands over later).
    pub tasks: Tasks,
    /// How long a peer may take over one handshake step (`--step-timeout`).
    pub step_timeout: Duration,
    /// The run's time scale, for the origin's own timers (a poll answered
    /// empty, a keepalive comment), which are scenario durations.
    pub time_scale: TimeScale,
    /// The origin's sessions, for a protocol whose one tunnel spans several
    /// connections (a poll and the POSTs beside it): shared by every
    /// connection the origin accepts, on both ports.
    pub sessions: Sessions,
}

/// `ws://` or `wss://` to the origin's `/tunnel`: every WebSocket flavour
/// is configured the same way.
pub(crate) fn websocket_url(security: Security) -> String {
    match security {
        Security::Plain => format!("ws://{ORIGIN_HOST}/tunnel"),
        Security::TlsVerified | Security::TlsPinned => format!("wss://{ORIGIN_HOST}/tunnel"),
    }
}
