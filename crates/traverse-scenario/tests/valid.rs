//! Valid scenarios, written inline, and the model they become.

use std::path::Path;
use std::time::Duration;

use traverse_scenario::{
    Backend, BackendHttp, BodyPolicy, Buffering, ClientSpec, ConnectProxy, Credentials,
    ExtendedConnect, HopKind, HttpVersion, IdleCounts, LegacyForwarder, Location, Masking,
    OriginCertificate, OriginFailure, RequestBuffering, ResponseBuffering, Scenario,
    TerminatorMode, TlsPolicy, TlsTerminator, Transparent, UndeclaredBytes, UpgradePolicy, Vendor,
    Verdict,
};

fn parse(source: &str) -> Scenario {
    traverse_scenario::parse(Path::new("inline.toml"), source)
        .unwrap_or_else(|error| panic!("scenario should parse: {error}\n{source}"))
}

/// The options of hop `index`, which must be a TLS terminator.
fn terminator(scenario: &Scenario, index: usize) -> &TlsTerminator {
    match &scenario.hops[index].kind {
        HopKind::TlsTerminator(options) => options,
        other => panic!("hop {index} should be a tls-terminator, found {other:?}"),
    }
}

fn one_terminator(options: &str) -> TlsTerminator {
    let scenario = parse(&format!("[[hops]]\nkind = \"tls-terminator\"\n{options}\n"));
    assert_eq!(scenario.hops.len(), 1);
    terminator(&scenario, 0).clone()
}

/// The options of hop `index`, which must be a transparent proxy.
fn transparent(scenario: &Scenario, index: usize) -> &Transparent {
    match &scenario.hops[index].kind {
        HopKind::Transparent(options) => options,
        other => panic!("hop {index} should be transparent, found {other:?}"),
    }
}

fn one_transparent(options: &str) -> Transparent {
    let scenario = parse(&format!("[[hops]]\nkind = \"transparent\"\n{options}\n"));
    assert_eq!(scenario.hops.len(), 1);
    transparent(&scenario, 0).clone()
}

/// The options of hop `index`, which must be a connect-proxy.
fn connect_proxy(scenario: &Scenario, index: usize) -> &ConnectProxy {
    match &scenario.hops[index].kind {
        HopKind::ConnectProxy(options) => options,
        other => panic!("hop {index} should be a connect-proxy, found {other:?}"),
    }
}

fn one_connect_proxy(options: &str) -> ConnectProxy {
    let scenario = parse(&format!("[[hops]]\nkind = \"connect-proxy\"\n{options}\n"));
    assert_eq!(scenario.hops.len(), 1);
    connect_proxy(&scenario, 0).clone()
}

/// The options of hop `index`, which must be a legacy-forwarder.
fn legacy_forwarder(scenario: &Scenario, index: usize) -> &LegacyForwarder {
    match &scenario.hops[index].kind {
        HopKind::LegacyForwarder(options) => options,
        other => panic!("hop {index} should be a legacy-forwarder, found {other:?}"),
    }
}

fn one_legacy_forwarder(options: &str) -> LegacyForwarder {
    let scenario = parse(&format!(
        "[[hops]]\nkind = \"legacy-forwarder\"\n{options}\n"
    ));
    assert_eq!(scenario.hops.len(), 1);
    legacy_forwarder(&scenario, 0).clone()
}

fn credentials(user: &str, password: &str) -> Credentials {
    Credentials {
        user: user.to_string(),
        password: password.to_string(),
    }
}

/// A scenario with a connect-proxy hop and the given `[client]` body.
fn client_with_proxy(client: &str) -> ClientSpec {
    parse(&format!(
        "[[hops]]\nkind = \"connect-proxy\"\nauth = \"alice:secret\"\n\n[client]\n{client}\n"
    ))
    .client
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
    assert_eq!(scenario.client, ClientSpec::default());
    assert_eq!(scenario.client.proxy_auth, None);
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
    assert_eq!(options.masking, Masking::Ignore);
    assert_eq!(options, TlsTerminator::default());
}

