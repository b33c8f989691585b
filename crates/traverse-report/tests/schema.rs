//! The JSON Schemas of what `traverse run --json` and `traverse compare
//! --json` write, generated from the types that are serialised (schemars),
//! published in `schemas/`, and held against documents those types really
//! produce: the schema must accept every results document, and reject one
//! that says something no run can say.

use std::collections::BTreeMap;
use std::path::Path;

use jsonschema::Validator;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};
use traverse_net::{Action, ConnRecord, Protocol};
use traverse_report::{CellResult, Comparison, Ranking, Report, compare, rank};
use traverse_runner::{Category, NodeLog, Verdict};

const UPDATE: &str = "TRAVERSE_UPDATE_SCHEMAS";

/// The draft-2020-12 schema of `T`, with the `$id` and title it is
/// published under.
fn schema_of<T: JsonSchema>(file: &str, title: &str) -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    schema["$id"] = json!(format!("{}/schemas/{file}", env!("CARGO_PKG_REPOSITORY")));
    schema["title"] = json!(title);
    schema
}

fn results_schema() -> Value {
    schema_of::<Report>("results.schema.json", "traverse results")
}

fn comparison_schema() -> Value {
    schema_of::<Comparison>("comparison.schema.json", "traverse comparison")
}

fn ranking_schema() -> Value {
    schema_of::<Ranking>("ranking.schema.json", "traverse ranking")
}

/// Compares a published schema with the one generated now; with
/// `TRAVERSE_UPDATE_SCHEMAS=1` it writes the fresh one instead.
fn check_published(file: &str, schema: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(file);
    let fresh = serde_json::to_string_pretty(schema).expect("a schema serialises") + "\n";
    if std::env::var(UPDATE).as_deref() == Ok("1") {
        std::fs::write(&path, &fresh)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        return;
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == fresh,
        "schemas/{file} is not what the result types generate now (stale or missing); \
         regenerate it with\n    {UPDATE}=1 cargo test -p traverse-report --test schema\n\
         and commit the result"
    );
}

fn validator(schema: &Value) -> Validator {
    jsonschema::draft202012::new(schema).unwrap_or_else(|error| panic!("schema compiles: {error}"))
}

