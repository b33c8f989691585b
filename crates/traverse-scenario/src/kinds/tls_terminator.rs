//! `kind = "tls-terminator"`: an HTTPS load balancer or WAF that terminates
//! TLS with a publicly trusted certificate for the origin's name (F5
//! BIG-IP, Cloudflare, AWS ALB). Its options, their table and their reader;
//! the behaviour is `traverse-middlebox`'s `tls_terminator.rs`.

use std::time::Duration;

use crate::address::{PORTS, TLS_PORT};
use crate::error::ScenarioError;
use crate::kinds::{
    Buffering, BufferingLimits, DefaultValue, Kind, KindInfo, OptionReader, OptionSpec, Settings,
    ValueType, X_ACCEL_BUFFERING, idle_counts_option, keyword_names, request_buffering_option,
    response_buffering_option, WebSocketRules, websocket_rule_options,
};
use crate::model::{BackendHttp, ExtendedConnect, IdleCounts, Keyword, Masking, UndeclaredBytes};

/// A TLS-terminating load balancer or WAF.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsTerminator {
    pub mode: TerminatorMode,
    /// Whether an HTTP-mode terminator passes the WebSocket Upgrade.
    pub websocket: bool,
    pub backend: Backend,
    pub idle_timeout: Option<Duration>,
    /// Which bytes reset the idle timer.
    pub idle_counts: IdleCounts,
    /// Logical ports it has a listener (virtual server) on.
    pub ports: Vec<u16>,
    /// What it does with client frames after a WebSocket upgrade.
    pub masking: Masking,
    /// What it does to the WebSocket features it relays.
    pub websocket_rules: WebSocketRules,
    pub undeclared_bytes: UndeclaredBytes,
    /// The product whose answers and timeout defaults it takes.
    pub vendor: Vendor,
    /// How long it waits for the next node's response head, as written;
    /// `None` takes the vendor's default ([`TlsTerminator::read_limit`]).
    pub read_timeout: Option<Duration>,
    /// How long it waits for the next node's TCP connect, as written;
    /// `None` takes the vendor's default ([`TlsTerminator::connect_limit`]).
    pub connect_timeout: Option<Duration>,
    /// How it holds responses and request bodies (`http` mode).
    pub buffering: Buffering,
    /// Whether it offers `h2` by ALPN on 443, as written; `None` takes the
    /// vendor's ([`TlsTerminator::offers_http2`]).
    pub http2: Option<bool>,
    /// What it speaks to the next node for requests that came over
    /// HTTP/2, as written; `None` takes the vendor's
    /// ([`TlsTerminator::backend_http_version`]).
    pub backend_http: Option<BackendHttp>,
    /// What it does with an RFC 8441 extended CONNECT.
    pub extended_connect: ExtendedConnect,
}

impl TlsTerminator {
    /// Whether a client on 443 can pick HTTP/2: `http` mode only, as
    /// written or else as the vendor does (ALB and Cloudflare do).
    pub fn offers_http2(&self) -> bool {
        self.mode == TerminatorMode::Http
            && self.ports.contains(&TLS_PORT)
            && self.http2.unwrap_or(self.vendor.offers_http2())
    }

    /// The version requests that came over HTTP/2 go on in: as written,
    /// or else Cloudflare's HTTP/2 to a TLS origin (negotiated by ALPN, so
    /// an HTTP/1.1 origin still gets HTTP/1.1) and HTTP/1.1 otherwise.
    pub fn backend_http_version(&self) -> BackendHttp {
        self.backend_http
            .unwrap_or(match (self.vendor, self.backend) {
                (Vendor::Cloudflare, Backend::Tls | Backend::TlsVerify) => BackendHttp::Http2,
                _ => BackendHttp::Http1,
            })
    }

    /// The wait for a response head it applies: the written one, else the
    /// vendor's (an ALB's is its idle timeout).
    pub fn read_limit(&self) -> Option<Duration> {
        self.read_timeout.or(match self.vendor {
            Vendor::Alb => Some(self.idle_timeout.unwrap_or(ALB_IDLE_TIMEOUT)),
            vendor => vendor.read_timeout(),
        })
    }

    /// The wait for a TCP connect it applies: the written one, else the
    /// vendor's; `None` leaves it to the harness's step timeout.
    pub fn connect_limit(&self) -> Option<Duration> {
        self.connect_timeout.or(self.vendor.connect_timeout())
    }
}

