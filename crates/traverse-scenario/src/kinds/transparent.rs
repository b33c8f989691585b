//! `kind = "transparent"`: an intercepting proxy on the path that the client
//! does not know about (an ISP or campus cache behind a port-80/443
//! redirect, a Zscaler-style secure web gateway that inspects TLS). Its
//! options, their table and their reader; the behaviour is
//! `traverse-middlebox`'s `transparent.rs`.

use std::time::Duration;

use crate::address::{PLAIN_PORT, PORTS};
use crate::error::ScenarioError;
use crate::kinds::{
    Buffering, BufferingLimits, DefaultValue, Kind, KindInfo, OptionReader, OptionSpec, Settings,
    ValueType, X_ACCEL_BUFFERING, idle_counts_option, keyword_names, request_buffering_option,
    WebSocketRules, response_buffering_option, websocket_rule_options,
};
use crate::model::{
    BackendHttp, ExtendedConnect, IdleCounts, Keyword, Masking, UndeclaredBytes, UpgradePolicy,
};

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
    /// Which bytes reset the idle timer.
    pub idle_counts: IdleCounts,
    /// Hosts WebSocket may reach; empty: every host not blocked.
    pub websocket_allow: Vec<String>,
    /// Hosts WebSocket may not reach (answered 403).
    pub websocket_block: Vec<String>,
    /// Logical ports it intercepts.
    pub ports: Vec<u16>,
    pub masking: Masking,
    /// What it does to the WebSocket features it relays.
    pub websocket_rules: WebSocketRules,
    /// A cache that ignores the Upgrade and reads bytes sent after the
    /// handshake as new requests (the W2SP 2011 cache-poisoning setting).
    pub cache: bool,
    pub undeclared_bytes: UndeclaredBytes,
    /// How it holds the HTTP messages it reads.
    pub buffering: Buffering,
    /// Whether it offers `h2` by ALPN inside the TLS it inspects.
    pub http2: bool,
    /// What it speaks upstream for requests that came over HTTP/2.
    pub backend_http: BackendHttp,
    /// What it does with an RFC 8441 extended CONNECT.
    pub extended_connect: ExtendedConnect,
}

impl Default for Transparent {
    fn default() -> Self {
        Transparent {
            upgrade: UpgradePolicy::Strip,
            tls: TlsPolicy::Passthrough,
            http_version: HttpVersion::Http11,
            idle_timeout: None,
            idle_counts: IdleCounts::Upstream,
            websocket_allow: Vec::new(),
            websocket_block: Vec::new(),
            ports: PORTS.to_vec(),
            masking: Masking::Ignore,
            websocket_rules: WebSocketRules::default(),
            cache: false,
            undeclared_bytes: UndeclaredBytes::Hold,
            buffering: Buffering::default(),
            http2: false,
            backend_http: BackendHttp::Http1,
            extended_connect: ExtendedConnect::Refuse,
        }
    }
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

impl Keyword for TlsPolicy {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("passthrough", TlsPolicy::Passthrough),
        ("inspect", TlsPolicy::Inspect),
        ("block", TlsPolicy::Block),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http10,
    Http11,
}

impl Keyword for HttpVersion {
    const KEYWORDS: &'static [(&'static str, Self)] =
        &[("1.0", HttpVersion::Http10), ("1.1", HttpVersion::Http11)];
}

