//! Valid scenarios, written inline, and the model they become.

use std::path::Path;
use std::time::Duration;

use traverse_scenario::{
    Backend, HopKind, Location, OriginCertificate, Outcome, Scenario, TerminatorMode, TlsTerminator,
};

fn parse(source: &str) -> Scenario {
    traverse_scenario::parse(Path::new("inline.toml"), source)
        .unwrap_or_else(|error| panic!("scenario should parse: {error}\n{source}"))
}

/// The options of the only hop, which must be a TLS terminator.
fn terminator(scenario: &Scenario, index: usize) -> &TlsTerminator {
    match &scenario.hops[index].kind {
        HopKind::TlsTerminator(options) => options,
    }
}

fn one_terminator(options: &str) -> TlsTerminator {
    let scenario = parse(&format!("[[hops]]\nkind = \"tls-terminator\"\n{options}\n"));
    assert_eq!(scenario.hops.len(), 1);
    terminator(&scenario, 0).clone()
}

#[test]
fn an_empty_file_is_a_direct_topology_with_every_default() {
    let scenario = parse("");
    assert_eq!(scenario.path, Path::new("inline.toml"));
    assert_eq!(scenario.name, "inline");
    assert_eq!(scenario.description, "");
    assert_eq!(scenario.weight, 1.0);
    assert!(scenario.hops.is_empty());
    assert_eq!(scenario.origin.certificate, OriginCertificate::Public);
    assert_eq!(scenario.probe.idle, None);
    assert!(scenario.expect.is_empty());
}

#[test]
fn the_default_name_is_the_file_stem() {
    let scenario =
        traverse_scenario::parse(Path::new("scenarios/cdn/cloudflare-flexible.toml"), "").unwrap();
    assert_eq!(scenario.name, "cloudflare-flexible");
}

#[test]
fn top_level_values_are_read() {
    let scenario = parse(
        r#"
name = "cloudflare-flexible"
description = "Cloudflare in Flexible mode"
weight = 2.5
"#,
    );
    assert_eq!(scenario.name, "cloudflare-flexible");
    assert_eq!(scenario.description, "Cloudflare in Flexible mode");
    assert_eq!(scenario.weight, 2.5);
}

#[test]
fn weight_may_be_an_integer_or_zero() {
    assert_eq!(parse("weight = 3").weight, 3.0);
    assert_eq!(parse("weight = 0").weight, 0.0);
}

#[test]
fn a_tls_terminator_has_its_defaults() {
    let options = one_terminator("");
    assert_eq!(options.mode, TerminatorMode::Http);
    assert!(!options.websocket);
    assert_eq!(options.backend, Backend::Tls);
    assert_eq!(options.ports, vec![443, 80]);
    assert_eq!(options.idle_timeout, None);
    assert_eq!(options, TlsTerminator::default());
}

#[test]
fn every_tls_terminator_option_is_read() {
    let options = one_terminator(
        r#"
mode = "tcp"
websocket = true
backend = "plain"
idle_timeout = "100s"
ports = [443]
"#,
    );
    assert_eq!(
        options,
        TlsTerminator {
            mode: TerminatorMode::Tcp,
            websocket: true,
            backend: Backend::Plain,
            idle_timeout: Some(Duration::from_secs(100)),
            ports: vec![443],
        }
    );
}

#[test]
fn every_value_of_each_keyword_is_accepted() {
    assert_eq!(one_terminator("mode = \"http\"").mode, TerminatorMode::Http);
    assert_eq!(one_terminator("mode = \"tcp\"").mode, TerminatorMode::Tcp);
    assert_eq!(
        one_terminator("backend = \"plain\"").backend,
        Backend::Plain
    );
    assert_eq!(one_terminator("backend = \"tls\"").backend, Backend::Tls);
    assert_eq!(
        one_terminator("backend = \"tls-verify\"").backend,
        Backend::TlsVerify
    );
    assert!(!one_terminator("websocket = false").websocket);
    assert!(one_terminator("websocket = true").websocket);
    assert_eq!(
        parse("[origin]\ncertificate = \"public\"")
            .origin
            .certificate,
        OriginCertificate::Public
    );
    assert_eq!(
        parse("[origin]\ncertificate = \"self-signed\"")
            .origin
            .certificate,
        OriginCertificate::SelfSigned
    );
}