#[test]
fn every_tls_terminator_option_is_read() {
    let options = one_terminator(
        r#"
mode = "http"
websocket = true
backend = "plain"
idle_timeout = "100s"
ports = [443]
masking = "remask"
"#,
    );
    assert_eq!(
        options,
        TlsTerminator {
            mode: TerminatorMode::Http,
            websocket: true,
            backend: Backend::Plain,
            idle_timeout: Some(Duration::from_secs(100)),
            ports: vec![443],
            masking: Masking::Remask,
            undeclared_bytes: UndeclaredBytes::Hold,
            ..TlsTerminator::default()
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
    let expect: Vec<(&str, Verdict, usize, usize)> = scenario
        .expect
        .iter()
        .map(|expectation| {
            (
                expectation.tunnel.as_str(),
                expectation.verdict,
                expectation.location.line,
                expectation.location.column,
            )
        })
        .collect();
    assert_eq!(
        expect,
        [
            ("wss", Verdict::Pass, 4, 1),
            ("https", Verdict::Fail, 5, 1),
            ("tcp", Verdict::Fail, 6, 1),
            ("wss-pinned", Verdict::Pass, 7, 1),
        ]
    );
    assert_eq!(scenario.expectation("https"), Some(Verdict::Fail));
    assert_eq!(scenario.expectation("wss-pinned"), Some(Verdict::Pass));
    assert_eq!(scenario.expectation("quic"), None);
    assert_eq!(Verdict::Pass.as_str(), "pass");
    assert_eq!(Verdict::Fail.as_str(), "fail");
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
    assert_eq!(scenario.expectation("wss"), Some(Verdict::Fail));
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
            masking: Masking::Ignore,
            undeclared_bytes: UndeclaredBytes::Hold,
            ..TlsTerminator::default()
        }
    );
    assert_eq!(
        terminator(&scenario, 1),
        &TlsTerminator {
            mode: TerminatorMode::Tcp,
            websocket: false,
            backend: Backend::Plain,
            idle_timeout: None,
            ports: vec![443],
            masking: Masking::Ignore,
            undeclared_bytes: UndeclaredBytes::Hold,
            ..TlsTerminator::default()
        }
    );
    assert_eq!(scenario.origin.certificate, OriginCertificate::SelfSigned);
    assert_eq!(scenario.expectation("wss"), Some(Verdict::Fail));
}

#[test]
fn a_transparent_hop_has_its_defaults() {
    assert_eq!(
        Transparent::default(),
        Transparent {
            websocket_rules: Default::default(),
            upgrade: UpgradePolicy::Strip,
            tls: TlsPolicy::Passthrough,
            http_version: HttpVersion::Http11,
            idle_timeout: None,
            idle_counts: IdleCounts::Upstream,
            websocket_allow: Vec::new(),
            websocket_block: Vec::new(),
            ports: vec![443, 80],
            masking: Masking::Ignore,
            cache: false,
            undeclared_bytes: UndeclaredBytes::Hold,
            buffering: Buffering::default(),
            http2: false,
            backend_http: BackendHttp::Http1,
            extended_connect: ExtendedConnect::Refuse,
        }
    );
    assert_eq!(one_transparent(""), Transparent::default());
}

#[test]
fn every_transparent_option_is_read() {
    let options = one_transparent(
        r#"
upgrade = "forward"
tls = "inspect"
http_version = "1.1"
idle_timeout = "30s"
websocket_allow = ["origin.test", "api.example"]
websocket_block = ["ads.example"]
ports = [80]
masking = "require"
cache = true
response_buffering = "whole"
request_buffering = "whole"
http2 = true
backend_http = "http2"
extended_connect = "translate"
"#,
    );
    assert_eq!(
        options,
        Transparent {
            websocket_rules: Default::default(),
            upgrade: UpgradePolicy::Forward,
            tls: TlsPolicy::Inspect,
            http_version: HttpVersion::Http11,
            idle_timeout: Some(Duration::from_secs(30)),
            idle_counts: IdleCounts::Upstream,
            websocket_allow: vec!["origin.test".to_string(), "api.example".to_string()],
            websocket_block: vec!["ads.example".to_string()],
            ports: vec![80],
            masking: Masking::Require,
            cache: true,
            undeclared_bytes: UndeclaredBytes::Hold,
            buffering: Buffering {
                response: ResponseBuffering::Whole,
                request: RequestBuffering::Whole,
                x_accel: false,
            },
            http2: true,
            backend_http: BackendHttp::Http2,
            extended_connect: ExtendedConnect::Translate,
        }
    );
}

#[test]
fn http2_towards_clients_follows_the_vendor_unless_written() {
    let offers = |options: &str| one_terminator(options).offers_http2();
    assert!(offers("vendor = \"alb\""));
    assert!(offers("vendor = \"cloudflare\""));
    assert!(!offers(""));
    assert!(!offers("vendor = \"f5\""));
    assert!(offers("http2 = true"));
    assert!(!offers("vendor = \"alb\"\nhttp2 = false"));
    // Written or not, L4 offload and a hop without 443 have no h2 to offer.
    assert!(!offers("vendor = \"alb\"\nmode = \"tcp\""));
    assert!(!offers("vendor = \"alb\"\nports = [80]"));
    assert_eq!(one_terminator("").http2, None);
    assert_eq!(one_terminator("http2 = false").http2, Some(false));
}

