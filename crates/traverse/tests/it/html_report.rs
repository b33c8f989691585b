//! The HTML report in a real browser: a run's page opened in headless
//! Chromium (from Debian's packages, installed by `ci/install.sh`), driven
//! over the DevTools protocol. The page must lay out every cell where a
//! reader can see it, with the verdict the JSON results give; a selected
//! cell must open onto its blamed hop's log; and a screenshot is taken.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{repo_root, require};

/// The viewport the screenshot is taken at.
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 1800;
/// The longest any one browser step may take (start, load, a call).
const STEP: Duration = Duration::from_secs(30);

/// Headless Chromium in its own process group, killed with its helpers.
struct Browser {
    child: tokio::process::Child,
    /// The DevTools endpoint it printed once listening.
    endpoint: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        require("chromium");
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let mut child = tokio::process::Command::new("chromium")
            .args([
                "--headless",
                // Containers run tests as root, where the sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                // Port 0: the browser picks one and prints it.
                "--remote-debugging-port=0",
                &format!("--window-size={WIDTH},{HEIGHT}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("chromium's stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        let endpoint = tokio::time::timeout(STEP, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(endpoint) = line.strip_prefix("DevTools listening on ") {
                    return Some(endpoint.trim().to_string());
                }
                said.push(line);
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "chromium did not open its DevTools endpoint within {STEP:?}; it said:\n{}",
                said.join("\n")
            )
        });
        // Keep reading stderr so the browser never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Browser {
            child,
            endpoint,
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium's renderer and GPU helpers share its group.
        if let Some(id) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = killpg(Pid::from_raw(id), Signal::SIGKILL);
        }
    }
}

/// A DevTools protocol session with one page.
struct Page {
    socket: WebSocketStream<TcpStream>,
    session: String,
    next_id: u64,
    /// Events that arrived while waiting for a call's answer.
    events: Vec<Value>,
}

impl Page {
    async fn open(browser: &Browser) -> Page {
        let authority = browser
            .endpoint
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .expect("a ws:// endpoint");
        let stream = TcpStream::connect(authority)
            .await
            .expect("connect to DevTools");
        let (socket, _) = tokio_tungstenite::client_async(browser.endpoint.as_str(), stream)
            .await
            .expect("DevTools WebSocket handshake");
        let mut page = Page {
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
        };
        let target = page
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        page.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        page.call("Page.enable", json!({})).await;
        // The window's size includes what headless draws around the page.
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        page
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send to DevTools");
        loop {
            let answer = self.receive(method).await;
            if answer["id"] == json!(id) {
                assert!(
                    answer.get("error").is_none(),
                    "{method} failed: {}",
                    answer["error"]
                );
                return answer["result"].clone();
            }
            self.events.push(answer);
        }
    }

    async fn event(&mut self, method: &str) -> Value {
        if let Some(at) = self
            .events
            .iter()
            .position(|event| event["method"] == method)
        {
            return self.events.remove(at);
        }
        loop {
            let event = self.receive(method).await;
            if event["method"] == method {
                return event;
            }
        }
    }

    async fn receive(&mut self, waiting_for: &str) -> Value {
        loop {
            let message = tokio::time::timeout(STEP, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {waiting_for} within {STEP:?}"))
                .expect("DevTools closed the connection")
                .expect("a DevTools message");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("DevTools speaks JSON");
            }
        }
    }

    async fn load(&mut self, file: &Path) {
        let url = format!("file://{}", file.display());
        self.call("Page.navigate", json!({ "url": url })).await;
        self.event("Page.loadEventFired").await;
    }

