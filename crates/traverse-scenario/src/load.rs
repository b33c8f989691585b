//! Loading: finding scenario and tunnel files, reading each into its
//! validated model through [`Fields`], and the rules across a file that no
//! one table can check (hop names unique, an explicit proxy first, two
//! scenarios of one run not sharing a name). Each hop's options are read
//! by its kind's own file in `kinds/`.
//!
//! Every mistake of a file is collected rather than the first: a person
//! fixes them in one pass. Only a TOML syntax error ends a file's reading,
//! and one file's mistakes do not stop the next file's.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::address::RESERVED_NAMES;
use crate::error::{Location, ScenarioError, in_file_order};
use crate::fields::{Fields, File, keyword, name_problem, quoted};
use crate::kinds::HopKind;
use crate::model::{
    ClientSpec, DEFAULT_READY_TIMEOUT, Expectation, Hop, Keyword, Origin, OriginCertificate,
    PLACEHOLDERS, ProbeSpec, Scenario, Transport, TunnelDefinition, Verdict,
};

/// A scenario's weight when its file says none: as common as any other.
pub(crate) const DEFAULT_WEIGHT: f64 = 1.0;

/// Reads and validates one scenario file; its first mistake, if any.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_checked(path).map_err(first)
}

/// Reads and validates one scenario file; every mistake, in file order.
pub fn load_checked(path: &Path) -> Result<Scenario, Vec<ScenarioError>> {
    let source = read(path, SCENARIO_FILE).map_err(|error| vec![error])?;
    check(path, &source)
}

/// What errors call a file, by what it holds.
const SCENARIO_FILE: &str = "scenario file";
const TUNNEL_FILE: &str = "tunnel file";

/// A file's text. A file that cannot be read is an error of the path
/// alone; one that is not UTF-8 (as TOML must be) is located at its first
/// bad byte, since a person can fix that in place, often a Latin-1
/// character pasted in.
fn read(path: &Path, what: &'static str) -> Result<String, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        what,
        source,
    })?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let bytes = error.as_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        ScenarioError::Invalid {
            location: Location::from_offset(path, &before, valid),
            message: format!(
                "invalid UTF-8 at byte {:#04x}: a {what} must be UTF-8 text; save it as UTF-8",
                bytes[valid]
            ),
        }
    })
}

/// The mistake a person meets first, of a file's non-empty list.
fn first(errors: Vec<ScenarioError>) -> ScenarioError {
    in_file_order(errors)
        .into_iter()
        .next()
        .expect("a failed check found a mistake")
}

/// Scenario files named by `paths`: files as given, folders searched for
/// `*.toml` (recursively, sorted, so runs are reproducible).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| ScenarioError::Read {
            path: path.clone(),
            what: "scenario file or folder",
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
        what: "folder of scenario files",
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

/// Loads every scenario under `paths`, reporting every mistake of every
/// file (in file order) rather than the first, and rejecting two scenarios
/// that share a name.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let loaded = load_each(paths);
    if loaded.errors.is_empty() {
        Ok(loaded.scenarios)
    } else {
        Err(loaded.errors)
    }
}

/// What [`load_each`] read: the valid scenarios, every mistake of the
/// others in file order, and those others as far as they read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub scenarios: Vec<Scenario>,
    pub errors: Vec<ScenarioError>,
    /// Scenarios with mistakes, as far as they read: never to be run, but
    /// what they name (the tunnels of `[expect]`) can be checked in the
    /// same pass as their mistakes.
    pub unfinished: Vec<Scenario>,
}