#[test]
fn the_backend_http_version_follows_the_vendor_unless_written() {
    let version = |options: &str| one_terminator(options).backend_http_version();
    assert_eq!(version("vendor = \"alb\""), BackendHttp::Http1);
    assert_eq!(version("vendor = \"cloudflare\""), BackendHttp::Http2);
    assert_eq!(
        version("vendor = \"cloudflare\"\nbackend = \"tls-verify\""),
        BackendHttp::Http2
    );
    // Cloudflare negotiates HTTP/2 by ALPN, which a Flexible origin lacks.
    assert_eq!(
        version("vendor = \"cloudflare\"\nbackend = \"plain\""),
        BackendHttp::Http1
    );
    assert_eq!(
        version("vendor = \"alb\"\nbackend_http = \"http2\""),
        BackendHttp::Http2
    );
    assert_eq!(
        version("vendor = \"cloudflare\"\nbackend_http = \"http1\""),
        BackendHttp::Http1
    );
    assert_eq!(version("http2 = true"), BackendHttp::Http1);
}

#[test]
fn extended_connect_is_refused_unless_told_to_translate() {
    assert_eq!(one_terminator("").extended_connect, ExtendedConnect::Refuse);
    assert_eq!(
        one_terminator("vendor = \"alb\"").extended_connect,
        ExtendedConnect::Refuse
    );
    assert_eq!(
        one_terminator("http2 = true\nwebsocket = true\nextended_connect = \"translate\"")
            .extended_connect,
        ExtendedConnect::Translate
    );
    assert_eq!(
        one_terminator("vendor = \"alb\"\nextended_connect = \"refuse\"").extended_connect,
        ExtendedConnect::Refuse
    );
    assert_eq!(
        one_transparent("tls = \"inspect\"\nupgrade = \"forward\"\nhttp2 = true\nextended_connect = \"translate\"")
            .extended_connect,
        ExtendedConnect::Translate
    );
}

#[test]
fn every_value_of_each_transparent_keyword_is_accepted() {
    let upgrade = |text: &str| one_transparent(&format!("upgrade = \"{text}\"")).upgrade;
    assert_eq!(upgrade("forward"), UpgradePolicy::Forward);
    assert_eq!(upgrade("strip"), UpgradePolicy::Strip);
    assert_eq!(upgrade("reject"), UpgradePolicy::Reject);
    let tls = |text: &str| one_transparent(&format!("tls = \"{text}\"")).tls;
    assert_eq!(tls("passthrough"), TlsPolicy::Passthrough);
    assert_eq!(tls("inspect"), TlsPolicy::Inspect);
    assert_eq!(tls("block"), TlsPolicy::Block);
    let version = |text: &str| one_transparent(&format!("http_version = \"{text}\"")).http_version;
    assert_eq!(version("1.0"), HttpVersion::Http10);
    assert_eq!(version("1.1"), HttpVersion::Http11);
    assert_eq!(one_transparent("ports = [443]").ports, vec![443]);
    assert_eq!(one_transparent("ports = [80, 443]").ports, vec![80, 443]);
}

#[test]
fn host_names_are_lowercased_and_trimmed_in_written_order() {
    let options = one_transparent(
        r#"
websocket_allow = [" Origin.TEST ", "API.Example.com", "origin.test"]
websocket_block = ["\tAds.Example"]
"#,
    );
    assert_eq!(
        options.websocket_allow,
        ["origin.test", "api.example.com", "origin.test"]
    );
    assert_eq!(options.websocket_block, ["ads.example"]);
    // An empty array is the same as leaving the key out.
    assert!(
        one_transparent("websocket_allow = []")
            .websocket_allow
            .is_empty()
    );
}

#[test]
fn a_connect_proxy_has_its_defaults() {
    assert_eq!(
        ConnectProxy::default(),
        ConnectProxy {
            allowed_ports: vec![443],
            auth: None,
            idle_timeout: None,
            idle_counts: IdleCounts::Upstream,
            buffering: Buffering::default(),
        }
    );
    assert_eq!(one_connect_proxy(""), ConnectProxy::default());
}

