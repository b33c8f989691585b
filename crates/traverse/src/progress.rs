//! The progress of a run on stderr while its cells run. On a terminal, a
//! bar with the cells done, how many are not as expected so far and the
//! time left: it appears only once a run has taken longer than a moment,
//! so a quick run prints nothing but its matrix, and it is cleared before
//! the matrix is printed. Into a CI log ([`ProgressLines`]), a line for
//! each cell not as expected as it finishes and a progress line now and
//! then, so a long job shows what went wrong before it ends. Both are run
//! reporters, driven by the runner's events alone.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use traverse_runner::{CellResult, Event};

use crate::run::Reporter;

/// Runs shorter than this show no bar.
const MOMENT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Set when the run is over; the reveal must not draw after it.
    over: Arc<Mutex<bool>>,
    reveal: Option<JoinHandle<()>>,
    unexpected: usize,
}

impl Progress {
    pub fn new() -> Progress {
        let style = ProgressStyle::with_template(
            // The bar takes what the numbers leave of the terminal's width.
            "{elapsed:>4} [{wide_bar:.cyan/blue}] {pos}/{len} cells · {msg} · {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(style);
        bar.set_message(not_as_expected(0));
        let over = Arc::new(Mutex::new(false));
        // Shown after a moment even when no cell has finished by then (the
        // first cells can be the slow ones).
        let reveal = {
            let (bar, over) = (bar.clone(), over.clone());
            std::thread::spawn(move || {
                let until = Instant::now() + MOMENT;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    if *over.lock().unwrap_or_else(PoisonError::into_inner) {
                        return;
                    }
                    std::thread::park_timeout(left);
                }
                let over = over.lock().unwrap_or_else(PoisonError::into_inner);
                if !*over {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    // The elapsed and left times move between cells too.
                    bar.enable_steady_tick(Duration::from_millis(250));
                }
            })
        };
        Progress {
            bar,
            over,
            reveal: Some(reveal),
            unexpected: 0,
        }
    }

