//! JSON Schemas for the files a run starts from: scenario files and
//! external tunnel definitions. They stand in front of the parser, not in
//! place of it. An editor (taplo / Even Better TOML, pointed at them by
//! `.taplo.toml`) uses them to complete keys and keyword values and to flag
//! structural mistakes while a file is being written; the parser stays the
//! judge, with its `path:line:col` errors and the rules a schema cannot say
//! (hop names unique, an explicit proxy first, options that would have no
//! effect, `[expect]` naming tunnels the run knows).
//!
//! Whatever the model already lists is read from it here, so a new value
//! reaches the schema without an edit: hop kinds ([`HopKind::KINDS`]),
//! keyword values ([`Keyword::KEYWORDS`]), presets, placeholders, logical
//! ports, reserved names and defaults. The keys each table takes live in
//! the parser and are private to it, so they are written out below with
//! their types, and `tests/schema.rs` holds them against the parser's own
//! lists. The published copies in `schemas/` are regenerated from these
//! functions by that test.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::address::{PLAIN_PORT, PORTS, PROXY_PORT, RESERVED_NAMES};
use crate::duration::format_duration;
use crate::model::{
    ConnectProxy, EXTERNAL_PLACEHOLDERS, HopKind, Keyword, LegacyForwarder, Masking,
    OriginCertificate, Outcome, PLACEHOLDERS, TlsTerminator, Transparent, Transport,
    UndeclaredBytes,
};
use crate::parse::{DEFAULT_READY_TIMEOUT, DEFAULT_WEIGHT, preset_names};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Where the published copies say they live; the workspace's repository.
const SCENARIO_ID: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/schemas/scenario.schema.json"
);
const TUNNEL_ID: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/schemas/tunnel.schema.json");

/// What `parse_duration` accepts: numbers with a unit, summed
/// (`"1m30s"`), with blank space only around the whole.
const DURATION_PATTERN: &str = r"^\s*(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ms|s|m|h))+\s*$";

/// The schema of a scenario file (draft 2020-12).
pub fn scenario_schema() -> Value {
    let kinds: Vec<&str> = HopKind::KINDS.iter().map(|(kind, _)| *kind).collect();
    let mut defs = Map::new();
    defs.insert("hop".to_string(), hop(&kinds));
    for (kind, summary) in HopKind::KINDS {
        defs.insert(kind.to_string(), hop_kind(kind, summary));
    }
    json!({
        "$schema": DRAFT,
        "$id": SCENARIO_ID,
        "title": "traverse scenario",
        "description": "One customer-style topology: the hops between a tunnel client and the \
            origin, what the origin looks like, how the probe behaves, and the verdict each \
            tunnel is expected to get. Unknown keys are errors. `traverse validate` checks \
            what a schema cannot: unique hop names, an explicit proxy first, options that \
            would have no effect.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": {
                "description": "The scenario's row label; defaults to the file name without \
                    `.toml`. Must not be empty and must be unique within a run.",
                "type": "string",
                "pattern": r"\S",
            },
            "description": {
                "description": "One line on what the topology is.",
                "type": "string",
                "default": "",
            },
            "weight": {
                "description": "How common this topology is among customers, for weighted \
                    success rates.",
                "type": "number",
                "minimum": 0,
                "default": DEFAULT_WEIGHT,
            },
            "hops": {
                "description": "The middleboxes, ordered from the client toward the origin; \
                    none means direct. Write each as a [[hops]] table with a `kind` and that \
                    kind's options.",
                "type": "array",
                "items": { "$ref": "#/$defs/hop" },
            },
            "origin": {
                "description": "What the origin looks like.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "certificate": keyword::<OriginCertificate>(
                        "The certificate the origin presents on 443. \"public\" is issued by \
                         the run's public CA. \"self-signed\" is trusted only by a client that \
                         pins it, or by a hop that does not check it (backend = \"tls\").",
                        Some(OriginCertificate::default()),
                    ),
                },
            },
            "probe": {
                "description": "How the probe behaves beyond its fixed echoes.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "idle": duration(
                        "After the echoes, pause this long (scaled by the time scale), then \
                         echo 1 byte. When a hop's idle_timeout is shorter, the tunnel is cut \
                         while idle.",
                        None,
                    ),
                },
            },
            "client": {
                "description": "How the tunnel clients are configured. Allowed only in a \
                    scenario with an explicit proxy (a connect-proxy hop).",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "proxy_auth": {
                        "description": "The credentials clients send to the explicit proxy \
                            (Proxy-Authorization: Basic). Left out: the proxy's own `auth`, so \
                            clients are configured right. \"\": none at all. \"user:password\": \
                            exactly these, right or wrong.",
                        "type": "string",
                        "pattern": "^(?:$|[^:]+:)",
                    },
                },
            },
            "expect": {
                "description": "The expected verdict per tunnel: each key is a tunnel name \
                    (built in, or from a tunnel definition file), each value \"pass\" or \
                    \"fail\". A tunnel without an entry has no expectation. A name the run \
                    does not know is an error.",
                "type": "object",
                "additionalProperties": keyword::<Outcome>("The verdict this tunnel is expected to get.", None),
            },
        },
        "$defs": defs,
    })
}

