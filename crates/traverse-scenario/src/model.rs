//! The validated shape of a scenario. Everything here has its defaults
//! filled in, so the rest of the harness never guesses.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Location;
use crate::kinds::{HopKind, Settings};

/// How long a real program (a tunnel half, an external hop) may take to
/// listen when its file says nothing.
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// How the tunnel clients are configured.
    pub client: ClientSpec,
    /// Expected verdicts by tunnel name, in file order.
    pub expect: Vec<Expectation>,
}

impl Scenario {
    /// How the tunnel client is set up and driven, where the file says so,
    /// in scenario-file syntax (`[client]`, `[probe]`); passwords left out.
    pub fn client_settings(&self) -> Vec<String> {
        let mut settings = Settings::untabled();
        match &self.client.proxy_auth {
            Some(Some(credentials)) => {
                settings.always("proxy_auth", format!("\"{}:…\"", credentials.user));
            }
            Some(None) => settings.always("proxy_auth", "\"\"".to_string()),
            None => {}
        }
        if let Some(idle) = self.probe.idle {
            settings.always("idle", format!("\"{}\"", crate::format_duration(idle)));
        }
        settings.into_lines()
    }

    pub fn expectation(&self, tunnel: &str) -> Option<Verdict> {
        self.expect
            .iter()
            .find(|expectation| expectation.tunnel == tunnel)
            .map(|expectation| expectation.verdict)
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

/// What an HTTP-mode hop does with bytes that follow a WebSocket
/// handshake's headers with no length to declare them (hixie-76's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UndeclaredBytes {
    /// Keep them until the upstream answers (HAProxy 2010, hyper).
    #[default]
    Hold,
    /// Answer `400`, as HAProxy 2.6 in mode http does (`<BADREQ>`).
    Reject,
}

/// What an HTTP-mode hop does with WebSocket client frames it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Masking {
    /// Relay frames as they are.
    #[default]
    Ignore,
    /// Close with 1002 on an unmasked client frame, as RFC 6455 §5.1 asks
    /// of a server (and a conforming intermediary).
    Require,
    /// Unmask and mask again with a key of its own (F5 `WS::masking remask`).
    Remask,
}

/// Which bytes reset a hop's idle timer: a real product counts what its
/// own timer watches (nginx's `proxy_read_timeout` only reads from the
/// upstream; an ALB any byte either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleCounts {
    /// A byte in either direction.
    Both,
    /// Only bytes from the next node inward.
    Upstream,
    /// Only bytes from the client.
    Client,
}

/// The HTTP version an HTTP/2-fronted hop speaks to the next node for a
/// request that arrived over HTTP/2 (an ALB target group's protocol version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendHttp {
    /// HTTP/1.1, as an ALB's default target group and every HTTP/1.1 proxy.
    #[default]
    Http1,
    /// HTTP/2: offered by ALPN over TLS (HTTP/1.1 if the next node picks
    /// it), by prior knowledge over plain TCP.
    Http2,
}

/// What an HTTP/2-fronted hop does with RFC 8441's extended CONNECT
/// (`:protocol = websocket`) when it speaks HTTP/1.1 inward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExtendedConnect {
    /// Advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL` and turn the CONNECT
    /// into an HTTP/1.1 `Upgrade: websocket` (HAProxy 2.4+).
    Translate,
    /// Do not advertise it: a compliant client does not send one, and one
    /// sent anyway is reset.
    #[default]
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradePolicy {
    /// Pass the handshake on, then relay both ways.
    Forward,
    /// Drop `Upgrade`/`Connection`: the origin answers as plain HTTP.
    Strip,
    /// Answer the handshake with `400` itself.
    Reject,
}

/// A user name and password, written `"user:password"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// How the tunnel clients are set up, where a scenario needs it said.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientSpec {
    /// Credentials for the explicit proxy. `None`: the proxy's own (the
    /// client is configured right); `Some(None)`: none at all.
    pub proxy_auth: Option<Option<Credentials>>,
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
    pub verdict: Verdict,
    /// Where the tunnel's name is written, to report unknown tunnels.
    pub location: Location,
}

/// A cell's outcome, and what a scenario expects of it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        self.keyword()
    }
}

/// A tunnel the user brings: a server command and a client command that
/// follow the port-forward contract real tunnels use (socat, stunnel,
/// wstunnel, chisel): the server listens on `{listen}` and forwards each
/// stream to `{target}`; the client listens on `{local}` and carries each
/// stream through the path it reaches at `{connect}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelDefinition {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    /// Which logical port it uses: 443 for TLS, 80 for plain.
    pub transport: Transport,
    /// The server half's command line, with placeholders.
    pub server: Vec<String>,
    /// The client half's command line, with placeholders.
    pub client: Vec<String>,
    /// How long each half may take to start listening.
    pub ready_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    Plain,
}

