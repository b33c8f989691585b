//! Tunnels that keep themselves alive, as a matrix names them:
//! `ws+ping=30s`, `tcp+heartbeat=25s`, `wss+tcp-keepalive=30s` (the
//! parameters are read in `parameters.rs`). A built-in tunnel takes at
//! most one keepalive parameter. The protocol's own one
//! (RFC 6455 pings answered by pongs; heartbeats inside the framed protocol,
//! answered by the origin) crosses every hop as bytes and resets their idle
//! timers; TCP keepalive is the kernel's, whose probes carry no payload, so
//! no hop that relays bytes in user space (every mock, every real proxy)
//! ever sees one. The interval is scenario time, scaled by the run's time
//! scale like every other duration.

use std::time::Duration;

use traverse_scenario::TimeScale;

/// How a tunnel keeps itself alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveKind {
    /// RFC 6455 ping frames; the peer answers each with a pong.
    Ping,
    /// An application heartbeat inside the framed protocol; the origin
    /// answers each with one of its own.
    Heartbeat,
    /// `SO_KEEPALIVE` on the client's socket: kernel probes, no payload.
    TcpKeepalive,
}

/// A keepalive and its interval, in scenario time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub kind: KeepaliveKind,
    pub every: Duration,
}

impl Keepalive {
    /// The interval as the run's clocks see it.
    pub fn scaled(self, time_scale: TimeScale) -> Keepalive {
        Keepalive {
            every: time_scale.apply(self.every),
            ..self
        }
    }
}
