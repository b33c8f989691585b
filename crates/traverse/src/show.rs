//! `traverse show RESULTS.json SCENARIO TUNNEL`: one cell's whole story,
//! read back from a run's JSON results, for the cell the matrix or its
//! "Why" line points at. It comes after the run in the data flow, beside
//! `merge` and `compare`, and reads the results as they do: the path the
//! cell's bytes took, its verdict against the expectation, who is blamed
//! and why, the blamed hop's transaction log in full and every other
//! node's folded to one line. Everything in it comes from a file, so all
//! of it reaches the terminal through [`printable`].

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use traverse_net::ConnRecord;
use traverse_report::{CellResult, Report, printable};
use traverse_runner::NodeLog;

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A run's JSON results (`traverse run --json FILE`).
    results: PathBuf,
    /// The cell's scenario, as the matrix names it.
    scenario: String,
    /// The cell's tunnel, as the matrix names it (`ws+ping=30s`).
    tunnel: String,
}

pub fn show(args: &ShowArgs) -> anyhow::Result<Exit> {
    let report = crate::read_reports(std::slice::from_ref(&args.results))?
        .pop()
        .context("no results read")?;
    match find(&report, &args.scenario, &args.tunnel) {
        Ok(cell) => {
            print!("{}", story(&report, cell));
            Ok(Exit::AsExpected)
        }
        Err(why) => {
            let results = args.results.display().to_string();
            eprintln!("error: {}: {why}", printable(&results));
            Ok(Exit::InvalidInput)
        }
    }
}

/// The cell, or what there is to choose from instead.
fn find<'a>(report: &'a Report, scenario: &str, tunnel: &str) -> Result<&'a CellResult, String> {
    let mut scenarios: Vec<&str> = Vec::new();
    for cell in &report.cells {
        if !scenarios.contains(&cell.scenario.as_str()) {
            scenarios.push(&cell.scenario);
        }
    }
    if !scenarios.contains(&scenario) {
        return Err(format!(
            "no scenario \"{}\"; scenarios: {}",
            printable(scenario),
            names(&scenarios)
        ));
    }
    let tunnels: Vec<&str> = report
        .cells
        .iter()
        .filter(|cell| cell.scenario == scenario)
        .map(|cell| cell.tunnel.as_str())
        .collect();
    report
        .cells
        .iter()
        .find(|cell| cell.scenario == scenario && cell.tunnel == tunnel)
        .ok_or_else(|| {
            format!(
                "no tunnel \"{}\" in scenario \"{}\"; tunnels: {}",
                printable(tunnel),
                printable(scenario),
                names(&tunnels)
            )
        })
}

fn names(names: &[&str]) -> String {
    if names.is_empty() {
        return "none (the results hold no cells)".to_string();
    }
    names
        .iter()
        .map(|name| printable(name).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole story of `cell`, as printed.
fn story(report: &Report, cell: &CellResult) -> String {
    let mut out = String::new();
    let judged = if cell.as_expected() {
        "as expected"
    } else {
        "NOT AS EXPECTED"
    };
    let _ = writeln!(
        out,
        "{} × {}: {} ({judged})\n",
        printable(&cell.scenario),
        printable(&cell.tunnel),
        cell.verdict.as_str(),
    );
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{:<12}{}", format!("{name}:"), printable(value));
    };
    field("path", &path(report, cell));
    field("verdict", cell.verdict.as_str());
    field(
        "expected",
        cell.expected
            .map_or("nothing said", |verdict| verdict.as_str()),
    );
    field(
        "category",
        &cell
            .category
            .map_or("-".to_string(), |category| match cell.status {
                Some(status) => format!("{} {status}", category.as_str()),
                None => category.as_str().to_string(),
            }),
    );
    field("blame", cell.blame.as_deref().unwrap_or("-"));
    field(
        "detail",
        if cell.detail.is_empty() {
            "-"
        } else {
            &cell.detail
        },
    );
    if let Some(poisonable) = cell.poisonable {
        field("poisonable", if poisonable { "yes" } else { "no" });
    }
    if let Some(keepalives) = cell.keepalives {
        field("keepalives", &format!("{keepalives} answered"));
    }
    field("duration", &format!("{} ms", cell.duration_ms));

    let blamed = cell.blamed_log();
    if let Some(log) = blamed {
        let _ = writeln!(
            out,
            "\nlog of {} (blamed), {}:",
            printable(&log.node),
            connections(log)
        );
        for record in &log.records {
            out += &record_in_full(record);
        }
    } else if let Some(blame) = &cell.blame {
        let _ = writeln!(out, "\n{} (blamed) keeps no log.", printable(blame));
    }
    let others: Vec<&NodeLog> = cell
        .logs
        .iter()
        .filter(|log| blamed.is_none_or(|blamed| blamed.node != log.node))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "\nother nodes:");
        for log in others {
            let _ = writeln!(out, "  {}", folded(log));
        }
    }
    for (half, printed) in &cell.output {
        let _ = writeln!(out, "\noutput of {}:", printable(half));
        for line in printed.lines() {
            let _ = writeln!(out, "  | {}", printable(line));
        }
    }
    out
}

/// `client → f5 (tls-terminator: mode = "http") → origin (public)`.
fn path(report: &Report, cell: &CellResult) -> String {
    let Some(path) = report
        .scenarios
        .iter()
        .find(|path| path.name == cell.scenario)
    else {
        return "not in these results".to_string();
    };
    let mut nodes = vec![if path.client.is_empty() {
        "client".to_string()
    } else {
        format!("client ({})", path.client.join(", "))
    }];
    for hop in &path.hops {
        let explicit = if hop.explicit { ", explicit" } else { "" };
        nodes.push(if hop.settings.is_empty() {
            format!("{} ({}{explicit})", hop.name, hop.kind)
        } else {
            format!(
                "{} ({}{explicit}: {})",
                hop.name,
                hop.kind,
                hop.settings.join(", ")
            )
        });
    }
    nodes.push(format!("origin ({} certificate)", path.origin_certificate));
    nodes.join(" → ")
}

fn connections(log: &NodeLog) -> String {
    match log.records.len() {
        1 => "1 connection".to_string(),
        count => format!("{count} connections"),
    }
}

/// Every field the record has, as the JSON results name it, so a field
/// added to the log shows here without a change.
fn record_in_full(record: &ConnRecord) -> String {
    let mut out = format!("  connection {}\n", record.conn);
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(record) else {
        return out;
    };
    for (name, value) in fields {
        let value = match value {
            // The heading says which connection; null says nothing.
            _ if name == "conn" => continue,
            serde_json::Value::Null => continue,
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        let _ = writeln!(out, "    {name}: {}", printable(&value));
    }
    out
}

/// A node's log in one line: how many connections, and what the last one
/// came to.
fn folded(log: &NodeLog) -> String {
    let mut line = format!("{}: {}", printable(&log.node), connections(log));
    if let Some(last) = log.records.last() {
        let action = serde_json::to_value(last.action)
            .ok()
            .and_then(|action| action.as_str().map(str::to_string))
            .unwrap_or_default();
        line += &format!("; last: {action}");
        if let Some(status) = last.status {
            line += &format!(" {status}");
        }
        if !last.detail.is_empty() {
            line += &format!(": {}", printable(&last.detail));
        }
    }
    line
}