/// The schema of an external tunnel definition file (draft 2020-12).
pub fn tunnel_schema() -> Value {
    json!({
        "$schema": DRAFT,
        "$id": TUNNEL_ID,
        "title": "traverse tunnel definition",
        "description": "A tunnel you bring: a server half and a client half that follow the \
            port-forward contract socat, stunnel, wstunnel and chisel share. The server half \
            listens on {listen} and forwards each stream to {target}; the client half listens \
            on {local} and carries each stream through what it reaches at {connect} (or the \
            explicit proxy at {proxy}). Unknown keys are errors.",
        "type": "object",
        "additionalProperties": false,
        "required": ["transport", "server", "client"],
        "properties": {
            "name": {
                "description": "The tunnel's column label, and its name in --tunnel and \
                    [expect]; defaults to the file name without `.toml`. One word.",
                "type": "string",
                "pattern": r"^\S+$",
            },
            "description": {
                "description": "One line on what the tunnel is.",
                "type": "string",
                "default": "",
            },
            "transport": keyword::<Transport>(
                &format!(
                    "Which logical port the tunnel uses: {} for \"tls\", {} for \"plain\". It \
                     says where the tunnel stands; the harness does not check that it speaks TLS.",
                    Transport::Tls.port(),
                    Transport::Plain.port()
                ),
                None,
            ),
            "server": command(
                "The server half's command line, program first, with placeholders. Run as it \
                 is, not through a shell.",
                &PLACEHOLDERS,
            ),
            "client": command(
                "The client half's command line, program first, with placeholders. Run as it \
                 is, not through a shell.",
                &PLACEHOLDERS,
            ),
            "ready_timeout": duration(
                "How long each half may take to listen, in wall time (the time scale does \
                 not apply).",
                Some(DEFAULT_READY_TIMEOUT),
            ),
        },
    })
}

/// Any hop: a table whose `kind` picks exactly one kind's schema.
fn hop(kinds: &[&str]) -> Value {
    let one_of: Vec<Value> = kinds
        .iter()
        .map(|kind| json!({ "$ref": format!("#/$defs/{kind}") }))
        .collect();
    json!({
        "description": "One middlebox on the path. Its `kind` decides which options it takes.",
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {
                "description": "The middlebox kind.",
                "type": "string",
                "enum": kinds,
            },
        },
        "oneOf": one_of,
    })
}

/// One kind's table: its `kind`, its `name` and its options, nothing else.
fn hop_kind(kind: &str, summary: &str) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "kind".to_string(),
        json!({ "description": summary, "const": kind }),
    );
    properties.insert("name".to_string(), hop_name(kind));
    for (key, schema) in hop_options(kind) {
        properties.insert(key.to_string(), schema);
    }
    let mut schema = json!({
        "title": kind,
        "description": summary,
        "type": "object",
        "required": ["kind"],
        "additionalProperties": false,
        "properties": properties,
    });
    if kind == "external" {
        // The parser takes a preset, or a command and a config, never a mix.
        schema["oneOf"] = json!([
            {
                "required": ["preset"],
                "not": { "anyOf": [{ "required": ["command"] }, { "required": ["config"] }] },
            },
            {
                "required": ["command", "config"],
                "not": { "required": ["preset"] },
            },
        ]);
    }
    schema
}

