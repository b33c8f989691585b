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
//! The script only opens the cell a link points at; without it every
//! cell still expands by hand.

use std::fmt::Write as _;

use traverse_net::ConnRecord;
use traverse_runner::{CellResult, NodeLog, Verdict};

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
    page += "<main>\n";
    rates(&mut page, report, &tunnels);
    heatmap(&mut page, report, &scenarios, &tunnels);
    cells(&mut page, report);
    paths(&mut page, report, &scenarios);
    page += "</main>\n<script>\n";
    page += SCRIPT;
    page += "</script>\n</body>\n</html>\n";
    page
}

fn rates(page: &mut String, report: &Report, tunnels: &[&str]) {
    *page += "<section id=\"rates\">\n<h2>Success rate by tunnel</h2>\n";
    *page += "<table class=\"rates\">\n<thead><tr><th scope=\"col\">tunnel</th><th scope=\"col\">passed</th>\
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
    *page += "</tbody>\n</table>\n</section>\n";
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

fn heatmap(page: &mut String, report: &Report, scenarios: &[&str], tunnels: &[&str]) {
    *page += "<section id=\"matrix\">\n<h2>Matrix</h2>\n";
    *page += "<p class=\"legend\"><span class=\"cell pass\">pass</span> <span class=\"cell fail\">fail</span> \
             <span class=\"cell unexpected\">not as expected !</span> Select a cell for why.</p>\n";
    *page += "<div class=\"scroll\"><table class=\"heatmap\">\n<thead><tr><th scope=\"col\">scenario</th><th scope=\"col\">weight</th>";
    for tunnel in tunnels {
        let _ = write!(page, "<th scope=\"col\">{}</th>", escape(tunnel));
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
                .find(|cell| cell.scenario == *scenario && cell.tunnel == *tunnel)
            {
                Some(cell) => {
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
                        cell_anchor(cell),
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

fn cells(page: &mut String, report: &Report) {
    *page += "<section id=\"cells\">\n<h2>Cells</h2>\n";
    *page +=
        "<p class=\"note\">Cells not as expected are open; select any cell to expand it.</p>\n";
    for cell in &report.cells {
        let open = if !cell.as_expected() { " open" } else { "" };
        let _ = writeln!(
            page,
            "<details class=\"cell-detail\" id=\"{}\"{open}>\n<summary><span class=\"{}\">{}</span> {} × {}{}</summary>",
            cell_anchor(cell),
            cell_classes(cell),
            escape(&verdict_text(cell)),
            escape(&cell.scenario),
            escape(&cell.tunnel),
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

fn cell_anchor(cell: &CellResult) -> String {
    format!("cell-{}", cell.cell)
}

/// An id from a scenario name, which may hold anything a file name can.
fn scenario_anchor(name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    // Names differing only in what was replaced must not share an id.
    let digest = name.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(byte.into())
    });
    format!("scenario-{readable}-{digest:x}")
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
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); margin: 0 auto; padding: 1.5rem; max-width: 1400px; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { margin: 2rem 0 .75rem; font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { margin: 1rem 0 .25rem; font-size: 1rem; }
h4 { margin: .75rem 0 .25rem; font-size: .9rem; }
.counts { font-weight: 600; margin: 0; }
.note, .legend { color: var(--muted); margin: .25rem 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--line); white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.rates td, .rates th { border-bottom: 1px solid var(--line); }
.bar { display: inline-block; width: 12rem; height: .8rem; background: #eceff1; border-radius: 2px; vertical-align: middle; }
.bar > span { display: block; height: 100%; border-radius: 2px; }
.heatmap th[scope=row] { white-space: nowrap; }
.heatmap td, .heatmap th { border: 1px solid #fff; }
.heatmap tfoot td.rate { color: #fff; font-weight: 600; }
.cell { white-space: nowrap; border-radius: 3px; }
span.cell { padding: .1rem .4rem; }
.cell a { color: inherit; text-decoration: none; display: block; }
.cell a:hover { text-decoration: underline; }
.cell.pass { background: var(--pass); }
.cell.fail { background: var(--fail); }
.cell.refused { background: #ffe0b2; }
.cell.tls { background: #e1bee7; }
.cell.reset, .cell.corrupt { background: #ef9a9a; }
.cell.timeout { background: #fff59d; }
.cell.idle-cut { background: #b3e5fc; }
.cell.blocked { background: #d7ccc8; }
.cell.harness { background: #424242; color: #fff; }
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
            let anchor = cell_anchor(cell);
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
    fn scenario_anchors_differ_for_names_that_read_alike() {
        assert_ne!(scenario_anchor("a b"), scenario_anchor("a-b"));
        assert!(
            scenario_anchor("corp f5/ws")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
    }

    #[test]
    fn no_cells_says_so() {
        let html = render_html(&Report::new(Vec::new(), 1.0));
        assert!(html.contains("<p>No cells ran.</p>"));
    }
}