const WEBSOCKET_RULES: [OptionSpec; 4] = websocket_rule_options(
    "upgrade = \"forward\" over HTTP/1.1",
    [
        "upgrade = \"forward\"\nwebsocket_offers = \"strip-subprotocol\"",
        "upgrade = \"forward\"\nmax_frame_size = \"64k\"",
        "upgrade = \"forward\"\nmax_message_size = \"1m\"",
        "upgrade = \"forward\"\nreserved_bits = \"reject\"",
    ],
);

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "upgrade",
        value: ValueType::Keyword(keyword_names::<UpgradePolicy>),
        default: DefaultValue::Written("\"strip\""),
        summary: "WebSocket handshakes: pass on, strip Upgrade (origin answers 426), or answer 400",
        applies: "",
        doc: "What it does with a WebSocket handshake. `\"forward\"` passes `Upgrade` and `Connection` on and, after the `101`, relays both directions byte for byte, unless `masking` says otherwise. This is HAProxy in `mode http`, which switches to tunnel mode after the `101`, or nginx with `proxy_http_version 1.1` and `proxy_set_header` for `Upgrade` and `Connection`. `\"strip\"` removes `Upgrade` and `Connection` before forwarding, so the origin answers `426` as it would to plain HTTP. This is a proxy that does not understand `Upgrade`: nginx's defaults, Squid without `http_upgrade_request_protocols`, varnish's default. `\"reject\"` answers `400` itself, as Squid 3.0 did to a request carrying `Upgrade` (a 2008 report).",
        example: "upgrade = \"forward\"",
    },
    OptionSpec {
        key: "tls",
        value: ValueType::Keyword(keyword_names::<TlsPolicy>),
        default: DefaultValue::Written("\"passthrough\""),
        summary: "TLS: relay untouched, inspect with the enterprise CA, or reset",
        applies: "",
        doc: "What it does with a TLS connection. `\"passthrough\"` relays it untouched to the same port on the next node, as an intercepting cache that sees only opaque TLS on 443 does, so everything inside TLS passes. `\"inspect\"` is a Zscaler-style secure web gateway. It terminates TLS with the inspection certificate, issued by the enterprise inspection CA, which managed devices (and so the `wss` client) trust and the pinned `tls` client refuses. It applies `upgrade`, `http_version` and the host rules to the HTTP inside, and re-encrypts to the same port on the next node (443 for the built-in tunnels), checking that node's certificate against the public CA only. `\"block\"` resets every TLS connection, as a firewall rule that blocks TLS does. This is recorded as `blocked`.",
        example: "tls = \"inspect\"",
    },
    OptionSpec {
        key: "http_version",
        value: ValueType::Keyword(keyword_names::<HttpVersion>),
        default: DefaultValue::Written("\"1.1\""),
        summary: "the HTTP version it speaks upstream; 1.0 cannot carry Upgrade",
        applies: "",
        doc: "The HTTP version it speaks upstream. HTTP/1.0 cannot carry `Upgrade`, so with `\"1.0\"` a WebSocket handshake goes on without it, even with `upgrade = \"forward\"`, and the origin answers `426`. This is nginx's default `proxy_http_version 1.0`, and an HTTP/1.0 intercepting cache. It still answers the client in HTTP/1.1, as nginx does. Write the version as a string: `http_version = 1.0` is an error.",
        example: "http_version = \"1.0\"",
    },
    OptionSpec {
        key: "idle_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Absent("none"),
        summary: "cut a relayed connection idle this long",
        applies: "TLS passed through and upgraded WebSockets",
        doc: "Cuts a relayed connection after no byte that `idle_counts` counts has moved for this long, recorded as `idle-cut`. Relayed connections are TLS passed through and upgraded WebSockets, including those inside inspected TLS. Use `\"60s\"` for nginx's default `proxy_read_timeout`.",
        example: "idle_timeout = \"60s\"",
    },
    idle_counts_option(
        "\"upstream\"",
        "Which bytes reset `idle_timeout`: `\"both\"` (a byte either way), `\"upstream\"` (only bytes from the next node) or `\"client\"` (only bytes from the client). Set without `idle_timeout` it is an error. The default is `\"upstream\"`, as nginx counts: its `proxy_read_timeout` is the time between two reads from the proxied server, and a WebSocket is closed if the proxied server transmits nothing for that long, however much the client sends.",
        "idle_timeout = \"60s\"\nidle_counts = \"both\"",
    ),
    OptionSpec {
        key: "websocket_allow",
        value: ValueType::Hosts,
        default: DefaultValue::Depends("`[]`: every host not blocked"),
        summary: "hosts WebSocket may reach; others get 403",
        applies: "WebSocket handshakes it can read",
        doc: "When not empty, a WebSocket handshake whose `Host` is not in the list is answered `403` and recorded as `blocked`. This is a secure web gateway's per-host WebSocket allow policy.",
        example: "websocket_allow = [\"origin.test\"]",
    },
    OptionSpec {
        key: "websocket_block",
        value: ValueType::Hosts,
        default: DefaultValue::Written("[]"),
        summary: "hosts WebSocket may not reach (403)",
        applies: "WebSocket handshakes it can read",
        doc: "A WebSocket handshake whose `Host` is in the list is answered `403` and recorded as `blocked`, as a secure web gateway's per-host WebSocket block policy does.",
        example: "websocket_block = [\"origin.test\"]",
    },
    OptionSpec {
        key: "ports",
        value: ValueType::LogicalPorts,
        default: DefaultValue::Written("[443, 80]"),
        summary: "logical ports it intercepts; the others are routed on untouched",
        applies: "",
        doc: "The logical ports it intercepts. Connections to a port it does not intercept are routed on untouched, as a redirect rule for port 80 alone leaves 443 alone.",
        example: "ports = [80]",
    },
    OptionSpec {
        key: "masking",
        value: ValueType::Keyword(keyword_names::<Masking>),
        default: DefaultValue::Written("\"ignore\""),
        summary: "client frames: relay, close with 1002 when unmasked, or mask again",
        applies: "upgrade = \"forward\" over HTTP/1.1",
        doc: "What it does with client frames of a WebSocket it relays (`upgrade = \"forward\"`, plain or inside inspected TLS), as for `tls-terminator`: `\"require\"` closes with 1002 on an unmasked frame (`blocked`), `\"remask\"` masks every frame again with its own key. See [Frame masking](#frame-masking).",
        example: "upgrade = \"forward\"\nmasking = \"remask\"",
    },
    WEBSOCKET_RULES[0],
    WEBSOCKET_RULES[1],
    WEBSOCKET_RULES[2],
    WEBSOCKET_RULES[3],
    OptionSpec {
        key: "cache",
        value: ValueType::Bool,
        default: DefaultValue::Written("false"),
        summary: "reads bytes after a WebSocket handshake as requests (poisonable)",
        applies: "upgrade = \"forward\" over HTTP/1.1",
        doc: "`true` makes it a caching proxy that does not understand `Upgrade`: after it has passed a WebSocket handshake on, it goes on reading what the client sends as new HTTP requests. When a complete request with a `Host` shows up in clear, it records the URL in `cache_poisoned`, and the cell is `poisonable`. This is the transparent proxy of the W2SP 2011 study by Huang et al., where 8 of 47,338 Upgrade-based handshakes poisoned a cache. It acts only on WebSockets the hop relays, so it needs `upgrade = \"forward\"` and `http_version = \"1.1\"` (set otherwise, it is an error); with `tls = \"inspect\"` it also reads inside the TLS it opens. Only `transparent` hops take it. See [Cache poisoning](#cache-poisoning).",
        example: "upgrade = \"forward\"\ncache = true",
    },
    OptionSpec {
        key: "undeclared_bytes",
        value: ValueType::Keyword(keyword_names::<UndeclaredBytes>),
        default: DefaultValue::Written("\"hold\""),
        summary: "bytes after a WebSocket handshake's headers: hold them, or answer 400 (HAProxy 2.6)",
        applies: "upgrade = \"forward\" over HTTP/1.1",
        doc: "What it does with bytes that follow a WebSocket handshake's headers with no `Content-Length` to declare them (hixie-76's key bytes), when it passes the upgrade on (`upgrade = \"forward\"` over HTTP/1.1, plain or inside inspected TLS; set otherwise it is accepted but does nothing), as for `tls-terminator`: `\"hold\"` keeps them until the next node answers (`holding`), `\"reject\"` answers `400` as HAProxy 2.6 in `mode http` does.",
        example: "upgrade = \"forward\"\nundeclared_bytes = \"reject\"",
    },
    response_buffering_option(
        "\"off\"",
        "HTTP on port 80, and inside TLS it inspects",
        response_buffering_doc!("It acts on the HTTP the hop reads: on port 80, and on 443 only with `tls = \"inspect\"` (a hop that intercepts only 443 and relays its TLS unopened reads no HTTP, and setting it there is an error). The default is `\"off\"`: an intercepting cache passes what it reads as it reads it (Squid's `read_ahead_gap`, 16 KB by default, only bounds how far it reads ahead of its client). Set `\"whole\"` for a secure web gateway that scans downloads before passing them (with `tls = \"inspect\"` for HTTPS)."),
        "response_buffering = \"whole\"",
    ),
    request_buffering_option(
        "\"off\"",
        "HTTP on port 80, and inside TLS it inspects",
        request_buffering_doc!("It acts where `response_buffering` does. The default is `\"off\"`: an intercepting cache streams request bodies on."),
        "request_buffering = \"whole\"",
    ),
    X_ACCEL_BUFFERING,
    OptionSpec {
        key: "http2",
        value: ValueType::Bool,
        default: DefaultValue::Written("false"),
        summary: "offer h2 by ALPN inside the TLS it inspects",
        applies: "tls = \"inspect\"",
        doc: "`true` offers `h2` and `http/1.1` by ALPN when it terminates TLS for inspection (`tls = \"inspect\"`), and serves whichever the client picks, applying the same HTTP rules to each request; a client that offers only `http/1.1` is served as with `false`. Secure web gateways that inspect TLS speak HTTP/2 to browsers. Requests that arrive over HTTP/2 go on as `backend_http` says, an extended CONNECT as `extended_connect` says. Plain connections stay HTTP/1.1. Set where it opens no TLS, it is an error.",
        example: "tls = \"inspect\"\nhttp2 = true",
    },
    OptionSpec {
        key: "backend_http",
        value: ValueType::Keyword(keyword_names::<BackendHttp>),
        default: DefaultValue::Written("\"http1\""),
        summary: "requests that came over HTTP/2 go on as HTTP/1.1 or as HTTP/2",
        applies: "tls = \"inspect\" with http2 = true",
        doc: "What a request that arrived over HTTP/2 inside inspected TLS goes on as, re-encrypted to the next node: `\"http1\"`, one HTTP/1.1 request (a streaming body goes on chunked and the answer streams back), or `\"http2\"`, offered to the next node by ALPN with HTTP/1.1 taken if it picks that, as for `tls-terminator`. WebSocket handshakes always go on as HTTP/1.1 `Upgrade`s. Set without `http2 = true` and `tls = \"inspect\"` it is an error.",
        example: "tls = \"inspect\"\nhttp2 = true\nbackend_http = \"http2\"",
    },
    OptionSpec {
        key: "extended_connect",
        value: ValueType::Keyword(keyword_names::<ExtendedConnect>),
        default: DefaultValue::Written("\"refuse\""),
        summary: "RFC 8441 WebSocket over HTTP/2: translate to an HTTP/1.1 Upgrade, or refuse",
        applies: "tls = \"inspect\" with http2 = true",
        doc: "What it does with an RFC 8441 extended CONNECT (`:protocol = websocket`) inside inspected TLS, as for `tls-terminator`: `\"translate\"` advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` and turns it into an HTTP/1.1 `Upgrade: websocket`, subject to `upgrade`, the host rules, `masking` and `idle_timeout` as an HTTP/1.1 handshake is (HAProxy 2.4 and later); `\"refuse\"` does not advertise it, so a compliant client sends none, and an HTTP/2 connection that carried no request is recorded as `blocked`. `\"translate\"` needs `upgrade = \"forward\"` over `http_version = \"1.1\"`. Set without `http2 = true` and `tls = \"inspect\"` it is an error.",
        example: "tls = \"inspect\"\nupgrade = \"forward\"\nhttp2 = true\nextended_connect = \"translate\"",
    },
];

