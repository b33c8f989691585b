//! Reports are the last step of the data flow: they turn a run's
//! [`CellResult`]s into what people and CI read. The terminal matrix puts
//! scenarios in rows and tunnels in columns with the reason for every
//! failure underneath; the JSON document is the stable interface for CI and
//! dashboards; the summary gives each tunnel's success rate, plain and
//! weighted by how common each topology is. Each command's [`Output`] (what
//! `run`, `merge` and `compare` print and write) is made here too, beside
//! the renderers, so the CLI only puts it on stdout and in files.

mod compare;
#[cfg(test)]
mod fixture;
/// The fuzz target's property, shared with the corpus regression test.
#[doc(hidden)]
pub mod fuzzing;
mod html;
mod json;
mod junit;
mod markdown;
mod output;
mod summary;
mod terminal;

pub use compare::{
    CellChange, Comparison, ComparisonFormat, RankedTunnel, Ranking, TunnelDelta, compare,
    compare_runs, rank, render_comparison, render_comparison_markdown, render_ranking,
    render_ranking_markdown,
};
pub use html::render_html;
pub use json::{
    PathHop, Report, ResultsError, SCHEMA_VERSION, ScenarioPath, load_all_results, load_results,
    merge, merge_runs, parse_results, stream_header, stream_line,
};
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use output::{Format, Output};
pub use summary::{Summary, TunnelSummary};
pub use terminal::{TerminalStyle, Why, explain, printable, render, render_styled};
pub use traverse_runner::CellResult;