#[test]
fn every_connect_proxy_option_is_read() {
    let options = one_connect_proxy(
        r#"
allowed_ports = [8443, 443, 1, 65535]
auth = "alice:secret"
idle_timeout = "5m"
response_buffering = "16k"
"#,
    );
    assert_eq!(
        options,
        ConnectProxy {
            allowed_ports: vec![8443, 443, 1, 65535],
            auth: Some(credentials("alice", "secret")),
            idle_timeout: Some(Duration::from_secs(300)),
            idle_counts: IdleCounts::Upstream,
            buffering: Buffering {
                response: ResponseBuffering::Buffers(16 * 1024),
                request: RequestBuffering::Off,
                x_accel: true,
            },
        }
    );
}

#[test]
fn buffering_reads_off_whole_and_sizes_as_nginx_writes_them() {
    let response = |text: &str| {
        one_terminator(&format!("response_buffering = \"{text}\""))
            .buffering
            .response
    };
    assert_eq!(response("off"), ResponseBuffering::Off);
    assert_eq!(response("whole"), ResponseBuffering::Whole);
    assert_eq!(response("4096"), ResponseBuffering::Buffers(4096));
    assert_eq!(response("8k"), ResponseBuffering::Buffers(8 * 1024));
    assert_eq!(response("64K"), ResponseBuffering::Buffers(64 * 1024));
    assert_eq!(response("1m"), ResponseBuffering::Buffers(1024 * 1024));
    let request = |text: &str| {
        one_terminator(&format!("request_buffering = \"{text}\""))
            .buffering
            .request
    };
    assert_eq!(request("off"), RequestBuffering::Off);
    assert_eq!(request("whole"), RequestBuffering::Whole);
    assert_eq!(TlsTerminator::default().buffering, Buffering::default());
}

#[test]
fn x_accel_buffering_is_honoured_by_nginx_sized_buffers_and_not_by_a_scanning_gateway() {
    let accel = |options: &str| one_terminator(options).buffering.x_accel;
    assert!(accel("response_buffering = \"8k\""));
    assert!(!accel("response_buffering = \"whole\""));
    assert!(accel(
        "response_buffering = \"whole\"\nx_accel_buffering = true"
    ));
    assert!(!accel(
        "response_buffering = \"8k\"\nx_accel_buffering = false"
    ));
}

#[test]
fn buffering_acts_on_a_transparent_hop_wherever_it_reads_http() {
    let buffered = |options: &str| one_transparent(options).buffering.response;
    assert_eq!(
        buffered("ports = [80]\nresponse_buffering = \"whole\""),
        ResponseBuffering::Whole
    );
    assert_eq!(
        buffered("ports = [443]\ntls = \"inspect\"\nresponse_buffering = \"8k\""),
        ResponseBuffering::Buffers(8 * 1024)
    );
}

#[test]
fn buffering_settings_are_written_back_where_they_differ() {
    let settings = |options: &str| {
        let scenario = parse(&format!("[[hops]]\nkind = \"tls-terminator\"\n{options}\n"));
        scenario.hops[0].kind.settings()
    };
    let written = settings("response_buffering = \"8k\"\nrequest_buffering = \"whole\"");
    assert!(
        written.contains(&"response_buffering = \"8k\"".to_string()),
        "{written:?}"
    );
    assert!(
        written.contains(&"request_buffering = \"whole\"".to_string()),
        "{written:?}"
    );
    assert!(
        !written.iter().any(|line| line.starts_with("x_accel")),
        "{written:?}"
    );
    let written = settings("response_buffering = \"whole\"\nx_accel_buffering = true");
    assert!(
        written.contains(&"x_accel_buffering = true".to_string()),
        "{written:?}"
    );
}

#[test]
fn credentials_split_at_the_first_colon() {
    // Basic auth user names cannot hold a colon; passwords can, or be empty.
    let auth = |text: &str| one_connect_proxy(&format!("auth = \"{text}\"")).auth;
    assert_eq!(
        auth("alice:s3:cr:et"),
        Some(credentials("alice", "s3:cr:et"))
    );
    assert_eq!(auth("alice:"), Some(credentials("alice", "")));
}

#[test]
fn client_proxy_auth_is_credentials_none_or_absent() {
    assert_eq!(
        client_with_proxy("proxy_auth = \"bob:hunter2\"").proxy_auth,
        Some(Some(credentials("bob", "hunter2")))
    );
    assert_eq!(
        client_with_proxy("proxy_auth = \"\"").proxy_auth,
        Some(None)
    );
    // An empty [client] table, like none at all, leaves the proxy's own.
    assert_eq!(client_with_proxy("").proxy_auth, None);
    assert_eq!(client_with_proxy(""), ClientSpec::default());
    assert_eq!(
        parse("[[hops]]\nkind = \"connect-proxy\"\n")
            .client
            .proxy_auth,
        None
    );
}