/// [`load_all`], keeping the valid scenarios beside the mistakes of the
/// others, so checks that need scenarios (expectations naming tunnels) can
/// be made in the same pass.
pub fn load_each(paths: &[PathBuf]) -> Loaded {
    let files = match discover(paths) {
        Ok(files) => files,
        Err(error) => {
            return Loaded {
                errors: vec![error],
                ..Loaded::default()
            };
        }
    };
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    let mut unfinished = Vec::new();
    for file in files {
        let source = match read(&file, SCENARIO_FILE) {
            Ok(source) => source,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        match check_partly(&file, &source) {
            (Some(scenario), found) if found.is_empty() => scenarios.push(scenario),
            (partly, found) => {
                errors.extend(found);
                unfinished.extend(partly);
            }
        }
    }
    let mut seen: Vec<&Scenario> = Vec::new();
    for scenario in &scenarios {
        if let Some(first) = seen.iter().find(|other| other.name == scenario.name) {
            errors.push(name_clash(
                &scenario.path,
                format!(
                    "scenario name \"{}\" is already used by {}; names must be unique in a run",
                    scenario.name,
                    first.path.display()
                ),
            ));
        } else {
            seen.push(scenario);
        }
    }
    Loaded {
        scenarios,
        errors: in_file_order(errors),
        unfinished,
    }
}

/// A valid file whose name another file or a built-in tunnel has: located
/// at its `name`, or at its start when the name is the file's.
fn name_clash(path: &Path, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        location: name_location(path),
        message,
    }
}

/// Where a valid scenario or tunnel file writes its `name`; its start when
/// the name is the file's.
fn name_location(path: &Path) -> Location {
    let Ok(source) = std::fs::read_to_string(path) else {
        return Location::start_of(path);
    };
    DeTable::parse(&source)
        .ok()
        .and_then(|root| root.get_ref().get("name").map(Spanned::span))
        .map_or_else(
            || Location::start_of(path),
            |span| Location::from_span(path, &source, span),
        )
}

/// Reads and validates one external tunnel definition; its first mistake.
pub fn load_tunnel(path: &Path) -> Result<TunnelDefinition, ScenarioError> {
    load_tunnel_checked(path).map_err(first)
}

/// Reads and validates one external tunnel definition; every mistake.
pub fn load_tunnel_checked(path: &Path) -> Result<TunnelDefinition, Vec<ScenarioError>> {
    let source = read(path, TUNNEL_FILE).map_err(|error| vec![error])?;
    check_tunnel(path, &source)
}

/// What [`load_tunnels`] read: the valid definitions, every mistake of
/// the files in file order, and the names of the tunnels whose files have
/// mistakes (see [`tunnel_name_of`]).
#[derive(Debug, Default)]
pub struct LoadedTunnels {
    pub definitions: Vec<TunnelDefinition>,
    pub errors: Vec<ScenarioError>,
    pub unread: Vec<String>,
}

/// Reads every tunnel file, each one's mistakes kept. A tunnel's name must
/// be new: not one of `built_in`, nor an earlier file's, since the name is
/// what `--tunnel`, `[expect]` and the matrix's columns pick it by.
pub fn load_tunnels(files: &[PathBuf], built_in: &[&str]) -> LoadedTunnels {
    let mut loaded = LoadedTunnels::default();
    for file in files {
        match load_tunnel_checked(file) {
            Ok(definition) if built_in.contains(&definition.name.as_str()) => {
                loaded.errors.push(name_clash(
                    file,
                    format!(
                        "tunnel name \"{}\" is a built-in tunnel's; name the file's tunnel \
                         differently (`name = \"...\"`)",
                        definition.name
                    ),
                ));
            }
            Ok(definition) => {
                let first = loaded
                    .definitions
                    .iter()
                    .find(|other| other.name == definition.name);
                match first {
                    Some(first) => loaded.errors.push(name_clash(
                        file,
                        format!(
                            "tunnel name \"{}\" is already used by {}; names must be unique \
                             in a run",
                            definition.name,
                            first.path.display()
                        ),
                    )),
                    None => loaded.definitions.push(definition),
                }
            }
            Err(found) => {
                loaded.errors.extend(found);
                loaded.unread.push(tunnel_name_of(file));
            }
        }
    }
    loaded.errors = in_file_order(loaded.errors);
    loaded
}

