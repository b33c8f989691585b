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
    /// How the tunnel clients are configured.
    pub client: ClientSpec,
    /// Expected verdicts by tunnel name, in file order.
    pub expect: Vec<Expectation>,
}

impl Scenario {
    /// How the tunnel client is set up and driven, where the file says so,
    /// in scenario-file syntax (`[client]`, `[probe]`); passwords left out.
    pub fn client_settings(&self) -> Vec<String> {
        let mut settings = Settings::default();
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
        settings.0
    }

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
    Transparent(Transparent),
    ConnectProxy(ConnectProxy),
    LegacyForwarder(LegacyForwarder),
    External(External),
}

impl HopKind {
    /// The names scenario files use for `kind`, with a line on what each models.
    pub const KINDS: [(&'static str, &'static str); 5] = [
        (
            "tls-terminator",
            "HTTPS load balancer or WAF that terminates TLS (F5 BIG-IP, Cloudflare, AWS ALB)",
        ),
        (
            "transparent",
            "intercepting proxy on the path, invisible to the client; may inspect TLS (ISP cache, Zscaler-style gateway)",
        ),
        (
            "connect-proxy",
            "explicit forward proxy the client is configured with: CONNECT tunnels, Basic auth (Squid)",
        ),
        (
            "legacy-forwarder",
            "plain HTTP reverse proxy of the hixie-76 era that forwards what HTTP framing declares (nginx, HAProxy 2010)",
        ),
        (
            "external",
            "a real proxy program (nginx, HAProxy, ...) run from a config template or a preset",
        ),
    ];

