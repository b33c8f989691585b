//! The HTML report in a real browser: the bundled run's page opened in
//! headless Chromium (from Debian's packages, installed by
//! `ci/install.sh`), driven over the DevTools protocol, at a desktop's
//! 1920 px and a phone's 420 px. The page must lay out every cell where a
//! reader can see it, with the verdict the JSON results give; on a wide
//! screen the whole matrix fits without scrolling sideways, and on a
//! phone the scenario column stays put while the matrix scrolls under it;
//! the legend names every category; a cell's anchor is `scenario--tunnel`
//! and a selected cell opens onto its blamed hop's log. A screenshot is
//! taken at each width.

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

/// A desktop's viewport, where the bundled matrix must fit whole.
const WIDE: (u32, u32) = (1920, 1400);
/// A phone's, short enough that the matrix also scrolls down in its box.
const NARROW: (u32, u32) = (420, 800);
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
                &format!("--window-size={},{}", WIDE.0, WIDE.1),
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
        page
    }

    /// Lays the page out for a viewport of `(width, height)` CSS pixels;
    /// the window's own size includes what headless draws around a page.
    async fn resize(&mut self, (width, height): (u32, u32)) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }

    /// A PNG of the viewport, checked to be one of `size` with something
    /// drawn on it, saved as `name` in the test's target folder.
    async fn screenshot(&mut self, size: (u32, u32), name: &str) {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        let dimension =
            |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
        assert_eq!((dimension(16), dimension(20)), size);
        // A blank page of this size compresses to a few KiB; the matrix's
        // text and colours do not.
        assert!(
            png.len() > 30_000,
            "the screenshot {name} looks empty: {} B",
            png.len()
        );
        let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&saved, &png).expect("save the screenshot");
        eprintln!("screenshot: {}", saved.display());
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

/// How far the page and the matrix's box would scroll sideways.
const WIDTHS: &str = r#"(() => {
  const box = document.querySelector("div.scroll.matrix");
  return {
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    matrix: box.scrollWidth - box.clientWidth,
  };
})()"#;

/// Scrolls the matrix's box all the way right, then down, and says where
/// the scenario column and the header row are then: still at the box's
/// edges, on top of the cells scrolled under them.
const STICKY: &str = r#"(() => {
  const box = document.querySelector("div.scroll.matrix");
  box.scrollIntoView({ block: "start" });
  box.scrollLeft = box.scrollWidth;
  const frame = box.getBoundingClientRect();
  const on_top = element => {
    const at = element.getBoundingClientRect();
    const hit = document.elementFromPoint(at.left + at.width / 2, at.top + at.height / 2);
    return element.contains(hit);
  };
  const rows = [...box.querySelectorAll("tbody tr")].slice(0, 3).map(row => {
    const name = row.querySelector("th[scope=row]");
    const last = row.lastElementChild;
    return {
      scenario: name.innerText.trim(),
      left: name.getBoundingClientRect().left - frame.left,
      scenarioOnTop: on_top(name),
      background: getComputedStyle(name).backgroundColor,
      lastCellOnTop: on_top(last),
    };
  });
  const scrolledLeft = box.scrollLeft;
  box.scrollTop = box.scrollHeight;
  const header = box.querySelector("thead th:last-child");
  return {
    scrolledLeft,
    rows,
    scrolledDown: box.scrollTop,
    headerTop: header.getBoundingClientRect().top - frame.top,
    headerOnTop: on_top(header),
  };
})()"#;

/// Whether a measurement from the page is a number above zero.
fn above_zero(value: &Value) -> bool {
    value.as_f64().is_some_and(|number| number > 0.0)
}