impl Kind for Transparent {
    const INFO: KindInfo = KindInfo {
        name: "transparent",
        summary: "intercepting proxy on the path, invisible to the client; may inspect TLS (ISP cache, Zscaler-style gateway)",
        placement: "",
        options: OPTIONS,
        schema_rules: None,
    };

    fn read(reader: &mut OptionReader<'_, '_, '_>) -> Result<Self, ScenarioError> {
        let defaults = Transparent::default();
        let idle_counts = reader.idle_counts(defaults.idle_counts)?;
        let masking_at = reader.span_of("masking");
        let undeclared_at = reader.span_of("undeclared_bytes");
        let cache_at = reader.span_of("cache");
        let tls = reader.keyword("tls")?.unwrap_or(defaults.tls);
        let ports = reader.logical_ports("ports")?.unwrap_or(defaults.ports.clone());
        let reads_http = ports.contains(&PLAIN_PORT) || tls == TlsPolicy::Inspect;
        let buffering = reader.buffering(
            defaults.buffering,
            BufferingLimits {
                no_http: (!reads_http).then_some(
                    "it reads HTTP only on port 80 and inside TLS it inspects (`tls = \"inspect\"`), \
                     and this hop intercepts neither",
                ),
            },
        )?;
        let http2_at = reader.span_of("http2");
        let backend_http_at = reader.span_of("backend_http");
        let extended_at = reader.span_of("extended_connect");
        let options = Transparent {
            upgrade: reader.keyword("upgrade")?.unwrap_or(defaults.upgrade),
            tls,
            http_version: reader
                .keyword("http_version")?
                .unwrap_or(defaults.http_version),
            idle_timeout: reader.duration("idle_timeout")?,
            idle_counts,
            websocket_allow: reader.hosts("websocket_allow")?.unwrap_or_default(),
            websocket_block: reader.hosts("websocket_block")?.unwrap_or_default(),
            ports,
            masking: reader.keyword("masking")?.unwrap_or_default(),
            websocket_rules: WebSocketRules::default(),
            cache: reader.flag("cache")?.unwrap_or(defaults.cache),
            undeclared_bytes: reader.keyword("undeclared_bytes")?.unwrap_or_default(),
            buffering,
            http2: reader.flag("http2")?.unwrap_or(defaults.http2),
            backend_http: reader.keyword("backend_http")?.unwrap_or_default(),
            extended_connect: reader.keyword("extended_connect")?.unwrap_or_default(),
        };
        // All three act on an upgraded stream, which only `upgrade =
        // "forward"` over HTTP/1.1 lets through.
        let why_not = (!options.relays_websocket()).then_some(
            "it relays no WebSocket unless `upgrade = \"forward\"` over `http_version = \"1.1\"`",
        );
        if options.masking != Masking::Ignore {
            reader.no_effect(masking_at, "masking", why_not)?;
        }
        let mut options = options;
        options.websocket_rules = reader.websocket_rules(why_not)?;
        if options.undeclared_bytes == UndeclaredBytes::Reject {
            reader.no_effect(undeclared_at, "undeclared_bytes", why_not)?;
        }
        if options.cache {
            reader.no_effect(cache_at, "cache", why_not)?;
        }
        // HTTP/2 is negotiated by ALPN, so only inside TLS it opens.
        // Written as their defaults they are what an HTTP/1.1 hop does anyway.
        let http2_at = http2_at.filter(|_| options.http2);
        let backend_http_at = backend_http_at.filter(|_| options.backend_http != BackendHttp::Http1);
        let extended_at =
            extended_at.filter(|_| options.extended_connect != ExtendedConnect::Refuse);
        let opens_tls = options.tls == TlsPolicy::Inspect;
        let no_tls = (!opens_tls)
            .then_some("it negotiates HTTP/2 only inside TLS it opens (`tls = \"inspect\"`)");
        reader.no_effect(http2_at, "http2", no_tls)?;
        let no_http2 = if !opens_tls {
            no_tls
        } else {
            (!options.http2).then_some("no request arrives over HTTP/2 without `http2 = true`")
        };
        reader.no_effect(backend_http_at, "backend_http", no_http2)?;
        reader.no_effect(extended_at.clone(), "extended_connect", no_http2)?;
        if no_http2.is_none() && options.extended_connect == ExtendedConnect::Translate {
            reader.no_effect(extended_at, "extended_connect", why_not)?;
        }
        Ok(options)
    }

