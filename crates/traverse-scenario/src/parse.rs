//! Reading scenario files. The TOML is parsed once into a tree that keeps
//! every value's span; each table is then read key by key through [`Fields`],
//! so that every message can name its key, list the allowed values and point
//! at the exact place in the file.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::address::{PORTS, RESERVED_NAMES};
use crate::duration::parse_duration;
use crate::error::{Location, ScenarioError};
use crate::model::{
    Backend, BodyPolicy, ClientSpec, ConnectProxy, Credentials, Expectation, Hop, HopKind,
    HttpVersion, LegacyForwarder, Masking, Origin, OriginCertificate, Outcome, ProbeSpec, Scenario,
    TerminatorMode, TlsPolicy, TlsTerminator, Transparent, UpgradePolicy,
};
use crate::model::{EXTERNAL_PLACEHOLDERS, External, PLACEHOLDERS, Transport, TunnelDefinition};
use crate::model::{Keyword, UndeclaredBytes};

/// A scenario's weight when its file says none: as common as any other.
pub(crate) const DEFAULT_WEIGHT: f64 = 1.0;
/// How long a real program (a tunnel half, an external hop) may take to
/// listen when its file says nothing.
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads and validates one scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &source)
}

/// Scenario files named by `paths`: files as given, folders searched for
/// `*.toml` (recursively, sorted, so runs are reproducible).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| ScenarioError::Read {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            let before = files.len();
            collect_toml(path, &mut files)?;
            if files.len() == before {
                return Err(ScenarioError::EmptyFolder { path: path.clone() });
            }
        } else {
            files.push(path.clone());
        }
    }
    // A file named twice, or a folder and a file inside it, is one scenario.
    let mut seen = HashSet::new();
    files.retain(|file| seen.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone())));
    Ok(files)
}

fn collect_toml(folder: &Path, files: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let read_error = |source| ScenarioError::Read {
        path: folder.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(folder)
        .map_err(read_error)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_toml(&entry, files)?;
        } else if entry
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            files.push(entry);
        }
    }
    Ok(())
}

/// Loads every scenario under `paths`, reporting all invalid files rather
/// than the first, and rejecting two scenarios that share a name.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let files = discover(paths).map_err(|error| vec![error])?;
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load(&file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(error) => errors.push(error),
        }
    }
    let mut seen: Vec<&Scenario> = Vec::new();
    for scenario in &scenarios {
        if let Some(first) = seen.iter().find(|other| other.name == scenario.name) {
            errors.push(ScenarioError::Invalid {
                location: Location {
                    path: scenario.path.clone(),
                    line: 1,
                    column: 1,
                },
                message: format!(
                    "scenario name \"{}\" is already used by {}; names must be unique in a run",
                    scenario.name,
                    first.path.display()
                ),
            });
        } else {
            seen.push(scenario);
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

/// Reads and validates one external tunnel definition.
pub fn load_tunnel(path: &Path) -> Result<TunnelDefinition, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_tunnel(path, &source)
}

/// Parses an external tunnel definition: `name`, `description`,
/// `transport`, and the `server` and `client` command lines, whose
/// placeholders must all be known.
pub fn parse_tunnel(path: &Path, source: &str) -> Result<TunnelDefinition, ScenarioError> {
    let file = File { path, source };
    let root = DeTable::parse(source).map_err(|error| file.toml_error(error, 0..0))?;
    let mut fields = Fields::new(&file, "tunnel", root.into_inner());
    let default_name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name_at = fields.span_of("name").unwrap_or(0..0);
    let name = fields
        .take::<String>("name")?
        .map_or(default_name, Spanned::into_inner);
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        return Err(file.error(
            name_at,
            format!("tunnel `name` \"{name}\" must be one word"),
        ));
    }
    let description = fields
        .take::<String>("description")?
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let transport = fields
        .take_keyword("transport", Transport::KEYWORDS)?
        .ok_or_else(|| {
            file.error(
                0..0,
                "a tunnel needs `transport = \"tls\"` or `transport = \"plain\"`",
            )
        })?;
    let server = fields.take_command("server", &PLACEHOLDERS)?;
    let client = fields.take_command("client", &PLACEHOLDERS)?;
    let ready_timeout = fields
        .take_duration("ready_timeout")?
        .unwrap_or(DEFAULT_READY_TIMEOUT);
    fields.finish(&[
        "name",
        "description",
        "transport",
        "server",
        "client",
        "ready_timeout",
    ])?;
    Ok(TunnelDefinition {
        path: path.to_path_buf(),
        name,
        description,
        transport,
        server,
        client,
        ready_timeout,
    })
}