/// The name a tunnel definition file gives its tunnel, even when the file
/// has mistakes: its `name` if that is a string, its file name otherwise.
/// Expectations of that tunnel are then not reported as of an unknown one.
pub fn tunnel_name_of(path: &Path) -> String {
    let written = std::fs::read_to_string(path).ok().and_then(|source| {
        let root = DeTable::parse(&source).ok()?;
        match root.get_ref().get("name")?.get_ref() {
            DeValue::String(name) => Some(name.to_string()),
            _ => None,
        }
    });
    written.unwrap_or_else(|| {
        path.file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// Parses an external tunnel definition: `name`, `description`,
/// `transport`, and the `server` and `client` command lines, whose
/// placeholders must all be known. Its first mistake, if any.
pub fn parse_tunnel(path: &Path, source: &str) -> Result<TunnelDefinition, ScenarioError> {
    check_tunnel(path, source).map_err(first)
}

/// [`parse_tunnel`], with every mistake in file order.
pub fn check_tunnel(path: &Path, source: &str) -> Result<TunnelDefinition, Vec<ScenarioError>> {
    let file = File::new(path, source);
    let root = DeTable::parse(source).map_err(|error| vec![file.toml_error(error, 0..0)])?;
    let definition = read_tunnel(&file, root.into_inner());
    finish_file(file, definition)
}

/// What a file's reading found: its value, if it stopped at no mistake
/// and recorded none; every mistake otherwise, in file order.
fn finish_file<T>(file: File<'_>, read: Result<T, ScenarioError>) -> Result<T, Vec<ScenarioError>> {
    let value = read.map_err(|error| file.record(error));
    match (value, file.into_errors()) {
        (Ok(value), errors) if errors.is_empty() => Ok(value),
        (_, errors) => Err(in_file_order(errors)),
    }
}

/// Reads a tunnel definition's keys; an `Err` is a mistake that ends the
/// reading, the others are recorded in `file`.
fn read_tunnel(file: &File<'_>, root: DeTable<'_>) -> Result<TunnelDefinition, ScenarioError> {
    let path = file.path;
    let mut fields = Fields::new(file, "tunnel", root);
    let name = read_name(&mut fields, "tunnel")?;
    let description = fields
        .take::<String>("description")?
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let transport_written = fields.span_of("transport").is_some();
    let transport = fields.take_keyword("transport", Transport::KEYWORDS)?;
    if transport.is_none() && !transport_written {
        file.record(
            file.whole_file_error(
                "a tunnel needs `transport = \"tls\"` or `transport = \"plain\"`",
            ),
        );
    }
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
        // Only read when nothing was recorded, so never this default.
        transport: transport.unwrap_or(Transport::Plain),
        server,
        client,
        ready_timeout,
    })
}

/// The name a file gives its scenario or tunnel (`what`): its `name`, or
/// else its file name without `.toml`; either is held to the one rule of
/// [`name_problem`], since both end up in file names and terminals.
fn read_name(fields: &mut Fields<'_, '_>, what: &str) -> Result<String, ScenarioError> {
    let file = fields.file;
    if let Some(name) = fields.take::<String>("name")? {
        if let Some(problem) = name_problem(name.get_ref()) {
            fields.reject(file.error(name.span(), format!("{what} `name` {problem}")));
        }
        return Ok(name.into_inner());
    }
    let name = file
        .path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(problem) = name_problem(&name) {
        // No `name` line to point at: say where the name came from and
        // both ways out.
        file.record(file.whole_file_error(format!(
            "the file's name gives the {what} its name, and the name {problem}; \
             rename the file or set `name = \"...\"`"
        )));
    }
    Ok(name)
}

/// Parses a scenario from its text; `path` is used for the default name and
/// in error locations. Its first mistake, if any.
pub fn parse(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
    check(path, source).map_err(first)
}

/// [`parse`], with every mistake in file order.
pub fn check(path: &Path, source: &str) -> Result<Scenario, Vec<ScenarioError>> {
    match check_partly(path, source) {
        (Some(scenario), errors) if errors.is_empty() => Ok(scenario),
        (_, errors) => Err(errors),
    }
}

/// A scenario's mistakes in file order, and the scenario as far as it
/// read (`None` after a mistake that ended the reading). With mistakes, it
/// is for checking what the file names, never for running.
fn check_partly(path: &Path, source: &str) -> (Option<Scenario>, Vec<ScenarioError>) {
    let file = File::new(path, source);
    let root = match DeTable::parse(source) {
        Ok(root) => root,
        Err(error) => return (None, vec![file.toml_error(error, 0..0)]),
    };
    let scenario = read_scenario(&file, root.into_inner())
        .map_err(|error| file.record(error))
        .ok();
    (scenario, in_file_order(file.into_errors()))
}

/// Reads a scenario's keys; an `Err` is a mistake that ends the reading,
/// the others are recorded in `file`.
fn read_scenario(file: &File<'_>, root: DeTable<'_>) -> Result<Scenario, ScenarioError> {
    let path = file.path;
    let mut fields = Fields::new(file, "scenario", root);

    let name = read_name(&mut fields, "scenario")?;
    let description = fields
        .take::<String>("description")?
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let weight = match fields.take::<f64>("weight")? {
        Some(weight) if !(weight.get_ref().is_finite() && *weight.get_ref() >= 0.0) => {
            fields.reject(file.error(
                weight.span(),
                format!(
                    "`weight` must be a number of at least 0 (how common the topology is), found {}",
                    weight.get_ref()
                ),
            ));
            DEFAULT_WEIGHT
        }
        Some(weight) => weight.into_inner(),
        None => DEFAULT_WEIGHT,
    };
    let hops = match fields.take_value("hops") {
        Some(value) => read_hops(file, value),
        None => Hops::default(),
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
        Some(client) => read_client(file, client, &hops)?,
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
        hops: hops.read,
        origin,
        probe,
        client,
        expect,
    })
}

