//! JUnit XML is how a run's results get to CI systems. Reports are the last
//! step of the data flow; this one takes the same [`Report`] the JSON
//! document holds and writes it in the format test dashboards already read:
//! one test suite per scenario, one test case per cell (the tunnel's name,
//! with the scenario as its class name and the cell's duration as its time).
//!
//! A test case fails exactly when its cell is not as expected: the verdict
//! differs from what the scenario file expects, which is what should break a
//! CI build. The failure's message is `expected <e>, got <v>`, its type is
//! the failure category (`unexpected-pass` for a pass that should have
//! failed), and its text gives category, status, blame and detail, then the
//! blamed node's log records, one line each. A cell that fails as expected
//! passes in JUnit terms; so does a cell whose scenario states no
//! expectation, since there is nothing it could contradict. Both still carry
//! their verdict in `system-out` (`fail refused 400, blame f5: <detail>`),
//! so the reason stays readable. Whether a cell is poisonable is noted in
//! `system-out` too, and an external tunnel's output in `system-err`.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use traverse_runner::{CellResult, Verdict};

use crate::Report;
use crate::summary::{serde_name, verdict_text};

/// The JUnit XML document for `report`, scenarios in plan order.
pub fn render_junit(report: &Report) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for cell in &report.cells {
        if !scenarios.contains(&cell.scenario.as_str()) {
            scenarios.push(&cell.scenario);
        }
    }
    let mut junit = quick_junit::Report::new("traverse");
    junit.add_test_suites(scenarios.into_iter().map(|scenario| {
        let mut suite = TestSuite::new(scenario);
        suite.add_test_cases(
            report
                .cells
                .iter()
                .filter(|cell| cell.scenario == scenario)
                .map(test_case),
        );
        suite
    }));
    // Serialising into memory fails only on I/O errors, which cannot happen.
    junit.to_string().unwrap_or_default()
}

fn test_case(cell: &CellResult) -> TestCase {
    let status = if cell.as_expected() {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(format!(
                "expected {}, got {}",
                cell.expected.map_or("?", Verdict::as_str),
                cell.verdict.as_str()
            ))
            .set_type(match (cell.verdict, cell.category) {
                (Verdict::Pass, _) => "unexpected-pass",
                (Verdict::Fail, Some(category)) => category.as_str(),
                (Verdict::Fail, None) => "fail",
            })
            .set_description(failure_text(cell));
        status
    };
    let mut case = TestCase::new(cell.tunnel.as_str(), status);
    case.set_classname(cell.scenario.as_str())
        .set_time(Duration::from_millis(cell.duration_ms));
    if let Some(out) = system_out(cell) {
        case.set_system_out(out);
    }
    if !cell.output.is_empty() {
        let mut err = String::new();
        for (half, output) in &cell.output {
            let _ = writeln!(err, "--- {half} ---\n{}", output.trim_end());
        }
        case.set_system_err(err);
    }
    case
}

/// The text of a JUnit failure: every field a person needs to act on it.
fn failure_text(cell: &CellResult) -> String {
    let mut text = String::new();
    if cell.verdict == Verdict::Pass {
        let _ = writeln!(
            text,
            "the tunnel got through where the scenario expects it to fail"
        );
        if !cell.detail.is_empty() {
            let _ = writeln!(text, "detail: {}", cell.detail);
        }
        return text;
    }
    let _ = writeln!(
        text,
        "category: {}",
        cell.category.map_or("-", |category| category.as_str())
    );
    let _ = writeln!(
        text,
        "status: {}",
        cell.status
            .map_or("-".to_string(), |status| status.to_string())
    );
    let _ = writeln!(text, "blame: {}", cell.blame.as_deref().unwrap_or("-"));
    let _ = writeln!(text, "detail: {}", cell.detail);
    text.push_str(&blamed_log_text(cell));
    text
}

/// The verdict for cells that pass in JUnit terms yet have something to
/// say: a failure that was expected or not judged, or a poisonable tunnel.
fn system_out(cell: &CellResult) -> Option<String> {
    let mut out = String::new();
    if cell.as_expected() && cell.verdict == Verdict::Fail {
        let _ = writeln!(
            out,
            "{}, blame {}: {}",
            verdict_text(cell),
            cell.blame.as_deref().unwrap_or("?"),
            cell.detail
        );
        if cell.expected.is_none() {
            let _ = writeln!(out, "(the scenario states no expectation for this tunnel)");
        }
        out.push_str(&blamed_log_text(cell));
    }
    if cell.poisonable == Some(true) {
        let _ = writeln!(
            out,
            "poisonable: bytes inside the tunnel could poison a caching hop on the path"
        );
    }
    (!out.is_empty()).then_some(out)
}

/// The blamed node's log records, one line each, under a heading.
fn blamed_log_text(cell: &CellResult) -> String {
    let mut text = String::new();
    let Some(log) = cell.blamed_log() else {
        return text;
    };
    let _ = writeln!(text, "{} log:", log.node);
    for record in &log.records {
        let action = serde_name(&record.action);
        let _ = writeln!(
            text,
            "  {action}, status {}: {}",
            record
                .status
                .map_or("-".to_string(), |status| status.to_string()),
            record.detail
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render_junit(&fixture::report()));
    }

    #[test]
    fn fails_exactly_the_cells_not_as_expected() {
        let report = fixture::report();
        let xml = render_junit(&report);
        assert!(xml.contains("<testsuites"));
        let unexpected = report
            .cells
            .iter()
            .filter(|cell| !cell.as_expected())
            .count();
        assert_eq!(unexpected, 2);
        assert_eq!(xml.matches("<failure").count(), unexpected);
        assert!(xml.contains(&format!(
            r#"<testsuites name="traverse" tests="6" skipped="0" failures="{unexpected}" errors="0">"#
        )));
        assert_eq!(xml.matches("<testsuite ").count(), 2);
        assert_eq!(xml.matches("<testcase ").count(), 6);
        assert!(xml.contains(r#"type="unexpected-pass""#));
        assert!(xml.contains(r#"message="expected pass, got fail" type="reset""#));
    }

    #[test]
    fn an_expected_failure_passes_and_says_why() {
        let xml = render_junit(&fixture::report());
        assert!(xml.contains("fail refused 400, blame f5: answered HTTP 400"));
        assert!(xml.contains("stripped-upgrade, status 400: removed Upgrade"));
        // Only the blamed node's log is shown.
        assert!(!xml.contains("not a WebSocket"));
    }
}