/// Parses a scenario from its text; `path` is used for the default name and
/// in error locations.
pub fn parse(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
    let file = File { path, source };
    let root = DeTable::parse(source).map_err(|error| file.toml_error(error, 0..0))?;
    let mut fields = Fields::new(&file, "scenario", root.into_inner());

    let default_name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match fields.take::<String>("name")? {
        Some(name) if name.get_ref().trim().is_empty() => {
            return Err(file.error(name.span(), "`name` must not be empty"));
        }
        Some(name) => name.into_inner(),
        None => default_name,
    };
    let description = fields
        .take::<String>("description")?
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let weight = match fields.take::<f64>("weight")? {
        Some(weight) if !(weight.get_ref().is_finite() && *weight.get_ref() >= 0.0) => {
            return Err(file.error(
                weight.span(),
                format!(
                    "`weight` must be a number of at least 0 (how common the topology is), found {}",
                    weight.get_ref()
                ),
            ));
        }
        Some(weight) => weight.into_inner(),
        None => DEFAULT_WEIGHT,
    };
    let hops = match fields.take_value("hops") {
        Some(value) => read_hops(&file, value)?,
        None => Vec::new(),
    };
    let origin = match fields.take_table("origin")? {
        Some(origin) => read_origin(origin)?,
        None => Origin::default(),
    };
    let probe = match fields.take_table("probe")? {
        Some(probe) => read_probe(probe)?,
        None => ProbeSpec::default(),
    };
    let client = match fields.take_table("client")? {
        Some(client) => read_client(&file, client, &hops)?,
        None => ClientSpec::default(),
    };
    let expect = match fields.take_table("expect")? {
        Some(expect) => read_expect(expect)?,
        None => Vec::new(),
    };
    fields.finish(&[
        "name",
        "description",
        "weight",
        "hops",
        "origin",
        "probe",
        "client",
        "expect",
    ])?;
    Ok(Scenario {
        path: path.to_path_buf(),
        name,
        description,
        weight,
        hops,
        origin,
        probe,
        client,
        expect,
    })
}