fn hop_name(kind: &str) -> Value {
    let reserved = RESERVED_NAMES.join("|");
    json!({
        "description": format!(
            "The label blame uses; defaults to `{kind}-<n>`, n being the hop's position \
             from 1. Must be unique, must not be empty, must not be {} and may not be \
             another unnamed hop's default name.",
            quoted_list(&RESERVED_NAMES)
        ),
        "type": "string",
        "pattern": r"\S",
        "not": { "pattern": format!(r"^\s*(?:{reserved})\s*$") },
    })
}

/// The options of one kind besides `kind` and `name`, in the parser's order.
fn hop_options(kind: &str) -> Vec<(&'static str, Value)> {
    match kind {
        "tls-terminator" => tls_terminator(),
        "transparent" => transparent(),
        "connect-proxy" => connect_proxy(),
        "legacy-forwarder" => legacy_forwarder(),
        "external" => external(),
        // A kind the model gained after this file: `tests/schema.rs` fails
        // on its missing options rather than the schema guessing them.
        _ => Vec::new(),
    }
}

fn tls_terminator() -> Vec<(&'static str, Value)> {
    let default = TlsTerminator::default();
    vec![
        (
            "mode",
            keyword(
                "\"http\": an L7 proxy that parses HTTP/1.1 after decrypting and answers \
                 400 to bytes that are not HTTP (F5 with an HTTP profile, the Cloudflare \
                 edge). \"tcp\": L4 SSL offload, the decrypted bytes relayed unparsed.",
                Some(default.mode),
            ),
        ),
        (
            "websocket",
            boolean(
                "http mode only. true passes the WebSocket Upgrade on and relays frames (an \
                 F5 WebSocket profile, Cloudflare's WebSockets toggle, an ALB). false removes \
                 Upgrade/Connection before forwarding, so the origin answers 426.",
                default.websocket,
            ),
        ),
        (
            "backend",
            keyword(
                "How connections that arrived on 443 go on. \"plain\": plain HTTP to port 80 \
                 (Cloudflare Flexible). \"tls\": TLS to 443, certificate not checked \
                 (Cloudflare Full). \"tls-verify\": TLS to 443, certificate checked against \
                 the public CA (Cloudflare Full (strict)).",
                Some(default.backend),
            ),
        ),
        ("idle_timeout", idle_timeout("relayed connection")),
        (
            "ports",
            logical_ports(
                "The logical ports it has a listener (virtual server) on; a port it does \
                 not serve refuses connections.",
                Some(&default.ports),
            ),
        ),
        ("masking", masking()),
        ("undeclared_bytes", undeclared_bytes()),
    ]
}

fn transparent() -> Vec<(&'static str, Value)> {
    let default = Transparent::default();
    vec![
        (
            "upgrade",
            keyword(
                "What it does with a WebSocket handshake. \"forward\": passes Upgrade on and \
                 relays after the 101 (HAProxy mode http, nginx set up for WebSocket). \
                 \"strip\": removes Upgrade/Connection, so the origin answers 426 (nginx's \
                 defaults, Squid, varnish). \"reject\": answers 400 itself (Squid 3.0).",
                Some(default.upgrade),
            ),
        ),
        (
            "tls",
            keyword(
                "What it does with a TLS connection. \"passthrough\": relays it untouched. \
                 \"inspect\": terminates it with a certificate from the enterprise \
                 inspection CA, applies the HTTP rules inside and re-encrypts (a \
                 Zscaler-style gateway). \"block\": resets it.",
                Some(default.tls),
            ),
        ),
        (
            "http_version",
            keyword(
                "The HTTP version it speaks upstream, as a string. HTTP/1.0 cannot carry \
                 Upgrade, so with \"1.0\" the origin answers 426 even with upgrade = \
                 \"forward\" (nginx's default proxy_http_version).",
                Some(default.http_version),
            ),
        ),
        ("idle_timeout", idle_timeout("relayed connection")),
        (
            "websocket_allow",
            hosts(
                "When not empty, a WebSocket handshake whose Host is not listed is answered \
                 403 (a secure web gateway's per-host allow policy). Empty: every host not \
                 blocked.",
            ),
        ),
        (
            "websocket_block",
            hosts(
                "A WebSocket handshake whose Host is listed is answered 403 (a secure web \
                 gateway's per-host block policy).",
            ),
        ),
        (
            "ports",
            logical_ports(
                "The logical ports it intercepts; connections to the others are routed on \
                 untouched.",
                Some(&default.ports),
            ),
        ),
        ("masking", masking()),
        (
            "cache",
            boolean(
                "A caching proxy that does not understand Upgrade: after passing a WebSocket \
                 handshake on it reads what the client sends as new requests, and the cell \
                 is poisonable when it sees one (W2SP 2011). Needs upgrade = \"forward\" \
                 over http_version = \"1.1\".",
                default.cache,
            ),
        ),
        ("undeclared_bytes", undeclared_bytes()),
    ]
}

