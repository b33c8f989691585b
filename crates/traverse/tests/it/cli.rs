//! The `traverse` command as users and CI call it: exit codes, located
//! errors, JSON results.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::repo_root;

pub fn traverse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_traverse"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("the traverse binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The errors' first lines, `path:line:col: message`, without the source
/// lines and carets printed under each.
pub(crate) fn titles(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            let gutter = line
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit());
            !gutter.trim_start().starts_with('|')
        })
        .collect()
}

fn invalid_corpus() -> Vec<PathBuf> {
    let folder = repo_root().join("crates/traverse-scenario/tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus of bad scenarios is missing");
    files
}

/// `# error: LINE:COL: message` on the corpus file's first line.
fn expected_error(path: &PathBuf) -> String {
    // Lossy: one corpus file is not UTF-8, which is its mistake.
    let source = text(&std::fs::read(path).expect("read"));
    let first = source.lines().next().unwrap_or_default();
    let expected = first
        .strip_prefix("# error: ")
        .unwrap_or_else(|| panic!("{} lacks its # error: line", path.display()));
    format!("{}:{expected}", path.display())
}

#[test]
fn every_bad_scenario_is_located_and_exits_2_without_running() {
    let mut wrong = Vec::new();
    for file in invalid_corpus() {
        let path = file.to_string_lossy().into_owned();
        let expected = expected_error(&file);
        for command in ["validate", "run"] {
            let output = traverse(&[command, &path]);
            let stderr = text(&output.stderr);
            // One mistake, one error: its first line, then its source line.
            if output.status.code() != Some(2)
                || titles(&stderr) != [expected.as_str()]
                || !stderr.contains(" | ")
                || !output.stdout.is_empty()
            {
                wrong.push(format!(
                    "traverse {command} {path}: exit {:?}\n  stderr: {}\n  expected: {expected}\n  stdout: {}",
                    output.status.code(),
                    stderr.trim(),
                    text(&output.stdout)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn bundled_scenarios_validate() {
    let output = traverse(&["validate", "scenarios"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("f5-websocket-profile.toml: ok"));
}

#[test]
fn an_expectation_for_an_unknown_tunnel_is_located() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("typo.toml");
    std::fs::write(
        &file,
        "description = \"typo\"\n\n[expect]\nwss = \"pass\"\nwsss = \"pass\"\n",
    )
    .expect("write");
    let output = traverse(&["run", &file.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "{}:5:1: [expect] names unknown tunnel \"wsss\"; \
             tunnels: tcp, tls, ws, wss, ws-unmasked, wss-unmasked, hixie76, long-poll, sse, h2, ws-h2\n  \
             |\n\
             5 | wsss = \"pass\"\n  \
             | ^^^^\n",
            file.display()
        )
    );
}

/// A fallback of one transport, or of one no run knows, is a mistake in
/// the scenario file, located, each of them at once.
#[test]
fn a_wrong_fallback_in_expect_is_located() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("fallbacks.toml");
    std::fs::write(
        &file,
        "description = \"fallbacks\"\n\n[expect]\n\"fallback(ws)\" = \"pass\"\n\
         \"fallback(ws,quic)\" = \"pass\"\n\"fallback(ws,wss)\" = \"pass\"\n",
    )
    .expect("write");
    let output = traverse(&["validate", &file.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let path = file.display();
    assert!(
        stderr.contains(&format!(
            "{path}:4:1: [expect] \"fallback(ws)\": a fallback needs two transports or more; \
             one alone is the tunnel \"ws\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{path}:5:1: [expect] \"fallback(ws,quic)\": unknown tunnel \"quic\"; tunnels: tcp,"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(":6:1:"),
        "a good fallback is no error: {stderr}"
    );
}

#[test]
fn an_unknown_tunnel_flag_exits_2() {
    let output = traverse(&["run", "--tunnel", "quic"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("unknown tunnel \"quic\"; tunnels: tcp, tls, ws, wss"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_missed_expectation_exits_1_and_says_which() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("wrong.toml");
    std::fs::write(&file, "[expect]\ntcp = \"fail\"\n").expect("write");
    let output = traverse(&["run", "-q", "--tunnel", "tcp", &file.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("wrong × tcp: passed (expected fail)"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn json_results_carry_the_documented_fields() {
    let folder = tempfile::tempdir().expect("tempdir");
    let json = folder.path().join("results.json");
    let output = traverse(&[
        "run",
        "-q",
        "--tunnel",
        "tcp",
        "--tunnel",
        "wss",
        "--json",
        &json.to_string_lossy(),
        "scenarios/f5-no-websocket-profile.toml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("read")).expect("json");
    let cells = document["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 2);
    let tcp = &cells[0];
    assert_eq!(tcp["scenario"], "f5-no-websocket-profile");
    assert_eq!(tcp["tunnel"], "tcp");
    assert_eq!(tcp["verdict"], "fail");
    assert_eq!(tcp["expected"], "fail");
    assert_eq!(tcp["category"], "refused");
    assert_eq!(tcp["status"], 400);
    assert_eq!(tcp["blame"], "f5");
    assert!(tcp["duration_ms"].is_u64());
    assert!(
        tcp["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("400"))
    );
    assert_eq!(tcp["logs"][0]["node"], "f5");
    assert_eq!(tcp["logs"][0]["records"][0]["action"], "responded");
    let summary = &document["summary"];
    assert_eq!(summary["cells"], 2);
    assert_eq!(summary["unexpected"], 0);
    assert_eq!(summary["tunnels"]["wss"]["passed"], 0);
    assert_eq!(summary["tunnels"]["wss"]["weighted_success_rate"], 0.0);
}

#[test]
fn list_names_every_tunnel_and_every_kind_with_exactly_its_options() {
    let output = traverse(&["list"]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    for tunnel in traverse_tunnel::BUILTIN {
        assert!(
            stdout
                .lines()
                .any(|line| line.split_whitespace().next() == Some(tunnel.name)
                    && line.ends_with(tunnel.description)),
            "`traverse list` lacks the tunnel {}:\n{stdout}",
            tunnel.name
        );
    }
    // The kinds' part is their tables' listing, which the scenario crate's
    // tests hold to each table key by key.
    assert!(
        stdout.contains(&traverse_scenario::kinds_listing()),
        "`traverse list` does not print the kinds' listing whole:\n{stdout}"
    );
    for parameter in traverse_tunnel::PARAMETERS {
        assert!(
            stdout.contains(&format!(
                "  {:<16}  {}\n",
                parameter.usage(),
                parameter.meaning
            )),
            "`traverse list` lacks the tunnel parameter {}:\n{stdout}",
            parameter.name
        );
    }
    assert!(stdout.contains("[client] proxy_auth"), "{stdout}");
}

#[test]
fn logs_are_written_as_json_lines_per_cell() {
    let folder = tempfile::tempdir().expect("tempdir");
    let output = traverse(&[
        "run",
        "-q",
        "--tunnel",
        "wss",
        "--logs",
        &folder.path().to_string_lossy(),
        "scenarios/corporate-squid-no-credentials.toml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let lines = std::fs::read_to_string(
        folder
            .path()
            .join("corporate-squid-no-credentials--wss.jsonl"),
    )
    .expect("the cell's log file");
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(records.len(), 1, "{lines}");
    assert_eq!(records[0]["node"], "squid");
    assert_eq!(records[0]["action"], "responded");
    assert_eq!(records[0]["status"], 407);
}

/// Reads a child's output lines as they come, for waiting with a deadline.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The next line that contains `needle`, within `deadline`.
fn wait_for(
    lines: &std::sync::mpsc::Receiver<String>,
    needle: &str,
    seen: &mut Vec<String>,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no line with {needle:?} within 10 s; output so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// `traverse proxy KIND_AND_OPTIONS` in front of `upstream`, its logical
/// port 80 on a free address: the child, its output lines, the lines up to
/// the banner's, and where port 80 listens.
fn start_proxy(
    kind_and_options: &[&str],
    upstream: std::net::SocketAddr,
    certs: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    Vec<String>,
    String,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_traverse"))
        .arg("proxy")
        .args(kind_and_options)
        .args(["--listen", "80=127.0.0.1:0"])
        .args(["--upstream", &upstream.to_string(), "--certs"])
        .arg(certs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the traverse binary runs");
    let lines = lines_of(child.stdout.take().expect("stdout"));
    let mut seen = Vec::new();
    let banner = wait_for(&lines, "logical port 80 listens on", &mut seen);
    let listen = banner.rsplit(' ').next().expect("an address").to_string();
    (child, lines, seen, listen)
}

#[test]
fn proxy_runs_one_mock_in_front_of_a_real_server_and_logs_live() {
    use std::io::{Read, Write};

    // A real server of the simplest kind: one HTTP answer.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream = server.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = server.accept() {
            let mut head = Vec::new();
            let mut byte = [0_u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let certs = tempfile::tempdir().expect("tempdir");
    let (child, lines, mut seen, listen) = start_proxy(
        &["tls-terminator", "--set", "websocket=true"],
        upstream,
        certs.path(),
    );

    let mut client = std::net::TcpStream::connect(&listen).expect("connect to the proxy");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    client.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");

    let logged = wait_for(&lines, "http forwarded 200", &mut seen);
    assert!(logged.contains("-> origin.test:80"), "{logged}");
    assert!(certs.path().join("public-ca.pem").exists());

    // Ctrl-C ends it cleanly.
    let status = crate::support::signal_and_wait(child, "INT").status;
    assert!(status.success(), "{status}");
}

#[test]
fn proxy_prints_every_record_past_its_window_of_kept_ones() {
    // Past the 4096 closed records `traverse proxy` keeps (LIVE_WINDOW in
    // proxy.rs): the live log must still print each one once it is final.
    const CONNECTIONS: u64 = 5000;
    // Never accepted: a client that closes before its head never gets there.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let certs = tempfile::tempdir().expect("tempdir");
    let (child, lines, _, listen) = start_proxy(
        &["legacy-forwarder"],
        upstream.local_addr().expect("addr"),
        certs.path(),
    );
    for _ in 0..CONNECTIONS {
        // Closed before a head: the forwarder records 408 at once.
        drop(std::net::TcpStream::connect(&listen).expect("connect to the proxy"));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut finals = std::collections::BTreeSet::new();
    let mut not_printed = Vec::new();
    while finals.len() < CONNECTIONS as usize {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            panic!(
                "{} of {CONNECTIONS} records printed final within 60 s; missing from {:?}",
                finals.len(),
                (1..=CONNECTIONS).find(|conn| !finals.contains(conn))
            );
        };
        if line.contains("not printed") {
            not_printed.push(line.clone());
        }
        if line.contains(" 408, ") {
            let conn: u64 = line
                .split("conn ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("a connection number in {line:?}"));
            finals.insert(conn);
        }
    }
    assert_eq!(not_printed, Vec::<String>::new());
    assert_eq!(finals.last(), Some(&CONNECTIONS));
    let status = crate::support::signal_and_wait(child, "INT").status;
    assert!(status.success(), "{status}");
}

#[test]
fn proxy_options_are_checked_like_scenario_files() {
    let output = traverse(&[
        "proxy",
        "tls-terminator",
        "--set",
        "mode=\"l7\"",
        "--upstream",
        "127.0.0.1:0",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: --set mode=\"l7\": `mode` = \"l7\" is not allowed; expected one of \"http\", \"tcp\"\n   \
         |\n   \
         | mode=\"l7\"\n   \
         |      ^^^^\n"
    );
}

#[test]
fn junit_and_markdown_reports_are_written_for_ci_and_pull_requests() {
    let folder = tempfile::tempdir().expect("tempdir");
    let junit = folder.path().join("results.xml");
    let markdown = folder.path().join("results.md");
    let output = traverse(&[
        "run",
        "-q",
        "--tunnel",
        "tcp",
        "--tunnel",
        "wss",
        "--junit",
        &junit.to_string_lossy(),
        "--markdown",
        &markdown.to_string_lossy(),
        "scenarios/f5-websocket-profile.toml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("<testsuites"), "{xml}");
    assert!(xml.contains("name=\"f5-websocket-profile\""), "{xml}");
    assert!(
        !xml.contains("<failure"),
        "every cell met its expectation:\n{xml}"
    );
    assert!(xml.contains("fail refused 400, blame f5"), "{xml}");
    let md = std::fs::read_to_string(&markdown).expect("markdown written");
    assert!(
        md.contains("| f5-websocket-profile | fail refused 400 | pass |"),
        "{md}"
    );
}

#[test]
fn html_report_is_written_and_an_unwritable_report_runs_nothing() {
    let folder = tempfile::tempdir().expect("tempdir");
    let html = folder.path().join("report.html");
    let output = traverse(&[
        "run",
        "--tunnel",
        "wss",
        "--html",
        &html.to_string_lossy(),
        "scenarios/f5-websocket-profile.toml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("data-cell=\"f5-websocket-profile × wss\""));
    // The scenario's path is drawn from the scenario file.
    assert!(page.contains("<code>websocket = true</code>"), "{page}");

    let nowhere = folder.path().join("missing-folder/report.html");
    let output = traverse(&[
        "run",
        "--html",
        &nowhere.to_string_lossy(),
        "scenarios/direct.toml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stdout).is_empty(), "nothing ran");
    assert!(
        text(&output.stderr).contains(&format!("cannot write {}", nowhere.display())),
        "{}",
        text(&output.stderr)
    );
}

/// Into a pipe (as CI reads it) the matrix is plain text, and stderr has
/// progress lines, not a bar; colour only when asked for, and then the
/// same text beneath, expected failures dimmed.
#[test]
fn piped_output_is_plain_and_colour_is_on_request() {
    let args = [
        "run",
        "--tunnel",
        "tcp",
        "--tunnel",
        "ws",
        "scenarios/f5-no-websocket-profile.toml",
    ];
    let plain = traverse(&args);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    assert!(
        !text(&plain.stdout).contains('\u{1b}'),
        "no escapes in a pipe"
    );
    let stderr = text(&plain.stderr);
    assert!(
        !stderr.is_empty() && stderr.lines().all(|line| line.starts_with("progress: ")),
        "{stderr}"
    );

    let coloured = traverse(&[&args[..], &["--color", "always"]].concat());
    let coloured = text(&coloured.stdout);
    assert!(coloured.contains("\u{1b}[2mfail refused 426"), "{coloured}");
    assert_eq!(strip_escapes(&coloured), text(&plain.stdout));
}

/// On a terminal (a pseudo-terminal from util-linux's `script`) the matrix
/// is coloured and fits the terminal's width.
#[test]
fn a_terminal_gets_colour_and_a_matrix_that_fits() {
    crate::support::require("script");
    let command = format!(
        "stty rows 40 cols 60; {} run --tunnel tcp --tunnel ws --tunnel wss --tunnel hixie76 \
         scenarios/f5-no-websocket-profile.toml scenarios/direct.toml",
        env!("CARGO_BIN_EXE_traverse")
    );
    let output = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(repo_root())
        .env_remove("NO_COLOR")
        .output()
        .expect("script runs");
    let screen = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{screen}");
    assert!(
        screen.contains("\u{1b}[32m✓"),
        "colour on a terminal: {screen}"
    );
    let plain = strip_escapes(&screen).replace('\r', "");
    // A loaded machine may show the bar first, cleared on the same line.
    let matrix = plain.find("scenario ").map_or("", |start| &plain[start..]);
    let matrix: Vec<&str> = matrix.lines().take_while(|line| !line.is_empty()).collect();
    assert_eq!(
        matrix
            .first()
            .map(|header| header.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["scenario", "tcp", "ws", "wss", "hixie76"]),
        "compact cells fit four tunnels' names in 60 columns, one block:\n{plain}"
    );
    assert_eq!(matrix.len(), 3, "{plain}");
    assert!(
        matrix.iter().all(|line| line.chars().count() <= 60),
        "{plain}"
    );
}

/// A run longer than a moment shows a progress bar on a terminal's stderr,
/// and clears it before the matrix; a quick one shows none.
#[test]
fn a_long_run_on_a_terminal_shows_progress() {
    crate::support::require("script");
    let on_terminal = |args: &str| {
        let command = format!(
            "stty rows 40 cols 100; {} run {args}",
            env!("CARGO_BIN_EXE_traverse")
        );
        let output = Command::new("script")
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .current_dir(repo_root())
            .output()
            .expect("script runs");
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
        strip_escapes(&text(&output.stdout))
    };
    // The idle pause of 100 s at this scale takes 2 s.
    let long =
        on_terminal("--tunnel ws --time-scale 0.02 scenarios/cloudflare-idle-websocket.toml");
    assert!(long.contains("0/1 cells · 0 not as expected ·"), "{long}");
    let matrix = long.find("scenario").expect("the matrix");
    assert!(
        !long[matrix..].contains("cells ·"),
        "no bar is drawn once the matrix is printed:\n{long}"
    );
    let quick = on_terminal("--tunnel ws scenarios/direct.toml");
    assert!(!quick.contains("cells ·"), "{quick}");
}

/// Text without its ANSI colour escapes (`ESC [ ... m`).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_tunnel_parameter_the_tunnel_does_not_take_exits_2_and_says_what_it_takes() {
    let output = traverse(&["run", "--tunnel", "ws+pong=30s"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr).trim(),
        "error: \"ws+pong=30s\": unknown tunnel parameter `pong`; ws takes subprotocol=NAME, \
         deflate=offer|require, message=BYTES, fragment=BYTES, text, close=CODE, ping=DURATION, \
         tcp-keepalive=DURATION"
    );
}

#[test]
fn an_expectation_of_a_tunnel_with_a_wrong_parameter_is_located() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("keepalive.toml");
    std::fs::write(
        &file,
        "[expect]\n\"ws+ping=30s\" = \"pass\"\n\"tcp+ping=30s\" = \"pass\"\n\"wss+ping=30000ms\" = \"pass\"\n",
    )
    .expect("write");
    let output = traverse(&["validate", &file.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    let path = file.display();
    assert_eq!(
        titles(&text(&output.stderr)).join("\n"),
        format!(
            "{path}:3:1: [expect] \"tcp+ping=30s\": `ping` is not a parameter of tcp, which \
             takes heartbeat=DURATION, tcp-keepalive=DURATION\n\
             {path}:4:1: [expect] \"wss+ping=30000ms\": write it as \"wss+ping=30s\""
        )
    );
}

#[test]
fn a_run_of_every_tunnel_includes_those_with_parameters_the_scenarios_expect() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("idle.toml");
    std::fs::write(
        &file,
        "[[hops]]\nkind = \"connect-proxy\"\nallowed_ports = [443, 80]\nidle_timeout = \"60s\"\n\n\
         [probe]\nidle = \"120s\"\n\n[expect]\nws = \"fail\"\n\"ws+ping=30s\" = \"pass\"\n\
         \"tcp+heartbeat=25s\" = \"pass\"\n",
    )
    .expect("write");
    let json = folder.path().join("results.json");
    let output = traverse(&[
        "run",
        "-q",
        "--json",
        &json.to_string_lossy(),
        &file.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("results")).expect("json");
    let cells = document["cells"].as_array().expect("cells");
    let tunnels: Vec<&str> = cells
        .iter()
        .filter_map(|cell| cell["tunnel"].as_str())
        .collect();
    assert_eq!(
        tunnels,
        [
            "tcp",
            "tls",
            "ws",
            "wss",
            "ws-unmasked",
            "wss-unmasked",
            "hixie76",
            "long-poll",
            "sse",
            "h2",
            "ws-h2",
            "ws+ping=30s",
            "tcp+heartbeat=25s"
        ]
    );
    assert!(
        cells[2].get("keepalives").is_none(),
        "no keepalive, no count"
    );
    let pinging = &cells[tunnels
        .iter()
        .position(|name| *name == "ws+ping=30s")
        .expect("ping")];
    assert!(
        pinging["keepalives"]
            .as_u64()
            .is_some_and(|answered| answered > 0),
        "{pinging}"
    );
}

/// `traverse validate scenarios` with `files` as its tunnel files.
pub(crate) fn validate_with_tunnel_files(files: &[&std::path::Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
    command.args(["validate", "scenarios"]);
    for file in files {
        command.arg("--tunnel-file").arg(file);
    }
    command
        .current_dir(repo_root())
        .output()
        .expect("the traverse binary runs")
}

/// A tunnel file the CLI accepts, named `name` on line 2.
fn tunnel_definition(name: &str) -> String {
    format!(
        "# a relay\nname = \"{name}\"\ntransport = \"plain\"\nserver = [\"socat\"]\nclient = [\"socat\"]\n"
    )
}

#[test]
fn two_tunnel_files_of_one_name_are_located_at_the_second_name() {
    let folder = tempfile::tempdir().expect("tempdir");
    let first = folder.path().join("a.toml");
    let second = folder.path().join("b.toml");
    std::fs::write(&first, tunnel_definition("relay")).expect("write");
    std::fs::write(&second, tunnel_definition("relay")).expect("write");
    let output = validate_with_tunnel_files(&[&first, &second]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(
        titles(&stderr),
        [format!(
            "{}:2:8: tunnel name \"relay\" is already used by {}; names must be unique in a run",
            second.display(),
            first.display()
        )],
        "{stderr}"
    );
    assert!(stderr.contains("2 | name = \"relay\""), "{stderr}");
}

#[test]
fn a_tunnel_file_not_in_utf8_is_located_and_called_a_tunnel_file() {
    let folder = tempfile::tempdir().expect("tempdir");
    let path = folder.path().join("relay.toml");
    let mut bytes = tunnel_definition("relay").into_bytes();
    // In the comment on line 1, after `# a `: a Latin-1 byte and an escape.
    bytes.splice(4..4, *b"\xe9\x1b[2J");
    std::fs::write(&path, bytes).expect("write");
    let output = validate_with_tunnel_files(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(
        titles(&stderr),
        [format!(
            "{}:1:5: invalid UTF-8 at byte 0xe9: a tunnel file must be UTF-8 text; save it as UTF-8",
            path.display()
        )],
        "{stderr}"
    );
    // The line is shown, and nothing of it drives the terminal.
    assert!(stderr.contains("1 | # a \u{fffd}"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}