/// The hops a file lists, as far as they could be read.
#[derive(Default)]
struct Hops {
    read: Vec<Hop>,
    /// Every hop of the file was read: checks against the whole topology
    /// would otherwise judge one the author did not write.
    complete: bool,
}

/// Reads every hop, recording each one's mistakes and going on to the next.
fn read_hops(file: &File<'_>, value: Spanned<DeValue<'_>>) -> Hops {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        file.record(file.error(
            span,
            "`hops` must be an array of tables: write each hop as a [[hops]] section",
        ));
        return Hops::default();
    };
    let mut hops = Vec::new();
    let mut complete = true;
    let mut names = HashSet::new();
    // Each hop's place in the file (from 1) and where its `name` is
    // written; None for a hop given its default.
    let mut named = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match read_hop(file, index, item, &mut names) {
            Some((hop, name_span, clean)) => {
                named.push((index + 1, name_span));
                hops.push(hop);
                complete &= clean;
            }
            None => complete = false,
        }
    }
    // A hop without a `name` is called `<kind>-<index>`; a hop whose given
    // name is another hop's default name would make blame ambiguous.
    for (hop, (number, name_span)) in hops.iter().zip(&named) {
        if name_span.is_some() {
            continue;
        }
        let clash = hops
            .iter()
            .zip(&named)
            .find_map(|(other, (_, span))| span.clone().filter(|_| other.name == hop.name));
        if let Some(span) = clash {
            file.record(file.error(
                span,
                format!(
                    "hop `name` \"{}\" is also the default name of hop {number}, which has no \
                     `name`; blame needs unique names, so rename one of them",
                    hop.name,
                ),
            ));
        }
    }
    Hops {
        read: hops,
        complete,
    }
}