#[test]
fn idle_timeouts_of_every_kind_are_read() {
    let scenario = parse(
        r#"
[[hops]]
kind = "connect-proxy"
idle_timeout = "10s"

[[hops]]
kind = "transparent"
idle_timeout = "20s"

[[hops]]
kind = "tls-terminator"
idle_timeout = "30s"

[[hops]]
kind = "legacy-forwarder"
idle_timeout = "40s"
"#,
    );
    for (hop, seconds) in scenario.hops.iter().zip([10, 20, 30, 40]) {
        let written = format!("idle_timeout = \"{seconds}s\"");
        assert!(hop.kind.settings().contains(&written), "{}", hop.name);
    }
}

#[test]
fn a_proxy_chain_is_read_in_order_with_default_names() {
    let scenario = parse(
        r#"name = "corporate-chain"
description = "Squid, then a TLS-inspecting gateway, then Cloudflare"

[[hops]]
kind = "connect-proxy"
auth = "alice:secret"

[[hops]]
kind = "transparent"
tls = "inspect"
upgrade = "reject"

[[hops]]
kind = "tls-terminator"
websocket = true

[client]
proxy_auth = ""
"#,
    );
    let names: Vec<&str> = scenario.hops.iter().map(|hop| hop.name.as_str()).collect();
    assert_eq!(
        names,
        ["connect-proxy-1", "transparent-2", "tls-terminator-3"]
    );
    let kinds: Vec<&str> = scenario
        .hops
        .iter()
        .map(|hop| hop.kind.kind_name())
        .collect();
    assert_eq!(kinds, ["connect-proxy", "transparent", "tls-terminator"]);
    let explicit: Vec<bool> = scenario
        .hops
        .iter()
        .map(|hop| hop.kind.is_explicit_proxy())
        .collect();
    assert_eq!(explicit, [true, false, false]);
    let lines: Vec<usize> = scenario.hops.iter().map(|hop| hop.location.line).collect();
    assert_eq!(lines, [4, 8, 13]);

    assert_eq!(
        connect_proxy(&scenario, 0),
        &ConnectProxy {
            auth: Some(credentials("alice", "secret")),
            ..ConnectProxy::default()
        }
    );
    assert_eq!(
        transparent(&scenario, 1),
        &Transparent {
            tls: TlsPolicy::Inspect,
            upgrade: UpgradePolicy::Reject,
            ..Transparent::default()
        }
    );
    assert_eq!(
        terminator(&scenario, 2),
        &TlsTerminator {
            websocket: true,
            ..TlsTerminator::default()
        }
    );
    assert_eq!(scenario.client.proxy_auth, Some(None));
}

#[test]
fn every_listed_kind_can_be_written_and_names_itself() {
    let names: Vec<&str> = HopKind::ALL.iter().map(|info| info.name).collect();
    assert_eq!(
        names,
        [
            "tls-terminator",
            "transparent",
            "connect-proxy",
            "legacy-forwarder",
            "external"
        ]
    );
    for info in HopKind::ALL {
        let name = info.name;
        assert!(!info.summary.is_empty(), "{name}");
        // An external hop has nothing to run without a preset.
        let needs = if name == "external" {
            ", preset = \"nginx\""
        } else {
            ""
        };
        let scenario = parse(&format!("hops = [{{ kind = \"{name}\"{needs} }}]"));
        assert_eq!(scenario.hops[0].kind.kind_name(), name);
        assert_eq!(scenario.hops[0].name, format!("{name}-1"));
        assert_eq!(
            scenario.hops[0].kind.is_explicit_proxy(),
            name == "connect-proxy"
        );
    }
}

#[test]
fn a_legacy_forwarder_has_its_defaults() {
    assert_eq!(
        LegacyForwarder::default(),
        LegacyForwarder {
            websocket_rules: Default::default(),
            body: BodyPolicy::DeclaredOnly,
            masking: Masking::Ignore,
            idle_timeout: None,
            idle_counts: IdleCounts::Upstream,
            read_timeout: Duration::from_secs(60),
            buffering: Buffering::default(),
        }
    );
    assert_eq!(one_legacy_forwarder(""), LegacyForwarder::default());
}

