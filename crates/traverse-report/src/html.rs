//! The HTML report is the matrix for people who were not at the terminal:
//! a support engineer opening a customer's run, a team reading the CI
//! artifact. It is one self-contained file (styles and a few lines of
//! script inline, nothing fetched), so it opens from a mail attachment or
//! an air-gapped share. It shows what the terminal does and what a
//! terminal cannot: a heatmap of scenarios × tunnels, each tunnel's success
//! rate plain and weighted as bars, every cell expandable to its category,
//! blame, detail and the blamed hop's transaction log, and a picture of
//! each scenario's path (client → hops → origin) with the blamed node
//! marked.
//!
//! What a reader came for comes first: the cells not as expected are
//! listed at the top, before the rates and the matrix. The page takes the
//! window's whole width; only the matrix scrolls, inside its own box, with
//! the scenario column and the header row held in place. Every colour the
//! matrix uses is in its legend, both made from one table. A cell's anchor
//! is `scenario--tunnel`, so a link to it still works after the next run.
//!
//! The script only opens the cell a link points at; without it every
//! cell still expands by hand.

use std::fmt::Write as _;

use traverse_net::ConnRecord;
use traverse_runner::{Category, CellResult, NodeLog, Verdict};

use crate::summary::{category_text, serde_name, verdict_text};
use crate::{Report, ScenarioPath};

/// The results as one HTML page, scenarios and tunnels in plan order.
pub fn render_html(report: &Report) -> String {
    let (scenarios, tunnels) = report.axes();
    let mut page = String::new();
    page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    page += "<title>traverse results</title>\n<style>\n";
    page += STYLE;
    category_style(&mut page);
    page += "</style>\n</head>\n<body>\n";
    let _ = writeln!(
        page,
        "<header>\n<h1>traverse results</h1>\n<p class=\"counts\">{}</p>",
        escape(&report.summary.counts_line())
    );
    if report.time_scale != 1.0 {
        let _ = writeln!(
            page,
            "<p class=\"note\">Scenario durations scaled by {}.</p>",
            report.time_scale
        );
    }
    page += "</header>\n";
    if report.cells.is_empty() {
        page += "<main><p>No cells ran.</p></main>\n</body>\n</html>\n";
        return page;
    }
    let anchors = cell_anchors(&report.cells);
    page += "<main>\n";
    unexpected(&mut page, report, &anchors);
    rates(&mut page, report, &tunnels);
    heatmap(&mut page, report, &anchors, &scenarios, &tunnels);
    cells(&mut page, report, &anchors);
    paths(&mut page, report, &scenarios);
    page += "</main>\n<script>\n";
    page += SCRIPT;
    page += "</script>\n</body>\n</html>\n";
    page
}

fn rates(page: &mut String, report: &Report, tunnels: &[&str]) {
    *page += "<section id=\"rates\">\n<h2>Success rate by tunnel</h2>\n";
    *page += "<div class=\"scroll\"><table class=\"rates\">\n<thead><tr><th scope=\"col\">tunnel</th><th scope=\"col\">passed</th>\
             <th scope=\"col\">success rate</th><th scope=\"col\">weighted by scenario</th></tr></thead>\n<tbody>\n";
    for tunnel in tunnels {
        let Some(rate) = report.summary.tunnels.get(*tunnel) else {
            continue;
        };
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}/{}</td><td>{}</td><td>{}</td></tr>",
            escape(tunnel),
            rate.passed,
            rate.total,
            bar(rate.success_rate),
            bar(rate.weighted_success_rate)
        );
    }
    *page += "</tbody>\n</table></div>\n</section>\n";
}

/// A rate as a bar coloured from red (0) to green (1), with its number.
fn bar(rate: f64) -> String {
    // Formatted as every other report rounds it, so the numbers agree.
    let percent = rate * 100.0;
    format!(
        "<span class=\"bar\" role=\"img\" aria-label=\"{percent:.0} %\"><span style=\"width:{percent:.0}%;background:{}\"></span></span> <span class=\"num\">{percent:.0} %</span>",
        heat(rate)
    )
}

fn heat(rate: f64) -> String {
    format!("hsl({:.0}, 60%, 45%)", rate.clamp(0.0, 1.0) * 120.0)
}

