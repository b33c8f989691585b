//! The JSON Schemas of scenario files and tunnel definitions, held against
//! the parser they stand in front of. An editor trusts the schema while a
//! file is written, so it must never reject a file the parser accepts, and
//! it should reject every structural mistake the parser does. The
//! published copies in `schemas/` must be what `scenario_schema()` and
//! `tunnel_schema()` build today.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::{Value, json};
use traverse_scenario::{
    Backend, BodyPolicy, HopKind, HttpVersion, Keyword, Masking, OriginCertificate, TerminatorMode,
    TlsPolicy, UndeclaredBytes, UpgradePolicy, Verdict, parse_duration, preset_names,
    scenario_schema, tunnel_schema,
};

const UPDATE: &str = "TRAVERSE_UPDATE_SCHEMAS";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compares a published schema with the one built now; with
/// `TRAVERSE_UPDATE_SCHEMAS=1` it writes the fresh one instead.
fn check_published(relative: &str, schema: &Value) {
    let path = workspace().join(relative);
    let fresh = serde_json::to_string_pretty(schema).expect("a schema serialises") + "\n";
    if std::env::var(UPDATE).as_deref() == Ok("1") {
        std::fs::write(&path, &fresh)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        return;
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == fresh,
        "{relative} is not what the code builds now (stale or missing); regenerate it with\n    \
         {UPDATE}=1 cargo test -p traverse-scenario --test schema\nand commit the result"
    );
}

/// A validator whose patterns run on the `regex` crate, which has no
/// lookaround: editors' engines differ, and a pattern one of them cannot
/// compile can cost the whole schema there.
fn validator(schema: &Value) -> Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(schema)
        .unwrap_or_else(|error| panic!("schema compiles: {error}"))
}

/// Why `instance` does not validate, one line per error; empty if it does.
fn violations(validator: &Validator, instance: &Value) -> String {
    validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn toml_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", folder.display()))
        .map(|entry| entry.expect("readable folder entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    files
}

/// A file as an editor's TOML plugin sees it; not TOML when not UTF-8.
fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let source = String::from_utf8(bytes).map_err(|error| error.to_string())?;
    toml::from_str(&source).map_err(|error| error.to_string())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A scenario as its TOML text and as the JSON an editor validates.
fn scenario_text(scenario: &Value) -> String {
    toml::to_string(scenario).unwrap_or_else(|error| panic!("{scenario} as TOML: {error}"))
}

fn parser_accepts(scenario: &Value) -> Result<(), String> {
    let text = scenario_text(scenario);
    traverse_scenario::parse(Path::new("sample.toml"), &text)
        .map(drop)
        .map_err(|error| error.to_string())
}

fn one_hop(hop: Value) -> Value {
    json!({ "hops": [hop] })
}

/// `base` with `key` set to `value`.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut hop = base.clone();
    hop[key] = value;
    hop
}

fn keywords<K: Keyword>() -> Vec<Value> {
    K::KEYWORDS.iter().map(|(name, _)| json!(name)).collect()
}

/// The smallest hop of each kind the parser accepts.
fn base_hop(kind: &str) -> Value {
    match kind {
        "external" => json!({ "kind": kind, "preset": "nginx" }),
        _ => json!({ "kind": kind }),
    }
}

#[test]
fn published_schemas_are_current() {
    check_published("schemas/scenario.schema.json", &scenario_schema());
    check_published("schemas/tunnel.schema.json", &tunnel_schema());
}

#[test]
fn schemas_are_valid_draft_2020_12_with_an_id_and_a_title() {
    for schema in [scenario_schema(), tunnel_schema()] {
        if let Err(error) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{} is not a valid 2020-12 schema: {error}", schema["$id"]);
        }
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let id = schema["$id"].as_str().unwrap_or_default();
        assert!(
            id.starts_with("https://") && id.ends_with(".schema.json"),
            "an absolute $id: {id:?}"
        );
        assert!(schema["title"].is_string());
    }
}