/// An AWS ALB's default idle timeout, which is also how long it waits for a
/// target's answer before `504`.
const ALB_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The product a terminator stands for: what its clients are answered when
/// the next node fails, and its timeouts' defaults. The values are the
/// vendors' documentation, cited in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vendor {
    /// A load balancer of no product in particular: 502, or 504 on a timeout.
    #[default]
    Generic,
    /// Cloudflare's edge: 520 to 526.
    Cloudflare,
    /// An AWS Application Load Balancer: 502, or 504 on a timeout.
    Alb,
    /// F5 BIG-IP: its documentation names no status; 502 and 504 are kept.
    F5,
}

impl Keyword for Vendor {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("generic", Vendor::Generic),
        ("cloudflare", Vendor::Cloudflare),
        ("alb", Vendor::Alb),
        ("f5", Vendor::F5),
    ];
}

/// How the next node failed a terminator in `http` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// The TCP connect was refused.
    Refused,
    /// The TCP connect failed otherwise (no route).
    Unreachable,
    /// The TCP connect did not complete in time.
    ConnectTimeout,
    /// The TLS handshake failed for another reason than the certificate.
    TlsHandshake,
    /// The TLS handshake did not complete in time.
    HandshakeTimeout,
    /// The certificate did not validate (`backend = "tls-verify"`).
    InvalidCertificate,
    /// Connected, but no response head arrived in time.
    ReadTimeout,
    /// Connected, but the next node closed without a response, or answered
    /// something that is not HTTP.
    EmptyResponse,
}

impl Vendor {
    /// The status its clients see when the next node fails this way.
    pub fn answer(self, failure: OriginFailure) -> u16 {
        use OriginFailure as Failure;
        match (self, failure) {
            (Vendor::Cloudflare, Failure::EmptyResponse) => 520,
            (Vendor::Cloudflare, Failure::Refused) => 521,
            (Vendor::Cloudflare, Failure::ConnectTimeout) => 522,
            (Vendor::Cloudflare, Failure::Unreachable) => 523,
            (Vendor::Cloudflare, Failure::ReadTimeout) => 524,
            (Vendor::Cloudflare, Failure::TlsHandshake | Failure::HandshakeTimeout) => 525,
            (Vendor::Cloudflare, Failure::InvalidCertificate) => 526,
            // AWS lists an SSL handshake timeout among the 502s.
            (Vendor::Alb, Failure::HandshakeTimeout) => 502,
            (_, Failure::ConnectTimeout | Failure::ReadTimeout | Failure::HandshakeTimeout) => 504,
            _ => 502,
        }
    }

    /// Its default wait for a response head (ALB: see [`TlsTerminator::read_limit`]).
    pub fn read_timeout(self) -> Option<Duration> {
        match self {
            Vendor::Cloudflare => Some(Duration::from_secs(120)),
            Vendor::Alb => Some(ALB_IDLE_TIMEOUT),
            Vendor::Generic | Vendor::F5 => None,
        }
    }

    /// Whether it negotiates HTTP/2 with clients unless told otherwise.
    pub fn offers_http2(self) -> bool {
        matches!(self, Vendor::Alb | Vendor::Cloudflare)
    }

    /// Its default wait for a TCP connect to the next node.
    pub fn connect_timeout(self) -> Option<Duration> {
        match self {
            Vendor::Cloudflare => Some(Duration::from_secs(19)),
            Vendor::Alb => Some(Duration::from_secs(10)),
            Vendor::Generic | Vendor::F5 => None,
        }
    }
}