    pub fn kind_name(&self) -> &'static str {
        match self {
            HopKind::TlsTerminator(_) => "tls-terminator",
            HopKind::Transparent(_) => "transparent",
            HopKind::ConnectProxy(_) => "connect-proxy",
            HopKind::LegacyForwarder(_) => "legacy-forwarder",
            HopKind::External(_) => "external",
        }
    }

    pub fn idle_timeout(&self) -> Option<Duration> {
        match self {
            HopKind::TlsTerminator(options) => options.idle_timeout,
            HopKind::Transparent(options) => options.idle_timeout,
            HopKind::ConnectProxy(options) => options.idle_timeout,
            HopKind::LegacyForwarder(options) => options.idle_timeout,
            HopKind::External(_) => None,
        }
    }

    /// The hop's options as a scenario file writes them, for pictures of
    /// the path: the few that define the kind always, the rest where they
    /// differ from the default.
    pub fn settings(&self) -> Vec<String> {
        let mut settings = Settings::default();
        match self {
            HopKind::TlsTerminator(options) => {
                let default = TlsTerminator::default();
                settings.always("mode", options.mode.keyword());
                if options.mode == TerminatorMode::Http {
                    settings.always("websocket", options.websocket);
                }
                settings.always("backend", options.backend.keyword());
                settings.idle(options.idle_timeout);
                settings.ports(&options.ports, &default.ports);
                settings.differs(
                    "masking",
                    options.masking.keyword(),
                    default.masking.keyword(),
                );
                settings.differs(
                    "undeclared_bytes",
                    options.undeclared_bytes.keyword(),
                    default.undeclared_bytes.keyword(),
                );
            }
            HopKind::Transparent(options) => {
                let default = Transparent::default();
                settings.always("upgrade", options.upgrade.keyword());
                settings.always("tls", options.tls.keyword());
                settings.differs(
                    "http_version",
                    options.http_version.keyword(),
                    default.http_version.keyword(),
                );
                settings.idle(options.idle_timeout);
                settings.hosts("websocket_allow", &options.websocket_allow);
                settings.hosts("websocket_block", &options.websocket_block);
                settings.ports(&options.ports, &default.ports);
                settings.differs(
                    "masking",
                    options.masking.keyword(),
                    default.masking.keyword(),
                );
                settings.differs("cache", options.cache, default.cache);
                settings.differs(
                    "undeclared_bytes",
                    options.undeclared_bytes.keyword(),
                    default.undeclared_bytes.keyword(),
                );
            }
            HopKind::ConnectProxy(options) => {
                let default = ConnectProxy::default();
                if options.allowed_ports != default.allowed_ports {
                    settings.always("allowed_ports", format!("{:?}", options.allowed_ports));
                }
                if let Some(credentials) = &options.auth {
                    // The password stays out of reports.
                    settings.always("auth", format!("\"{}:…\"", credentials.user));
                }
                settings.idle(options.idle_timeout);
            }
            HopKind::LegacyForwarder(options) => {
                let default = LegacyForwarder::default();
                settings.always("body", options.body.keyword());
                settings.differs(
                    "masking",
                    options.masking.keyword(),
                    default.masking.keyword(),
                );
                settings.idle(options.idle_timeout);
                if options.read_timeout != default.read_timeout {
                    settings.always(
                        "read_timeout",
                        format!("\"{}\"", crate::format_duration(options.read_timeout)),
                    );
                }
            }
            HopKind::External(options) => {
                match &options.preset {
                    Some(preset) => settings.always("preset", format!("\"{preset}\"")),
                    None => settings.always(
                        "command",
                        format!("\"{}\"", options.command.first().map_or("", String::as_str)),
                    ),
                }
                settings.differs("explicit", options.explicit, false);
            }
        }
        settings.0
    }

    /// Whether clients are configured with this hop (an explicit proxy)
    /// rather than meeting it on the way to the origin's name.
    pub fn is_explicit_proxy(&self) -> bool {
        match self {
            HopKind::ConnectProxy(_) => true,
            HopKind::External(external) => external.explicit,
            _ => false,
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
    /// What it does with client frames after a WebSocket upgrade.
    pub masking: Masking,
    pub undeclared_bytes: UndeclaredBytes,
}

impl Default for TlsTerminator {
    fn default() -> Self {
        TlsTerminator {
            mode: TerminatorMode::Http,
            websocket: false,
            backend: Backend::Tls,
            idle_timeout: None,
            ports: crate::address::PORTS.to_vec(),
            masking: Masking::Ignore,
            undeclared_bytes: UndeclaredBytes::Hold,
        }
    }
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

/// An intercepting proxy: the client's lookup of the origin lands on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transparent {
    /// What it does with a WebSocket handshake.
    pub upgrade: UpgradePolicy,
    /// What it does with TLS.
    pub tls: TlsPolicy,
    /// The HTTP version it speaks upstream; 1.0 cannot carry an Upgrade.
    pub http_version: HttpVersion,
    pub idle_timeout: Option<Duration>,
    /// Hosts WebSocket may reach; empty: every host not blocked.
    pub websocket_allow: Vec<String>,
    /// Hosts WebSocket may not reach (answered 403).
    pub websocket_block: Vec<String>,
    /// Logical ports it intercepts.
    pub ports: Vec<u16>,
    pub masking: Masking,
    /// A cache that ignores the Upgrade and reads bytes sent after the
    /// handshake as new requests (the W2SP 2011 cache-poisoning setting).
    pub cache: bool,
    pub undeclared_bytes: UndeclaredBytes,
}

impl Default for Transparent {
    fn default() -> Self {
        Transparent {
            upgrade: UpgradePolicy::Strip,
            tls: TlsPolicy::Passthrough,
            http_version: HttpVersion::Http11,
            idle_timeout: None,
            websocket_allow: Vec::new(),
            websocket_block: Vec::new(),
            ports: crate::address::PORTS.to_vec(),
            masking: Masking::Ignore,
            cache: false,
            undeclared_bytes: UndeclaredBytes::Hold,
        }
    }
}

/// A plain HTTP reverse proxy of the hixie-76 era, on port 80.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyForwarder {
    /// What it does with bytes after the request headers.
    pub body: BodyPolicy,
    pub masking: Masking,
    pub idle_timeout: Option<Duration>,
    /// How long it waits for the upstream's answer before `504` (nginx's
    /// `proxy_read_timeout`, 60 s by default).
    pub read_timeout: Duration,
}