/// The cells not as expected, each linked to its details: what a reader
/// of a run that went wrong wants before anything else.
fn unexpected(page: &mut String, report: &Report, anchors: &[String]) {
    let wrong: Vec<usize> = (0..report.cells.len())
        .filter(|&at| !report.cells[at].as_expected())
        .collect();
    *page += "<section id=\"unexpected\">\n<h2>Not as expected</h2>\n";
    if wrong.is_empty() {
        *page += "<p class=\"note\">Every cell met its expectation.</p>\n</section>\n";
        return;
    }
    *page += "<ul class=\"unexpected\">\n";
    for at in wrong {
        let cell = &report.cells[at];
        let expected = cell.expected.map_or("(not said)", Verdict::as_str);
        let _ = writeln!(
            page,
            "<li><a href=\"#{}\">{}</a> expected {expected}{}</li>",
            escape(&anchors[at]),
            cell_label(cell),
            if cell.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&cell.detail))
            }
        );
    }
    *page += "</ul>\n</section>\n";
}

fn heatmap(
    page: &mut String,
    report: &Report,
    anchors: &[String],
    scenarios: &[&str],
    tunnels: &[&str],
) {
    *page += "<section id=\"matrix\">\n<h2>Matrix</h2>\n";
    legend(page);
    *page += "<div class=\"scroll matrix\"><table class=\"heatmap\">\n<thead><tr><th scope=\"col\">scenario</th><th scope=\"col\">weight</th>";
    for tunnel in tunnels {
        // Parameters make long names (ws+tcp-keepalive=30s); breaking
        // before one keeps ten columns within a wide screen.
        let _ = write!(
            page,
            "<th scope=\"col\">{}</th>",
            escape(tunnel).replace('+', "<wbr>+")
        );
    }
    *page += "</tr></thead>\n<tbody>\n";
    for scenario in scenarios {
        let weight = report
            .cells
            .iter()
            .find(|cell| cell.scenario == *scenario)
            .map_or(0.0, |cell| cell.weight);
        let _ = write!(
            page,
            "<tr><th scope=\"row\"><a href=\"#{}\">{}</a></th><td class=\"num\">{weight}</td>",
            scenario_anchor(scenario),
            escape(scenario)
        );
        for tunnel in tunnels {
            match report
                .cells
                .iter()
                .position(|cell| cell.scenario == *scenario && cell.tunnel == *tunnel)
            {
                Some(at) => {
                    let cell = &report.cells[at];
                    let poisonable = if cell.poisonable == Some(true) {
                        " poisonable"
                    } else {
                        ""
                    };
                    let mark = if cell.as_expected() { "" } else { " !" };
                    let _ = write!(
                        page,
                        "<td class=\"{}\" data-cell=\"{}\"><a href=\"#{}\" title=\"{}\">{}{poisonable}{mark}</a></td>",
                        cell_classes(cell),
                        escape(&format!("{} × {}", cell.scenario, cell.tunnel)),
                        escape(&anchors[at]),
                        escape(&cell.detail),
                        escape(&verdict_text(cell)),
                    );
                }
                None => page.push_str("<td class=\"cell none\">—</td>"),
            }
        }
        *page += "</tr>\n";
    }
    *page += "</tbody>\n<tfoot><tr><th scope=\"row\">weighted</th><td></td>";
    for tunnel in tunnels {
        let rate = report
            .summary
            .tunnels
            .get(*tunnel)
            .map_or(0.0, |rate| rate.weighted_success_rate);
        let _ = write!(
            page,
            "<td class=\"num rate\" style=\"background:{}\">{:.0} %</td>",
            heat(rate),
            rate * 100.0
        );
    }
    *page += "</tr></tfoot>\n</table></div>\n</section>\n";
}

