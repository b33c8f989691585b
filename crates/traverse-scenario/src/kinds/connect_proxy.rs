//! `kind = "connect-proxy"`: an explicit forward proxy that clients are
//! configured with, as in a corporate network (Squid and its like): CONNECT
//! tunnels to allowed ports, Basic authentication. Its options, their table
//! and their reader; the behaviour is `traverse-middlebox`'s
//! `connect_proxy.rs`.

use std::time::Duration;

use crate::address::{PROXY_PORT, TLS_PORT};
use crate::error::ScenarioError;
use crate::kinds::{
    Buffering, BufferingLimits, DefaultValue, Kind, KindInfo, OptionReader, OptionSpec, Settings,
    ValueType, X_ACCEL_BUFFERING, idle_counts_option, request_buffering_option,
    response_buffering_option,
};
use crate::model::{Credentials, IdleCounts, Keyword};

/// An explicit forward proxy (Squid and friends).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectProxy {
    /// Ports CONNECT may reach; others get `403`.
    pub allowed_ports: Vec<u16>,
    /// Basic credentials it requires, `407` without them.
    pub auth: Option<Credentials>,
    pub idle_timeout: Option<Duration>,
    /// Which bytes reset the idle timer.
    pub idle_counts: IdleCounts,
    /// How it holds absolute-form requests and their responses.
    pub buffering: Buffering,
}

impl Default for ConnectProxy {
    fn default() -> Self {
        ConnectProxy {
            allowed_ports: vec![TLS_PORT],
            auth: None,
            idle_timeout: None,
            idle_counts: IdleCounts::Upstream,
            buffering: Buffering::default(),
        }
    }
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "allowed_ports",
        value: ValueType::PortNumbers,
        default: DefaultValue::Written("[443]"),
        summary: "ports CONNECT may reach; others get 403",
        applies: "",
        doc: "The ports a `CONNECT` may reach. A `CONNECT` to another port is answered `403 Forbidden`, which the matrix shows as `refused 403`. The default is Squid's stock configuration, `acl SSL_ports port 443` with `http_access deny CONNECT !SSL_ports`, which a 2008 survey found on every public proxy it tried. Behind it, `tcp` and `ws` (port 80) are denied. tinyproxy's `ConnectPort` lines are the same list, except that tinyproxy without any allows every port; write `[443, 80]` for that. An empty list denies every `CONNECT`. Only 443 and 80 lead anywhere in a topology: another listed port gets `502`.",
        example: "allowed_ports = [443, 80]",
    },
    OptionSpec {
        key: "auth",
        value: ValueType::Credentials,
        default: DefaultValue::Absent("none: no authentication"),
        summary: "Basic credentials it requires, 407 without them",
        applies: "",
        doc: "The Basic credentials it requires, as corporate proxies do. A request without matching `Proxy-Authorization: Basic` is answered `407 Proxy Authentication Required` with `Proxy-Authenticate: Basic realm=\"traverse\"`. The check comes before anything else. The user name must not be empty, the password may be, and the text is split at its first `:`. To require no credentials, leave the key out: `\"\"` is an error. Clients are given these credentials unless [`[client]`](#client) `proxy_auth` says otherwise.",
        example: "auth = \"alice:wonderland\"",
    },
    OptionSpec {
        key: "idle_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Absent("none"),
        summary: "cut a CONNECT tunnel idle this long",
        applies: "",
        doc: "Cuts a `CONNECT` tunnel after no byte that `idle_counts` counts has moved for this long, recorded as `idle-cut`.",
        example: "idle_timeout = \"60s\"",
    },
    idle_counts_option(
        "\"upstream\"",
        "Which bytes reset `idle_timeout`: `\"both\"`, `\"upstream\"` or `\"client\"`. Set without `idle_timeout` it is an error. The default is `\"upstream\"`, as Squid counts: its `read_timeout` (15 minutes by default) applies to server connections and is extended after each successful read from the server. Its `client_lifetime` (1 day) limits a client connection's whole life, not its silence, and is not modelled.",
        "idle_timeout = \"60s\"\nidle_counts = \"both\"",
    ),
    response_buffering_option(
        "\"off\"",
        "absolute-form requests (GET http://…), not CONNECT tunnels",
        response_buffering_doc!("It acts on requests in absolute form (`GET http://origin.test/`), which it forwards itself; the bytes of a `CONNECT` tunnel are never read. The default is `\"off\"`: Squid passes a response on as it reads it (its `read_ahead_gap`, 16 KB by default, only bounds how far it reads ahead of its client)."),
        "response_buffering = \"whole\"",
    ),
    request_buffering_option(
        "\"off\"",
        "absolute-form requests (GET http://…), not CONNECT tunnels",
        request_buffering_doc!("It acts on absolute-form requests, as `response_buffering` does. The default is `\"off\"`: Squid streams request bodies on."),
        "request_buffering = \"whole\"",
    ),
    X_ACCEL_BUFFERING,
];

impl Kind for ConnectProxy {
    const INFO: KindInfo = KindInfo {
        name: "connect-proxy",
        summary: "explicit forward proxy the client is configured with: CONNECT tunnels, Basic auth (Squid)",
        placement: "It must be the first hop.",
        options: OPTIONS,
        schema_rules: None,
    };

    fn read(reader: &mut OptionReader<'_, '_, '_>) -> Result<Self, ScenarioError> {
        let defaults = ConnectProxy::default();
        let idle_counts = reader.idle_counts(defaults.idle_counts)?;
        Ok(ConnectProxy {
            allowed_ports: reader
                .port_numbers("allowed_ports")?
                .unwrap_or(defaults.allowed_ports),
            auth: reader.credentials("auth")?,
            idle_timeout: reader.duration("idle_timeout")?,
            idle_counts,
            // Absolute-form requests always reach its HTTP reader.
            buffering: reader.buffering(defaults.buffering, BufferingLimits::default())?,
        })
    }

    fn write(&self, settings: &mut Settings) {
        let default = ConnectProxy::default();
        settings.ports("allowed_ports", &self.allowed_ports, &default.allowed_ports);
        settings.credentials("auth", self.auth.as_ref());
        settings.duration("idle_timeout", self.idle_timeout);
        settings.differs(
            "idle_counts",
            self.idle_counts.keyword(),
            default.idle_counts.keyword(),
        );
        self.buffering.write(settings, default.buffering);
    }

    fn is_explicit_proxy(&self) -> bool {
        true
    }

    fn proxy_credentials(&self) -> Option<&Credentials> {
        self.auth.as_ref()
    }

    fn main_port(&self) -> u16 {
        PROXY_PORT
    }
}
