//! External tunnels: the user's own programs, driven through the bundled
//! topologies by their definition files, and never outliving their run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use traverse_runner::{RunOptions, TunnelSpec};

use crate::support::{repo_root, require, rerun_unjudged, signal_and_wait, summary, wait_until};

fn definition(name: &str) -> TunnelSpec {
    let path = repo_root().join("tunnels").join(format!("{name}.toml"));
    traverse_scenario::load_tunnel(&path)
        .unwrap_or_else(|error| panic!("{error}"))
        .into()
}

/// One cell of programs at a time: these matrices start two programs per
/// cell, the rest of the test suite competes for the same cores, and a
/// websocat starved by its neighbours times out as if the path had failed.
fn fewer_programs() -> RunOptions {
    RunOptions {
        process_jobs: 1,
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn socat_stunnel_and_websocat_through_the_bundled_scenarios() {
    require("socat");
    require("stunnel4");
    require("websocat");
    let scenarios = traverse_scenario::load_all(&[repo_root().join("scenarios")])
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    let tunnels = [
        definition("socat-plain"),
        definition("socat-tls"),
        definition("stunnel"),
        definition("websocat"),
    ];
    let cells = traverse_runner::plan(&scenarios, &tunnels);
    let results = traverse_runner::run(cells, &fewer_programs(), |_| {})
        .await
        .expect("run");
    let harness: Vec<&str> = results
        .iter()
        .filter(|cell| cell.blame.as_deref() == Some("harness"))
        .map(|cell| cell.detail.as_str())
        .collect();
    assert!(harness.is_empty(), "the tunnels did not start: {harness:?}");
    let mut matrix = String::new();
    for cell in &results {
        let _ = writeln!(matrix, "{:<46} {}", cell.scenario, summary(cell));
    }
    insta::assert_snapshot!("external_matrix", matrix);
}

/// python-socketio, a real fallback client (engine.io opens on
/// long-polling and upgrades to WebSocket where it can), against the
/// built-in `fallback(ws,long-poll)`: the same verdict in every bundled
/// scenario, and the transport it settled on recorded. It settles on
/// WebSocket wherever the built-in `ws` gets through, and where `ws` is
/// only cut when idle, since engine.io's own pings keep it busy; on
/// polling wherever a hop refuses the WebSocket itself.
#[tokio::test]
async fn socketio_gets_the_verdicts_of_the_built_in_fallback_through_the_bundled_scenarios() {
    let program = repo_root().join("target/socketio/bin/traverse-socketio");
    assert!(
        program.is_file(),
        "{} is missing: `bash ci/install.sh` installs python-socketio there",
        program.display()
    );
    let TunnelSpec::External(socketio) = definition("socketio") else {
        unreachable!("a definition file is an external tunnel")
    };
    // The program by its path: the definition names it as a user with
    // target/socketio/bin on PATH would.
    let mut socketio = (*socketio).clone();
    let program = program.to_string_lossy().into_owned();
    socketio.server[0].clone_from(&program);
    socketio.client[0] = program;
    let builtin: Vec<TunnelSpec> = traverse_tunnel::BUILTIN
        .iter()
        .copied()
        .map(TunnelSpec::from)
        .collect();
    let resolve = |name| TunnelSpec::resolve(name, &builtin).expect("a built-in tunnel");
    let tunnels = [
        socketio.into(),
        resolve("fallback(ws,long-poll)"),
        resolve("ws"),
    ];
    let scenarios = traverse_scenario::load_all(&[repo_root().join("scenarios")])
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    let cells = traverse_runner::plan(&scenarios, &tunnels);
    let mut results = traverse_runner::run(cells, &fewer_programs(), |_| {})
        .await
        .expect("run");
    rerun_unjudged(&mut results, &scenarios, &tunnels, &fewer_programs()).await;

    let mut wrong = Vec::new();
    for scenario in &scenarios {
        let cell = |tunnel: &str| {
            results
                .iter()
                .find(|cell| cell.scenario == scenario.name && cell.tunnel == tunnel)
                .expect("every cell ran")
        };
        let (socketio, fallback, ws) =
            (cell("socketio"), cell("fallback(ws,long-poll)"), cell("ws"));
        if socketio.verdict != fallback.verdict {
            wrong.push(format!(
                "{}: socketio {} ({}), fallback(ws,long-poll) {} ({})",
                scenario.name,
                socketio.verdict.as_str(),
                socketio.detail,
                fallback.verdict.as_str(),
                fallback.detail
            ));
            continue;
        }
        if socketio.verdict != traverse_runner::Verdict::Pass {
            continue;
        }
        let idle_cut = ws.category == Some(traverse_runner::Category::IdleCut);
        let expected = if ws.verdict == traverse_runner::Verdict::Pass || idle_cut {
            "websocket"
        } else {
            "polling"
        };
        if socketio.transport.as_deref() != Some(expected) {
            wrong.push(format!(
                "{}: socketio passed via {:?}, expected {expected} (ws: {})",
                scenario.name, socketio.transport, ws.detail
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        results
            .iter()
            .any(|cell| cell.transport.as_deref() == Some("polling")),
        "some bundled scenario refuses WebSocket"
    );
}

/// Writes a tunnel definition into `folder` and returns its path.
fn write_definition(folder: &Path, name: &str, body: &str) -> PathBuf {
    let path = folder.join(format!("{name}.toml"));
    std::fs::write(&path, body).expect("write");
    path
}

#[tokio::test]
async fn a_server_that_cannot_start_is_a_harness_failure_with_its_output() {
    let folder = tempfile::tempdir().expect("tempdir");
    let path = write_definition(
        folder.path(),
        "broken",
        r#"
transport = "plain"
server = ["sh", "-c", "echo 'cannot load certificate' >&2; exit 1"]
client = ["sh", "-c", "exit 1"]
"#,
    );
    let tunnel: TunnelSpec = traverse_scenario::load_tunnel(&path).expect("valid").into();
    let cells = traverse_runner::plan(&[crate::support::scenario("")], &[tunnel]);
    let results = traverse_runner::run(cells, &RunOptions::default(), |_| {})
        .await
        .expect("run");
    let cell = &results[0];
    assert_eq!(cell.blame.as_deref(), Some("harness"), "{}", cell.detail);
    assert!(
        cell.detail.contains("the tunnel server exited"),
        "{}",
        cell.detail
    );
    assert!(
        cell.detail.contains("cannot load certificate"),
        "{}",
        cell.detail
    );
}

/// The proxy's credentials reach a client half off its command line, and
/// whatever it prints of them is redacted before it reaches a report.
#[tokio::test]
async fn proxy_credentials_stay_off_command_lines_and_out_of_reports() {
    let folder = tempfile::tempdir().expect("tempdir");
    // The client tells what it got: its own command line, the file's
    // contents, and the Basic header it would send; then it gives up.
    let path = write_definition(
        folder.path(),
        "talkative",
        r#"
transport = "tls"
server = ["sh", "-c", "exec socat TCP-LISTEN:$1,bind=$0,reuseaddr,fork TCP:$2", "{listen_host}", "{listen_port}", "{target}"]
client = ["sh", "-c", "echo \"argv: $0, file: $(cat $0), header: Basic $(printf %s \"$(cat $0)\" | base64)\"; exit 1", "{proxy_auth_file}"]
"#,
    );
    require("socat");
    let tunnel: TunnelSpec = traverse_scenario::load_tunnel(&path).expect("valid").into();
    let corporate = traverse_scenario::load(&repo_root().join("scenarios/corporate-squid.toml"))
        .expect("bundled");
    let results = traverse_runner::run(
        traverse_runner::plan(&[corporate], &[tunnel]),
        &RunOptions::default(),
        |_| {},
    )
    .await
    .expect("run");
    let cell = &results[0];
    // It exits before it listens: a harness failure that quotes it.
    assert_eq!(cell.blame.as_deref(), Some("harness"), "{}", cell.detail);
    assert!(
        cell.detail.contains("argv: /"),
        "the file's path: {}",
        cell.detail
    );
    assert!(
        cell.detail.contains("file: ***, header: Basic ***"),
        "{}",
        cell.detail
    );
    let everything = serde_json::to_string(cell).expect("json");
    for secret in ["wonderland", "YWxpY2U6d29uZGVybGFuZA=="] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
}

#[test]
fn an_unknown_placeholder_is_located() {
    let folder = tempfile::tempdir().expect("tempdir");
    let path = write_definition(
        folder.path(),
        "typo",
        "transport = \"plain\"\nserver = [\"socat\", \"TCP-LISTEN:{listen_prot}\", \"TCP:{target}\"]\nclient = [\"socat\"]\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_traverse"))
        .args(["run", "--tunnel-file"])
        .arg(&path)
        .current_dir(repo_root())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{}:2:20: `server`: unknown placeholder {{listen_prot}}; placeholders: listen,",
            path.display()
        )),
        "{stderr}"
    );
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(marker) && !cmdline.contains("traverse "))
        .collect()
}

