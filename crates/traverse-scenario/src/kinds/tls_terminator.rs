//! `kind = "tls-terminator"`: an HTTPS load balancer or WAF that terminates
//! TLS with a publicly trusted certificate for the origin's name (F5
//! BIG-IP, Cloudflare, AWS ALB). Its options, their table and their reader;
//! the behaviour is `traverse-middlebox`'s `tls_terminator.rs`.

use std::time::Duration;

use crate::address::{PORTS, TLS_PORT};
use crate::error::ScenarioError;
use crate::kinds::{
    DefaultValue, Kind, KindInfo, OptionReader, OptionSpec, Settings, ValueType, keyword_names,
};
use crate::model::{Keyword, Masking, UndeclaredBytes};

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
            ports: PORTS.to_vec(),
            masking: Masking::Ignore,
            undeclared_bytes: UndeclaredBytes::Hold,
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
        doc: "Cuts a relayed connection after no byte has moved in either direction for this long, recorded as `idle-cut`. Use `\"100s\"` for Cloudflare, which cuts WebSockets idle for 100 s, and `\"60s\"` for an AWS ALB, whose default idle timeout is 60 s.",
        example: "idle_timeout = \"100s\"",
    },
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
    OptionSpec {
        key: "undeclared_bytes",
        value: ValueType::Keyword(keyword_names::<UndeclaredBytes>),
        default: DefaultValue::Written("\"hold\""),
        summary: "bytes after a WebSocket handshake's headers: hold them, or answer 400 (HAProxy 2.6)",
        applies: "http mode with websocket = true",
        doc: "What it does with bytes that follow a WebSocket handshake's headers with no `Content-Length` to declare them (hixie-76's key bytes), when it passes the upgrade on (`http` mode with `websocket = true`; set anywhere else it is accepted but does nothing, unlike `masking`). `\"hold\"` keeps them until the next node answers the handshake, recorded as `holding`, so a hixie-76 handshake deadlocks and times out: HAProxy in 2010, and hyper, which the mock is built on. `\"reject\"` answers `400 Bad Request` itself, recorded as `responded`: HAProxy 2.6 in `mode http` (`<BADREQ>`), as the parity test against it shows. See [Hixie-76 key bytes](#hixie-76-key-bytes).",
        example: "websocket = true\nundeclared_bytes = \"reject\"",
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
        let masking_at = reader.span_of("masking");
        let undeclared_at = reader.span_of("undeclared_bytes");
        let options = TlsTerminator {
            mode: reader.keyword("mode")?.unwrap_or(defaults.mode),
            websocket: reader.flag("websocket")?.unwrap_or(defaults.websocket),
            backend: reader.keyword("backend")?.unwrap_or(defaults.backend),
            idle_timeout: reader.duration("idle_timeout")?,
            ports: reader.logical_ports("ports")?.unwrap_or(defaults.ports),
            masking: reader.keyword("masking")?.unwrap_or_default(),
            undeclared_bytes: reader.keyword("undeclared_bytes")?.unwrap_or_default(),
        };
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
        settings.ports("ports", &self.ports, &default.ports);
        settings.differs("masking", self.masking.keyword(), default.masking.keyword());
        settings.differs(
            "undeclared_bytes",
            self.undeclared_bytes.keyword(),
            default.undeclared_bytes.keyword(),
        );
    }

    fn main_port(&self) -> u16 {
        TLS_PORT
    }
}