fn read_hops(file: &File<'_>, value: Spanned<DeValue<'_>>) -> Result<Vec<Hop>, ScenarioError> {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        return Err(file.error(
            span,
            "`hops` must be an array of tables: write each hop as a [[hops]] section",
        ));
    };
    let mut hops = Vec::new();
    let mut names = HashSet::new();
    // Where each hop's `name` is written; None for a hop given its default.
    let mut name_spans = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let item_span = item.span();
        let DeValue::Table(table) = item.into_inner() else {
            return Err(file.error(
                item_span,
                format!("hop {} must be a table with a `kind`", index + 1),
            ));
        };
        let mut fields = Fields::new(file, "hop", table);
        let kinds = quoted(HopKind::KINDS.iter().map(|(name, _)| *name));
        let kind = fields.take_value("kind").ok_or_else(|| {
            file.error(
                item_span.clone(),
                format!("hop {} has no `kind`; kinds: {kinds}", index + 1),
            )
        })?;
        let kind_at = kind.span();
        let kind = match kind.get_ref() {
            DeValue::String(text) => Spanned::new(kind.span(), text.to_string()),
            other => {
                return Err(file.error(
                    kind.span(),
                    format!(
                        "`kind` must be a string, one of {kinds}; found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let kind = match kind.get_ref().as_str() {
            "tls-terminator" => HopKind::TlsTerminator(read_tls_terminator(&mut fields)?),
            "transparent" => HopKind::Transparent(read_transparent(&mut fields)?),
            "legacy-forwarder" => HopKind::LegacyForwarder(read_legacy_forwarder(&mut fields)?),
            "external" => HopKind::External(read_external(&mut fields, item_span.clone())?),
            "connect-proxy" => HopKind::ConnectProxy(read_connect_proxy(&mut fields)?),
            other => {
                return Err(file.error(
                    kind.span(),
                    format!("unknown hop kind \"{other}\"; kinds: {kinds}"),
                ));
            }
        };
        if kind.is_explicit_proxy() && index > 0 {
            return Err(file.error(
                kind_at.clone(),
                "an explicit proxy (a connect-proxy, or an external hop such as Squid) must be \
                 the first hop: clients are configured to use it, so it sits between them and \
                 every other hop",
            ));
        }
        let name = match fields.take::<String>("name")? {
            Some(name) => {
                let text = name.get_ref().trim();
                if text.is_empty() || RESERVED_NAMES.contains(&text) {
                    return Err(file.error(
                        name.span(),
                        format!(
                            "hop `name` \"{text}\" is not allowed: it must be non-empty and not one of {}",
                            quoted(RESERVED_NAMES)
                        ),
                    ));
                }
                if !names.insert(text.to_string()) {
                    return Err(file.error(
                        name.span(),
                        format!("two hops are named \"{text}\"; blame needs unique names"),
                    ));
                }
                name_spans.push(Some(name.span()));
                text.to_string()
            }
            None => {
                name_spans.push(None);
                format!("{}-{}", kind.kind_name(), index + 1)
            }
        };
        let kind_name = kind.kind_name();
        fields.finish_with(keys_of(kind_name), |key| other_kinds_taking(kind_name, key))?;
        hops.push(Hop {
            name,
            kind,
            location: Location::from_offset(file.path, file.source, item_span.start),
        });
    }
    // A hop without a `name` is called `<kind>-<index>`; a hop whose given
    // name is another hop's default name would make blame ambiguous.
    for (unnamed, hop) in hops.iter().enumerate() {
        if name_spans[unnamed].is_some() {
            continue;
        }
        let clash = hops
            .iter()
            .zip(&name_spans)
            .find_map(|(other, span)| span.clone().filter(|_| other.name == hop.name));
        if let Some(span) = clash {
            return Err(file.error(
                span,
                format!(
                    "hop `name` \"{}\" is also the default name of hop {}, which has no `name`; \
                     blame needs unique names, so rename one of them",
                    hop.name,
                    unnamed + 1
                ),
            ));
        }
    }
    Ok(hops)
}

/// For a key this hop's kind does not take: the kinds that do, if any.
fn other_kinds_taking(kind: &str, key: &str) -> Option<String> {
    let others: Vec<&str> = KIND_KEYS
        .into_iter()
        .filter(|(other, keys)| *other != kind && keys.contains(&key))
        .map(|(other, _)| other)
        .collect();
    let listed = match others.split_last() {
        None => return None,
        Some((only, [])) => (*only).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    Some(format!(
        "`{key}` is an option of {listed} hops, not of {kind} hops"
    ))
}

/// Every kind's keys: the one list reading and error messages both use.
const KIND_KEYS: [(&str, &[&str]); 5] = [
    ("tls-terminator", TLS_TERMINATOR_KEYS),
    ("transparent", TRANSPARENT_KEYS),
    ("connect-proxy", CONNECT_PROXY_KEYS),
    ("legacy-forwarder", LEGACY_FORWARDER_KEYS),
    ("external", EXTERNAL_KEYS),
];

fn keys_of(kind: &str) -> &'static [&'static str] {
    KIND_KEYS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(&[], |(_, keys)| keys)
}

const TLS_TERMINATOR_KEYS: &[&str] = &[
    "kind",
    "name",
    "mode",
    "websocket",
    "backend",
    "idle_timeout",
    "ports",
    "masking",
    "undeclared_bytes",
];

fn read_tls_terminator(fields: &mut Fields<'_, '_>) -> Result<TlsTerminator, ScenarioError> {
    let defaults = TlsTerminator::default();
    let masking_at = fields.span_of("masking");
    let undeclared_at = fields.span_of("undeclared_bytes");
    let options = TlsTerminator {
        mode: fields
            .take_keyword("mode", TerminatorMode::KEYWORDS)?
            .unwrap_or(defaults.mode),
        websocket: fields
            .take::<bool>("websocket")?
            .map_or(defaults.websocket, Spanned::into_inner),
        backend: fields
            .take_keyword("backend", Backend::KEYWORDS)?
            .unwrap_or(defaults.backend),
        idle_timeout: fields.take_duration("idle_timeout")?,
        ports: fields.take_ports("ports")?.unwrap_or(defaults.ports),
        masking: take_masking(fields)?,
        undeclared_bytes: take_undeclared_bytes(fields)?,
    };
    let why_not = match (options.masking, options.mode, options.websocket) {
        (Masking::Ignore, _, _) => None,
        (_, TerminatorMode::Tcp, _) => {
            Some("in tcp mode the terminator relays bytes without reading frames")
        }
        (_, _, false) => Some("with `websocket = false` no WebSocket gets through to have frames"),
        _ => None,
    };
    fields.no_effect(masking_at, "masking", why_not)?;
    // Undeclared bytes matter only on a WebSocket handshake it passes on.
    let passes_websocket = options.mode == TerminatorMode::Http && options.websocket;
    if options.undeclared_bytes == UndeclaredBytes::Reject {
        fields.no_effect(
            undeclared_at,
            "undeclared_bytes",
            (!passes_websocket)
                .then_some("it passes no WebSocket handshake on (`websocket = true` in http mode)"),
        )?;
    }
    Ok(options)
}

fn take_undeclared_bytes(fields: &mut Fields<'_, '_>) -> Result<UndeclaredBytes, ScenarioError> {
    Ok(fields
        .take_keyword("undeclared_bytes", UndeclaredBytes::KEYWORDS)?
        .unwrap_or_default())
}

fn take_masking(fields: &mut Fields<'_, '_>) -> Result<Masking, ScenarioError> {
    Ok(fields
        .take_keyword("masking", Masking::KEYWORDS)?
        .unwrap_or_default())
}

const LEGACY_FORWARDER_KEYS: &[&str] = &[
    "kind",
    "name",
    "body",
    "masking",
    "idle_timeout",
    "read_timeout",
];

fn read_legacy_forwarder(fields: &mut Fields<'_, '_>) -> Result<LegacyForwarder, ScenarioError> {
    Ok(LegacyForwarder {
        body: fields
            .take_keyword("body", BodyPolicy::KEYWORDS)?
            .unwrap_or_default(),
        masking: take_masking(fields)?,
        idle_timeout: fields.take_duration("idle_timeout")?,
        read_timeout: fields
            .take_duration("read_timeout")?
            .unwrap_or(LegacyForwarder::default().read_timeout),
    })
}

const EXTERNAL_KEYS: &[&str] = &[
    "kind",
    "name",
    "preset",
    "command",
    "config",
    "ports",
    "ready_timeout",
    "explicit",
];

/// The presets an external hop can name.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|preset| preset.name).collect()
}

/// A real product with a configuration that matters, ready to use.
struct Preset {
    name: &'static str,
    command: &'static [&'static str],
    config: &'static str,
    ports: &'static [u16],
    /// Clients are configured with it (a forward proxy).
    explicit: bool,
}