/// One hop, with where its `name` is written and whether all its values
/// read; `None` when it could not be read (its mistakes are recorded).
fn read_hop(
    file: &File<'_>,
    index: usize,
    item: Spanned<DeValue<'_>>,
    names: &mut HashSet<String>,
) -> Option<(Hop, Option<Range<usize>>, bool)> {
    let item_span = item.span();
    let DeValue::Table(table) = item.into_inner() else {
        file.record(file.error(
            item_span,
            format!("hop {} must be a table with a `kind`", index + 1),
        ));
        return None;
    };
    let mut fields = Fields::new(file, "hop", table);
    let kinds = quoted(HopKind::ALL.iter().map(|info| info.name));
    let Some(kind) = fields.take_value("kind") else {
        file.record(file.error(
            item_span,
            format!("hop {} has no `kind`; kinds: {kinds}", index + 1),
        ));
        return None;
    };
    let kind_at = kind.span();
    let DeValue::String(kind_name) = kind.get_ref() else {
        file.record(file.error(
            kind_at,
            format!(
                "`kind` must be a string, one of {kinds}; found {}",
                kind.get_ref().type_str()
            ),
        ));
        return None;
    };
    let Some(read) = HopKind::read(kind_name, &mut fields, item_span.clone()) else {
        file.record(file.error(
            kind_at,
            format!("unknown hop kind \"{kind_name}\"; kinds: {kinds}"),
        ));
        return None;
    };
    let info = HopKind::ALL
        .iter()
        .find(|info| info.name == kind_name.as_ref())
        .copied();
    let kind = match read {
        Ok(kind) => Some(kind),
        // A kind's own check across its options: it judged defaults in
        // place of values that could not be read, unless all were read.
        Err(error) => {
            if fields.read_cleanly() {
                file.record(error);
            }
            None
        }
    };
    // Whether it is explicit may rest on a value that did not read.
    let clean = fields.read_cleanly();
    if let Some(kind) = &kind
        && clean
        && kind.is_explicit_proxy()
        && index > 0
    {
        file.record(file.error(
            kind_at.clone(),
            "an explicit proxy (a connect-proxy, or an external hop such as Squid) must be \
             the first hop: clients are configured to use it, so it sits between them and \
             every other hop",
        ));
    }
    let (name, name_span) = match fields.take::<String>("name").ok().flatten() {
        Some(name) => {
            let text = name.get_ref().clone();
            // Hop names go where scenario names go (blame, a log's `node`,
            // terminals, HTML), so they keep to the same rule.
            if let Some(problem) = name_problem(&text) {
                file.record(file.error(name.span(), format!("hop `name` {problem}")));
            } else if RESERVED_NAMES.contains(&text.as_str()) {
                file.record(file.error(
                    name.span(),
                    format!(
                        "hop `name` \"{text}\" is not allowed: it must not be one of {}",
                        quoted(RESERVED_NAMES)
                    ),
                ));
            } else if !names.insert(text.clone()) {
                file.record(file.error(
                    name.span(),
                    format!("two hops are named \"{text}\"; blame needs unique names"),
                ));
            }
            (text, Some(name.span()))
        }
        None => (format!("{kind_name}-{}", index + 1), None),
    };
    if let Some(info) = info
        && let Err(error) =
            fields.finish_with(&info.keys(), |key| other_kinds_taking(info.name, key))
    {
        file.record(error);
    }
    Some((
        Hop {
            name,
            kind: kind?,
            location: Location::from_offset(file.path, file.source, item_span.start),
        },
        name_span,
        clean,
    ))
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
    hops: &Hops,
) -> Result<ClientSpec, ScenarioError> {
    let span = fields.table.get("proxy_auth").map(Spanned::span);
    let proxy_auth = fields.take_credentials("proxy_auth", true)?;
    let has_proxy = hops.read.iter().any(|hop| hop.kind.is_explicit_proxy());
    if let (Some(span), false, true) = (span, has_proxy, hops.complete) {
        file.record(file.error(
            span,
            "`proxy_auth` has no effect: the topology has no connect-proxy hop",
        ));
    }
    fields.finish(&["proxy_auth"])?;
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
        let verdict = match keyword(
            file,
            &format!("[expect] {}", key.get_ref()),
            value,
            Verdict::KEYWORDS,
        ) {
            Ok(verdict) => verdict,
            Err(error) => {
                file.record(error);
                continue;
            }
        };
        expect.push(Expectation {
            tunnel: key.get_ref().to_string(),
            verdict,
            location: Location::from_span(file.path, file.source, key.span()),
        });
    }
    Ok(expect)
}