    /// Takes the bar off the screen, leaving it for the matrix.
    pub fn clear(&mut self) {
        *self.over.lock().unwrap_or_else(PoisonError::into_inner) = true;
        if let Some(reveal) = self.reveal.take() {
            reveal.thread().unpark();
            let _ = reveal.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Reporter for Progress {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()> {
        match event {
            Event::RunStarted { cells } => {
                self.bar.set_length(cells as u64);
                self.bar.reset_elapsed();
            }
            Event::CellFinished { done, result, .. } => {
                // Expected failures are what the scenarios say: counting
                // them would make a healthy run look broken.
                self.unexpected += usize::from(!result.as_expected());
                self.bar.set_position(done as u64);
                self.bar.set_message(not_as_expected(self.unexpected));
            }
            // Off the screen before the reporters after it print the matrix.
            Event::RunFinished { .. } => self.clear(),
            Event::CellStarted { .. } => {}
        }
        Ok(())
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

fn not_as_expected(count: usize) -> String {
    format!("{count} not as expected")
}

/// A progress line at least this often while cells finish.
const EVERY: Duration = Duration::from_secs(5);

/// The run's progress as lines, for a log (CI) rather than a terminal:
/// each cell not as expected as it finishes, and a progress line each
/// tenth of the run or every [`EVERY`] while cells finish, whichever
/// comes first, so a run prints at most ten such lines and one per five
/// seconds.
#[derive(Debug)]
pub struct ProgressLines<W> {
    out: W,
    started: Instant,
    last_line: Instant,
    /// Tenths of the run done at the last progress line.
    tenths: usize,
    unexpected: usize,
}

impl<W: Write> ProgressLines<W> {
    pub fn new(out: W) -> ProgressLines<W> {
        let now = Instant::now();
        ProgressLines {
            out,
            started: now,
            last_line: now,
            tenths: 0,
            unexpected: 0,
        }
    }

    fn started(&mut self, at: Instant) {
        self.started = at;
        self.last_line = at;
    }

    /// A cell finished at `at`, the `done`-th of `total`.
    fn finished(&mut self, done: usize, total: usize, result: &CellResult, at: Instant) {
        // A log that cannot be written to must not stop the run: the
        // matrix and the exit code still say how it went.
        if !result.as_expected() {
            self.unexpected += 1;
            let _ = writeln!(
                self.out,
                "not as expected: {}",
                traverse_report::explain(result)
            );
        }
        let tenths = (done * 10).checked_div(total).unwrap_or(10);
        if tenths > self.tenths || at.duration_since(self.last_line) >= EVERY {
            self.tenths = tenths;
            self.last_line = at;
            let _ = writeln!(
                self.out,
                "progress: {done}/{total} cells, {}, {} s",
                not_as_expected(self.unexpected),
                at.duration_since(self.started).as_secs()
            );
        }
    }
}

impl<W: Write> Reporter for ProgressLines<W> {
    fn on_event(&mut self, event: Event<'_>) -> anyhow::Result<()> {
        match event {
            Event::RunStarted { .. } => self.started(Instant::now()),
            Event::CellFinished {
                done,
                total,
                result,
                ..
            } => self.finished(done, total, result, Instant::now()),
            Event::CellStarted { .. } | Event::RunFinished { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use traverse_runner::{Category, Verdict};

    use super::*;

    fn result(tunnel: &str, verdict: Verdict, expected: Verdict) -> CellResult {
        let failed = verdict == Verdict::Fail;
        CellResult {
            cell: 0,
            scenario: "corp".to_string(),
            tunnel: tunnel.to_string(),
            verdict,
            expected: Some(expected),
            category: failed.then_some(Category::Refused),
            status: failed.then_some(403),
            blame: failed.then(|| "squid".to_string()),
            detail: if failed {
                "answered HTTP 403; squid: CONNECT denied".to_string()
            } else {
                String::new()
            },
            duration_ms: 1,
            weight: 1.0,
            poisonable: None,
            keepalives: None,
            transport: None,
            logs: Vec::new(),
            output: BTreeMap::new(),
        }
    }

    /// Expected failures make no line; a cell not as expected makes one
    /// as it finishes; progress comes each tenth, or after five seconds.
    #[test]
    fn a_log_gets_the_cells_not_as_expected_as_they_finish() {
        let start = Instant::now();
        let mut lines = ProgressLines::new(Vec::new());
        lines.started(start);
        let total = 100;
        let expected_failure = result("ws", Verdict::Fail, Verdict::Fail);
        let pass = result("wss", Verdict::Pass, Verdict::Pass);
        let unexpected = result("tls", Verdict::Fail, Verdict::Pass);
        let second = |seconds| start + Duration::from_secs(seconds);
        lines.finished(1, total, &expected_failure, second(0));
        lines.finished(2, total, &pass, second(1));
        lines.finished(3, total, &unexpected, second(2));
        // Not a tenth further, but five seconds after the last line.
        lines.finished(4, total, &pass, second(7));
        lines.finished(5, total, &pass, second(8));
        // A tenth of the run, a second after the last line.
        lines.finished(10, total, &pass, second(9));
        let text = String::from_utf8(lines.out).expect("text");
        assert_eq!(
            text,
            "not as expected: corp × tls: refused 403 by squid (expected pass): CONNECT denied\n\
             progress: 4/100 cells, 1 not as expected, 7 s\n\
             progress: 10/100 cells, 1 not as expected, 9 s\n"
        );
    }

    #[test]
    fn a_long_run_prints_a_bounded_number_of_progress_lines() {
        let start = Instant::now();
        let mut lines = ProgressLines::new(Vec::new());
        lines.started(start);
        let pass = result("ws", Verdict::Pass, Verdict::Pass);
        for done in 1..=1000 {
            lines.finished(
                done,
                1000,
                &pass,
                start + Duration::from_millis(done as u64),
            );
        }
        let text = String::from_utf8(lines.out).expect("text");
        assert_eq!(text.lines().count(), 10, "{text}");
        assert!(text.ends_with("progress: 1000/1000 cells, 0 not as expected, 1 s\n"));
    }
}