const NGINX: &[&str] = &["nginx", "-p", "{dir}", "-c", "{config}", "-e", "stderr"];
const HAPROXY: &[&str] = &["haproxy", "-db", "-f", "{config}"];
const SQUID: &[&str] = &["squid", "-N", "-f", "{config}"];

const PRESETS: [Preset; 5] = [
    Preset {
        name: "nginx",
        command: NGINX,
        config: include_str!("presets/nginx.conf"),
        ports: &[80],
        explicit: false,
    },
    Preset {
        name: "nginx-websocket",
        command: NGINX,
        config: include_str!("presets/nginx-websocket.conf"),
        ports: &[80],
        explicit: false,
    },
    Preset {
        name: "haproxy-http",
        command: HAPROXY,
        config: include_str!("presets/haproxy-http.cfg"),
        ports: &[443, 80],
        explicit: false,
    },
    Preset {
        name: "haproxy-tcp",
        command: HAPROXY,
        config: include_str!("presets/haproxy-tcp.cfg"),
        ports: &[443, 80],
        explicit: false,
    },
    Preset {
        name: "squid",
        command: SQUID,
        config: include_str!("presets/squid.conf"),
        ports: &[crate::address::PROXY_PORT],
        explicit: true,
    },
];

fn read_external(
    fields: &mut Fields<'_, '_>,
    hop_span: Range<usize>,
) -> Result<External, ScenarioError> {
    let choices: Vec<(&str, usize)> = PRESETS
        .iter()
        .enumerate()
        .map(|(index, preset)| (preset.name, index))
        .collect();
    let preset = fields.take_keyword("preset", &choices)?;
    let command_at = fields.span_of("command");
    let command = match command_at {
        Some(_) => Some(fields.take_command("command", &EXTERNAL_PLACEHOLDERS)?),
        None => None,
    };
    let config_at = fields.span_of("config");
    let config = fields.take::<String>("config")?;
    if let Some(config) = &config {
        fields.check_placeholders(
            "config",
            config.get_ref(),
            config.span(),
            &EXTERNAL_PLACEHOLDERS,
        )?;
    }
    let ports = fields.take_ports("ports")?;
    let ready_timeout = fields
        .take_duration("ready_timeout")?
        .unwrap_or(DEFAULT_READY_TIMEOUT);
    let explicit = fields.take::<bool>("explicit")?.map(Spanned::into_inner);
    let (preset, command, config, ports, explicit) = match (preset, command, config) {
        (Some(index), None, None) => {
            let preset = &PRESETS[index];
            let command = preset.command.iter().map(|word| word.to_string()).collect();
            let ports = ports.unwrap_or_else(|| preset.ports.to_vec());
            let explicit = explicit.unwrap_or(preset.explicit);
            (
                Some(preset.name.to_string()),
                command,
                preset.config.to_string(),
                ports,
                explicit,
            )
        }
        (None, Some(command), Some(config)) => {
            let explicit = explicit.unwrap_or(false);
            let default_port = if explicit {
                crate::address::PROXY_PORT
            } else {
                crate::address::PLAIN_PORT
            };
            let ports = ports.unwrap_or(vec![default_port]);
            (None, command, config.into_inner(), ports, explicit)
        }
        (Some(_), _, _) => {
            return Err(fields.file.error(
                command_at.or(config_at).unwrap_or(hop_span),
                "an external hop takes a `preset` or its own `command` and `config`, not both",
            ));
        }
        (None, _, _) => {
            return Err(fields.file.error(
                hop_span,
                format!(
                    "an external hop needs a `preset` (one of {}) or both `command` and `config`",
                    quoted(PRESETS.iter().map(|preset| preset.name))
                ),
            ));
        }
    };
    Ok(External {
        preset,
        command,
        config,
        ports,
        ready_timeout,
        explicit,
    })
}

const TRANSPARENT_KEYS: &[&str] = &[
    "kind",
    "name",
    "upgrade",
    "tls",
    "http_version",
    "idle_timeout",
    "websocket_allow",
    "websocket_block",
    "ports",
    "masking",
    "cache",
    "undeclared_bytes",
];