    /// Runs `expression` in the page (awaiting a promise) and returns its value.
    async fn evaluate(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "the page's script failed: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }
}

/// Every heatmap cell, scrolled into view in turn: its label, its text, and
/// whether it is really on screen (laid out, and the topmost element at its
/// centre).
const HEATMAP: &str = r#"[...document.querySelectorAll("td[data-cell]")].map(td => {
  td.scrollIntoView({ block: "center", inline: "center" });
  const box = td.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return { cell: td.dataset.cell, text: td.innerText.trim(), visible: box.width > 0 && box.height > 0 && td.contains(hit) };
})"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_every_cell_in_a_real_browser() {
    let browser = Browser::start().await;
    let folder = tempfile::tempdir().expect("tempdir");
    let html = folder.path().join("report.html");
    let results = folder.path().join("results.json");
    let scenarios = [
        "scenarios/direct.toml",
        "scenarios/f5-no-websocket-profile.toml",
        "scenarios/corporate-squid.toml",
        "scenarios/tls-inspecting-gateway-blocking-websocket.toml",
    ];
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_traverse"))
        .arg("run")
        .args(scenarios)
        .args(["-q", "--html"])
        .arg(&html)
        .arg("--json")
        .arg(&results)
        .current_dir(repo_root())
        .output()
        .await
        .expect("traverse runs");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("results")).expect("json");
    let cells = results["cells"].as_array().expect("cells");

    let mut page = Page::open(&browser).await;
    page.load(&html).await;
    assert_eq!(page.evaluate("document.title").await, "traverse results");

    // Every cell of the run is on screen with its verdict.
    let shown = page.evaluate(HEATMAP).await;
    let shown = shown.as_array().expect("the heatmap's cells");
    assert_eq!(shown.len(), cells.len(), "one heatmap cell per result");
    for cell in cells {
        let label = format!(
            "{} × {}",
            cell["scenario"].as_str().unwrap_or_default(),
            cell["tunnel"].as_str().unwrap_or_default()
        );
        let on_screen = shown
            .iter()
            .find(|shown| shown["cell"] == label.as_str())
            .unwrap_or_else(|| panic!("{label} is not in the heatmap"));
        assert_eq!(on_screen["visible"], true, "{label} is not visible");
        let verdict = cell["verdict"].as_str().unwrap_or_default();
        let text = on_screen["text"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(verdict),
            "{label}: the page says {text:?}, the results {verdict}"
        );
        if let Some(status) = cell["status"].as_u64() {
            assert!(text.contains(&status.to_string()), "{label}: {text:?}");
        }
    }

    // Selecting a failure that fails as expected (closed at first) opens it
    // onto the blamed hop's log, where the F5 stripped the Upgrade, and the
    // path with that hop marked.
    let failure = cells
        .iter()
        .find(|cell| cell["tunnel"] == "ws" && cell["expected"] == "fail" && cell["blame"] == "f5")
        .expect("the F5's WebSocket refusal, an expected failure");
    let id = format!("cell-{}", failure["cell"]);
    let opened = page
        .evaluate(&format!(
            r##"new Promise(resolve => {{
  const details = document.getElementById("{id}");
  const closedBefore = !details.open;
  window.addEventListener("hashchange", () => {{
    const log = details.querySelector("table.log");
    const blamed = details.querySelector("ol.path li.blamed strong");
    resolve({{
      closedBefore,
      open: details.open,
      logShown: log !== null && log.getBoundingClientRect().height > 0,
      logText: log ? log.innerText : "",
      blamed: blamed ? blamed.innerText : null,
    }});
  }}, {{ once: true }});
  document.querySelector('a[href="#{id}"]').click();
}})"##
        ))
        .await;
    assert_eq!(opened["closedBefore"], true, "{opened}");
    assert_eq!(opened["open"], true, "{opened}");
    assert_eq!(opened["logShown"], true, "{opened}");
    assert_eq!(opened["blamed"], "f5", "{opened}");
    assert!(
        opened["logText"]
            .as_str()
            .is_some_and(|log| log.contains("stripped-upgrade")),
        "{opened}"
    );

    // The screenshot, of the top of the page: rates and heatmap.
    page.evaluate("window.scrollTo(0, 0)").await;
    let shot = page
        .call("Page.captureScreenshot", json!({ "format": "png" }))
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("screenshot data"))
        .expect("base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let dimension = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((dimension(16), dimension(20)), (WIDTH, HEIGHT));
    // A blank page of this size compresses to a few KiB; the heatmap's
    // text and colours do not.
    assert!(
        png.len() > 50_000,
        "the screenshot looks empty: {} B",
        png.len()
    );
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report.png");
    std::fs::write(&saved, &png).expect("save the screenshot");
    eprintln!("screenshot: {}", saved.display());
    drop(browser);
}
