//! JSON Schemas for the files a run starts from: scenario files and
//! external tunnel definitions. They stand in front of the parser, not in
//! place of it. An editor (taplo / Even Better TOML, pointed at them by
//! `.taplo.toml`) uses them to complete keys and keyword values and to flag
//! structural mistakes while a file is being written; the parser stays the
//! judge, with its `path:line:col` errors and the rules a schema cannot say
//! (hop names unique, an explicit proxy first, options that would have no
//! effect, `[expect]` naming tunnels the run knows).
//!
//! Every hop kind's part is made from its option table (`kinds/`): keys,
//! types, allowed values, defaults and descriptions, plus the kind's own
//! rules across options. The rest is read from the model where it lists
//! something (keyword values, placeholders, logical ports, reserved names),
//! so a new value reaches the schema without an edit. The published copies
//! in `schemas/` are regenerated from these functions by `tests/schema.rs`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::address::{PORTS, RESERVED_NAMES};
use crate::duration::format_duration;
use crate::fields::{NAME_PATTERN, NAME_RULE};
use crate::kinds::{DefaultValue, HopKind, KindInfo, OptionSpec, ValueType};
use crate::load::DEFAULT_WEIGHT;
use crate::model::{
    DEFAULT_READY_TIMEOUT, Keyword, OriginCertificate, PLACEHOLDERS, Transport, Verdict,
};
use crate::reference::description;

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
    let kinds: Vec<&str> = HopKind::ALL.iter().map(|info| info.name).collect();
    let mut defs = Map::new();
    defs.insert("hop".to_string(), hop(&kinds));
    for info in HopKind::ALL {
        defs.insert(info.name.to_string(), hop_kind(info));
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
                "description": format!("The scenario's row label; defaults to the file name \
                    without `.toml`. Must be unique within a run; {NAME_RULE}."),
                "type": "string",
                "pattern": NAME_PATTERN,
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
                "additionalProperties": keyword::<Verdict>("The verdict this tunnel is expected to get.", None),
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
                "description": format!("The tunnel's column label, and its name in --tunnel \
                    and [expect]; defaults to the file name without `.toml`; {NAME_RULE}."),
                "type": "string",
                "pattern": NAME_PATTERN,
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
fn hop_kind(info: &KindInfo) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "kind".to_string(),
        json!({ "description": info.summary, "const": info.name }),
    );
    properties.insert("name".to_string(), hop_name(info.name));
    for spec in info.options {
        properties.insert(spec.key.to_string(), option(spec));
    }
    let mut schema = json!({
        "title": info.name,
        "description": info.summary,
        "type": "object",
        "required": ["kind"],
        "additionalProperties": false,
        "properties": properties,
    });
    if let (Some(rules), Some(object)) = (info.schema_rules, schema.as_object_mut())
        && let Value::Object(rules) = rules()
    {
        object.extend(rules);
    }
    schema
}

fn hop_name(kind: &str) -> Value {
    let reserved = RESERVED_NAMES.join("|");
    json!({
        "description": format!(
            "The label blame uses; defaults to `{kind}-<n>`, n being the hop's position \
             from 1. Must be unique, must not be {} and may not be another unnamed hop's \
             default name; {NAME_RULE}.",
            quoted_list(&RESERVED_NAMES)
        ),
        "type": "string",
        "pattern": NAME_PATTERN,
        "not": { "pattern": format!(r"^(?:{reserved})$") },
    })
}

/// `response_buffering`'s values; the 1m cap is the parser's to say.
const BUFFER_SIZE_PATTERN: &str = "^(?:off|whole|[0-9]+[kKmM]?)$";
const FRAME_SIZE_PATTERN: &str = "^[0-9]+[kKmM]?$";

/// One option, from its entry in the kind's table.
fn option(spec: &OptionSpec) -> Value {
    let text = description(spec);
    let mut schema = match spec.value {
        ValueType::Keyword(names) => {
            json!({ "description": text, "type": "string", "enum": names() })
        }
        ValueType::Bool => json!({ "description": text, "type": "boolean" }),
        ValueType::Duration => duration(&text, None),
        ValueType::BufferSize => json!({
            "description": format!(
                "{text} \"off\", \"whole\", or a size of at most 1m: a number of bytes, \
                 or with k or m, like \"8k\"."
            ),
            "type": "string",
            "pattern": BUFFER_SIZE_PATTERN,
        }),
        ValueType::FrameSize => json!({
            "description": format!(
                "{text} A size of at most 16m: a number of bytes, or with k or m, like \"64k\"."
            ),
            "type": "string",
            "pattern": FRAME_SIZE_PATTERN,
        }),
        ValueType::LogicalPorts => logical_ports(&text, None),
        ValueType::PortNumbers => json!({
            "description": text,
            "type": "array",
            "uniqueItems": true,
            "items": { "type": "integer", "minimum": 1, "maximum": u16::MAX },
        }),
        ValueType::Hosts => hosts(&text),
        ValueType::Credentials => json!({
            "description": text,
            "type": "string",
            "pattern": "^[^:]+:",
        }),
        ValueType::Command(placeholders) => command(&text, placeholders),
        ValueType::Text(placeholders) => placeholder_text(&text, placeholders),
    };
    if let DefaultValue::Written(written) = spec.default {
        schema["default"] = toml_value(written);
    }
    schema
}

/// A default as a kind's table writes it, in TOML, as JSON.
fn toml_value(written: &str) -> Value {
    let table: toml::Table =
        toml::from_str(&format!("value = {written}")).unwrap_or_else(|error| {
            panic!("a kind's table has a default that is not TOML: {written}: {error}")
        });
    serde_json::to_value(&table["value"]).unwrap_or(Value::Null)
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
