//! What a command prints and what it writes, all rendered before anything
//! is: the step between the renderers and the CLI, which puts the text on
//! stdout and each document in its file, whole or not at all. `run` and
//! `merge` come to one [`Report`], shown as the matrix and written in any
//! of the run's [`Format`]s; `compare` comes to a comparison or a ranking
//! (see [`compare_runs`](crate::compare_runs)). Nothing here touches a
//! file or decides an exit code; [`Output::as_expected`] says which way
//! it goes.

use std::path::PathBuf;

use crate::{Report, TerminalStyle};

/// A format a run's results are written in, besides the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The JSON results, what `merge` and `compare` read.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
    /// Markdown, for a pull-request comment.
    Markdown,
    /// One self-contained HTML page.
    Html,
}

impl Format {
    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Json => report.to_json(),
            Format::Junit => crate::render_junit(report),
            Format::Markdown => crate::render_markdown(report),
            Format::Html => crate::render_html(report),
        }
    }
}

/// A command's output: the text for stdout and the files to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// What to print.
    pub text: String,
    /// Each file asked for with its contents, in the order asked.
    pub files: Vec<(PathBuf, String)>,
    /// Whether all is as it should be: every cell met its expectation
    /// (`run`, `merge`), or no cell regressed (`compare`).
    pub as_expected: bool,
}

impl Report {
    /// The matrix in `style`, and the results in each format asked for.
    pub fn output(&self, style: TerminalStyle, files: &[(PathBuf, Format)]) -> Output {
        // Each rendering reads the report alone: on a million-cell merge,
        // the matrix and every file are rendered side by side, each on a
        // thread of its own, instead of one after another.
        let (text, files) = std::thread::scope(|scope| {
            let renderings: Vec<_> = files
                .iter()
                .map(|(path, format)| scope.spawn(move || (path.clone(), format.render(self))))
                .collect();
            let text = crate::render_styled(&self.cells, style);
            let files: Vec<(PathBuf, String)> = renderings
                .into_iter()
                .map(|rendering| {
                    rendering
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect();
            (text, files)
        });
        Output {
            text,
            files,
            as_expected: self.summary.unexpected == 0,
        }
    }
}

/// A document as indented JSON. Documents are plain data with string
/// keys, so serialising them cannot fail.
pub(crate) fn pretty_json(document: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn a_run_is_shown_as_the_matrix_and_written_as_asked() {
        let report = fixture::report();
        let output = report.output(
            TerminalStyle::default(),
            &[
                (PathBuf::from("r.html"), Format::Html),
                (PathBuf::from("r.json"), Format::Json),
            ],
        );
        assert_eq!(output.text, crate::render(&report.cells));
        assert_eq!(
            output.files,
            [
                (PathBuf::from("r.html"), crate::render_html(&report)),
                (PathBuf::from("r.json"), report.to_json()),
            ]
        );
        assert!(
            !output.as_expected,
            "two of the fixture's cells are not as expected"
        );
        let mut met = report.clone();
        met.summary.unexpected = 0;
        assert!(met.output(TerminalStyle::default(), &[]).as_expected);
    }
}