impl Default for TlsTerminator {
    fn default() -> Self {
        TlsTerminator {
            mode: TerminatorMode::Http,
            websocket: false,
            backend: Backend::Tls,
            idle_timeout: None,
            idle_counts: IdleCounts::Both,
            ports: PORTS.to_vec(),
            masking: Masking::Ignore,
            websocket_rules: WebSocketRules::default(),
            undeclared_bytes: UndeclaredBytes::Hold,
            vendor: Vendor::Generic,
            read_timeout: None,
            connect_timeout: None,
            buffering: Buffering::default(),
            http2: None,
            backend_http: None,
            extended_connect: ExtendedConnect::Refuse,
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

impl Keyword for TerminatorMode {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("http", TerminatorMode::Http), ("tcp", TerminatorMode::Tcp)];
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

impl Keyword for Backend {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("plain", Backend::Plain),
        ("tls", Backend::Tls),
        ("tls-verify", Backend::TlsVerify),
    ];
}

const WEBSOCKET_RULES: [OptionSpec; 4] = websocket_rule_options(
    "http mode with websocket = true",
    [
        "websocket = true\nwebsocket_offers = \"strip-subprotocol\"",
        "websocket = true\nmax_frame_size = \"64k\"",
        "websocket = true\nmax_message_size = \"1m\"",
        "websocket = true\nreserved_bits = \"reject\"",
    ],
);

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "mode",
        value: ValueType::Keyword(keyword_names::<TerminatorMode>),
        default: DefaultValue::Written("\"http\""),
        summary: "\"http\": L7, parses HTTP after decrypting; \"tcp\": L4 SSL offload",
        applies: "",
        doc: "`\"http\"` is an L7 proxy that parses HTTP/1.1 after decrypting. Bytes that are not HTTP get `400 Bad Request`, as from an F5 BIG-IP virtual server with an HTTP profile or from the Cloudflare edge. `\"tcp\"` is L4 SSL offload: TLS is terminated and the decrypted bytes are relayed unparsed. This matches the F5 set-up the bundled `f5-ssl-offload-l4` scenario calls FastL4 SSL offload (client-SSL and server-SSL profiles, no HTTP profile).",
        example: "mode = \"tcp\"",
    },
    OptionSpec {
        key: "websocket",
        value: ValueType::Bool,
        default: DefaultValue::Written("false"),
        summary: "pass WebSocket upgrades on",
        applies: "http mode",
        doc: "`http` mode only. `true` passes the WebSocket `Upgrade` on and then relays frames byte for byte, unless `masking` says otherwise. This models a WebSocket profile attached to the F5 virtual server, Cloudflare's WebSockets toggle, or an ALB's native WebSocket support. `false` removes `Upgrade`/`Connection` before forwarding, as an F5 with an HTTP profile but no WebSocket profile does, so the origin answers `426`.",
        example: "websocket = true",
    },
    OptionSpec {
        key: "backend",
        value: ValueType::Keyword(keyword_names::<Backend>),
        default: DefaultValue::Written("\"tls\""),
        summary: "how connections from 443 go on: plain to 80, TLS unchecked, TLS checked",
        applies: "",
        doc: "How connections that arrived on 443 go on to the next node. `\"plain\"` is plain HTTP to port 80 (Cloudflare Flexible). `\"tls\"` is TLS to 443 with the certificate not checked (Cloudflare Full). `\"tls-verify\"` is TLS to 443 with the certificate checked against the public CA (Cloudflare Full (strict)), so a self-signed origin is refused.",
        example: "backend = \"tls-verify\"",
    },
    OptionSpec {
        key: "idle_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Absent("none"),
        summary: "cut a relayed connection idle this long",
        applies: "upgraded WebSockets, and every connection in tcp mode",
        doc: "Cuts a relayed connection after no byte that `idle_counts` counts has moved for this long, recorded as `idle-cut`. Use `\"100s\"` for Cloudflare, which cuts WebSockets idle for 100 s, and `\"60s\"` for an AWS ALB, whose default idle timeout is 60 s.",
        example: "idle_timeout = \"100s\"",
    },
    idle_counts_option(
        "\"both\"",
        "Which bytes reset `idle_timeout`: `\"both\"` (a byte either way), `\"upstream\"` (only bytes from the next node, as nginx's `proxy_read_timeout` counts) or `\"client\"` (only bytes from the client). Set without `idle_timeout` it is an error. The default is `\"both\"`: AWS defines an ALB's idle timeout as the time a connection may go with no data sent or received, and Cloudflare's connection limits name one idle timeout per connection. A tunnel whose client pings into silence is kept alive by `\"both\"` and cut by `\"upstream\"`.",
        "idle_timeout = \"60s\"\nidle_counts = \"upstream\"",
    ),
    OptionSpec {
        key: "ports",
        value: ValueType::LogicalPorts,
        default: DefaultValue::Written("[443, 80]"),
        summary: "logical ports it has a listener (virtual server) on",
        applies: "",
        doc: "The logical ports it has a listener (virtual server) on. A port it does not serve refuses connections.",
        example: "ports = [443]",
    },
    OptionSpec {
        key: "masking",
        value: ValueType::Keyword(keyword_names::<Masking>),
        default: DefaultValue::Written("\"ignore\""),
        summary: "client frames: relay, close with 1002 when unmasked, or mask again",
        applies: "http mode with websocket = true",
        doc: "What it does with client frames after it passed a WebSocket upgrade (`http` mode with `websocket = true`; set anywhere else it is an error, since it could not act). `\"ignore\"` relays them as they are, as F5's `WS::masking preserve` does. `\"require\"` closes the WebSocket with 1002 on an unmasked client frame, recorded as `blocked`: a load balancer that enforces RFC 6455 masking on clients. `\"remask\"` unmasks every client frame and masks it again with a fresh key of its own, as F5 BIG-IP 12.1+ does with the iRule `WS::masking remask`. See [Frame masking](#frame-masking).",
        example: "websocket = true\nmasking = \"require\"",
    },
    WEBSOCKET_RULES[0],
    WEBSOCKET_RULES[1],
    WEBSOCKET_RULES[2],
    WEBSOCKET_RULES[3],
    OptionSpec {
        key: "undeclared_bytes",
        value: ValueType::Keyword(keyword_names::<UndeclaredBytes>),
        default: DefaultValue::Written("\"hold\""),
        summary: "bytes after a WebSocket handshake's headers: hold them, or answer 400 (HAProxy 2.6)",
        applies: "http mode with websocket = true",
        doc: "What it does with bytes that follow a WebSocket handshake's headers with no `Content-Length` to declare them (hixie-76's key bytes), when it passes the upgrade on (`http` mode with `websocket = true`; set anywhere else it is accepted but does nothing, unlike `masking`). `\"hold\"` keeps them until the next node answers the handshake, recorded as `holding`, so a hixie-76 handshake deadlocks and times out: HAProxy in 2010, and hyper, which the mock is built on. `\"reject\"` answers `400 Bad Request` itself, recorded as `responded`: HAProxy 2.6 in `mode http` (`<BADREQ>`), as the parity test against it shows. See [Hixie-76 key bytes](#hixie-76-key-bytes).",
        example: "websocket = true\nundeclared_bytes = \"reject\"",
    },
    OptionSpec {
        key: "vendor",
        value: ValueType::Keyword(keyword_names::<Vendor>),
        default: DefaultValue::Written("\"generic\""),
        summary: "the product it models: the statuses for origin failures, the timeouts' defaults",
        applies: "",
        doc: "The product whose answers it gives when the next node fails (in `http` mode), and whose defaults `read_timeout` and `connect_timeout` take. `\"cloudflare\"`: `520` for an empty or unreadable answer, `521` when the connection is refused, `522` when the TCP connect times out (19 s), `523` when the next node is unreachable, `524` when no response head comes within the proxy read timeout (120 s), `525` when the TLS handshake fails, `526` when the certificate is invalid (`backend = \"tls-verify\"`), as Cloudflare's 5xx error pages and its connection limits say. `\"alb\"`: `502` for a refused connection, a TLS handshake error or timeout and a malformed or missing answer, `504` when the connect takes longer than 10 s or no answer comes within the idle timeout, as AWS's ALB troubleshooting page says. `\"f5\"` and `\"generic\"`: `502`, or `504` on a timeout, with no timeouts of their own (F5's documentation names no status). In `tcp` mode a failure closes the connection whatever the vendor.",
        example: "vendor = \"cloudflare\"",
    },
    OptionSpec {
        key: "read_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Depends("the vendor's: `\"120s\"` for cloudflare, the `idle_timeout` or `\"60s\"` for alb, none for f5 and generic"),
        summary: "wait this long for the next node's response head, then answer 524 or 504",
        applies: "http mode",
        doc: "How long it waits for the next node's response head after sending a request on, before it answers the vendor's timeout status (`524` for Cloudflare, `504` otherwise), recorded as `upstream-failed`. Cloudflare's proxy read timeout is 120 s (its connection limits page; older pages say 100 s); an ALB waits as long as its idle timeout. Without one the hop waits until the client gives up. It does not apply after a WebSocket upgrade: `idle_timeout` does.",
        example: "read_timeout = \"30s\"",
    },
    OptionSpec {
        key: "connect_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Depends("the vendor's: `\"19s\"` for cloudflare, `\"10s\"` for alb, `--step-timeout` (wall time) for f5 and generic"),
        summary: "wait this long for the next node's TCP connect, then answer 522 or 504",
        applies: "",
        doc: "How long it waits for the TCP connection to the next node, before it answers the vendor's connect-timeout status (`522` for Cloudflare, `504` otherwise; in `tcp` mode it closes the connection), recorded as `upstream-failed`. Cloudflare gives a TCP connection to the origin 19 s (its connection limits page; older pages say 15 s); an ALB 10 s. Without one the limit is `--step-timeout`, in wall time.",
        example: "connect_timeout = \"5s\"",
    },
    response_buffering_option(
        "\"off\"",
        "http mode",
        response_buffering_doc!("`http` mode only (in `tcp` mode it is an error). The default is `\"off\"` for every `vendor`: Cloudflare's API documents its `response_buffering` zone setting (Enterprise zones) as off, the proxied server streaming directly to the client; AWS's ALB documentation and F5's HTTP profile (whose `Response Chunking` re-chunks or preserves a body, it does not hold one) describe no response buffering, so the mock streams for them. Set `\"whole\"` for a WAF or gateway that inspects whole responses, or a size for an nginx in front of the origin."),
        "response_buffering = \"whole\"",
    ),
    request_buffering_option(
        "\"off\"",
        "http mode",
        request_buffering_doc!("`http` mode only (in `tcp` mode it is an error). The default is `\"off\"`: Cloudflare's default request body buffering (`standard` in its Configuration Rules) inspects a prefix of the body for its WAF and streams it on, and its `full` mode, which buffers the entire body before sending it to the origin, is `\"whole\"` here; AWS and F5 describe no request buffering by default."),
        "request_buffering = \"whole\"",
    ),
    X_ACCEL_BUFFERING,
    OptionSpec {
        key: "http2",
        value: ValueType::Bool,
        default: DefaultValue::Depends("the vendor's: `true` for alb and cloudflare, `false` for f5 and generic"),
        summary: "offer h2 by ALPN on 443 and serve whichever of h2 and HTTP/1.1 the client picks",
        applies: "http mode, port 443",
        doc: "`true` offers `h2` and `http/1.1` by ALPN on 443 and serves whichever the client picks; a client that offers no ALPN, or only `http/1.1` (as every built-in tunnel but `h2` and `ws-h2` does), is served HTTP/1.1 exactly as with `false`. Requests that arrive over HTTP/2 go on as `backend_http` says, and an RFC 8441 extended CONNECT as `extended_connect` says. Port 80 stays HTTP/1.1: there is no ALPN to negotiate on it. AWS: an ALB supports HTTP/2 natively on HTTPS listeners and converts the requests to individual HTTP/1.1 requests to its targets (its listeners page). Cloudflare's edge negotiates HTTP/2 with browsers on every plan. F5 BIG-IP needs an HTTP/2 profile attached to the virtual server, so `f5` and `generic` keep HTTP/1.1. In `tcp` mode it is an error.",
        example: "http2 = true",
    },
    OptionSpec {
        key: "backend_http",
        value: ValueType::Keyword(keyword_names::<BackendHttp>),
        default: DefaultValue::Depends("`\"http2\"` for cloudflare with a TLS `backend`, `\"http1\"` otherwise"),
        summary: "requests that came over HTTP/2 go on as HTTP/1.1 or as HTTP/2",
        applies: "http mode with HTTP/2 offered",
        doc: "What a request that arrived over HTTP/2 goes on as. `\"http1\"` is one HTTP/1.1 request to the next node (a streaming body goes on chunked, and the answer streams back), as an ALB does with its default target group protocol version `HTTP1`. `\"http2\"` speaks HTTP/2 to the next node: over TLS it offers `h2` and `http/1.1` by ALPN and speaks HTTP/1.1 if the next node picks it (Cloudflare's HTTP/2 to Origin, on by default, connects with HTTP/2 only to origins that announce it by ALPN), over plain TCP by prior knowledge (an ALB target group with protocol version `HTTP2`). WebSocket handshakes, and translated extended CONNECTs, always go on as HTTP/1.1 `Upgrade`s. Requests that arrived over HTTP/1.1 go on as HTTP/1.1 whatever this says. Set where no request arrives over HTTP/2 (`http2` off, or `tcp` mode) it is an error.",
        example: "http2 = true\nbackend_http = \"http2\"",
    },
    OptionSpec {
        key: "extended_connect",
        value: ValueType::Keyword(keyword_names::<ExtendedConnect>),
        default: DefaultValue::Written("\"refuse\""),
        summary: "RFC 8441 WebSocket over HTTP/2: translate to an HTTP/1.1 Upgrade, or refuse",
        applies: "http mode with HTTP/2 offered",
        doc: "What it does with RFC 8441's extended CONNECT (`:protocol = websocket`, WebSocket over an HTTP/2 stream). `\"translate\"` advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` and turns the CONNECT into an HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: Upgrade`, a `Sec-WebSocket-Key` of its own and `Sec-WebSocket-Version: 13`; on a `101` whose `Sec-WebSocket-Accept` matches that key it answers the stream `200` and relays both ways under `idle_timeout` and `masking`, recorded as `upgraded`. That is HAProxy 2.4 and later on an h2 front. It needs `websocket = true`, as an HTTP/1.1 upgrade does. `\"refuse\"` does not advertise the setting, so a compliant client (RFC 8441 §3) sends no extended CONNECT and its WebSocket over HTTP/2 cannot start; one sent anyway is reset. An HTTP/2 connection on which no request was served is recorded as `blocked`. This is the default for every vendor: AWS documents ALB WebSockets only as an upgrade of an HTTP/1.1 connection, and Cloudflare's edge does not support RFC 8441 (its wrangler tool forces HTTP/1.1 for WebSockets for that reason). Set where no request arrives over HTTP/2 it is an error.",
        example: "http2 = true\nwebsocket = true\nextended_connect = \"translate\"",
    },
];