#[test]
fn ports_keep_their_written_order() {
    assert_eq!(one_terminator("ports = [80]").ports, vec![80]);
    assert_eq!(one_terminator("ports = [80, 443]").ports, vec![80, 443]);
}

#[test]
fn durations_are_read_in_every_written_form() {
    let timeout = |text: &str| one_terminator(&format!("idle_timeout = \"{text}\"")).idle_timeout;
    assert_eq!(timeout("100s"), Some(Duration::from_secs(100)));
    assert_eq!(timeout("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(timeout("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(timeout("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(
        parse("[probe]\nidle = \"120s\"").probe.idle,
        Some(Duration::from_secs(120))
    );
}

#[test]
fn unnamed_hops_are_named_after_their_kind_and_position() {
    let scenario = parse(
        r#"
[[hops]]
kind = "tls-terminator"

[[hops]]
kind = "tls-terminator"
"#,
    );
    let names: Vec<&str> = scenario.hops.iter().map(|hop| hop.name.as_str()).collect();
    assert_eq!(names, ["tls-terminator-1", "tls-terminator-2"]);
}

#[test]
fn hop_names_are_kept_and_the_position_counts_every_hop() {
    let scenario = parse(
        r#"
[[hops]]
kind = "tls-terminator"
name = "cloudflare"

[[hops]]
kind = "tls-terminator"
"#,
    );
    let names: Vec<&str> = scenario.hops.iter().map(|hop| hop.name.as_str()).collect();
    assert_eq!(names, ["cloudflare", "tls-terminator-2"]);
}

#[test]
fn a_hop_may_take_its_own_default_name() {
    let scenario = parse("[[hops]]\nkind = \"tls-terminator\"\nname = \"tls-terminator-1\"\n");
    assert_eq!(scenario.hops[0].name, "tls-terminator-1");
}

#[test]
fn hops_remember_where_their_table_starts() {
    let scenario = parse(
        r#"name = "two"

[[hops]]
kind = "tls-terminator"

[[hops]]
kind = "tls-terminator"
"#,
    );
    let at = |index: usize| {
        let Location { line, column, .. } = scenario.hops[index].location.clone();
        (line, column)
    };
    assert_eq!(at(0), (3, 1));
    assert_eq!(at(1), (6, 1));
}

#[test]
fn hops_may_be_written_as_inline_tables() {
    let scenario = parse(r#"hops = [{ kind = "tls-terminator" }]"#);
    assert_eq!(scenario.hops.len(), 1);
    assert_eq!(scenario.hops[0].name, "tls-terminator-1");
    assert_eq!(scenario.hops[0].kind.kind_name(), "tls-terminator");
    assert_eq!(terminator(&scenario, 0), &TlsTerminator::default());

    let scenario = parse(
        r#"hops = [
    { kind = "tls-terminator", name = "cdn", websocket = true },
    { kind = "tls-terminator", mode = "tcp", ports = [443] },
]"#,
    );
    assert_eq!(scenario.hops[0].name, "cdn");
    assert!(terminator(&scenario, 0).websocket);
    assert_eq!(scenario.hops[1].name, "tls-terminator-2");
    assert_eq!(terminator(&scenario, 1).mode, TerminatorMode::Tcp);
    assert_eq!(terminator(&scenario, 1).ports, vec![443]);
}

#[test]
fn expectations_keep_file_order_and_their_lines() {
    let scenario = parse(
        r#"name = "cdn"

[expect]
wss = "pass"
https = "fail"
tcp = "fail"
"wss-pinned" = "pass"
"#,
    );
    let expect: Vec<(&str, Outcome, usize, usize)> = scenario
        .expect
        .iter()
        .map(|expectation| {
            (
                expectation.tunnel.as_str(),
                expectation.outcome,
                expectation.location.line,
                expectation.location.column,
            )
        })
        .collect();
    assert_eq!(
        expect,
        [
            ("wss", Outcome::Pass, 4, 1),
            ("https", Outcome::Fail, 5, 1),
            ("tcp", Outcome::Fail, 6, 1),
            ("wss-pinned", Outcome::Pass, 7, 1),
        ]
    );
    assert_eq!(scenario.expectation("https"), Some(Outcome::Fail));
    assert_eq!(scenario.expectation("wss-pinned"), Some(Outcome::Pass));
    assert_eq!(scenario.expectation("quic"), None);
    assert_eq!(Outcome::Pass.as_str(), "pass");
    assert_eq!(Outcome::Fail.as_str(), "fail");
}

#[test]
fn expectations_may_be_written_inline() {
    let scenario = parse(r#"expect = { wss = "pass", tcp = "fail" }"#);
    let tunnels: Vec<&str> = scenario
        .expect
        .iter()
        .map(|expectation| expectation.tunnel.as_str())
        .collect();
    assert_eq!(tunnels, ["wss", "tcp"]);
}

#[test]
fn comments_are_allowed_everywhere() {
    let scenario = parse(
        r#"# Cloudflare in front of the origin.
name = "cloudflare" # the customer's CDN
description = "Cloudflare Flexible" # see their docs

# The edge.
[[hops]] # one hop
# what it is
kind = "tls-terminator" # L7
websocket = true # needs the toggle in the dashboard
idle_timeout = "100s" # WebSockets idle out
ports = [ # listeners
    443, # TLS
    80,  # plain
] # end of ports

[origin] # the far end
certificate = "public" # from the run's CA

[probe]
# no options yet
idle = "120s" # longer than the edge allows

[expect] # verdicts
wss = "fail" # cut while idle
# tcp is not listed
"#,
    );
    assert_eq!(scenario.name, "cloudflare");
    assert_eq!(scenario.description, "Cloudflare Flexible");
    let options = terminator(&scenario, 0);
    assert!(options.websocket);
    assert_eq!(options.idle_timeout, Some(Duration::from_secs(100)));
    assert_eq!(options.ports, vec![443, 80]);
    assert_eq!(scenario.origin.certificate, OriginCertificate::Public);
    assert_eq!(scenario.probe.idle, Some(Duration::from_secs(120)));
    assert_eq!(scenario.expectation("wss"), Some(Outcome::Fail));
    assert_eq!(scenario.expect.len(), 1);
}

#[test]
fn windows_line_endings_are_fine() {
    let scenario =
        parse("name = \"crlf\"\r\n[[hops]]\r\nkind = \"tls-terminator\"\r\nmode = \"tcp\"\r\n");
    assert_eq!(scenario.name, "crlf");
    assert_eq!(terminator(&scenario, 0).mode, TerminatorMode::Tcp);
}

#[test]
fn a_full_scenario_reads_into_the_expected_model() {
    let scenario = parse(
        r#"
name = "cloudflare-full-strict"
description = "Cloudflare Full (strict) with WebSockets on"
weight = 4

[[hops]]
kind = "tls-terminator"
name = "cloudflare"
websocket = true
backend = "tls-verify"
idle_timeout = "100s"

[[hops]]
kind = "tls-terminator"
name = "alb"
mode = "tcp"
backend = "plain"
ports = [443]

[origin]
certificate = "self-signed"

[expect]
wss = "fail"
"#,
    );
    assert_eq!(scenario.weight, 4.0);
    assert_eq!(scenario.hops.len(), 2);
    assert_eq!(
        terminator(&scenario, 0),
        &TlsTerminator {
            mode: TerminatorMode::Http,
            websocket: true,
            backend: Backend::TlsVerify,
            idle_timeout: Some(Duration::from_secs(100)),
            ports: vec![443, 80],
        }
    );
    assert_eq!(
        scenario.hops[0].kind.idle_timeout(),
        Some(Duration::from_secs(100))
    );
    assert_eq!(
        terminator(&scenario, 1),
        &TlsTerminator {
            mode: TerminatorMode::Tcp,
            websocket: false,
            backend: Backend::Plain,
            idle_timeout: None,
            ports: vec![443],
        }
    );
    assert_eq!(scenario.origin.certificate, OriginCertificate::SelfSigned);
    assert_eq!(scenario.expectation("wss"), Some(Outcome::Fail));
}