#[test]
fn every_legacy_forwarder_option_is_read() {
    let options = one_legacy_forwarder(
        r#"
body = "hold-until-response"
masking = "require"
idle_timeout = "75s"
read_timeout = "30s"
response_buffering = "8k"
x_accel_buffering = false
"#,
    );
    assert_eq!(
        options,
        LegacyForwarder {
            websocket_rules: Default::default(),
            body: BodyPolicy::HoldUntilResponse,
            masking: Masking::Require,
            idle_timeout: Some(Duration::from_secs(75)),
            idle_counts: IdleCounts::Upstream,
            read_timeout: Duration::from_secs(30),
            buffering: Buffering {
                response: ResponseBuffering::Buffers(8 * 1024),
                request: RequestBuffering::Off,
                x_accel: false,
            },
        }
    );
}

#[test]
fn every_value_of_body_is_accepted() {
    let body = |text: &str| one_legacy_forwarder(&format!("body = \"{text}\"")).body;
    assert_eq!(body("declared-only"), BodyPolicy::DeclaredOnly);
    assert_eq!(body("hold-until-response"), BodyPolicy::HoldUntilResponse);
    assert_eq!(body("forward"), BodyPolicy::Forward);
}

#[test]
fn every_value_of_masking_is_accepted_on_each_kind_that_takes_it() {
    let values = [
        ("ignore", Masking::Ignore),
        ("require", Masking::Require),
        ("remask", Masking::Remask),
    ];
    for (text, expected) in values {
        let option = format!("masking = \"{text}\"");
        // Where frames get through for the rule to act on.
        let terminator = format!("websocket = true\n{option}");
        let transparent = format!("upgrade = \"forward\"\n{option}");
        assert_eq!(
            one_terminator(&terminator).masking,
            expected,
            "tls-terminator"
        );
        assert_eq!(
            one_transparent(&transparent).masking,
            expected,
            "transparent"
        );
        assert_eq!(
            one_legacy_forwarder(&option).masking,
            expected,
            "legacy-forwarder"
        );
    }
    // Left out, every kind relays frames as they are.
    assert_eq!(one_terminator("").masking, Masking::Ignore);
    assert_eq!(one_transparent("").masking, Masking::Ignore);
    assert_eq!(one_legacy_forwarder("").masking, Masking::Ignore);
}

#[test]
fn a_transparent_cache_is_read_and_off_by_default() {
    assert!(one_transparent("upgrade = \"forward\"\ncache = true").cache);
    assert!(!one_transparent("cache = false").cache);
    assert!(!one_transparent("").cache);
    assert_eq!(
        one_transparent("upgrade = \"forward\"\ncache = true"),
        Transparent {
            upgrade: UpgradePolicy::Forward,
            cache: true,
            ..Transparent::default()
        }
    );
}

#[test]
fn an_unnamed_legacy_forwarder_is_named_after_its_kind_and_position() {
    let scenario = parse("[[hops]]\nkind = \"legacy-forwarder\"\n");
    assert_eq!(scenario.hops[0].name, "legacy-forwarder-1");
    assert_eq!(scenario.hops[0].kind.kind_name(), "legacy-forwarder");
    assert!(!scenario.hops[0].kind.is_explicit_proxy());

    let scenario = parse(
        r#"
[[hops]]
kind = "tls-terminator"

[[hops]]
kind = "legacy-forwarder"
body = "forward"
"#,
    );
    let names: Vec<&str> = scenario.hops.iter().map(|hop| hop.name.as_str()).collect();
    assert_eq!(names, ["tls-terminator-1", "legacy-forwarder-2"]);
    assert_eq!(legacy_forwarder(&scenario, 1).body, BodyPolicy::Forward);
}

#[test]
fn a_hixie_era_chain_reads_into_the_expected_model() {
    let scenario = parse(
        r#"name = "isp-cache-then-haproxy"
description = "ISP cache on port 80, then HAProxy of 2010 in front of the origin"

[[hops]]
kind = "transparent"
name = "isp-cache"
upgrade = "forward"
ports = [80]
cache = true

[[hops]]
kind = "legacy-forwarder"
name = "haproxy"
body = "hold-until-response"
masking = "remask"
idle_timeout = "50s"

[expect]
ws = "fail"
"#,
    );
    assert_eq!(
        transparent(&scenario, 0),
        &Transparent {
            upgrade: UpgradePolicy::Forward,
            ports: vec![80],
            cache: true,
            ..Transparent::default()
        }
    );
    assert_eq!(
        legacy_forwarder(&scenario, 1),
        &LegacyForwarder {
            body: BodyPolicy::HoldUntilResponse,
            masking: Masking::Remask,
            idle_timeout: Some(Duration::from_secs(50)),
            idle_counts: IdleCounts::Upstream,
            ..LegacyForwarder::default()
        }
    );
    assert_eq!(scenario.hops[1].name, "haproxy");
    assert_eq!(scenario.hops[1].location.line, 11);
    assert_eq!(scenario.expectation("ws"), Some(Verdict::Fail));
}