impl Kind for TlsTerminator {
    const INFO: KindInfo = KindInfo {
        name: "tls-terminator",
        summary: "HTTPS load balancer or WAF that terminates TLS (F5 BIG-IP, Cloudflare, AWS ALB)",
        placement: "",
        options: OPTIONS,
        schema_rules: None,
    };

    fn read(reader: &mut OptionReader<'_, '_, '_>) -> Result<Self, ScenarioError> {
        let defaults = TlsTerminator::default();
        let idle_counts = reader.idle_counts(defaults.idle_counts)?;
        let masking_at = reader.span_of("masking");
        let undeclared_at = reader.span_of("undeclared_bytes");
        let read_at = reader.span_of("read_timeout");
        let mode = reader.keyword("mode")?.unwrap_or(defaults.mode);
        let buffering = reader.buffering(
            defaults.buffering,
            BufferingLimits {
                no_http: (mode == TerminatorMode::Tcp)
                    .then_some("in tcp mode the terminator reads no HTTP messages to hold"),
            },
        )?;
        let http2_at = reader.span_of("http2");
        let backend_http_at = reader.span_of("backend_http");
        let extended_at = reader.span_of("extended_connect");
        let options = TlsTerminator {
            mode,
            websocket: reader.flag("websocket")?.unwrap_or(defaults.websocket),
            backend: reader.keyword("backend")?.unwrap_or(defaults.backend),
            idle_timeout: reader.duration("idle_timeout")?,
            idle_counts,
            ports: reader.logical_ports("ports")?.unwrap_or(defaults.ports),
            masking: reader.keyword("masking")?.unwrap_or_default(),
            websocket_rules: WebSocketRules::default(),
            undeclared_bytes: reader.keyword("undeclared_bytes")?.unwrap_or_default(),
            vendor: reader.keyword("vendor")?.unwrap_or_default(),
            read_timeout: reader.duration("read_timeout")?,
            connect_timeout: reader.duration("connect_timeout")?,
            buffering,
            http2: reader.flag("http2")?,
            backend_http: reader.keyword("backend_http")?,
            extended_connect: reader.keyword("extended_connect")?.unwrap_or_default(),
        };
        options.check_http2(reader, http2_at, backend_http_at, extended_at)?;
        if options.read_timeout.is_some() {
            reader.no_effect(
                read_at,
                "read_timeout",
                (options.mode == TerminatorMode::Tcp)
                    .then_some("in tcp mode the terminator reads no response heads"),
            )?;
        }
        let why_not = match (options.masking, options.mode, options.websocket) {
            (Masking::Ignore, _, _) => None,
            (_, TerminatorMode::Tcp, _) => {
                Some("in tcp mode the terminator relays bytes without reading frames")
            }
            (_, _, false) => {
                Some("with `websocket = false` no WebSocket gets through to have frames")
            }
            _ => None,
        };
        reader.no_effect(masking_at, "masking", why_not)?;
        let mut options = options;
        options.websocket_rules = reader.websocket_rules(match (options.mode, options.websocket) {
            (TerminatorMode::Tcp, _) => {
                Some("in tcp mode the terminator relays bytes without reading WebSocket")
            }
            (_, false) => Some("with `websocket = false` no WebSocket gets through"),
            _ => None,
        })?;
        // Undeclared bytes matter only on a WebSocket handshake it passes on.
        let passes_websocket = options.mode == TerminatorMode::Http && options.websocket;
        if options.undeclared_bytes == UndeclaredBytes::Reject {
            reader.no_effect(
                undeclared_at,
                "undeclared_bytes",
                (!passes_websocket).then_some(
                    "it passes no WebSocket handshake on (`websocket = true` in http mode)",
                ),
            )?;
        }
        Ok(options)
    }

