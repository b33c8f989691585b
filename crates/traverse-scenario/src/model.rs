//! The validated shape of a scenario. Everything here has its defaults
//! filled in, so the rest of the harness never guesses.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Location;

/// One topology, as read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub path: PathBuf,
    /// From `name`, or the file stem.
    pub name: String,
    pub description: String,
    /// How common this topology is among customers, for weighted success rates.
    pub weight: f64,
    /// Ordered from the client toward the origin; empty means direct.
    pub hops: Vec<Hop>,
    pub origin: Origin,
    pub probe: ProbeSpec,
    /// Expected verdicts by tunnel name, in file order.
    pub expect: Vec<Expectation>,
}

impl Scenario {
    pub fn expectation(&self, tunnel: &str) -> Option<Outcome> {
        self.expect
            .iter()
            .find(|expectation| expectation.tunnel == tunnel)
            .map(|expectation| expectation.outcome)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The label blame uses: `name`, or `<kind>-<index>` counted from 1.
    pub name: String,
    pub kind: HopKind,
    /// Where the hop's table starts, for errors found after parsing.
    pub location: Location,
}

/// Every middlebox kind with its options. Adding a kind adds a variant here,
/// its option reader in `parse.rs`, and its module in `traverse-middlebox`.
#[derive(Debug, Clone, PartialEq)]
pub enum HopKind {
    TlsTerminator(TlsTerminator),
}

impl HopKind {
    /// The names scenario files use for `kind`, with a line on what each models.
    pub const KINDS: [(&'static str, &'static str); 1] = [(
        "tls-terminator",
        "HTTPS load balancer or WAF that terminates TLS (F5 BIG-IP, Cloudflare, AWS ALB)",
    )];

    pub fn kind_name(&self) -> &'static str {
        match self {
            HopKind::TlsTerminator(_) => "tls-terminator",
        }
    }

    pub fn idle_timeout(&self) -> Option<Duration> {
        match self {
            HopKind::TlsTerminator(options) => options.idle_timeout,
        }
    }
}

/// A TLS-terminating load balancer or WAF.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsTerminator {
    pub mode: TerminatorMode,
    /// Whether an HTTP-mode terminator passes the WebSocket Upgrade.
    pub websocket: bool,
    pub backend: Backend,
    pub idle_timeout: Option<Duration>,
    /// Logical ports it has a listener (virtual server) on.
    pub ports: Vec<u16>,
}

impl Default for TlsTerminator {
    fn default() -> Self {
        TlsTerminator {
            mode: TerminatorMode::Http,
            websocket: false,
            backend: Backend::Tls,
            idle_timeout: None,
            ports: crate::address::PORTS.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminatorMode {
    /// L7: parses HTTP after TLS.
    Http,
    /// L4 SSL offload: passes the decrypted bytes on.
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Plain to the next hop's port 80 (Cloudflare Flexible).
    Plain,
    /// TLS to port 443 without checking the certificate (Cloudflare Full).
    Tls,
    /// TLS to port 443, certificate checked against public roots (Full strict).
    TlsVerify,
}

/// The far end: where every tunnel's server half runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Origin {
    pub certificate: OriginCertificate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginCertificate {
    /// Issued by the run's public CA, which clients and hops trust.
    #[default]
    Public,
    /// Self-signed: only a client that pins it accepts it.
    SelfSigned,
}

/// How the probe drives traffic, beyond its fixed echo round trips.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeSpec {
    /// A pause, in scenario time, after the echoes and before a last one;
    /// where a hop's idle timeout is shorter, the tunnel is cut while idle.
    pub idle: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub tunnel: String,
    pub outcome: Outcome,
    /// Where the tunnel's name is written, to report unknown tunnels.
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}