#[test]
fn an_external_preset_fills_in_command_and_config() {
    let scenario =
        parse("[[hops]]\nkind = \"external\"\nname = \"nginx\"\npreset = \"nginx-websocket\"\n");
    let HopKind::External(external) = &scenario.hops[0].kind else {
        panic!("not external: {:?}", scenario.hops[0].kind);
    };
    assert_eq!(external.preset.as_deref(), Some("nginx-websocket"));
    assert_eq!(
        external.command,
        ["nginx", "-p", "{dir}", "-c", "{config}", "-e", "stderr"]
    );
    assert!(
        external
            .config
            .contains("proxy_set_header Upgrade $http_upgrade;")
    );
    assert!(external.config.contains("listen {listen_80};"));
    assert_eq!(external.ports, [80]);
}

#[test]
fn an_external_command_keeps_config_braces_that_are_not_placeholders() {
    let scenario = parse(
        "[[hops]]\nkind = \"external\"\ncommand = [\"nginx\", \"-c\", \"{config}\"]\n\
         config = \"events { worker_connections 64; }\"\nports = [80, 443]\n",
    );
    let HopKind::External(external) = &scenario.hops[0].kind else {
        panic!("not external");
    };
    assert_eq!(external.preset, None);
    assert_eq!(external.config, "events { worker_connections 64; }");
    assert_eq!(external.ports, [80, 443]);
}

#[test]
fn undeclared_bytes_are_held_unless_told_to_reject() {
    assert_eq!(one_terminator("").undeclared_bytes, UndeclaredBytes::Hold);
    // Where a WebSocket handshake is passed on for the rule to act on.
    assert_eq!(
        one_terminator("websocket = true\nundeclared_bytes = \"reject\"").undeclared_bytes,
        UndeclaredBytes::Reject
    );
    assert_eq!(
        one_transparent("upgrade = \"forward\"\nundeclared_bytes = \"reject\"").undeclared_bytes,
        UndeclaredBytes::Reject
    );
}

/// A hop's settings, written back into a scenario file, read as the same
/// hop: pictures of the path show what the file means, nothing less.
#[test]
fn settings_read_back_as_the_same_hop() {
    let hops = [
        "kind = \"tls-terminator\"",
        "kind = \"tls-terminator\"\nmode = \"tcp\"\nbackend = \"plain\"\nports = [443]",
        "kind = \"tls-terminator\"\nwebsocket = true\nbackend = \"tls-verify\"\nidle_timeout = \"100s\"\nmasking = \"remask\"\nundeclared_bytes = \"reject\"",
        "kind = \"transparent\"",
        "kind = \"transparent\"\nupgrade = \"forward\"\ntls = \"inspect\"\nidle_timeout = \"30s\"\nwebsocket_block = [\"origin.test\"]\nmasking = \"require\"",
        "kind = \"transparent\"\nupgrade = \"forward\"\ncache = true\nports = [80]",
        "kind = \"transparent\"\nhttp_version = \"1.0\"\nwebsocket_allow = [\"origin.test\"]",
        "kind = \"tls-terminator\"\nvendor = \"alb\"\nwebsocket = true\nbackend_http = \"http2\"\nextended_connect = \"translate\"",
        "kind = \"tls-terminator\"\nvendor = \"cloudflare\"\nhttp2 = false",
        "kind = \"tls-terminator\"\nhttp2 = true",
        "kind = \"transparent\"\ntls = \"inspect\"\nupgrade = \"forward\"\nhttp2 = true\nbackend_http = \"http2\"\nextended_connect = \"translate\"",
        "kind = \"connect-proxy\"\nallowed_ports = [443, 80]\nidle_timeout = \"1m\"",
        "kind = \"legacy-forwarder\"\nbody = \"hold-until-response\"\nread_timeout = \"5s\"\nmasking = \"require\"",
    ];
    for hop in hops {
        let original = parse(&format!("[[hops]]\n{hop}\n")).hops[0].kind.clone();
        let kind = original.kind_name();
        let written = original.settings().join("\n");
        let again = parse(&format!("[[hops]]\nkind = \"{kind}\"\n{written}\n")).hops[0]
            .kind
            .clone();
        assert_eq!(again, original, "settings of\n{hop}\nwere\n{written}");
    }
}

