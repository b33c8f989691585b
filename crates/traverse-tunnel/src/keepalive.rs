//! Tunnels that keep themselves alive, as a matrix names them:
//! `ws+ping=30s`, `tcp+heartbeat=25s`, `wss+tcp-keepalive=30s`. A built-in
//! tunnel takes at most one keepalive parameter. The protocol's own one
//! (RFC 6455 pings answered by pongs; heartbeats inside the framed protocol,
//! answered by the origin) crosses every hop as bytes and resets their idle
//! timers; TCP keepalive is the kernel's, whose probes carry no payload, so
//! no hop that relays bytes in user space (every mock, every real proxy)
//! ever sees one. The interval is scenario time, scaled by the run's time
//! scale like every other duration.

use std::time::Duration;

use traverse_scenario::{TimeScale, format_duration, parse_duration};

use crate::{BUILTIN, Tunnel};

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

/// The parameters a tunnel name can carry, each with what it does.
pub const PARAMETERS: [(&str, KeepaliveKind, &str); 3] = [
    (
        "ping",
        KeepaliveKind::Ping,
        "an RFC 6455 ping every DURATION, answered by a pong (WebSocket tunnels)",
    ),
    (
        "heartbeat",
        KeepaliveKind::Heartbeat,
        "a heartbeat frame every DURATION, answered by the origin (tcp, tls)",
    ),
    (
        "tcp-keepalive",
        KeepaliveKind::TcpKeepalive,
        "SO_KEEPALIVE probes every DURATION (at least 1s of wall time); no payload, \
         so hops that relay bytes never see them (every tunnel)",
    ),
];

impl KeepaliveKind {
    pub fn parameter(self) -> &'static str {
        PARAMETERS
            .iter()
            .find(|(_, kind, _)| *kind == self)
            .map_or("", |(name, _, _)| name)
    }
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

/// A built-in tunnel as a run uses it: the tunnel with its parameters,
/// under the name matrices, `[expect]`, `--tunnel` and reports use.
#[derive(Debug, Clone)]
pub struct Configured {
    pub tunnel: Tunnel,
    pub keepalive: Option<Keepalive>,
    name: String,
}

impl From<Tunnel> for Configured {
    fn from(tunnel: Tunnel) -> Configured {
        Configured {
            tunnel,
            keepalive: None,
            name: tunnel.name.to_string(),
        }
    }
}

impl Configured {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads `NAME` or `NAME+PARAMETER=DURATION`. Names are compared as
    /// text everywhere, so a duration must be written as traverse writes
    /// it (`30s`, not `30000ms`); the error says how.
    pub fn parse(text: &str) -> Result<Configured, String> {
        let (base, parameter) = match text.split_once('+') {
            Some((base, parameter)) => (base, Some(parameter)),
            None => (text, None),
        };
        let Some(tunnel) = BUILTIN.iter().copied().find(|tunnel| tunnel.name == base) else {
            let names: Vec<&str> = BUILTIN.iter().map(|tunnel| tunnel.name).collect();
            return Err(format!(
                "unknown tunnel \"{base}\"; built-in tunnels: {}",
                names.join(", ")
            ));
        };
        let Some(parameter) = parameter else {
            return Ok(Configured::from(tunnel));
        };
        let takes = takes(tunnel);
        let Some((key, value)) = parameter.split_once('=') else {
            return Err(format!(
                "\"{text}\": a tunnel parameter is NAME=DURATION, like {}",
                example(tunnel)
            ));
        };
        let Some((_, kind, _)) = PARAMETERS.iter().find(|(name, _, _)| *name == key) else {
            return Err(format!(
                "\"{text}\": unknown tunnel parameter `{key}`; {} takes {}",
                tunnel.name,
                listed(&takes)
            ));
        };
        if !takes.contains(kind) {
            return Err(format!(
                "\"{text}\": `{key}` is not a parameter of {}, which takes {}",
                tunnel.name,
                listed(&takes)
            ));
        }
        if value.contains('+') {
            return Err(format!(
                "\"{text}\": a tunnel takes one keepalive parameter, not several"
            ));
        }
        let every = parse_duration(value).map_err(|why| format!("\"{text}\": {why}"))?;
        if every.is_zero() {
            return Err(format!("\"{text}\": the interval must be above 0"));
        }
        let canonical = format!("{}+{key}={}", tunnel.name, format_duration(every));
        if canonical != text {
            return Err(format!("\"{text}\": write it as \"{canonical}\""));
        }
        Ok(Configured {
            tunnel,
            keepalive: Some(Keepalive { kind: *kind, every }),
            name: canonical,
        })
    }
}