/// The colour of a failure of each category: the matrix's cells and its
/// legend are both made from this table, so they cannot disagree.
/// Each entry: the category, its background, its text colour, and what
/// it means to a reader.
const CATEGORY_COLOURS: &[(Category, &str, &str, &str)] = &[
    (
        Category::Refused,
        "#ffe0b2",
        "inherit",
        "an HTTP status instead of the tunnel, or connection refused",
    ),
    (
        Category::Tls,
        "#e1bee7",
        "inherit",
        "the TLS handshake failed",
    ),
    (
        Category::Reset,
        "#ef9a9a",
        "inherit",
        "the connection was reset or closed",
    ),
    (
        Category::Timeout,
        "#fff59d",
        "inherit",
        "no answer in time, or a gateway's timeout status",
    ),
    (
        Category::Corrupt,
        "#f48fb1",
        "inherit",
        "bytes came back different, or another protocol answered",
    ),
    (Category::IdleCut, "#b3e5fc", "inherit", "cut while idle"),
    (
        Category::Blocked,
        "#d7ccc8",
        "inherit",
        "a hop blocked the tunnel",
    ),
    (
        Category::Harness,
        "#424242",
        "#fff",
        "the harness failed; says nothing about the tunnel",
    ),
];

fn category_style(page: &mut String) {
    for (category, background, ink, _) in CATEGORY_COLOURS {
        let _ = writeln!(
            page,
            ".cell.fail.{} {{ background: {background}; color: {ink}; }}",
            category.as_str()
        );
    }
}

/// Every colour and mark a matrix cell can carry, as the cells show them.
fn legend(page: &mut String) {
    *page += "<ul class=\"legend\" aria-label=\"legend\">\n\
              <li><span class=\"cell pass\">pass</span> passed</li>\n";
    for (category, _, _, meaning) in CATEGORY_COLOURS {
        let name = category.as_str();
        let _ = writeln!(
            page,
            "<li data-category=\"{name}\"><span class=\"cell fail {name}\">fail {name}</span> {meaning}</li>"
        );
    }
    *page += "<li><span class=\"cell fail\">fail</span> failed, no category given</li>\n\
              <li><span class=\"cell pass unexpected\">pass !</span> not as expected: outlined, marked !, listed at the top</li>\n\
              <li><span class=\"cell pass\">pass poisonable</span> bytes inside the tunnel reached a caching hop as requests</li>\n\
              <li><span class=\"cell none\">—</span> not run</li>\n\
              </ul>\n<p class=\"note\">Select a cell for why.</p>\n";
}

/// A cell as the lists name it: its verdict in its colours, then
/// `scenario × tunnel`.
fn cell_label(cell: &CellResult) -> String {
    format!(
        "<span class=\"{}\">{}</span> {} × {}",
        cell_classes(cell),
        escape(&verdict_text(cell)),
        escape(&cell.scenario),
        escape(&cell.tunnel)
    )
}

fn cell_classes(cell: &CellResult) -> String {
    let mut classes = String::from("cell ");
    match (cell.verdict, cell.category) {
        (Verdict::Pass, _) => classes += "pass",
        (Verdict::Fail, Some(category)) => {
            let _ = write!(classes, "fail {}", category.as_str());
        }
        (Verdict::Fail, None) => classes += "fail",
    }
    if !cell.as_expected() {
        classes += " unexpected";
    }
    classes
}