impl Default for LegacyForwarder {
    fn default() -> Self {
        LegacyForwarder {
            body: BodyPolicy::DeclaredOnly,
            masking: Masking::Ignore,
            idle_timeout: None,
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// What a forwarder does with bytes that follow a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyPolicy {
    /// Forward only what `Content-Length` or chunking declares; anything
    /// else is lost (nginx, Apache: hixie-76's key3 never arrives).
    #[default]
    DeclaredOnly,
    /// Hold bytes after the headers until the upstream answers (HAProxy
    /// 2010): a server that waits for them never answers.
    HoldUntilResponse,
    /// Pass everything on (a compliant forwarder).
    Forward,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Relay TLS untouched.
    Passthrough,
    /// Terminate with a certificate from the enterprise inspection CA,
    /// apply the HTTP rules inside, re-encrypt to the origin.
    Inspect,
    /// Reset TLS connections.
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http10,
    Http11,
}

/// An explicit forward proxy (Squid and friends).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectProxy {
    /// Ports CONNECT may reach; others get `403`.
    pub allowed_ports: Vec<u16>,
    /// Basic credentials it requires, `407` without them.
    pub auth: Option<Credentials>,
    pub idle_timeout: Option<Duration>,
}

impl Default for ConnectProxy {
    fn default() -> Self {
        ConnectProxy {
            allowed_ports: vec![crate::address::TLS_PORT],
            auth: None,
            idle_timeout: None,
        }
    }
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
pub const PLACEHOLDERS: [(&str, &str); 17] = [
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
];

/// A real proxy program in the chain: its command line and a config file
/// made from a template, both with placeholders the harness fills
/// (`{listen_80}`, `{upstream_443}`, `{config}`, `{dir}`, the PEM files).
#[derive(Debug, Clone, PartialEq)]
pub struct External {
    /// The preset it came from, if any, for messages.
    pub preset: Option<String>,
    pub command: Vec<String>,
    /// The config file's text, written to `{config}` before it starts.
    pub config: String,
    /// The logical ports it serves; the others refuse connections.
    pub ports: Vec<u16>,
    pub ready_timeout: Duration,
    /// An explicit proxy that clients are configured with (Squid), serving
    /// port 3128, rather than a hop on the way to the origin's name.
    pub explicit: bool,
}

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

/// `key = value` lines in scenario-file syntax, for [`HopKind::settings`].
#[derive(Debug, Default)]
struct Settings(Vec<String>);

impl Settings {
    fn always(&mut self, key: &str, value: impl SettingValue) {
        self.0.push(format!("{key} = {}", value.written()));
    }

    fn differs<T: SettingValue + PartialEq>(&mut self, key: &str, value: T, default: T) {
        if value != default {
            self.always(key, value);
        }
    }

    fn idle(&mut self, timeout: Option<Duration>) {
        if let Some(timeout) = timeout {
            self.always(
                "idle_timeout",
                format!("\"{}\"", crate::format_duration(timeout)),
            );
        }
    }

    fn ports(&mut self, ports: &[u16], default: &[u16]) {
        if ports != default {
            self.always("ports", format!("{ports:?}"));
        }
    }

    fn hosts(&mut self, key: &str, hosts: &[String]) {
        if !hosts.is_empty() {
            self.always(key, format!("{hosts:?}"));
        }
    }
}

/// How a value is written in a scenario file: strings quoted, the rest bare.
trait SettingValue {
    fn written(&self) -> String;
}

impl SettingValue for &str {
    fn written(&self) -> String {
        format!("\"{self}\"")
    }
}

impl SettingValue for bool {
    fn written(&self) -> String {
        self.to_string()
    }
}

/// Already written (a list, a quoted duration).
impl SettingValue for String {
    fn written(&self) -> String {
        self.clone()
    }
}

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

impl Keyword for TerminatorMode {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("http", TerminatorMode::Http), ("tcp", TerminatorMode::Tcp)];
}

impl Keyword for Backend {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("plain", Backend::Plain),
        ("tls", Backend::Tls),
        ("tls-verify", Backend::TlsVerify),
    ];
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

impl Keyword for BodyPolicy {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("declared-only", BodyPolicy::DeclaredOnly),
        ("hold-until-response", BodyPolicy::HoldUntilResponse),
        ("forward", BodyPolicy::Forward),
    ];
}

impl Keyword for UpgradePolicy {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("forward", UpgradePolicy::Forward),
        ("strip", UpgradePolicy::Strip),
        ("reject", UpgradePolicy::Reject),
    ];
}

impl Keyword for TlsPolicy {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("passthrough", TlsPolicy::Passthrough),
        ("inspect", TlsPolicy::Inspect),
        ("block", TlsPolicy::Block),
    ];
}

impl Keyword for HttpVersion {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("1.0", HttpVersion::Http10), ("1.1", HttpVersion::Http11)];
}

impl Keyword for OriginCertificate {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("public", OriginCertificate::Public),
        ("self-signed", OriginCertificate::SelfSigned),
    ];
}

impl Keyword for Outcome {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("pass", Outcome::Pass), ("fail", Outcome::Fail)];
}

impl Keyword for Transport {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("tls", Transport::Tls), ("plain", Transport::Plain)];
}
