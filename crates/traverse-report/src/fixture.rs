//! A fixed result set for the renderers' tests: two scenarios × three
//! tunnels with every kind of cell a report has to show, and the
//! scenarios' paths. Every renderer's snapshot is taken of it, so a
//! change here shows in all of them at once.

use std::collections::BTreeMap;

use traverse_net::{Action, ConnRecord, Protocol};
use traverse_runner::{Category, CellResult, NodeLog, Verdict};

use crate::{PathHop, Report, ScenarioPath};

fn record(conn: u64, action: Action, status: Option<u16>, detail: &str) -> ConnRecord {
    ConnRecord {
        conn,
        at_ms: 3,
        peer: "127.0.0.1:0".to_string(),
        port: 80,
        target: Some("origin:80".to_string()),
        protocol: Protocol::Http,
        action,
        status,
        detail: detail.to_string(),
        bytes_up: 210,
        bytes_down: 96,
        first_bytes: "474554".to_string(),
        cache_poisoned: None,
        idle_timer: None,
        timer_wall_ms: None,
        websocket: None,
    }
}

fn cell(scenario: &str, tunnel: &str, verdict: Verdict, expected: Option<Verdict>) -> CellResult {
    CellResult {
        cell: 0,
        scenario: scenario.to_string(),
        tunnel: tunnel.to_string(),
        verdict,
        expected,
        category: None,
        status: None,
        blame: None,
        detail: String::new(),
        duration_ms: 100,
        weight: if scenario == "corp-f5" { 3.0 } else { 1.0 },
        poisonable: None,
        keepalives: None,
        transport: None,
        logs: Vec::new(),
        output: BTreeMap::new(),
    }
}

pub(crate) fn cells() -> Vec<CellResult> {
    use Verdict::{Fail, Pass};
    vec![
        // Fails as expected, refused by a hop whose log says why.
        CellResult {
            category: Some(Category::Refused),
            status: Some(400),
            blame: Some("f5".to_string()),
            detail: "answered HTTP 400; f5: removed Upgrade | Connection".to_string(),
            duration_ms: 412,
            logs: vec![
                NodeLog {
                    node: "f5".to_string(),
                    records: vec![record(
                        1,
                        Action::StrippedUpgrade,
                        Some(400),
                        "removed Upgrade | Connection",
                    )],
                },
                NodeLog {
                    node: "origin".to_string(),
                    records: vec![record(1, Action::Responded, Some(400), "not a WebSocket")],
                },
            ],
            ..cell("corp-f5", "ws", Fail, Some(Fail))
        },
        // Passes, but a caching hop could be poisoned through it.
        CellResult {
            duration_ms: 1250,
            poisonable: Some(true),
            ..cell("corp-f5", "connect", Pass, Some(Pass))
        },
        // Fails where the scenario expects a pass, with tunnel output.
        CellResult {
            category: Some(Category::Reset),
            blame: Some("client".to_string()),
            detail: "connection reset after 3 echoes".to_string(),
            duration_ms: 2003,
            output: BTreeMap::from([(
                "client".to_string(),
                "dialing f5:443\nread: connection reset by peer\n".to_string(),
            )]),
            ..cell("corp-f5", "h2", Fail, Some(Pass))
        },
        // Passes where the scenario expects a failure.
        CellResult {
            duration_ms: 98,
            poisonable: Some(false),
            ..cell("cloudflare-idle", "ws", Pass, Some(Fail))
        },
        // A plain pass.
        CellResult {
            duration_ms: 87,
            ..cell("cloudflare-idle", "connect", Pass, Some(Pass))
        },
        // Fails with no expectation to judge it by.
        CellResult {
            category: Some(Category::IdleCut),
            blame: Some("cloudflare".to_string()),
            detail: "closed after 100s idle; cloudflare: cut after 100s".to_string(),
            duration_ms: 1001,
            ..cell("cloudflare-idle", "h2", Fail, None)
        },
    ]
}