fn cells(page: &mut String, report: &Report, anchors: &[String]) {
    *page += "<section id=\"cells\">\n<h2>Cells</h2>\n";
    *page += "<p class=\"note\">Cells not as expected come first and are open; select any cell to expand it.</p>\n";
    let mut order: Vec<usize> = (0..report.cells.len()).collect();
    // Stable, so each group keeps plan order.
    order.sort_by_key(|&at| report.cells[at].as_expected());
    for at in order {
        let cell = &report.cells[at];
        let open = if !cell.as_expected() { " open" } else { "" };
        let _ = writeln!(
            page,
            "<details class=\"cell-detail\" id=\"{}\"{open}>\n<summary>{}{}</summary>",
            escape(&anchors[at]),
            cell_label(cell),
            if cell.as_expected() {
                ""
            } else {
                " <strong class=\"warn\">not as expected</strong>"
            }
        );
        *page += "<dl>\n";
        let mut fact = |name: &str, value: &str| {
            let _ = writeln!(page, "<dt>{name}</dt><dd>{}</dd>", escape(value));
        };
        fact("verdict", cell.verdict.as_str());
        fact(
            "expected",
            cell.expected.map_or("(not said)", Verdict::as_str),
        );
        if cell.verdict == Verdict::Fail {
            fact("category", &category_text(cell));
            fact("blame", cell.blame.as_deref().unwrap_or("?"));
        }
        if !cell.detail.is_empty() {
            fact("detail", &cell.detail);
        }
        if let Some(poisonable) = cell.poisonable {
            fact(
                "cache poisoning",
                if poisonable {
                    "possible: bytes inside the tunnel reached a caching hop as requests"
                } else {
                    "not possible through this tunnel"
                },
            );
        }
        fact("duration", &format!("{} ms", cell.duration_ms));
        *page += "</dl>\n";
        if let Some(path) = report.path_of(&cell.scenario) {
            path_picture(page, path, cell.blame.as_deref());
        }
        if let Some(log) = cell.blamed_log() {
            let _ = writeln!(page, "<h4>{} transaction log</h4>", escape(&log.node));
            log_table(page, log);
        }
        let others: Vec<&NodeLog> = cell
            .logs
            .iter()
            .filter(|log| Some(log.node.as_str()) != cell.blame.as_deref())
            .filter(|log| !log.records.is_empty())
            .collect();
        if !others.is_empty() {
            *page += "<details class=\"logs\"><summary>Other nodes' logs</summary>\n";
            for log in others {
                let _ = writeln!(page, "<h4>{}</h4>", escape(&log.node));
                log_table(page, log);
            }
            *page += "</details>\n";
        }
        for (half, output) in &cell.output {
            let _ = writeln!(
                page,
                "<h4>{} output</h4>\n<pre>{}</pre>",
                escape(half),
                escape(output)
            );
        }
        *page += "</details>\n";
    }
    *page += "</section>\n";
}

fn log_table(page: &mut String, log: &NodeLog) {
    *page += "<div class=\"scroll\"><table class=\"log\">\n<thead><tr><th>conn</th><th>at</th><th>peer</th><th>port</th>\
             <th>target</th><th>protocol</th><th>action</th><th>status</th><th>bytes ↑/↓</th><th>detail</th><th>first bytes</th></tr></thead>\n<tbody>\n";
    for record in &log.records {
        log_row(page, record);
    }
    *page += "</tbody>\n</table></div>\n";
}

fn log_row(page: &mut String, record: &ConnRecord) {
    let fault = if record.action.is_fault() {
        " class=\"fault\""
    } else {
        ""
    };
    let mut detail = escape(&record.detail);
    if let Some(url) = &record.cache_poisoned {
        let _ = write!(detail, " <strong>cache poisoned: {}</strong>", escape(url));
    }
    let _ = writeln!(
        page,
        "<tr{fault}><td class=\"num\">{}</td><td class=\"num\">{} ms</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}/{}</td><td>{detail}</td><td><code>{}</code></td></tr>",
        record.conn,
        record.at_ms,
        escape(&record.peer),
        record.port,
        escape(record.target.as_deref().unwrap_or("—")),
        escape(&serde_name(&record.protocol)),
        escape(&serde_name(&record.action)),
        record
            .status
            .map_or("—".to_string(), |status| status.to_string()),
        record.bytes_up,
        record.bytes_down,
        escape(&record.first_bytes),
    );
}

fn paths(page: &mut String, report: &Report, scenarios: &[&str]) {
    *page += "<section id=\"scenarios\">\n<h2>Scenarios</h2>\n";
    for name in scenarios {
        let _ = writeln!(
            page,
            "<article class=\"scenario\" id=\"{}\">\n<h3>{}</h3>",
            scenario_anchor(name),
            escape(name)
        );
        match report.path_of(name) {
            Some(path) => {
                if !path.description.is_empty() {
                    let _ = writeln!(page, "<p>{}</p>", escape(&path.description));
                }
                let _ = writeln!(page, "<p class=\"note\">weight {}</p>", path.weight);
                path_picture(page, path, None);
            }
            None => page.push_str("<p class=\"note\">These results do not carry its path.</p>\n"),
        }
        *page += "</article>\n";
    }
    *page += "</section>\n";
}