#[test]
fn every_bundled_scenario_validates() {
    let scenarios = validator(&scenario_schema());
    let files = toml_files(&workspace().join("scenarios"));
    assert!(files.len() >= 20, "the bundled scenarios moved: {files:?}");
    let mut failures = String::new();
    for path in &files {
        let json = read_json(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let errors = violations(&scenarios, &json);
        if !errors.is_empty() {
            writeln!(failures, "{}: {errors}", path.display()).unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "the schema rejects bundled scenarios:\n{failures}"
    );
}

#[test]
fn every_tunnel_definition_validates() {
    let tunnels = validator(&tunnel_schema());
    let files = toml_files(&workspace().join("tunnels"));
    assert!(files.len() >= 3, "the example tunnels moved: {files:?}");
    for path in &files {
        traverse_scenario::load_tunnel(path).unwrap_or_else(|error| panic!("{error}"));
        let json = read_json(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let errors = violations(&tunnels, &json);
        assert!(errors.is_empty(), "{}: {errors}", path.display());
    }
}

/// Files of `tests/invalid` whose mistake is in the shape of the file: an
/// unknown key, a wrong type, a value outside a keyword's list, an unknown
/// kind or preset or placeholder, a bad duration, port or host. The schema
/// must reject each, so an editor shows it as it is typed.
const STRUCTURAL: &[&str] = &[
    "backend-bad-value",
    "client-proxy-auth-not-string",
    "client-unknown-key",
    "connect-proxy-auth-empty",
    "connect-proxy-auth-no-colon",
    "connect-proxy-masking-key",
    "connect-proxy-max-frame-size",
    "connect-proxy-port-as-string",
    "connect-proxy-port-too-large",
    "connect-proxy-port-twice",
    "connect-proxy-port-zero",
    "connect-proxy-ports-string",
    "connect-proxy-transparent-key",
    "connect-proxy-unknown-key",
    "duration-not-string",
    "duration-unknown-unit",
    "duration-without-unit",
    "expect-bad-value",
    "expect-not-table",
    "expect-value-not-string",
    "external-preset-and-command",
    "external-unknown-placeholder",
    "external-unknown-preset",
    "external-without-preset-or-command",
    "hop-name-escape-sequence",
    "hop-name-path",
    "hop-not-table",
    "hop-reserved-name",
    "hops-not-array",
    "hops-single-table",
    "kind-not-string",
    "legacy-forwarder-body-bad-value",
    "legacy-forwarder-body-typo",
    "legacy-forwarder-masking-bad-value",
    "legacy-forwarder-ports",
    "legacy-forwarder-read-timeout-no-unit",
    "missing-kind",
    "mode-bad-value",
    "name-empty",
    "name-absolute-path",
    "name-dot",
    "name-dot-dot",
    "name-escape-sequence",
    "name-html",
    "name-leading-dash",
    "name-newline",
    "name-nul",
    "name-parent-path",
    "name-space",
    "name-too-long",
    "origin-certificate-bad-value",
    "port-not-allowed",
    "port-twice",
    "ports-empty",
    "ports-not-array",
    "probe-idle-not-string",
    "probe-unknown-key",
    "tls-terminator-cache-key",
    "tls-terminator-masking-bad-value",
    "transparent-body-key",
    "transparent-cache-not-boolean",
    "transparent-http-version-2",
    "transparent-http-version-unquoted",
    "transparent-masking-bad-value",
    "transparent-terminator-key",
    "transparent-tls-bad-value",
    "transparent-upgrade-bad-value",
    "idle-counts-bad-value",
    "tls-terminator-vendor-bad-value",
    "transparent-websocket-allow-empty-host",
    "transparent-websocket-block-host-with-port",
    "transparent-websocket-block-not-array",
    "unknown-hop-key",
    "unknown-hop-kind",
    "unknown-top-level-key",
    "websocket-not-boolean",
    "tls-terminator-backend-http-bad-value",
    "tls-terminator-extended-connect-bad-value",
    "tls-terminator-http2-not-boolean",
    "weight-negative",
    "weight-string",
    "request-buffering-size",
    "response-buffering-bad-size",
    "response-buffering-unquoted",
    "legacy-forwarder-request-buffering",
];

/// Files whose every value is well-formed on its own: the mistake is a rule
/// across values (two hops with one name, an explicit proxy that is not
/// first, credentials for clients with no proxy, an option the rest of the
/// hop leaves without effect). Those rules are the parser's; the schema
/// accepts these files, and `traverse validate` rejects them.
const SEMANTIC: &[&str] = &[
    "client-proxy-auth-without-proxy",
    "connect-proxy-not-first",
    "external-explicit-not-first",
    "hop-name-is-another-default",
    "hop-names-duplicate",
    "tls-terminator-masking-in-tcp-mode",
    "idle-counts-without-idle-timeout",
    "legacy-forwarder-max-frame-size-zero",
    "tls-terminator-max-frame-size-without-websocket",
    "tls-terminator-read-timeout-in-tcp-mode",
    "tls-terminator-masking-without-websocket",
    "tls-terminator-undeclared-without-websocket",
    "transparent-cache-without-forward",
    "transparent-masking-over-http10",
    "response-buffering-too-large",
    "tls-terminator-request-buffering-in-tcp-mode",
    "tls-terminator-response-buffering-in-tcp-mode",
    "transparent-response-buffering-tls-passthrough",
    "x-accel-buffering-without-response-buffering",
    "tls-terminator-backend-http-without-http2",
    "tls-terminator-extended-connect-in-tcp-mode",
    "tls-terminator-extended-connect-with-http2-off",
    "tls-terminator-http2-in-tcp-mode",
    "tls-terminator-http2-without-443",
    "tls-terminator-translate-without-websocket",
    "transparent-extended-connect-without-http2",
    "transparent-http2-without-inspect",
    "transparent-translate-with-strip",
];

/// Files that are not TOML at all, so there is nothing for a schema to
/// see; the TOML parser (and an editor's) reports them.
const NOT_TOML: &[&str] = &[
    "legacy-forwarder-body-unquoted",
    "not-utf8",
    "syntax-duplicate-key",
    "syntax-missing-value",
    "syntax-unclosed-string",
    "syntax-unquoted-value",
];

#[test]
fn the_schema_rejects_exactly_the_structural_mistakes_of_the_invalid_corpus() {
    let scenarios = validator(&scenario_schema());
    let files = toml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid"));
    let stems: BTreeSet<String> = files.iter().map(|path| file_stem(path)).collect();
    let listed: BTreeSet<String> = [STRUCTURAL, SEMANTIC, NOT_TOML]
        .concat()
        .iter()
        .map(|stem| stem.to_string())
        .collect();
    assert_eq!(
        listed.len(),
        STRUCTURAL.len() + SEMANTIC.len() + NOT_TOML.len(),
        "a corpus file is listed twice"
    );
    let unlisted: Vec<_> = stems.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&stems).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "classify every file of tests/invalid as STRUCTURAL, SEMANTIC or NOT_TOML here; \
         not classified: {unlisted:?}; listed but not in the corpus: {missing:?}"
    );

    let mut failures = String::new();
    for path in &files {
        let stem = file_stem(path);
        let json = read_json(path);
        if NOT_TOML.contains(&stem.as_str()) {
            if json.is_ok() {
                writeln!(failures, "{stem}: listed as not TOML, but it parses").unwrap();
            }
            continue;
        }
        let Ok(json) = json else {
            writeln!(failures, "{stem}: not TOML, but listed as a schema case").unwrap();
            continue;
        };
        let errors = violations(&scenarios, &json);
        if STRUCTURAL.contains(&stem.as_str()) && errors.is_empty() {
            writeln!(failures, "{stem}: a structural mistake the schema accepts").unwrap();
        }
        if SEMANTIC.contains(&stem.as_str()) && !errors.is_empty() {
            writeln!(
                failures,
                "{stem}: a semantic mistake, but the schema rejects it: {errors}"
            )
            .unwrap();
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// The keys the parser allows in a table, from its error for an unknown
/// key: the one place its private lists are visible from outside.
fn parser_keys(scenario_or_tunnel: Result<(), String>) -> BTreeSet<String> {
    let message = scenario_or_tunnel.expect_err("an unknown key is an error");
    let (_, keys) = message
        .split_once("allowed keys: ")
        .unwrap_or_else(|| panic!("the error lists the allowed keys: {message}"));
    keys.split(", ").map(str::to_string).collect()
}

fn schema_keys(table: &Value) -> BTreeSet<String> {
    table["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("a table with properties: {table}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_table_takes_the_keys_the_parser_takes() {
    let schema = scenario_schema();
    let unknown = "zz_not_a_key";
    let mut tables: Vec<(String, Result<(), String>, &Value)> = vec![
        (
            "the scenario".to_string(),
            parser_accepts(&json!({ unknown: 1 })),
            &schema,
        ),
        (
            "[origin]".to_string(),
            parser_accepts(&json!({ "origin": { unknown: 1 } })),
            &schema["properties"]["origin"],
        ),
        (
            "[probe]".to_string(),
            parser_accepts(&json!({ "probe": { unknown: 1 } })),
            &schema["properties"]["probe"],
        ),
        (
            "[client]".to_string(),
            parser_accepts(&json!({ "client": { unknown: 1 } })),
            &schema["properties"]["client"],
        ),
    ];
    for kind in HopKind::ALL.iter().map(|info| info.name) {
        tables.push((
            format!("{kind} hops"),
            parser_accepts(&one_hop(with(&base_hop(kind), unknown, json!(1)))),
            &schema["$defs"][kind],
        ));
    }
    let tunnel_schema = tunnel_schema();
    let tunnel = "transport = \"tls\"\nserver = [\"s\"]\nclient = [\"c\"]\nzz_not_a_key = 1\n";
    tables.push((
        "tunnel definitions".to_string(),
        traverse_scenario::parse_tunnel(Path::new("t.toml"), tunnel)
            .map(drop)
            .map_err(|error| error.to_string()),
        &tunnel_schema,
    ));
    for (what, parsed, table) in tables {
        assert_eq!(
            schema_keys(table),
            parser_keys(parsed),
            "the schema's keys for {what} differ from the parser's: add or remove them in \
             crates/traverse-scenario/src/schema.rs"
        );
    }
    let kinds: Vec<&str> = HopKind::ALL.iter().map(|info| info.name).collect();
    assert_eq!(
        schema["$defs"]["hop"]["properties"]["kind"]["enum"],
        json!(kinds)
    );
}

/// Hops and scenarios the parser accepts, covering every key, every keyword
/// value, every preset and the edges of each type.
fn accepted_samples() -> Vec<Value> {
    let mut hops = Vec::new();
    let durations = ["100s", "250ms", "1.5s", "1m30s", " 2h ", ".5s"];
    for kind in HopKind::ALL.iter().map(|info| info.name) {
        let base = base_hop(kind);
        hops.push(base.clone());
        for name in ["lb", "my-lb", "f5.edge", "clients", "ws+lb=2"] {
            hops.push(with(&base, "name", json!(name)));
        }
        if kind != "external" {
            for duration in durations {
                hops.push(with(&base, "idle_timeout", json!(duration)));
            }
        }
    }
    let terminator = base_hop("tls-terminator");
    let websocket = with(&terminator, "websocket", json!(true));
    for mode in keywords::<TerminatorMode>() {
        hops.push(with(&terminator, "mode", mode));
    }
    for backend in keywords::<Backend>() {
        hops.push(with(&terminator, "backend", backend));
    }
    for masking in keywords::<Masking>() {
        hops.push(with(&websocket, "masking", masking));
    }
    for undeclared in keywords::<UndeclaredBytes>() {
        hops.push(with(&websocket, "undeclared_bytes", undeclared));
    }
    let ports = [
        json!([443]),
        json!([80]),
        json!([443, 80]),
        json!([80, 443]),
    ];
    for ports in &ports {
        hops.push(with(&terminator, "ports", ports.clone()));
        hops.push(with(&base_hop("transparent"), "ports", ports.clone()));
        hops.push(with(&base_hop("external"), "ports", ports.clone()));
    }
    hops.push(with(&terminator, "websocket", json!(false)));

    let transparent = base_hop("transparent");
    let forward = with(&transparent, "upgrade", json!("forward"));
    for upgrade in keywords::<UpgradePolicy>() {
        hops.push(with(&transparent, "upgrade", upgrade));
    }
    for tls in keywords::<TlsPolicy>() {
        hops.push(with(&transparent, "tls", tls));
    }
    for version in keywords::<HttpVersion>() {
        hops.push(with(&transparent, "http_version", version));
    }
    for masking in keywords::<Masking>() {
        hops.push(with(&forward, "masking", masking));
    }
    for undeclared in keywords::<UndeclaredBytes>() {
        hops.push(with(&forward, "undeclared_bytes", undeclared));
    }
    for cache in [true, false] {
        hops.push(with(&forward, "cache", json!(cache)));
    }
    for hosts in [
        json!([]),
        json!(["origin.test"]),
        json!([" Origin.Test ", "a\tb"]),
    ] {
        hops.push(with(&transparent, "websocket_allow", hosts.clone()));
        hops.push(with(&transparent, "websocket_block", hosts));
    }

    let proxy = base_hop("connect-proxy");
    for ports in [json!([]), json!([443]), json!([1, 65535]), json!([443, 80])] {
        hops.push(with(&proxy, "allowed_ports", ports));
    }
    for auth in ["alice:wonderland", "a:", "a:b:c"] {
        hops.push(with(&proxy, "auth", json!(auth)));
    }

    let forwarder = base_hop("legacy-forwarder");
    for body in keywords::<BodyPolicy>() {
        hops.push(with(&forwarder, "body", body));
    }
    for masking in keywords::<Masking>() {
        hops.push(with(&forwarder, "masking", masking));
    }
    for duration in durations {
        hops.push(with(&forwarder, "read_timeout", json!(duration)));
    }

    let external = base_hop("external");
    for preset in preset_names() {
        hops.push(with(&external, "preset", json!(preset)));
    }
    for explicit in [true, false] {
        hops.push(with(&external, "explicit", json!(explicit)));
    }
    hops.push(with(&external, "ready_timeout", json!("30s")));
    let own = json!({
        "kind": "external",
        "command": ["nginx", "-p", "{dir}", "-c", "{config}"],
        "config": "events { worker_connections 64; }\nhttp { server { listen {listen_80}; \
                   location / { proxy_pass http://{upstream_80}; set $x {}; } } }\n",
    });
    hops.push(own.clone());
    hops.push(with(&own, "explicit", json!(true)));
    hops.push(with(&own, "config", json!("{{dir}} { dir } {a-b} {}")));

    let mut scenarios: Vec<Value> = hops.into_iter().map(one_hop).collect();
    scenarios.push(json!({}));
    scenarios.push(json!({ "name": "x", "description": "", "weight": 0 }));
    scenarios.push(json!({ "weight": 2.5, "hops": [] }));
    for certificate in keywords::<OriginCertificate>() {
        scenarios.push(json!({ "origin": { "certificate": certificate } }));
    }
    scenarios.push(json!({ "probe": { "idle": "120s" } }));
    for proxy_auth in ["", "alice:wrong"] {
        scenarios.push(json!({
            "hops": [{ "kind": "connect-proxy", "auth": "alice:wonderland" }],
            "client": { "proxy_auth": proxy_auth },
        }));
    }
    for outcome in keywords::<Verdict>() {
        scenarios.push(json!({ "expect": { "ws": outcome.clone(), "my-tunnel": outcome } }));
    }
    scenarios
}

#[test]
fn the_schema_accepts_what_the_parser_accepts() {
    let schema = validator(&scenario_schema());
    let mut failures = String::new();
    for scenario in accepted_samples() {
        if let Err(error) = parser_accepts(&scenario) {
            writeln!(
                failures,
                "not a valid sample, the parser says {error}: {scenario}"
            )
            .unwrap();
            continue;
        }
        let errors = violations(&schema, &scenario);
        if !errors.is_empty() {
            writeln!(failures, "{scenario}: {errors}").unwrap();
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// For every option of every kind, a value of the wrong shape: a word no
/// keyword list has, a duration without a unit, a string for a boolean or
/// an array. Parser and schema must both reject each.
#[test]
fn the_schema_rejects_wrong_values_of_every_option() {
    let schema = scenario_schema();
    let validator = validator(&schema);
    let mut failures = String::new();
    for kind in HopKind::ALL.iter().map(|info| info.name) {
        let base = base_hop(kind);
        let mut wrong = vec![
            with(&base, "zz_not_a_key", json!(true)),
            with(&base, "name", json!("")),
            with(&base, "name", json!("origin")),
            with(&base, "name", json!("my lb")),
            with(&base, "name", json!("../f5")),
            with(&base, "name", json!("f5\u{1b}[2J")),
            with(&base, "kind", json!("zz-not-a-kind")),
        ];
        for (key, option) in schema["$defs"][kind]["properties"]
            .as_object()
            .expect("a kind's options")
        {
            if option.get("enum").is_some() {
                wrong.push(with(&base, key, json!("zz-not-a-keyword")));
            }
            if option["pattern"].as_str()
                == schema["properties"]["probe"]["properties"]["idle"]["pattern"].as_str()
            {
                wrong.push(with(&base, key, json!("60")));
                wrong.push(with(&base, key, json!(60)));
            }
            match option["type"].as_str() {
                Some("boolean") => wrong.push(with(&base, key, json!("yes"))),
                Some("array") => wrong.push(with(&base, key, json!("x"))),
                _ => {}
            }
        }
        for hop in wrong {
            let scenario = one_hop(hop);
            if parser_accepts(&scenario).is_ok() {
                writeln!(failures, "the parser accepts {scenario}").unwrap();
            }
            if validator.is_valid(&scenario) {
                writeln!(failures, "the schema accepts {scenario}").unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn the_duration_pattern_is_what_parse_duration_accepts() {
    let schema = validator(&scenario_schema());
    let samples = [
        "100s",
        "250ms",
        "1.5s",
        "2m",
        "1h",
        "1m30s",
        "1h2m3s4ms",
        " 5s ",
        ".5s",
        "5.s",
        "0s",
        "100",
        "60sec",
        "10 s",
        "",
        " ",
        "s",
        "1.2.3s",
        "1e3s",
        "-5s",
        "5S",
        "1ms30",
        "1.s.",
        "ms",
        "1sm",
    ];
    for text in samples {
        let scenario = json!({ "probe": { "idle": text } });
        assert_eq!(
            schema.is_valid(&scenario),
            parse_duration(text).is_ok(),
            "schema and parse_duration disagree on {text:?}"
        );
    }
}

#[test]
fn placeholders_are_checked_as_the_parser_checks_them() {
    let schema = validator(&tunnel_schema());
    let words = [
        "TCP-LISTEN:{listen_port},bind={listen_host}",
        "{connect}",
        "{ not a placeholder }",
        "{}",
        "{{listen}}",
        "a{b-c}",
        "}{",
        "{listen_prot}",
        "echo ${1}",
        "{upstream_80}",
        "{listen}{target}{zz}",
        "{é}",
        "{ab{listen}",
        "{ab{zz}",
        "{ab",
        "x{",
        "{{",
        "{listen}}",
        "{_}",
        "{listen-host}",
        "{LISTEN}",
    ];
    for word in words {
        let source =
            format!("transport = \"plain\"\nserver = [\"s\", {word:?}]\nclient = [\"c\"]\n");
        let parser = traverse_scenario::parse_tunnel(Path::new("t.toml"), &source);
        let json: Value = toml::from_str(&source).expect("TOML");
        assert_eq!(
            schema.is_valid(&json),
            parser.is_ok(),
            "schema and parser disagree on the word {word:?}: {parser:?}"
        );
    }
}

#[test]
fn the_editor_configuration_points_at_the_published_schemas() {
    let path = workspace().join(".taplo.toml");
    let config: Value = read_json(&path).unwrap_or_else(|error| panic!(".taplo.toml: {error}"));
    let rules = config["rule"].as_array().expect("[[rule]] tables");
    let schema_for = |folder: &str| {
        rules
            .iter()
            .find(|rule| {
                rule["include"].as_array().is_some_and(|globs| {
                    globs
                        .iter()
                        .any(|glob| glob.as_str().is_some_and(|glob| glob.starts_with(folder)))
                })
            })
            .and_then(|rule| rule["schema"]["path"].as_str())
            .unwrap_or_else(|| panic!(".taplo.toml has no schema rule for {folder}"))
            .to_string()
    };
    for (folder, schema) in [
        ("scenarios/", scenario_schema()),
        ("tunnels/", tunnel_schema()),
    ] {
        let published = workspace().join(schema_for(folder));
        let text = std::fs::read_to_string(&published)
            .unwrap_or_else(|error| panic!("{}: {error}", published.display()));
        let published: Value = serde_json::from_str(&text).expect("a published schema is JSON");
        assert_eq!(
            published["$id"], schema["$id"],
            "{folder} maps to the wrong schema"
        );
    }
}

fn parse_sample(scenario: &Value) -> traverse_scenario::Scenario {
    traverse_scenario::parse(Path::new("sample.toml"), &scenario_text(scenario))
        .unwrap_or_else(|error| panic!("{scenario}: {error}"))
}

/// Editors offer a schema's `default` as the value to write, so writing it
/// must change nothing: a file with the default reads as the file without.
#[test]
fn every_default_in_the_schemas_is_the_parsers_default() {
    let schema = scenario_schema();
    let mut checked = Vec::new();
    for kind in HopKind::ALL.iter().map(|info| info.name) {
        let base = base_hop(kind);
        let plain = parse_sample(&one_hop(base.clone()));
        for (key, option) in schema["$defs"][kind]["properties"]
            .as_object()
            .expect("a kind's options")
        {
            let Some(default) = option.get("default") else {
                continue;
            };
            let written = parse_sample(&one_hop(with(&base, key, default.clone())));
            assert_eq!(
                written.hops[0].kind, plain.hops[0].kind,
                "{kind} `{key} = {default}` is not the default"
            );
            checked.push(format!("{kind}.{key}"));
        }
    }
    let empty = parse_sample(&json!({}));
    let top = schema["properties"].as_object().expect("top-level keys");
    for (key, option) in top {
        if let Some(default) = option.get("default") {
            assert_eq!(parse_sample(&json!({ key: default })), empty, "`{key}`");
            checked.push(key.clone());
        }
        for (inner, option) in option["properties"].as_object().into_iter().flatten() {
            if let Some(default) = option.get("default") {
                let scenario = json!({ key: { inner: default } });
                assert_eq!(parse_sample(&scenario), empty, "[{key}] `{inner}`");
                checked.push(format!("{key}.{inner}"));
            }
        }
    }
    let tunnel = tunnel_schema();
    let minimal = "transport = \"tls\"\nserver = [\"s\"]\nclient = [\"c\"]\n";
    let parse_tunnel = |source: &str| {
        traverse_scenario::parse_tunnel(Path::new("t.toml"), source)
            .unwrap_or_else(|error| panic!("{source}: {error}"))
    };
    for (key, option) in tunnel["properties"].as_object().expect("tunnel keys") {
        if let Some(default) = option.get("default") {
            let written = format!("{minimal}{key} = {default}\n");
            assert_eq!(parse_tunnel(&written), parse_tunnel(minimal), "`{key}`");
            checked.push(format!("tunnel.{key}"));
        }
    }
    // The defaults the parser keeps in code rather than in the model.
    for expected in ["weight", "external.ready_timeout", "tunnel.ready_timeout"] {
        assert!(
            checked.iter().any(|key| key == expected),
            "{expected} has no default in the schema; checked {checked:?}"
        );
    }
}