#[test]
fn interrupting_a_run_leaves_no_tunnel_process_behind() {
    interrupt_with("INT", 130);
}

#[test]
fn terminating_a_run_leaves_no_tunnel_process_behind() {
    // What a CI system sends a job it cancels.
    interrupt_with("TERM", 130);
}

fn interrupt_with(signal: &str, exit_code: i32) {
    require("socat");
    let folder = tempfile::tempdir().expect("tempdir");
    let marker = format!("traverse-sig{signal}-{}", std::process::id());
    let tunnel = write_definition(
        folder.path(),
        "marked",
        &format!(
            "transport = \"plain\"\n\
             server = [\"socat\", \"-lp\", \"{marker}\", \"TCP-LISTEN:{{listen_port}},bind={{listen_host}},reuseaddr,fork\", \"TCP:{{target}}\"]\n\
             client = [\"socat\", \"-lp\", \"{marker}\", \"TCP-LISTEN:{{local_port}},bind={{local_host}},reuseaddr,fork\", \"TCP:{{connect}}\"]\n"
        ),
    );
    // A cell that idles long enough to be interrupted in the middle.
    let scenario = folder.path().join("quiet.toml");
    std::fs::write(&scenario, "[probe]\nidle = \"6000s\"\n").expect("write");
    let run = Command::new(env!("CARGO_BIN_EXE_traverse"))
        .args(["run", "-q", "--tunnel", "marked", "--tunnel-file"])
        .arg(&tunnel)
        .arg(&scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    wait_until(Duration::from_secs(20), "both tunnel halves start", || {
        processes_with(&marker).len() >= 2
    });
    let status = signal_and_wait(run, signal).status;
    assert_eq!(status.code(), Some(exit_code));
    wait_until(
        Duration::from_secs(5),
        "every tunnel process is gone",
        || processes_with(&marker).is_empty(),
    );
}

#[tokio::test]
async fn the_reference_wss_tunnel_as_processes_agrees_with_its_built_in_self() {
    // The same tunnel twice: in process, and as `traverse tunnel serve` and
    // `traverse tunnel connect` driven by a definition file. The verdict and
    // the hop to blame must agree in every bundled topology.
    let folder = tempfile::tempdir().expect("tempdir");
    let binary = env!("CARGO_BIN_EXE_traverse");
    let path = write_definition(
        folder.path(),
        "traverse-wss",
        &format!(
            "transport = \"tls\"\n\
             server = [\"{binary}\", \"tunnel\", \"serve\", \"wss\", \"--listen\", \"{{listen}}\", \"--target\", \"{{target}}\", \"--cert\", \"{{cert_pem}}\", \"--key\", \"{{key_pem}}\"]\n\
             client = [\"{binary}\", \"tunnel\", \"connect\", \"wss\", \"--local\", \"{{local}}\", \"--connect\", \"{{connect}}\", \"--ca\", \"{{ca_pem}}\", \"--proxy\", \"{{proxy}}\", \"--proxy-auth-file\", \"{{proxy_auth_file}}\"]\n"
        ),
    );
    let external: TunnelSpec = traverse_scenario::load_tunnel(&path).expect("valid").into();
    let builtin: TunnelSpec = traverse_tunnel::find("wss").expect("wss").into();
    // The built-in origin serves TLS on 443 and plain on 80, like a gateway
    // deployed behind Cloudflare Flexible must; this definition's server
    // listens on 443 alone, so a hop that sends TLS traffic on to port 80
    // in plain rightly fails it. Those topologies are a different origin.
    let scenarios: Vec<_> = traverse_scenario::load_all(&[repo_root().join("scenarios")])
        .unwrap_or_else(|errors| panic!("{errors:?}"))
        .into_iter()
        .filter(|scenario| {
            !scenario.hops.iter().any(|hop| {
                matches!(&hop.kind, traverse_scenario::HopKind::TlsTerminator(options)
                    if options.backend == traverse_scenario::Backend::Plain)
            })
        })
        .collect();
    assert!(scenarios.len() >= 20, "the bundled scenarios are there");
    let tunnels = [builtin, external];
    let mut results = traverse_runner::run(
        traverse_runner::plan(&scenarios, &tunnels),
        &fewer_programs(),
        |_| {},
    )
    .await
    .expect("run");
    rerun_unjudged(&mut results, &scenarios, &tunnels, &fewer_programs()).await;
    let mut disagreements = Vec::new();
    for pair in results.chunks(2) {
        let (inside, outside) = (&pair[0], &pair[1]);
        if (inside.verdict, &inside.blame) != (outside.verdict, &outside.blame) {
            disagreements.push(format!(
                "{}: built in {} {:?} ({}), as processes {} {:?} ({})",
                inside.scenario,
                inside.verdict.as_str(),
                inside.blame,
                inside.detail,
                outside.verdict.as_str(),
                outside.blame,
                outside.detail
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn a_tunnel_file_may_not_take_a_built_in_name() {
    let folder = tempfile::tempdir().expect("tempdir");
    let path = write_definition(
        folder.path(),
        "tcp",
        "transport = \"plain\"\nserver = [\"socat\"]\nclient = [\"socat\"]\n",
    );
    let output = crate::cli::validate_with_tunnel_files(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!(
            "{}:1:1: tunnel name \"tcp\" is a built-in tunnel's; name the file's tunnel \
             differently (`name = \"...\"`)",
            path.display()
        )
    );
}

#[test]
fn validate_knows_the_tunnels_of_tunnel_files() {
    let folder = tempfile::tempdir().expect("tempdir");
    let tunnel = write_definition(
        folder.path(),
        "mine",
        "transport = \"plain\"\nserver = [\"x\"]\nclient = [\"x\"]\n",
    );
    let scenario = folder.path().join("expects-mine.toml");
    std::fs::write(&scenario, "[expect]\nmine = \"pass\"\n").expect("write");
    let validate = |with_file: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
        command.arg("validate").arg(&scenario);
        if with_file {
            command.arg("--tunnel-file").arg(&tunnel);
        }
        command.output().expect("runs").status.code()
    };
    assert_eq!(
        validate(false),
        Some(2),
        "an unknown tunnel without its file"
    );
    assert_eq!(validate(true), Some(0), "known with its file");
}
