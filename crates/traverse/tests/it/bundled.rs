//! The bundled scenarios are the product's demo and its regression suite:
//! every cell must meet its scenario's expectation, and the matrix
//! (verdicts, categories, statuses and blame; no timings) is a snapshot.

use std::fmt::Write as _;

use traverse_runner::{RunOptions, TunnelSpec};

use crate::support::{assert_as_expected, repo_root, summary};

#[tokio::test]
async fn bundled_matrix_meets_every_expectation() {
    let scenarios = traverse_scenario::load_all(&[repo_root().join("scenarios")])
        .unwrap_or_else(|errors| panic!("bundled scenarios are invalid: {errors:?}"));
    assert!(scenarios.len() >= 7, "bundled scenarios are missing");
    // As `traverse run` picks them: every built-in tunnel, and the ones
    // with parameters that a scenario expects something of.
    let mut tunnels: Vec<TunnelSpec> = traverse_tunnel::BUILTIN
        .iter()
        .copied()
        .map(TunnelSpec::from)
        .collect();
    tunnels.extend(traverse_runner::expected_tunnels(&scenarios, &tunnels));
    let cells = traverse_runner::plan(&scenarios, &tunnels);
    let results = traverse_runner::run(cells, &RunOptions::default(), |_| {})
        .await
        .expect("run");

    assert_as_expected(&results);
    assert!(
        results.iter().all(|cell| cell.expected.is_some()),
        "every bundled cell states its expectation"
    );

    let mut matrix = String::new();
    for cell in &results {
        let _ = writeln!(matrix, "{:<30} {}", cell.scenario, summary(cell));
    }
    insta::assert_snapshot!("bundled_matrix", matrix);

    let rendered = traverse_report::render(&results);
    let table = rendered.split("\n\n").next().unwrap_or_default();
    insta::assert_snapshot!("bundled_matrix_table", table);
}