fn connect_proxy() -> Vec<(&'static str, Value)> {
    let default = ConnectProxy::default();
    vec![
        (
            "allowed_ports",
            json!({
                "description": "The ports a CONNECT may reach, each listed once; another \
                    port is answered 403. The default is Squid's stock SSL_ports. An empty \
                    list denies every CONNECT.",
                "type": "array",
                "uniqueItems": true,
                "items": { "type": "integer", "minimum": 1, "maximum": u16::MAX },
                "default": default.allowed_ports,
            }),
        ),
        (
            "auth",
            json!({
                "description": "The Basic credentials it requires, \"user:password\" (the user \
                    not empty, split at the first colon); 407 without them. Leave the key \
                    out to require none.",
                "type": "string",
                "pattern": "^[^:]+:",
            }),
        ),
        ("idle_timeout", idle_timeout("CONNECT tunnel")),
    ]
}

fn legacy_forwarder() -> Vec<(&'static str, Value)> {
    let default = LegacyForwarder::default();
    vec![
        (
            "body",
            keyword(
                "What it does with bytes that follow the request headers with no \
                 Content-Length to declare them (hixie-76's key bytes). \"declared-only\": \
                 drops them (nginx, Apache). \"hold-until-response\": holds them until the \
                 next node answers, a deadlock for hixie-76 (HAProxy in 2010). \"forward\": \
                 passes every byte on (a compliant forwarder).",
                Some(default.body),
            ),
        ),
        ("masking", masking()),
        ("idle_timeout", idle_timeout("upgraded connection")),
        (
            "read_timeout",
            duration(
                "How long it waits for the next node's answer before answering 504 Gateway \
                 Timeout (nginx's proxy_read_timeout).",
                Some(default.read_timeout),
            ),
        ),
    ]
}

fn external() -> Vec<(&'static str, Value)> {
    vec![
        (
            "preset",
            json!({
                "description": "A product with a configuration that matters, ready to use: \
                    its command, config and ports. A hop takes a preset or both command and \
                    config, not both.",
                "type": "string",
                "enum": preset_names(),
            }),
        ),
        (
            "command",
            command(
                "The program's command line, program first, with placeholders. Run as it \
                 is, not through a shell; it must stay in the foreground.",
                &EXTERNAL_PLACEHOLDERS,
            ),
        ),
        (
            "config",
            placeholder_text(
                "The text of its config file, with placeholders, written to {config} before \
                 the program starts. Use a TOML multi-line string.",
                &EXTERNAL_PLACEHOLDERS,
            ),
        ),
        (
            "ports",
            logical_ports(
                &format!(
                    "The logical ports it serves; the others refuse connections. Default: \
                     the preset's, or [{PLAIN_PORT}] with command ([{PROXY_PORT}] when \
                     explicit)."
                ),
                None,
            ),
        ),
        (
            "ready_timeout",
            duration(
                "How long the program may take to listen on every port it serves, in wall \
                 time.",
                Some(DEFAULT_READY_TIMEOUT),
            ),
        ),
        (
            "explicit",
            json!({
                "description": format!(
                    "A forward proxy clients are configured with, listening on \
                     {{listen_{PROXY_PORT}}}; it must be the first hop. Default: the \
                     preset's, or false with command."
                ),
                "type": "boolean",
            }),
        ),
    ]
}

fn masking() -> Value {
    keyword(
        "What it does with client frames of a WebSocket it relays. \"ignore\": relays them \
         as they are (F5 WS::masking preserve). \"require\": closes with 1002 on an unmasked \
         client frame, recorded as blocked. \"remask\": masks every client frame again with \
         a key of its own (F5 WS::masking remask).",
        Some(Masking::default()),
    )
}

fn undeclared_bytes() -> Value {
    keyword(
        "What it does with bytes that follow a WebSocket handshake's headers with no \
         Content-Length to declare them (hixie-76's key bytes), when it passes the upgrade \
         on. \"hold\": keeps them until the next node answers, so hixie-76 deadlocks \
         (HAProxy in 2010, hyper). \"reject\": answers 400 (HAProxy 2.6 in mode http).",
        Some(UndeclaredBytes::default()),
    )
}