/// Client → hops → origin as boxes, the blamed node outlined in red.
fn path_picture(page: &mut String, path: &ScenarioPath, blame: Option<&str>) {
    let blamed = |node: &str| {
        if blame == Some(node) { " blamed" } else { "" }
    };
    let _ = write!(
        page,
        "<ol class=\"path\" aria-label=\"path of {}\">",
        escape(&path.name)
    );
    let _ = write!(
        page,
        "<li class=\"node{}\"><strong>client</strong><span class=\"kind\">tunnel client</span>",
        blamed("client")
    );
    for setting in &path.client {
        let _ = write!(page, "<code>{}</code>", escape(setting));
    }
    *page += "</li>";
    for hop in &path.hops {
        let _ = write!(
            page,
            "<li class=\"node hop{}\"><strong>{}</strong><span class=\"kind\">{}{}</span>",
            blamed(&hop.name),
            escape(&hop.name),
            escape(&hop.kind),
            if hop.explicit {
                " · explicit proxy"
            } else {
                ""
            }
        );
        for setting in &hop.settings {
            let _ = write!(page, "<code>{}</code>", escape(setting));
        }
        *page += "</li>";
    }
    let _ = writeln!(
        page,
        "<li class=\"node{}\"><strong>origin</strong><span class=\"kind\">origin.test · {} certificate</span></li></ol>",
        blamed("origin"),
        escape(&path.origin_certificate)
    );
}

/// Each cell's anchor, `scenario--tunnel`, in the order of `cells`.
///
/// Names come from files and may hold anything; an anchor must be a
/// valid id and URL fragment as it stands, and the same for the same cell
/// in every run, so links into a report outlive the run. Characters
/// outside a safe set become `_`, and then (as when a name holds `--`,
/// which makes the split ambiguous) a digest of both names is appended so
/// names that read alike stay apart. Should two cells still meet (the
/// same cell twice, as repeats give), the later ones in plan order count
/// on: `-2`, `-3`.
fn cell_anchors(cells: &[CellResult]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    cells
        .iter()
        .map(|cell| {
            let base = cell_anchor(&cell.scenario, &cell.tunnel);
            let mut anchor = base.clone();
            let mut count = 1;
            while !taken.insert(anchor.clone()) {
                count += 1;
                anchor = format!("{base}-{count}");
            }
            anchor
        })
        .collect()
}

fn cell_anchor(scenario: &str, tunnel: &str) -> String {
    let (scenario_part, scenario_exact) = anchor_part(scenario);
    let (tunnel_part, tunnel_exact) = anchor_part(tunnel);
    let mut anchor = format!("{scenario_part}--{tunnel_part}");
    if !(scenario_exact && tunnel_exact) {
        let _ = write!(anchor, "-{:08x}", digest(&[scenario, tunnel]));
    }
    anchor
}

/// A name as it may stand in an anchor, and whether it stands unchanged
/// and unambiguous.
fn anchor_part(name: &str) -> (String, bool) {
    let part: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = !name.is_empty()
        && part == name
        && !name.contains("--")
        && !name.starts_with('-')
        && !name.ends_with('-');
    (part, exact)
}

