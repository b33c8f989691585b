//! Loading: finding scenario and tunnel files, reading each into its
//! validated model through [`Fields`], and the rules across a file that no
//! one table can check (hop names unique, an explicit proxy first, two
//! scenarios of one run not sharing a name). Each hop's options are read
//! by its kind's own file in `kinds/`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::address::RESERVED_NAMES;
use crate::error::{Location, ScenarioError};
use crate::fields::{Fields, File, keyword, quoted};
use crate::kinds::HopKind;
use crate::model::{
    ClientSpec, DEFAULT_READY_TIMEOUT, Expectation, Hop, Keyword, Origin, OriginCertificate,
    PLACEHOLDERS, ProbeSpec, Scenario, Transport, TunnelDefinition, Verdict,
};

/// A scenario's weight when its file says none: as common as any other.
pub(crate) const DEFAULT_WEIGHT: f64 = 1.0;

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
        let kinds = quoted(HopKind::ALL.iter().map(|info| info.name));
        let kind = fields.take_value("kind").ok_or_else(|| {
            file.error(
                item_span.clone(),
                format!("hop {} has no `kind`; kinds: {kinds}", index + 1),
            )
        })?;
        let kind_at = kind.span();
        let DeValue::String(kind_name) = kind.get_ref() else {
            return Err(file.error(
                kind_at,
                format!(
                    "`kind` must be a string, one of {kinds}; found {}",
                    kind.get_ref().type_str()
                ),
            ));
        };
        let Some(kind) = HopKind::read(kind_name, &mut fields, item_span.clone()) else {
            return Err(file.error(
                kind_at,
                format!("unknown hop kind \"{kind_name}\"; kinds: {kinds}"),
            ));
        };
        let kind = kind?;
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
        let info = kind.info();
        fields.finish_with(&info.keys(), |key| other_kinds_taking(info.name, key))?;
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
    let others: Vec<&str> = HopKind::ALL
        .iter()
        .filter(|other| other.name != kind && other.option(key).is_some())
        .map(|other| other.name)
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
        let verdict = keyword(
            file,
            &format!("[expect] {}", key.get_ref()),
            value,
            Verdict::KEYWORDS,
        )?;
        expect.push(Expectation {
            tunnel: key.get_ref().to_string(),
            verdict,
            location: Location::from_offset(file.path, file.source, key.span().start),
        });
    }
    Ok(expect)
}