/// The keepalives `tunnel` can use: its protocol's own, and TCP's.
pub fn takes(tunnel: Tunnel) -> Vec<KeepaliveKind> {
    tunnel
        .protocol
        .keepalive()
        .into_iter()
        .chain([KeepaliveKind::TcpKeepalive])
        .collect()
}

fn listed(kinds: &[KeepaliveKind]) -> String {
    kinds
        .iter()
        .map(|kind| format!("{}=DURATION", kind.parameter()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn example(tunnel: Tunnel) -> String {
    let kind = takes(tunnel)[0];
    format!("\"{}+{}=30s\"", tunnel.name, kind.parameter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<(String, Option<Keepalive>), String> {
        Configured::parse(text).map(|tunnel| (tunnel.name().to_string(), tunnel.keepalive))
    }

    fn every(seconds: u64, kind: KeepaliveKind) -> Option<Keepalive> {
        Some(Keepalive {
            kind,
            every: Duration::from_secs(seconds),
        })
    }

    #[test]
    fn names_carry_one_keepalive_that_the_protocol_takes() {
        assert_eq!(parsed("ws"), Ok(("ws".to_string(), None)));
        assert_eq!(
            parsed("wss+ping=30s"),
            Ok(("wss+ping=30s".to_string(), every(30, KeepaliveKind::Ping)))
        );
        assert_eq!(
            parsed("tcp+heartbeat=25s"),
            Ok((
                "tcp+heartbeat=25s".to_string(),
                every(25, KeepaliveKind::Heartbeat)
            ))
        );
        assert_eq!(
            parsed("hixie76+tcp-keepalive=60s"),
            Ok((
                "hixie76+tcp-keepalive=60s".to_string(),
                every(60, KeepaliveKind::TcpKeepalive)
            ))
        );
    }

    #[test]
    fn a_wrong_parameter_says_what_the_tunnel_takes() {
        let error = |text| parsed(text).expect_err(text);
        assert_eq!(
            error("tcp+ping=30s"),
            "\"tcp+ping=30s\": `ping` is not a parameter of tcp, which takes \
             heartbeat=DURATION, tcp-keepalive=DURATION"
        );
        assert_eq!(
            error("ws+pong=30s"),
            "\"ws+pong=30s\": unknown tunnel parameter `pong`; ws takes ping=DURATION, \
             tcp-keepalive=DURATION"
        );
        assert_eq!(
            error("hixie76+ping=30s"),
            "\"hixie76+ping=30s\": `ping` is not a parameter of hixie76, which takes \
             tcp-keepalive=DURATION"
        );
        assert!(error("ws+ping").contains("NAME=DURATION, like \"ws+ping=30s\""));
        assert!(error("ws+ping=30").contains("has no unit"));
        assert_eq!(
            error("ws+ping=30000ms"),
            "\"ws+ping=30000ms\": write it as \"ws+ping=30s\""
        );
        assert!(error("ws+ping=0s").contains("above 0"));
        assert!(error("ws+ping=1s+tcp-keepalive=1s").contains("one keepalive"));
        assert!(error("wz+ping=1s").starts_with("unknown tunnel \"wz\""));
    }
}