#[test]
fn settings_show_what_defines_the_kind_and_hide_passwords() {
    let scenario = parse(
        "[[hops]]\nkind = \"connect-proxy\"\nauth = \"alice:secret\"\n\
         [[hops]]\nkind = \"tls-terminator\"\nwebsocket = true\n",
    );
    assert_eq!(scenario.hops[0].kind.settings(), ["auth = \"alice:…\""]);
    assert_eq!(
        scenario.hops[1].kind.settings(),
        ["mode = \"http\"", "websocket = true", "backend = \"tls\""]
    );
}

#[test]
fn client_settings_say_how_the_client_is_set_up_without_passwords() {
    let scenario = parse(
        "[[hops]]\nkind = \"connect-proxy\"\nauth = \"alice:secret\"\n\
         [client]\nproxy_auth = \"bob:hunter2\"\n[probe]\nidle = \"2m\"\n",
    );
    assert_eq!(
        scenario.client_settings(),
        ["proxy_auth = \"bob:…\"", "idle = \"120s\""]
    );
    let without = parse("[[hops]]\nkind = \"connect-proxy\"\n[client]\nproxy_auth = \"\"\n");
    assert_eq!(without.client_settings(), ["proxy_auth = \"\""]);
    assert!(parse("").client_settings().is_empty());
}

#[test]
fn a_terminator_vendor_picks_its_answers_and_timeout_defaults() {
    let cloudflare = one_terminator("vendor = \"cloudflare\"");
    assert_eq!(cloudflare.vendor, Vendor::Cloudflare);
    assert_eq!(cloudflare.read_limit(), Some(Duration::from_secs(120)));
    assert_eq!(cloudflare.connect_limit(), Some(Duration::from_secs(19)));
    let failures = [
        (OriginFailure::EmptyResponse, 520, 502),
        (OriginFailure::Refused, 521, 502),
        (OriginFailure::ConnectTimeout, 522, 504),
        (OriginFailure::Unreachable, 523, 502),
        (OriginFailure::ReadTimeout, 524, 504),
        (OriginFailure::TlsHandshake, 525, 502),
        (OriginFailure::HandshakeTimeout, 525, 502),
        (OriginFailure::InvalidCertificate, 526, 502),
    ];
    for (failure, at_cloudflare, at_alb) in failures {
        assert_eq!(
            Vendor::Cloudflare.answer(failure),
            at_cloudflare,
            "{failure:?}"
        );
        assert_eq!(Vendor::Alb.answer(failure), at_alb, "{failure:?}");
    }
    // An ALB waits for an answer as long as its idle timeout.
    let alb = one_terminator("vendor = \"alb\"\nidle_timeout = \"30s\"");
    assert_eq!(alb.read_limit(), Some(Duration::from_secs(30)));
    assert_eq!(alb.connect_limit(), Some(Duration::from_secs(10)));
    let generic = one_terminator("");
    assert_eq!(
        (generic.read_limit(), generic.connect_limit()),
        (None, None)
    );
    // A written timeout wins over the vendor's.
    let written = one_terminator(
        "vendor = \"cloudflare\"\nread_timeout = \"100s\"\nconnect_timeout = \"15s\"",
    );
    assert_eq!(written.read_limit(), Some(Duration::from_secs(100)));
    assert_eq!(written.connect_limit(), Some(Duration::from_secs(15)));
}

#[test]
fn each_kind_counts_for_its_idle_timer_what_its_product_counts() {
    let hop = |kind: &str, extra: &str| {
        parse(&format!(
            "[[hops]]\nkind = \"{kind}\"\nidle_timeout = \"60s\"\n{extra}\n"
        ))
        .hops[0]
            .kind
            .clone()
    };
    let counts = |kind: HopKind| match kind {
        HopKind::TlsTerminator(options) => options.idle_counts,
        HopKind::Transparent(options) => options.idle_counts,
        HopKind::ConnectProxy(options) => options.idle_counts,
        HopKind::LegacyForwarder(options) => options.idle_counts,
        other => panic!("no idle timer: {other:?}"),
    };
    // An ALB counts both ways; nginx and Squid count reads from upstream.
    assert_eq!(counts(hop("tls-terminator", "")), IdleCounts::Both);
    assert_eq!(counts(hop("transparent", "")), IdleCounts::Upstream);
    assert_eq!(counts(hop("connect-proxy", "")), IdleCounts::Upstream);
    assert_eq!(counts(hop("legacy-forwarder", "")), IdleCounts::Upstream);
    assert_eq!(
        counts(hop("tls-terminator", "idle_counts = \"client\"")),
        IdleCounts::Client
    );
}