    fn write(&self, settings: &mut Settings) {
        let default = TlsTerminator::default();
        settings.always("mode", self.mode.keyword());
        if self.mode == TerminatorMode::Http {
            settings.always("websocket", self.websocket);
        }
        settings.always("backend", self.backend.keyword());
        settings.duration("idle_timeout", self.idle_timeout);
        settings.differs(
            "idle_counts",
            self.idle_counts.keyword(),
            default.idle_counts.keyword(),
        );
        settings.ports("ports", &self.ports, &default.ports);
        settings.differs("masking", self.masking.keyword(), default.masking.keyword());
        self.websocket_rules.write(settings);
        settings.differs(
            "undeclared_bytes",
            self.undeclared_bytes.keyword(),
            default.undeclared_bytes.keyword(),
        );
        settings.differs("vendor", self.vendor.keyword(), default.vendor.keyword());
        settings.duration("read_timeout", self.read_timeout);
        settings.duration("connect_timeout", self.connect_timeout);
        self.buffering.write(settings, default.buffering);
        if let Some(http2) = self.http2 {
            settings.always("http2", http2);
        }
        if let Some(backend_http) = self.backend_http {
            settings.always("backend_http", backend_http.keyword());
        }
        settings.differs(
            "extended_connect",
            self.extended_connect.keyword(),
            default.extended_connect.keyword(),
        );
    }