impl Transport {
    pub fn port(self) -> u16 {
        match self {
            Transport::Tls => crate::address::TLS_PORT,
            Transport::Plain => crate::address::PLAIN_PORT,
        }
    }
}

/// What the harness fills into an external tunnel's command lines.
pub const PLACEHOLDERS: [(&str, &str); 19] = [
    ("listen", "host:port the server half binds"),
    ("listen_host", "host part of {listen}"),
    ("listen_port", "port part of {listen}"),
    (
        "target",
        "host:port the server half forwards each stream to (the echo app)",
    ),
    (
        "local",
        "host:port the client half binds; the probe connects there",
    ),
    ("local_host", "host part of {local}"),
    ("local_port", "port part of {local}"),
    (
        "connect",
        "host:port the client half dials: the first hop it can see, or the origin",
    ),
    ("connect_host", "host part of {connect}"),
    ("connect_port", "port part of {connect}"),
    ("server_name", "the origin's logical name, for SNI and Host"),
    ("port", "the logical port (443 for TLS, 80 for plain)"),
    ("proxy", "host:port of the explicit proxy, empty if none"),
    (
        "proxy_auth",
        "user:password for the explicit proxy, empty if none",
    ),
    (
        "proxy_auth_file",
        "a file of this user's holding {proxy_auth}: off the command line, where `ps` shows it",
    ),
    (
        "ca_pem",
        "file with the CA certificates a client should trust",
    ),
    (
        "cert_pem",
        "file with the origin's certificate, for the server half",
    ),
    (
        "key_pem",
        "file with the origin's private key, for the server half",
    ),
    (
        "time_scale",
        "the run's time scale (0.01 by default): a half's own timers (keepalives, timeouts) times it keep pace with the scenario's durations",
    ),
];

/// Placeholders of an external middlebox's command and config.
pub const EXTERNAL_PLACEHOLDERS: [(&str, &str); 14] = [
    ("listen_443", "host:port it listens on for logical port 443"),
    ("listen_80", "host:port it listens on for logical port 80"),
    ("listen_3128", "host:port an explicit proxy listens on"),
    (
        "parent_host",
        "host of a parent proxy that maps origin.test to the next node",
    ),
    ("parent_port", "port of that parent proxy"),
    (
        "upstream",
        "host:port of the next node at the hop's first port",
    ),
    ("upstream_443", "host:port of the next node's port 443"),
    ("upstream_80", "host:port of the next node's port 80"),
    ("config", "the file the config template was written to"),
    ("dir", "a private working folder (pid files, temp paths)"),
    (
        "cert_pem",
        "the middlebox certificate for origin.test, issued by the public CA",
    ),
    ("key_pem", "its private key"),
    (
        "cert_key_pem",
        "certificate and key in one file (HAProxy's `crt`)",
    ),
    (
        "ca_pem",
        "the public CA, to check an upstream's certificate",
    ),
];

/// An option whose values are keywords: one table serves the parser (which
/// lists them in errors) and the writers of settings.
pub trait Keyword: Copy + PartialEq + 'static {
    /// Every keyword with its value, in the order errors list them.
    const KEYWORDS: &'static [(&'static str, Self)];

    fn keyword(self) -> &'static str {
        Self::KEYWORDS
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |(keyword, _)| keyword)
    }
}

impl Keyword for UndeclaredBytes {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("hold", UndeclaredBytes::Hold),
        ("reject", UndeclaredBytes::Reject),
    ];
}

impl Keyword for Masking {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("ignore", Masking::Ignore),
        ("require", Masking::Require),
        ("remask", Masking::Remask),
    ];
}

impl Keyword for IdleCounts {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("both", IdleCounts::Both),
        ("upstream", IdleCounts::Upstream),
        ("client", IdleCounts::Client),
    ];
}

impl Keyword for BackendHttp {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("http1", BackendHttp::Http1), ("http2", BackendHttp::Http2)];
}

impl Keyword for ExtendedConnect {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("translate", ExtendedConnect::Translate),
        ("refuse", ExtendedConnect::Refuse),
    ];
}

impl Keyword for UpgradePolicy {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("forward", UpgradePolicy::Forward),
        ("strip", UpgradePolicy::Strip),
        ("reject", UpgradePolicy::Reject),
    ];
}

impl Keyword for OriginCertificate {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("public", OriginCertificate::Public),
        ("self-signed", OriginCertificate::SelfSigned),
    ];
}

impl Keyword for Verdict {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("pass", Verdict::Pass), ("fail", Verdict::Fail)];
}

impl Keyword for Transport {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("tls", Transport::Tls), ("plain", Transport::Plain)];
}