fn idle_timeout(what: &str) -> Value {
    duration(
        &format!(
            "Cuts a {what} after no byte has moved in either direction for this long, \
             recorded as idle-cut (\"100s\" for Cloudflare, \"60s\" for an AWS ALB). None \
             by default."
        ),
        None,
    )
}

/// A keyword option: its values are exactly the model's keywords.
fn keyword<K: Keyword>(description: &str, default: Option<K>) -> Value {
    let values: Vec<&str> = K::KEYWORDS.iter().map(|(name, _)| *name).collect();
    let mut schema = json!({
        "description": description,
        "type": "string",
        "enum": values,
    });
    if let Some(default) = default {
        schema["default"] = json!(default.keyword());
    }
    schema
}

fn boolean(description: &str, default: bool) -> Value {
    json!({ "description": description, "type": "boolean", "default": default })
}

/// Durations are strings with a unit; a bare number is the mistake the
/// pattern exists to catch (`idle_timeout = 60`).
fn duration(description: &str, default: Option<Duration>) -> Value {
    let mut schema = json!({
        "description": format!(
            "{description} A duration: a number with a unit (ms, s, m, h) in quotes, \
             like \"100s\", \"250ms\", \"1.5s\" or \"1m30s\"."
        ),
        "type": "string",
        "pattern": DURATION_PATTERN,
    });
    if let Some(default) = default {
        schema["default"] = json!(format_duration(default));
    }
    schema
}

fn logical_ports(description: &str, default: Option<&[u16]>) -> Value {
    let mut schema = json!({
        "description": format!(
            "{description} Logical ports: {} (TLS) and/or {} (plain), each once.",
            PORTS[0], PORTS[1]
        ),
        "type": "array",
        "minItems": 1,
        "uniqueItems": true,
        "items": { "type": "integer", "enum": PORTS },
    });
    if let Some(default) = default {
        schema["default"] = json!(default);
    }
    schema
}

/// Host names as Host headers carry them: no port, no path, no inner space;
/// blank space around a name is trimmed, as the parser does.
fn hosts(description: &str) -> Value {
    json!({
        "description": format!(
            "{description} Host names without a port, compared without case, like \
             [\"origin.test\"]."
        ),
        "type": "array",
        "items": { "type": "string", "pattern": r"^\s*[^\s:/](?:[^:/ ]*[^\s:/])?\s*$" },
        "default": [],
    })
}

fn command(description: &str, placeholders: &[(&str, &str)]) -> Value {
    json!({
        "description": format!("{description} {}", placeholder_help(placeholders)),
        "type": "array",
        "minItems": 1,
        "items": { "type": "string", "pattern": placeholder_pattern(placeholders) },
    })
}

fn placeholder_text(description: &str, placeholders: &[(&str, &str)]) -> Value {
    json!({
        "description": format!("{description} {}", placeholder_help(placeholders)),
        "type": "string",
        "pattern": placeholder_pattern(placeholders),
    })
}

fn placeholder_help(placeholders: &[(&str, &str)]) -> String {
    let listed: Vec<String> = placeholders
        .iter()
        .map(|(name, meaning)| format!("{{{name}}}: {meaning}"))
        .collect();
    format!(
        "Only {{ + a word + }} is a placeholder, and it must be one of these. {}.",
        listed.join("; ")
    )
}

/// Text whose every `{word}` is a known placeholder, where a word is ASCII
/// letters, digits and `_` as the parser reads it; any other brace is
/// literal (nginx's and HAProxy's config syntax). Written without
/// lookahead, which not every editor's regex engine has: a `{` is a known
/// placeholder, or a `{` whose word ends at a character other than `}`, or
/// `{}`, or a run of `{word` each followed by another `{` or the end.
fn placeholder_pattern(placeholders: &[(&str, &str)]) -> String {
    let names: Vec<&str> = placeholders.iter().map(|(name, _)| *name).collect();
    let names = names.join("|");
    let word = "[A-Za-z0-9_]*";
    let not_word = "[^A-Za-z0-9_{}]";
    format!(
        r"^(?:[^{{]|(?:\{{{word})*\{{(?:(?:{names})\}}|{word}{not_word}|\}})|(?:\{{{word})+$)*$"
    )
}

fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}