    fn main_port(&self) -> u16 {
        TLS_PORT
    }
}

impl TlsTerminator {
    /// The HTTP/2 options act only where a request can arrive over
    /// HTTP/2: in `http` mode, on 443, with `http2` on.
    fn check_http2(
        &self,
        reader: &OptionReader<'_, '_, '_>,
        http2_at: Option<std::ops::Range<usize>>,
        backend_http_at: Option<std::ops::Range<usize>>,
        extended_at: Option<std::ops::Range<usize>>,
    ) -> Result<(), ScenarioError> {
        // Written as the default, `refuse` is what any HTTP/1.1 hop does
        // anyway, as `masking = "ignore"` is accepted everywhere.
        let extended_at = extended_at.filter(|_| self.extended_connect != ExtendedConnect::Refuse);
        if self.mode == TerminatorMode::Tcp {
            let why = Some("in tcp mode the terminator parses no HTTP to speak HTTP/2 with");
            reader.no_effect(http2_at, "http2", why)?;
            reader.no_effect(backend_http_at, "backend_http", why)?;
            return reader.no_effect(extended_at, "extended_connect", why);
        }
        if self.http2 == Some(true) && !self.ports.contains(&TLS_PORT) {
            reader.no_effect(
                http2_at,
                "http2",
                Some("HTTP/2 is negotiated by ALPN on 443, which this hop does not serve"),
            )?;
        }
        let off = if self.http2 == Some(false) {
            "no request arrives over HTTP/2 with `http2 = false`".to_string()
        } else {
            format!(
                "no request arrives over HTTP/2: vendor `{}` does not offer it unless `http2 = true`",
                self.vendor.keyword()
            )
        };
        let why_off = (!self.offers_http2()).then_some(off.as_str());
        reader.no_effect(backend_http_at, "backend_http", why_off)?;
        reader.no_effect(extended_at.clone(), "extended_connect", why_off)?;
        if why_off.is_none() && self.extended_connect == ExtendedConnect::Translate {
            reader.no_effect(
                extended_at,
                "extended_connect",
                (!self.websocket)
                    .then_some("with `websocket = false` no WebSocket gets through to translate"),
            )?;
        }
        Ok(())
    }
}