fn violations(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

fn record(action: Action, status: Option<u16>, detail: &str) -> ConnRecord {
    ConnRecord {
        conn: 1,
        at_ms: 3,
        peer: "127.0.0.1:0".to_string(),
        port: 443,
        target: Some("origin.test:443".to_string()),
        protocol: Protocol::Websocket,
        action,
        status,
        detail: detail.to_string(),
        bytes_up: 156,
        bytes_down: 171,
        first_bytes: "47 45 54 20".to_string(),
        cache_poisoned: None,
        idle_timer: None,
        timer_wall_ms: None,
        websocket: None,
    }
}

fn cell(scenario: &str, tunnel: &str, verdict: Verdict) -> CellResult {
    CellResult {
        cell: 0,
        scenario: scenario.to_string(),
        tunnel: tunnel.to_string(),
        verdict,
        expected: None,
        category: None,
        status: None,
        blame: None,
        detail: String::new(),
        duration_ms: 12,
        weight: 3.0,
        poisonable: None,
        keepalives: None,
        transport: None,
        logs: Vec::new(),
        output: BTreeMap::new(),
    }
}

/// Cells that use every optional field both ways: a refusal with a hop's
/// log, a poisonable pass, an external tunnel's output, a harness failure.
fn cells() -> Vec<CellResult> {
    let cells = vec![
        CellResult {
            expected: Some(Verdict::Fail),
            category: Some(Category::Refused),
            status: Some(426),
            blame: Some("f5".to_string()),
            detail: "answered HTTP 426; f5: removed `Upgrade: websocket`".to_string(),
            logs: vec![
                NodeLog {
                    node: "f5".to_string(),
                    records: vec![record(Action::StrippedUpgrade, None, "removed Upgrade")],
                },
                NodeLog {
                    node: "origin".to_string(),
                    records: vec![record(Action::Responded, Some(426), "not a WebSocket")],
                },
            ],
            ..cell("f5-no-websocket-profile", "ws", Verdict::Fail)
        },
        CellResult {
            expected: Some(Verdict::Pass),
            poisonable: Some(true),
            detail: "poisonable: cache read bytes inside the tunnel as a request".to_string(),
            logs: vec![NodeLog {
                node: "cache".to_string(),
                records: vec![ConnRecord {
                    protocol: Protocol::Http,
                    target: None,
                    cache_poisoned: Some("http://victim.test/poison".to_string()),
                    idle_timer: None,
                    timer_wall_ms: None,
                    websocket: None,
                    ..record(Action::Upgraded, Some(101), "relayed the upgrade")
                }],
            }],
            ..cell("f5-no-websocket-profile", "wss", Verdict::Pass)
        },
        CellResult {
            category: Some(Category::Reset),
            blame: Some("client".to_string()),
            detail: "the tunnel closed during the 1 byte echo".to_string(),
            output: BTreeMap::from([(
                "tunnel client".to_string(),
                "connect: Connection refused\n".to_string(),
            )]),
            ..cell("direct", "socat-plain", Verdict::Fail)
        },
        CellResult {
            category: Some(Category::Harness),
            blame: Some("harness".to_string()),
            detail: "the tunnel server exited before listening".to_string(),
            weight: 0.0,
            poisonable: Some(false),
            ..cell("direct", "broken", Verdict::Fail)
        },
    ];
    cells
        .into_iter()
        .enumerate()
        .map(|(index, cell)| CellResult {
            cell: index,
            ..cell
        })
        .collect()
}

fn report() -> Report {
    let scenarios = [
        (
            "f5-no-websocket-profile.toml",
            "description = \"F5, no WebSocket profile\"\nweight = 3.0\n\
             [[hops]]\nkind = \"tls-terminator\"\nname = \"f5\"\n",
        ),
        ("direct.toml", "[origin]\ncertificate = \"self-signed\"\n"),
    ]
    .map(|(file, source)| {
        traverse_scenario::parse(Path::new(file), source)
            .unwrap_or_else(|error| panic!("fixture scenario: {error}"))
    });
    Report::new(cells(), 0.01).with_scenarios(&scenarios)
}

fn report_json() -> Value {
    serde_json::from_str(&report().to_json()).expect("to_json writes JSON")
}

#[test]
fn published_schemas_are_current() {
    check_published("results.schema.json", &results_schema());
    check_published("comparison.schema.json", &comparison_schema());
    check_published("ranking.schema.json", &ranking_schema());
}

#[test]
fn schemas_are_valid_draft_2020_12_with_an_id_and_a_title() {
    for schema in [results_schema(), comparison_schema(), ranking_schema()] {
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
fn a_results_document_validates() {
    let document = report_json();
    // The fixture must reach the parts of the schema that matter.
    assert_eq!(document["scenarios"][0]["hops"][0]["name"], "f5");
    assert!(document["cells"][2].get("output").is_some());
    assert!(
        document["cells"][1]["logs"][0]["records"][0]
            .get("cache_poisoned")
            .is_some()
    );
    let errors = violations(&validator(&results_schema()), &document);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Turns a valid results document into one no run writes.
type Breaks = fn(&mut Value);

#[test]
fn a_results_document_that_no_run_writes_does_not_validate() {
    let schema = validator(&results_schema());
    let broken: [(&str, Breaks); 9] = [
        ("a version this schema does not describe", |doc| {
            doc["version"] = json!(traverse_report::SCHEMA_VERSION + 1)
        }),
        ("a verdict that is not pass or fail", |doc| {
            doc["cells"][0]["verdict"] = json!("passed")
        }),
        ("an expectation that is not a verdict", |doc| {
            doc["cells"][0]["expected"] = json!("ok")
        }),
        ("an unknown category", |doc| {
            doc["cells"][0]["category"] = json!("refused-426")
        }),
        ("an unknown action", |doc| {
            doc["cells"][0]["logs"][0]["records"][0]["action"] = json!("stripped")
        }),
        ("an unknown protocol", |doc| {
            doc["cells"][0]["logs"][0]["records"][0]["protocol"] = json!("h2")
        }),
        ("a status beyond a u16", |doc| {
            doc["cells"][0]["status"] = json!(70_000)
        }),
        ("a cell without its tunnel", |doc| {
            doc["cells"][0]
                .as_object_mut()
                .expect("a cell")
                .remove("tunnel");
        }),
        ("a summary rate that is text", |doc| {
            doc["summary"]["tunnels"]["ws"]["success_rate"] = json!("100 %")
        }),
    ];
    for (what, breaks) in broken {
        let mut document = report_json();
        breaks(&mut document);
        assert!(
            !schema.is_valid(&document),
            "the results schema accepts {what}"
        );
    }
}

#[test]
fn the_results_schema_lists_every_verdict_category_action_and_protocol() {
    // Each enum as the JSON spells it, from the types themselves; the
    // schema must accept every one (a variant the schema misspelled or
    // lacked would fail here, not in a consumer's validator).
    let schema = validator(&results_schema());
    let categories = [
        Category::Refused,
        Category::Tls,
        Category::Reset,
        Category::Timeout,
        Category::Corrupt,
        Category::IdleCut,
        Category::Blocked,
        Category::Harness,
    ];
    for category in categories {
        let mut document = report_json();
        document["cells"][0]["category"] = serde_json::to_value(category).expect("serialises");
        assert!(schema.is_valid(&document), "{category:?}");
    }
    let actions = [
        Action::Open,
        Action::Forwarded,
        Action::Upgraded,
        Action::StrippedUpgrade,
        Action::StrippedHeaders,
        Action::Responded,
        Action::Blocked,
        Action::IdleCut,
        Action::TlsRejected,
        Action::TlsFailed,
        Action::UpstreamFailed,
        Action::ProtocolError,
        Action::Holding,
        Action::DroppedBytes,
        Action::Buffered,
    ];
    for action in actions {
        let mut document = report_json();
        document["cells"][0]["logs"][0]["records"][0]["action"] =
            serde_json::to_value(action).expect("serialises");
        assert!(schema.is_valid(&document), "{action:?}");
    }
    let protocols = [
        Protocol::Unknown,
        Protocol::Http,
        Protocol::Websocket,
        Protocol::WebsocketTls,
        Protocol::TlsOpaque,
    ];
    for protocol in protocols {
        let mut document = report_json();
        document["cells"][0]["logs"][0]["records"][0]["protocol"] =
            serde_json::to_value(protocol).expect("serialises");
        assert!(schema.is_valid(&document), "{protocol:?}");
    }
}

#[test]
fn a_comparison_document_validates() {
    let old = report();
    let mut new = report();
    new.cells[1].verdict = Verdict::Fail;
    new.cells[1].category = Some(Category::Timeout);
    new.cells[2].verdict = Verdict::Pass;
    new.cells.pop();
    let comparison = compare(&old, &new);
    assert!(comparison.has_regressions());
    let document = serde_json::to_value(&comparison).expect("serialises");
    let schema = validator(&comparison_schema());
    let errors = violations(&schema, &document);
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = document.clone();
    broken["regressions"][0]
        .as_object_mut()
        .expect("a change")
        .remove("scenario");
    assert!(
        !schema.is_valid(&broken),
        "a regression without its scenario"
    );
}

#[test]
fn a_ranking_document_validates() {
    let ranking = rank(&report());
    assert_eq!(ranking.tunnels[0].rank, 1);
    let document = serde_json::to_value(&ranking).expect("serialises");
    let schema = validator(&ranking_schema());
    let errors = violations(&schema, &document);
    assert!(errors.is_empty(), "{errors:#?}");
    // The rates sit beside the rank and the name, as in the results' summary.
    assert!(document["tunnels"][0]["weighted_success_rate"].is_number());
    let mut broken = document.clone();
    broken["tunnels"][0]["rank"] = json!("first");
    assert!(!schema.is_valid(&broken), "a rank that is not a number");
}