/// FNV-1a over the names with a separator: fixed across runs and
/// platforms, unlike the standard library's seeded hasher.
fn digest(names: &[&str]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for name in names {
        for byte in name.bytes().chain([0]) {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// An id from a scenario name. The `:` keeps it apart from every cell
/// anchor, which never holds one.
fn scenario_anchor(name: &str) -> String {
    let (part, exact) = anchor_part(name);
    if exact {
        format!("scenario:{part}")
    } else {
        format!("scenario:{part}-{:08x}", digest(&[name]))
    }
}

/// Text made safe for element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#":root { color-scheme: light; --pass: #c8e6c9; --fail: #ffcdd2; --ink: #1b1b1b; --muted: #5f6368; --line: #d0d4d9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; margin: 0; padding: 1rem; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { margin: 2rem 0 .75rem; font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { margin: 1rem 0 .25rem; font-size: 1rem; }
h4 { margin: .75rem 0 .25rem; font-size: .9rem; }
.counts { font-weight: 600; margin: 0; }
.note { color: var(--muted); margin: .25rem 0; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; padding: 0; margin: .25rem 0; }
ul.unexpected { padding-left: 1.2rem; }
ul.unexpected li { margin: .2rem 0; }
ul.unexpected a { color: inherit; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll.matrix { overflow: auto; max-height: 90vh; }
table { border-collapse: collapse; }
th, td { padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--line); white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.rates td, .rates th { border-bottom: 1px solid var(--line); }
.rates td { white-space: nowrap; }
.bar { display: inline-block; width: 12rem; height: .8rem; background: #eceff1; border-radius: 2px; vertical-align: middle; }
.bar > span { display: block; height: 100%; border-radius: 2px; }
.heatmap { border-collapse: separate; border-spacing: 0; }
.heatmap td, .heatmap th { border: 1px solid #fff; }
.heatmap thead th { position: sticky; top: 0; z-index: 2; background: #fff; white-space: normal; overflow-wrap: anywhere; vertical-align: bottom; }
.heatmap td.cell { white-space: normal; min-width: 4rem; }
.heatmap th[scope=row] { position: sticky; left: 0; z-index: 1; background: #fff; white-space: nowrap; }
.heatmap thead th:first-child { left: 0; z-index: 3; }
@media (max-width: 600px) { .bar { width: 4rem; } .heatmap th[scope=row] { white-space: normal; overflow-wrap: anywhere; min-width: 7rem; max-width: 9rem; } }
.heatmap tfoot td.rate { color: #fff; font-weight: 600; }
.cell { white-space: nowrap; border-radius: 3px; }
span.cell { padding: .1rem .4rem; }
.cell a { color: inherit; text-decoration: none; display: block; }
.cell a:hover { text-decoration: underline; }
.cell.pass { background: var(--pass); }
.cell.fail { background: var(--fail); }
.cell.unexpected { outline: 3px solid #b71c1c; outline-offset: -3px; font-weight: 700; }
.cell.none { color: var(--muted); }
.warn { color: #b71c1c; }
details.cell-detail { border: 1px solid var(--line); border-radius: 4px; padding: .4rem .75rem; margin: .4rem 0; }
details.cell-detail:target { box-shadow: 0 0 0 3px #1565c0; }
details.cell-detail > summary { cursor: pointer; }
details.cell-detail > summary .cell { padding: .05rem .4rem; margin-right: .4rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
table.log { font-size: .85rem; }
table.log td, table.log th { border-bottom: 1px solid var(--line); }
table.log tr.fault td { background: #fff3e0; }
table.log code { font-size: .8rem; overflow-wrap: anywhere; }
pre { background: #f5f5f5; padding: .5rem; overflow-x: auto; font-size: .85rem; }
ol.path { list-style: none; display: flex; flex-wrap: wrap; align-items: stretch; gap: .25rem; padding: 0; margin: .5rem 0; }
ol.path li { display: flex; flex-direction: column; border: 2px solid #90a4ae; border-radius: 6px; padding: .35rem .6rem; background: #fafafa; min-width: 7rem; }
ol.path li + li { margin-left: 1.6rem; position: relative; }
ol.path li + li::before { content: "→"; position: absolute; left: -1.45rem; top: 50%; transform: translateY(-50%); font-size: 1.2rem; color: var(--muted); }
ol.path li.hop { background: #e3f2fd; }
ol.path li.blamed { border-color: #c62828; background: #ffebee; }
ol.path .kind { color: var(--muted); font-size: .85rem; }
ol.path code { font-size: .8rem; }
"#;

/// Opens the cell a link or the address points at: a closed details
/// element would otherwise hide what the reader asked for.
const SCRIPT: &str = r#"function openTarget() {
  var id = decodeURIComponent(location.hash.slice(1));
  var target = id && document.getElementById(id);
  if (target && target.tagName === "DETAILS") { target.open = true; }
}
window.addEventListener("hashchange", openTarget);
openTarget();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render_html(&fixture::report()));
    }

    #[test]
    fn every_cell_is_in_the_heatmap_and_expands() {
        let report = fixture::report();
        let html = render_html(&report);
        for cell in &report.cells {
            let anchor = cell_anchor(&cell.scenario, &cell.tunnel);
            assert!(
                html.contains(&format!("href=\"#{anchor}\"")),
                "{anchor} missing from the heatmap"
            );
            assert!(
                html.contains(&format!("<details class=\"cell-detail\" id=\"{anchor}\"")),
                "{anchor} cannot expand"
            );
        }
        assert_eq!(html.matches("data-cell=").count(), report.cells.len());
    }

    #[test]
    fn anchors_are_scenario_and_tunnel() {
        let html = render_html(&fixture::report());
        assert!(html.contains("<details class=\"cell-detail\" id=\"corp-f5--ws\""));
        assert!(html.contains("href=\"#cloudflare-idle--h2\""));
        assert!(!html.contains("cell-0"), "a plan index is not an anchor");
    }

    /// Every character of an anchor is one a URL fragment and an id take
    /// as they stand.
    fn safe(anchor: &str) -> bool {
        !anchor.is_empty()
            && anchor.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=' | ':')
            })
    }

    #[test]
    fn anchors_from_hostile_names_are_safe_and_distinct() {
        let names = [
            ("corp f5", "ws"),
            ("corp_f5", "ws"),
            ("corp-f5", "ws"),
            ("a\"><script>", "ws"),
            ("a#b", "ws"),
            ("a?b", "ws"),
            ("a--b", "c"),
            ("a", "b--c"),
            ("café", "ws"),
            ("", "ws"),
            ("-", "-"),
            ("x", "ws+ping=30s"),
        ];
        let cells: Vec<CellResult> = names
            .iter()
            .map(|(scenario, tunnel)| CellResult {
                scenario: scenario.to_string(),
                tunnel: tunnel.to_string(),
                ..fixture::cells()[0].clone()
            })
            .collect();
        let anchors = cell_anchors(&cells);
        for ((scenario, tunnel), anchor) in names.iter().zip(&anchors) {
            assert!(safe(anchor), "{scenario:?} × {tunnel:?}: {anchor:?}");
        }
        let distinct: std::collections::HashSet<&String> = anchors.iter().collect();
        assert_eq!(distinct.len(), anchors.len(), "{anchors:?}");
        assert_eq!(anchors[2], "corp-f5--ws");
        assert_eq!(anchors[11], "x--ws+ping=30s");
        // The same names give the same anchor in every run.
        assert_eq!(anchors[0], cell_anchor("corp f5", "ws"));
        assert_eq!(anchors[0], "corp_f5--ws-b8121d10");

        let html = render_html(&Report::new(cells, 1.0));
        assert!(!html.contains("<script>\""), "a name reached the page raw");
        assert!(html.contains("a&quot;&gt;&lt;script&gt; × ws"));
    }

    #[test]
    fn the_same_cell_twice_gets_two_anchors_in_plan_order() {
        let cell = fixture::cells()[0].clone();
        let anchors = cell_anchors(&[cell.clone(), cell.clone(), cell]);
        assert_eq!(anchors, ["corp-f5--ws", "corp-f5--ws-2", "corp-f5--ws-3"]);
    }

    #[test]
    fn scenario_anchors_differ_for_names_that_read_alike_and_from_cells() {
        assert_ne!(scenario_anchor("a b"), scenario_anchor("a_b"));
        assert_eq!(scenario_anchor("corp-f5"), "scenario:corp-f5");
        assert!(safe(&scenario_anchor("corp f5/ws#1")));
        assert!(!cell_anchor("scenario:x", "y").contains(':'));
    }

    /// The page from the first `start` to the next `end`.
    fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
        html.split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(inside, _)| inside)
            .unwrap_or_else(|| panic!("no {start} … {end} in the page"))
    }

    /// Every category the runner can give, by its wire name.
    fn all_categories() -> Vec<String> {
        fn collect(value: &serde_json::Value, into: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("const", serde_json::Value::String(name)) => into.push(name.clone()),
                            ("enum", serde_json::Value::Array(names)) => into.extend(
                                names
                                    .iter()
                                    .filter_map(|name| name.as_str().map(String::from)),
                            ),
                            _ => collect(value, into),
                        }
                    }
                }
                serde_json::Value::Array(values) => {
                    values.iter().for_each(|value| collect(value, into));
                }
                _ => {}
            }
        }
        let schema = serde_json::to_value(schemars::schema_for!(Category)).expect("schema");
        let mut names = Vec::new();
        collect(&schema, &mut names);
        names
    }

    #[test]
    fn the_legend_shows_every_category_in_its_colour() {
        let categories = all_categories();
        assert!(categories.len() >= 8, "{categories:?}");
        let html = render_html(&fixture::report());
        let legend = between(&html, "<ul class=\"legend\"", "</ul>");
        for name in &categories {
            assert!(
                legend.contains(&format!(
                    "<span class=\"cell fail {name}\">fail {name}</span>"
                )),
                "the legend lacks {name}"
            );
            let rule = format!(".cell.fail.{name} {{ background: ");
            assert_eq!(html.matches(&rule).count(), 1, "{name} has no colour");
        }
        assert_eq!(CATEGORY_COLOURS.len(), categories.len());
        let backgrounds: std::collections::HashSet<&str> = CATEGORY_COLOURS
            .iter()
            .map(|(_, background, _, _)| *background)
            .collect();
        assert_eq!(
            backgrounds.len(),
            categories.len(),
            "two categories share a colour"
        );
        for mark in [
            "<span class=\"cell pass\">pass</span>",
            "<span class=\"cell fail\">fail</span>",
            "not as expected",
            "poisonable",
            "not run",
        ] {
            assert!(legend.contains(mark), "the legend lacks {mark}");
        }
    }

    #[test]
    fn cells_not_as_expected_come_first() {
        let html = render_html(&fixture::report());
        let top = between(&html, "<section id=\"unexpected\">", "</section>");
        assert!(
            html.find("id=\"unexpected\"") < html.find("id=\"rates\""),
            "the list is not at the top"
        );
        assert!(top.contains("<a href=\"#corp-f5--h2\">"));
        assert!(top.contains("<a href=\"#cloudflare-idle--ws\">"));
        assert_eq!(top.matches("<li>").count(), 2, "{top}");
        // In the details too, before the cells that met their expectation.
        let details: Vec<&str> = html
            .split("<details class=\"cell-detail\" id=\"")
            .skip(1)
            .map(|part| part.split('"').next().unwrap_or_default())
            .collect();
        assert_eq!(
            details[..2],
            ["corp-f5--h2", "cloudflare-idle--ws"],
            "{details:?}"
        );
    }

    #[test]
    fn a_run_that_met_every_expectation_says_so_at_the_top() {
        let cells = fixture::cells()
            .into_iter()
            .filter(CellResult::as_expected)
            .collect();
        let html = render_html(&Report::new(cells, 1.0));
        assert!(html.contains(
            "<section id=\"unexpected\">\n<h2>Not as expected</h2>\n<p class=\"note\">Every cell met its expectation.</p>"
        ));
    }

    #[test]
    fn the_page_takes_the_whole_width_and_the_matrix_scrolls_alone() {
        let html = render_html(&fixture::report());
        assert!(!html.contains("max-width: 1400px"));
        assert!(html.contains("<div class=\"scroll matrix\"><table class=\"heatmap\">"));
        assert!(html.contains(
            ".heatmap th[scope=row] { position: sticky; left: 0; z-index: 1; background: #fff;"
        ));
    }

    #[test]
    fn a_failure_shows_its_blamed_hop_log_and_path() {
        let html = render_html(&fixture::report());
        let corp_f5_ws = html
            .split("<details class=\"cell-detail\"")
            .skip(1)
            .find(|part| part.contains("corp-f5 × ws"))
            .expect("the corp-f5 × ws cell");
        assert!(corp_f5_ws.contains("<dt>blame</dt><dd>f5</dd>"));
        assert!(corp_f5_ws.contains("<h4>f5 transaction log</h4>"));
        assert!(corp_f5_ws.contains("stripped-upgrade"));
        assert!(corp_f5_ws.contains("<li class=\"node hop blamed\"><strong>f5</strong>"));
    }

    #[test]
    fn is_self_contained() {
        let html = render_html(&fixture::report());
        for outside in ["src=", "<link", "http://", "https://", "@import", "url("] {
            assert!(
                !html.contains(outside),
                "the page refers outside: {outside}"
            );
        }
    }

    #[test]
    fn escapes_free_text() {
        assert_eq!(
            escape("<script>\"a\" & 'b'"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;"
        );
        let html = render_html(&fixture::report());
        assert!(html.contains("removed Upgrade | Connection"));
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn no_cells_says_so() {
        let html = render_html(&Report::new(Vec::new(), 1.0));
        assert!(html.contains("<p>No cells ran.</p>"));
    }
}