    fn write(&self, settings: &mut Settings) {
        let default = Transparent::default();
        settings.always("upgrade", self.upgrade.keyword());
        settings.always("tls", self.tls.keyword());
        settings.differs(
            "http_version",
            self.http_version.keyword(),
            default.http_version.keyword(),
        );
        settings.duration("idle_timeout", self.idle_timeout);
        settings.differs(
            "idle_counts",
            self.idle_counts.keyword(),
            default.idle_counts.keyword(),
        );
        settings.hosts("websocket_allow", &self.websocket_allow);
        settings.hosts("websocket_block", &self.websocket_block);
        settings.ports("ports", &self.ports, &default.ports);
        settings.differs("masking", self.masking.keyword(), default.masking.keyword());
        self.websocket_rules.write(settings);
        settings.differs("cache", self.cache, default.cache);
        settings.differs(
            "undeclared_bytes",
            self.undeclared_bytes.keyword(),
            default.undeclared_bytes.keyword(),
        );
        self.buffering.write(settings, default.buffering);
        settings.differs("http2", self.http2, default.http2);
        settings.differs(
            "backend_http",
            self.backend_http.keyword(),
            default.backend_http.keyword(),
        );
        settings.differs(
            "extended_connect",
            self.extended_connect.keyword(),
            default.extended_connect.keyword(),
        );
    }

    fn caches(&self) -> bool {
        self.cache
    }

    fn main_port(&self) -> u16 {
        PLAIN_PORT
    }
}

impl Transparent {
    /// Whether a WebSocket gets through it to have frames: only a
    /// handshake forwarded over HTTP/1.1 does.
    pub fn relays_websocket(&self) -> bool {
        self.upgrade == UpgradePolicy::Forward && self.http_version == HttpVersion::Http11
    }
}