fn read_transparent(fields: &mut Fields<'_, '_>) -> Result<Transparent, ScenarioError> {
    let defaults = Transparent::default();
    let masking_at = fields.span_of("masking");
    let undeclared_at = fields.span_of("undeclared_bytes");
    let cache_at = fields.span_of("cache");
    let options = Transparent {
        upgrade: fields
            .take_keyword("upgrade", UpgradePolicy::KEYWORDS)?
            .unwrap_or(defaults.upgrade),
        tls: fields
            .take_keyword("tls", TlsPolicy::KEYWORDS)?
            .unwrap_or(defaults.tls),
        http_version: fields
            .take_keyword("http_version", HttpVersion::KEYWORDS)?
            .unwrap_or(defaults.http_version),
        idle_timeout: fields.take_duration("idle_timeout")?,
        websocket_allow: fields.take_hosts("websocket_allow")?.unwrap_or_default(),
        websocket_block: fields.take_hosts("websocket_block")?.unwrap_or_default(),
        ports: fields.take_ports("ports")?.unwrap_or(defaults.ports),
        masking: take_masking(fields)?,
        cache: fields
            .take::<bool>("cache")?
            .map_or(defaults.cache, Spanned::into_inner),
        undeclared_bytes: take_undeclared_bytes(fields)?,
    };
    // Both act on an upgraded stream, which only `upgrade = "forward"` over
    // HTTP/1.1 lets through.
    let relays_websocket =
        options.upgrade == UpgradePolicy::Forward && options.http_version == HttpVersion::Http11;
    let why_not = (!relays_websocket).then_some(
        "it relays no WebSocket unless `upgrade = \"forward\"` over `http_version = \"1.1\"`",
    );
    if options.masking != Masking::Ignore {
        fields.no_effect(masking_at, "masking", why_not)?;
    }
    if options.undeclared_bytes == UndeclaredBytes::Reject {
        fields.no_effect(undeclared_at, "undeclared_bytes", why_not)?;
    }
    if options.cache {
        fields.no_effect(cache_at, "cache", why_not)?;
    }
    Ok(options)
}

const CONNECT_PROXY_KEYS: &[&str] = &["kind", "name", "allowed_ports", "auth", "idle_timeout"];

fn read_connect_proxy(fields: &mut Fields<'_, '_>) -> Result<ConnectProxy, ScenarioError> {
    let defaults = ConnectProxy::default();
    Ok(ConnectProxy {
        allowed_ports: fields
            .take_port_numbers("allowed_ports")?
            .unwrap_or(defaults.allowed_ports),
        auth: fields.take_credentials("auth", false)?.flatten(),
        idle_timeout: fields.take_duration("idle_timeout")?,
    })
}

fn read_client(
    file: &File<'_>,
    mut fields: Fields<'_, '_>,
    hops: &[Hop],
) -> Result<ClientSpec, ScenarioError> {
    let span = fields.table.get("proxy_auth").map(Spanned::span);
    let proxy_auth = fields.take_credentials("proxy_auth", true)?;
    fields.finish(&["proxy_auth"])?;
    if let (Some(span), false) = (span, hops.iter().any(|hop| hop.kind.is_explicit_proxy())) {
        return Err(file.error(
            span,
            "`proxy_auth` has no effect: the topology has no connect-proxy hop",
        ));
    }
    Ok(ClientSpec { proxy_auth })
}

fn read_origin(mut fields: Fields<'_, '_>) -> Result<Origin, ScenarioError> {
    let certificate = fields
        .take_keyword("certificate", OriginCertificate::KEYWORDS)?
        .unwrap_or_default();
    fields.finish(&["certificate"])?;
    Ok(Origin { certificate })
}

fn read_probe(mut fields: Fields<'_, '_>) -> Result<ProbeSpec, ScenarioError> {
    let idle = fields.take_duration("idle")?;
    fields.finish(&["idle"])?;
    Ok(ProbeSpec { idle })
}

fn read_expect(fields: Fields<'_, '_>) -> Result<Vec<Expectation>, ScenarioError> {
    let file = fields.file;
    let mut expect = Vec::new();
    let mut entries: Vec<_> = fields.table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let outcome = keyword(
            file,
            &format!("[expect] {}", key.get_ref()),
            value,
            Outcome::KEYWORDS,
        )?;
        expect.push(Expectation {
            tunnel: key.get_ref().to_string(),
            outcome,
            location: Location::from_offset(file.path, file.source, key.span().start),
        });
    }
    Ok(expect)
}

/// The file being read, for turning spans into locations.
struct File<'a> {
    path: &'a Path,
    source: &'a str,
}

impl File<'_> {
    /// The text at `span`, as written.
    fn text(&self, span: Range<usize>) -> &str {
        self.source.get(span).unwrap_or_default().trim()
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.path, self.source, span.start, message)
    }

    /// A TOML error carries its own span when it has one; `fallback` otherwise.
    fn toml_error(&self, error: toml::de::Error, fallback: Range<usize>) -> ScenarioError {
        let span = error.span().unwrap_or(fallback);
        let message = explain_toml_error(self.source, span.clone(), error.message().trim());
        self.error(span, message)
    }
}