/// Every category the runner can give, by its name in the results schema.
fn categories() -> Vec<String> {
    fn collect(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("const", Value::String(name)) => into.push(name.clone()),
                        ("enum", Value::Array(names)) => into.extend(
                            names
                                .iter()
                                .filter_map(|name| name.as_str().map(String::from)),
                        ),
                        _ => collect(value, into),
                    }
                }
            }
            Value::Array(values) => values.iter().for_each(|value| collect(value, into)),
            _ => {}
        }
    }
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/results.schema.json"))
            .expect("the results schema"),
    )
    .expect("the results schema is JSON");
    let mut names = Vec::new();
    collect(&schema["$defs"]["Category"], &mut names);
    assert!(names.len() >= 8, "the schema's categories: {names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_every_cell_in_a_real_browser() {
    let folder = tempfile::tempdir().expect("tempdir");
    let html = folder.path().join("report.html");
    let results = folder.path().join("results.json");
    // The bundled run, every scenario by every tunnel it picks: the matrix
    // a first-time user sees, and the widest the project ships.
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_traverse"))
        .args(["run", "scenarios", "-q", "--html"])
        .arg(&html)
        .arg("--json")
        .arg(&results)
        .current_dir(repo_root())
        .output();
    let run = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the bundled run finishes within 300 s")
        .expect("traverse runs");
    // A loaded machine may push a timing-sensitive cell off its
    // expectation (exit 1); the page is what is tested here.
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("results")).expect("json");
    let cells = results["cells"].as_array().expect("cells");
    assert!(
        cells.len() >= 200,
        "the bundled run has {} cells",
        cells.len()
    );

    let browser = Browser::start().await;
    let mut page = Page::open(&browser).await;
    page.resize(WIDE).await;
    page.load(&html).await;
    assert_eq!(page.evaluate("document.title").await, "traverse results");

    // On a wide screen the whole matrix fits: neither the page nor the
    // matrix's own box scrolls sideways.
    let widths = page.evaluate(WIDTHS).await;
    assert_eq!(widths, json!({ "page": 0, "matrix": 0 }), "at {WIDE:?}");
    page.evaluate(r#"document.getElementById("matrix").scrollIntoView({ block: "start" })"#)
        .await;
    page.screenshot(WIDE, "html-report-1920.png").await;

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

    // The legend names every category the results can carry, each in
    // the colour its cells have.
    let legend = page
        .evaluate(
            r#"[...document.querySelectorAll("ul.legend li[data-category]")].map(li => {
  const chip = li.querySelector("span.cell");
  const cell = document.querySelector("td.cell.fail." + CSS.escape(li.dataset.category));
  return {
    category: li.dataset.category,
    text: chip.innerText.trim(),
    background: getComputedStyle(chip).backgroundColor,
    cellBackground: cell ? getComputedStyle(cell).backgroundColor : null,
  };
})"#,
        )
        .await;
    let legend = legend.as_array().expect("the legend's categories");
    let listed: Vec<&str> = legend
        .iter()
        .filter_map(|entry| entry["category"].as_str())
        .collect();
    let mut expected = categories();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "the legend's categories");
    for entry in legend {
        let category = entry["category"].as_str().unwrap_or_default();
        assert_eq!(entry["text"], format!("fail {category}"), "{entry}");
        if !entry["cellBackground"].is_null() {
            assert_eq!(entry["cellBackground"], entry["background"], "{entry}");
        }
    }

    // Each cell's anchor is `scenario--tunnel` where the names need no
    // escaping, one made safe (with a hash) where they do, as a fallback's
    // parentheses and comma; its link in the matrix points at it.
    let anchors = page
        .evaluate(
            r#"[...document.querySelectorAll("td[data-cell] a")].map(a => ({
  cell: a.parentElement.dataset.cell,
  href: a.getAttribute("href"),
  target: (document.getElementById(a.getAttribute("href").slice(1)) || {}).tagName || null,
}))"#,
        )
        .await;
    for anchor in anchors.as_array().expect("the matrix's links") {
        let cell = anchor["cell"].as_str().unwrap_or_default();
        let (scenario, tunnel) = cell.split_once(" × ").expect("scenario × tunnel");
        let plain = tunnel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+=".contains(c));
        if plain {
            assert_eq!(anchor["href"], format!("#{scenario}--{tunnel}"), "{anchor}");
        } else {
            let href = anchor["href"].as_str().unwrap_or_default();
            assert!(href.starts_with(&format!("#{scenario}--")), "{anchor}");
        }
        assert_eq!(anchor["target"], "DETAILS", "{anchor}");
    }

    // The cells not as expected are listed before the matrix, each linked.
    let unexpected = cells
        .iter()
        .filter(|cell| {
            cell["category"] == "harness"
                || (!cell["expected"].is_null() && cell["expected"] != cell["verdict"])
        })
        .count();
    let listed = page
        .evaluate(
            r#"(() => {
  const section = document.getElementById("unexpected");
  const matrix = document.getElementById("matrix");
  return {
    before: !!(section.compareDocumentPosition(matrix) & Node.DOCUMENT_POSITION_FOLLOWING),
    links: section.querySelectorAll("li a[href]").length,
  };
})()"#,
        )
        .await;
    assert_eq!(listed, json!({ "before": true, "links": unexpected }));

    // Selecting a failure that fails as expected (closed at first) opens it
    // onto the blamed hop's log, where the F5 stripped the Upgrade, and the
    // path with that hop marked.
    let failure = cells
        .iter()
        .find(|cell| {
            cell["tunnel"] == "ws"
                && cell["expected"] == "fail"
                && cell["verdict"] == "fail"
                && cell["blame"] == "f5"
        })
        .expect("the F5's WebSocket refusal, an expected failure");
    let id = format!(
        "{}--ws",
        failure["scenario"].as_str().expect("a scenario name")
    );
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
  document.querySelector('td[data-cell] a[href="#{id}"]').click();
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

    // On a phone the page itself does not scroll sideways; the matrix
    // does, in its box, with the scenario names held at its left edge on
    // an opaque background and the header row at its top.
    page.resize(NARROW).await;
    page.load(&html).await;
    let widths = page.evaluate(WIDTHS).await;
    assert_eq!(widths["page"], 0, "at {NARROW:?}: {widths}");
    assert!(
        above_zero(&widths["matrix"]),
        "at {NARROW:?} the matrix should need scrolling: {widths}"
    );
    let sticky = page.evaluate(STICKY).await;
    assert!(above_zero(&sticky["scrolledLeft"]), "{sticky}");
    for row in sticky["rows"].as_array().expect("rows") {
        assert!(
            row["left"].as_f64().is_some_and(|left| left.abs() < 1.0),
            "the scenario column moved: {row}"
        );
        assert_eq!(row["scenarioOnTop"], true, "{row}");
        assert_eq!(row["lastCellOnTop"], true, "{row}");
        assert_eq!(row["background"], "rgb(255, 255, 255)", "{row}");
    }
    assert!(
        above_zero(&sticky["scrolledDown"]),
        "at {NARROW:?} the matrix should scroll down in its box: {sticky}"
    );
    assert!(
        sticky["headerTop"]
            .as_f64()
            .is_some_and(|top| top.abs() < 1.0),
        "the header row moved: {sticky}"
    );
    assert_eq!(sticky["headerOnTop"], true, "{sticky}");
    page.screenshot(NARROW, "html-report-420.png").await;
    drop(browser);
}