pub(crate) fn report() -> Report {
    let cells = cells()
        .into_iter()
        .enumerate()
        .map(|(index, cell)| CellResult {
            cell: index,
            ..cell
        })
        .collect();
    let mut report = Report::new(cells, 0.01);
    report.scenarios = vec![
        ScenarioPath {
            name: "corp-f5".to_string(),
            description: "F5 BIG-IP without a WebSocket profile".to_string(),
            weight: 3.0,
            client: Vec::new(),
            hops: vec![PathHop {
                name: "f5".to_string(),
                kind: "tls-terminator".to_string(),
                settings: vec![
                    "mode = \"http\"".to_string(),
                    "websocket = false".to_string(),
                    "backend = \"tls\"".to_string(),
                ],
                explicit: false,
            }],
            origin_certificate: "public".to_string(),
        },
        ScenarioPath {
            name: "cloudflare-idle".to_string(),
            description: "Cloudflare cuts idle WebSockets after 100 s".to_string(),
            weight: 1.0,
            client: vec!["idle = \"120s\"".to_string()],
            hops: vec![PathHop {
                name: "cloudflare".to_string(),
                kind: "tls-terminator".to_string(),
                settings: vec!["idle_timeout = \"100s\"".to_string()],
                explicit: false,
            }],
            origin_certificate: "self-signed".to_string(),
        },
    ];
    report
}

/// A run as wide as the bundled one, for fitting a terminal: the
/// fixture's cells, a scenario with a long name, and more tunnels, the
/// last with a long parameterised name. Two cells are not as expected.
pub(crate) fn wide_cells() -> Vec<CellResult> {
    use Category::{IdleCut, Refused, Timeout, Tls};
    use Verdict::{Fail, Pass};
    let scenarios = [
        "corp-f5",
        "cloudflare-idle",
        "chain-stripping-proxy-to-lb-without-websocket",
    ];
    // Per tunnel: what each scenario's cell comes to, in that order.
    type Outcome = (Verdict, Option<(Category, Option<u16>)>, Option<Verdict>);
    let refused = |status| (Fail, Some((Refused, Some(status))), Some(Fail));
    let pass = (Pass, None, Some(Pass));
    let tunnels: [(&str, [Outcome; 3]); 7] = [
        ("tcp", [refused(400), refused(400), refused(400)]),
        ("tls", [(Fail, Some((Tls, None)), Some(Fail)), pass, pass]),
        (
            "wss",
            [
                pass,
                (Fail, Some((IdleCut, None)), Some(Fail)),
                refused(426),
            ],
        ),
        (
            "hixie76",
            [
                (Fail, Some((Timeout, Some(504))), Some(Fail)),
                (Fail, Some((Timeout, None)), Some(Fail)),
                refused(426),
            ],
        ),
        ("ws+ping=30s", [pass, pass, refused(426)]),
        (
            "wss+ping=30s",
            [pass, pass, (Fail, Some((Refused, Some(426))), Some(Pass))],
        ),
        (
            "ws+tcp-keepalive=30s",
            [
                pass,
                (Fail, Some((IdleCut, None)), Some(Fail)),
                refused(426),
            ],
        ),
    ];
    let mut wide = cells();
    wide.extend(["ws", "connect", "h2"].map(|tunnel| CellResult {
        ..cell(scenarios[2], tunnel, Pass, Some(Pass))
    }));
    for (tunnel, outcomes) in tunnels {
        for (scenario, (verdict, failure, expected)) in scenarios.iter().zip(outcomes) {
            let mut result = cell(scenario, tunnel, verdict, expected);
            if let Some((category, status)) = failure {
                result.category = Some(category);
                result.status = status;
                result.blame = Some("lb".to_string());
                result.detail = format!(
                    "the client saw {}; lb: the hop's own record",
                    category.as_str()
                );
            }
            wide.push(result);
        }
    }
    // Plan order: scenario by scenario.
    wide.sort_by_key(|cell| scenarios.iter().position(|name| *name == cell.scenario));
    wide
}