/// The keys of one table, taken one by one; what is left at the end is an
/// unknown key and an error that lists the keys this table does accept.
struct Fields<'f, 'i> {
    file: &'f File<'f>,
    what: &'static str,
    table: DeTable<'i>,
}

impl<'f, 'i> Fields<'f, 'i> {
    fn new(file: &'f File<'f>, what: &'static str, table: DeTable<'i>) -> Self {
        Fields { file, what, table }
    }

    fn take_value(&mut self, key: &str) -> Option<Spanned<DeValue<'i>>> {
        self.table.remove(key)
    }

    fn take<T: DeserializeOwned>(
        &mut self,
        key: &str,
    ) -> Result<Option<Spanned<T>>, ScenarioError> {
        let Some(value) = self.take_value(key) else {
            return Ok(None);
        };
        let span = value.span();
        let parsed = T::deserialize(ValueDeserializer::from(value)).map_err(|error| {
            let at = error.span().unwrap_or(span.clone());
            self.file.error(
                at,
                format!("`{key}`: {}", humanize_serde(error.message().trim())),
            )
        })?;
        Ok(Some(Spanned::new(span, parsed)))
    }

    fn take_table(&mut self, key: &'static str) -> Result<Option<Fields<'f, 'i>>, ScenarioError> {
        let Some(value) = self.take_value(key) else {
            return Ok(None);
        };
        let span = value.span();
        match value.into_inner() {
            DeValue::Table(table) => Ok(Some(Fields::new(self.file, key, table))),
            other => Err(self.file.error(
                span,
                format!(
                    "`{key}` must be a table ([{key}]), found {}",
                    other.type_str()
                ),
            )),
        }
    }

    fn take_keyword<K: Copy>(
        &mut self,
        key: &str,
        choices: &[(&str, K)],
    ) -> Result<Option<K>, ScenarioError> {
        self.take_value(key)
            .map(|value| keyword(self.file, key, value, choices))
            .transpose()
    }

    fn take_duration(&mut self, key: &str) -> Result<Option<Duration>, ScenarioError> {
        if let Some(value) = self.table.get(key)
            && !matches!(value.get_ref(), DeValue::String(_))
        {
            return Err(self.file.error(
                value.span(),
                format!(
                    "`{key}` must be a duration in quotes with a unit (ms, s, m, h), \
                     like \"100s\" or \"250ms\"; found {} `{}`",
                    value.get_ref().type_str(),
                    self.file.text(value.span())
                ),
            ));
        }
        let Some(text) = self.take::<String>(key)? else {
            return Ok(None);
        };
        parse_duration(text.get_ref())
            .map(Some)
            .map_err(|message| self.file.error(text.span(), format!("`{key}`: {message}")))
    }

    /// Fails when `key` is given but not an array; `what` names the items
    /// and shows an example, like "ports, like [443]".
    fn require_array(&self, key: &str, what: &str) -> Result<(), ScenarioError> {
        match self.table.get(key) {
            Some(value) if !matches!(value.get_ref(), DeValue::Array(_)) => Err(self.file.error(
                value.span(),
                format!(
                    "`{key}` must be an array of {what}; found {}",
                    value.get_ref().type_str()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn take_ports(&mut self, key: &str) -> Result<Option<Vec<u16>>, ScenarioError> {
        self.require_array(key, "ports, like [443] or [443, 80]")?;
        let Some(ports) = self.take::<Vec<Spanned<i64>>>(key)? else {
            return Ok(None);
        };
        if ports.get_ref().is_empty() {
            return Err(self.file.error(
                ports.span(),
                format!("`{key}` must list at least one of {PORTS:?}"),
            ));
        }
        let mut seen = Vec::new();
        for port in ports.get_ref() {
            let number = *port.get_ref();
            let known = PORTS.iter().find(|known| i64::from(**known) == number);
            match known {
                Some(known) if !seen.contains(known) => seen.push(*known),
                Some(_) => {
                    return Err(self
                        .file
                        .error(port.span(), format!("`{key}` lists port {number} twice")));
                }
                None => {
                    return Err(self.file.error(
                        port.span(),
                        format!(
                            "`{key}`: port {number} is not a logical port of the topology; \
                             use 443 (TLS) or 80 (plain)"
                        ),
                    ));
                }
            }
        }
        Ok(Some(seen))
    }

    /// A command line: a non-empty array of strings whose `{placeholders}`
    /// are all ones the harness fills in.
    fn take_command(
        &mut self,
        key: &str,
        known: &[(&str, &str)],
    ) -> Result<Vec<String>, ScenarioError> {
        let span = self.span_of(key);
        let Some(argv) = self.take::<Vec<Spanned<String>>>(key)? else {
            return Err(self.file.error(
                0..0,
                format!("a tunnel needs `{key}`, its command line as an array of strings"),
            ));
        };
        if argv.get_ref().is_empty() {
            return Err(self.file.error(
                span.unwrap_or(0..0),
                format!("`{key}` must name a program to run"),
            ));
        }
        for word in argv.get_ref() {
            self.check_placeholders(key, word.get_ref(), word.span(), known)?;
        }
        Ok(argv
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect())
    }

    /// Fails on a `{name}` that is not one of `known`. Only `{` + a word +
    /// `}` is a placeholder, so config syntax with braces stays literal.
    fn check_placeholders(
        &self,
        key: &str,
        text: &str,
        span: Range<usize>,
        known: &[(&str, &str)],
    ) -> Result<(), ScenarioError> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let word_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if word_len > 0 && after[word_len..].starts_with('}') {
                let placeholder = &after[..word_len];
                if !known.iter().any(|(name, _)| *name == placeholder) {
                    let names: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
                    return Err(self.file.error(
                        span,
                        format!(
                            "`{key}`: unknown placeholder {{{placeholder}}}; placeholders: {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
            rest = after;
        }
        Ok(())
    }

    /// Where `key` is written, if it is.
    fn span_of(&self, key: &str) -> Option<Range<usize>> {
        self.table.get(key).map(Spanned::span)
    }

    /// An option that was set but cannot act: an error at the option,
    /// saying why, rather than a setting that silently does nothing.
    fn no_effect(
        &self,
        at: Option<Range<usize>>,
        key: &str,
        why_not: Option<&str>,
    ) -> Result<(), ScenarioError> {
        match (at, why_not) {
            (Some(at), Some(why)) => Err(self
                .file
                .error(at, format!("`{key}` has no effect here: {why}"))),
            _ => Ok(()),
        }
    }

    /// Ports of any service, 1 to 65535, each once.
    fn take_port_numbers(&mut self, key: &str) -> Result<Option<Vec<u16>>, ScenarioError> {
        self.require_array(key, "ports, like [443] or [443, 8443]")?;
        let Some(ports) = self.take::<Vec<Spanned<i64>>>(key)? else {
            return Ok(None);
        };
        let mut seen = Vec::new();
        for port in ports.get_ref() {
            let number = *port.get_ref();
            let Some(valid) = u16::try_from(number).ok().filter(|port| *port > 0) else {
                return Err(self.file.error(
                    port.span(),
                    format!("`{key}`: {number} is not a port; ports are 1 to 65535"),
                ));
            };
            if seen.contains(&valid) {
                return Err(self
                    .file
                    .error(port.span(), format!("`{key}` lists port {number} twice")));
            }
            seen.push(valid);
        }
        Ok(Some(seen))
    }

    /// Host names, as Host headers carry them (no port).
    fn take_hosts(&mut self, key: &str) -> Result<Option<Vec<String>>, ScenarioError> {
        self.require_array(key, "host names, like [\"origin.test\"]")?;
        let Some(hosts) = self.take::<Vec<Spanned<String>>>(key)? else {
            return Ok(None);
        };
        hosts
            .into_inner()
            .into_iter()
            .map(|host| {
                let text = host.get_ref().trim().to_ascii_lowercase();
                if text.is_empty() || text.contains([':', '/', ' ']) {
                    Err(self.file.error(
                        host.span(),
                        format!(
                            "`{key}`: \"{}\" is not a host name; write names like \"origin.test\"",
                            host.get_ref()
                        ),
                    ))
                } else {
                    Ok(text)
                }
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// `"user:password"`; with `allow_empty`, `""` means no credentials.
    fn take_credentials(
        &mut self,
        key: &str,
        allow_empty: bool,
    ) -> Result<Option<Option<Credentials>>, ScenarioError> {
        // How to say "no credentials" differs: `""` for a client, leaving the
        // key out for a proxy.
        let form = if allow_empty {
            format!("`{key}` must be \"user:password\", or \"\" for none")
        } else {
            format!("`{key}` must be \"user:password\", or left out for none")
        };
        if let Some(value) = self.table.get(key)
            && !matches!(value.get_ref(), DeValue::String(_))
        {
            return Err(self.file.error(
                value.span(),
                format!("{form}; found {}", value.get_ref().type_str()),
            ));
        }
        let Some(text) = self.take::<String>(key)? else {
            return Ok(None);
        };
        if allow_empty && text.get_ref().is_empty() {
            return Ok(Some(None));
        }
        match text.get_ref().split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Some(Some(Credentials {
                user: user.to_string(),
                password: password.to_string(),
            }))),
            _ => Err(self.file.error(text.span(), form)),
        }
    }

    /// Fails on the first key nobody took, naming the keys that are allowed.
    fn finish(self, allowed: &[&str]) -> Result<(), ScenarioError> {
        self.finish_with(allowed, |_| None)
    }

    /// [`Fields::finish`], with `explain` saying more about a key that is not
    /// a typo (for a hop: which kinds do take it).
    fn finish_with(
        self,
        allowed: &[&str],
        explain: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ScenarioError> {
        let Some((key, _)) = self.table.iter().min_by_key(|(key, _)| key.span().start) else {
            return Ok(());
        };
        let hint = suggestion(key.get_ref(), allowed)
            .map(|close| format!("did you mean `{close}`?"))
            .or_else(|| explain(key.get_ref()))
            .map(|hint| format!(" ({hint})"))
            .unwrap_or_default();
        Err(self.file.error(
            key.span(),
            format!(
                "unknown key `{}` in {}{hint}; allowed keys: {}",
                key.get_ref(),
                self.what_for_humans(),
                allowed.join(", ")
            ),
        ))
    }

    fn what_for_humans(&self) -> String {
        match self.what {
            "scenario" => "the scenario".to_string(),
            "tunnel" => "the tunnel definition".to_string(),
            "hop" => "this hop".to_string(),
            table => format!("[{table}]"),
        }
    }
}

fn keyword<K: Copy>(
    file: &File<'_>,
    key: &str,
    value: Spanned<DeValue<'_>>,
    choices: &[(&str, K)],
) -> Result<K, ScenarioError> {
    let allowed = quoted(choices.iter().map(|(name, _)| *name));
    let span = value.span();
    let DeValue::String(text) = value.get_ref() else {
        // `http_version = 1.0`: the right word, written as a number.
        let written = file.text(span.clone());
        if choices.iter().any(|(name, _)| *name == written) {
            return Err(file.error(
                span,
                format!("`{key}` = {written} must be a string: write \"{written}\""),
            ));
        }
        return Err(file.error(
            span,
            format!(
                "`{key}` must be a string, one of {allowed}; found {}",
                value.get_ref().type_str()
            ),
        ));
    };
    choices
        .iter()
        .find(|(name, _)| *name == text.as_ref())
        .map(|(_, choice)| *choice)
        .ok_or_else(|| {
            file.error(
                span,
                format!("`{key}` = \"{text}\" is not allowed; expected one of {allowed}"),
            )
        })
}

fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The allowed key a typo most likely meant: one edit away for short keys,
/// two for longer ones.
fn suggestion<'a>(typed: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(typed, candidate), *candidate))
        // Short keys are a letter or two from each other (`mode`, `name`).
        .filter(|(distance, candidate)| *distance <= if candidate.len() <= 5 { 1 } else { 2 })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// serde names Rust types ("expected i64"); scenario authors know TOML's.
fn humanize_serde(message: &str) -> String {
    [
        ("expected i64", "expected an integer"),
        ("expected u16", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
    ]
    .iter()
    .fold(message.to_string(), |message, (from, to)| {
        message.replace(from, to)
    })
}

/// toml's messages describe its grammar. For the slips people make most
/// (a value left out, a word not in quotes, a string not closed, a key
/// written twice) say what was written and name the key.
fn explain_toml_error(source: &str, span: Range<usize>, message: &str) -> String {
    let at = span.start.min(source.len());
    let (Some(head), Some(tail)) = (source.get(..at), source.get(at..)) else {
        return message.to_string();
    };
    let before = &head[head.rfind('\n').map_or(0, |newline| newline + 1)..];
    let after = tail[..tail.find('\n').unwrap_or(tail.len())].trim();
    if message == "duplicate key" {
        let key = source.get(span).unwrap_or_default().trim();
        return format!("duplicate key `{key}`: a key (or [table]) may be written only once");
    }
    // `key = <here>`: the mistake is the value of the key before the `=`.
    if let Some(key) = before.trim_end().strip_suffix('=') {
        let key = key.rsplit(['{', ',']).next().unwrap_or(key).trim();
        if key.is_empty() {
            return message.to_string();
        }
        if after.is_empty() || after.starts_with(['#', ',', '}', ']']) {
            return format!("`{key}` has no value after `=`");
        }
        let word = after
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
            .next()
            .unwrap_or_default();
        let unquoted = message.starts_with("invalid boolean")
            || message.starts_with("string values must be quoted");
        if unquoted && !word.eq_ignore_ascii_case("true") && !word.eq_ignore_ascii_case("false") {
            return format!("`{key}` = {word}: text values must be in quotes, like \"{word}\"");
        }
        return format!("`{key}`: {message}");
    }
    // `key = "text<end of line>`: a string left open.
    let quote = if message.starts_with("invalid basic string") {
        Some('"')
    } else if message.starts_with("invalid literal string") {
        Some('\'')
    } else {
        None
    };
    if let (Some(quote), true) = (quote, after.is_empty()) {
        let key = before
            .split_once('=')
            .map(|(key, _)| key.trim())
            .filter(|key| {
                !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        let what = key.map_or_else(String::new, |key| format!("`{key}`: "));
        return format!("{what}the string is not closed; end it with {quote} on the same line");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_key_a_typo_meant_but_not_a_different_short_key() {
        let keys = ["name", "mode", "websocket", "idle_timeout"];
        assert_eq!(suggestion("modee", &keys), Some("mode"));
        assert_eq!(suggestion("websockt", &keys), Some("websocket"));
        assert_eq!(suggestion("idle_timout", &keys), Some("idle_timeout"));
        assert_eq!(suggestion("mane", &keys), None);
    }
}
