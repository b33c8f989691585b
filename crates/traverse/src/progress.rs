//! The progress of a run on stderr while its cells run: a bar with the
//! cells done, the failures so far and the time left. It appears only once
//! a run has taken longer than a moment, so a quick run prints nothing but
//! its matrix, and it is cleared before the matrix is printed.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use traverse_runner::{Event, Verdict};

/// Runs shorter than this show no bar.
const MOMENT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
    failed: usize,
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
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
            failed: 0,
            unexpected: 0,
        }
    }

    pub fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::Started { cells } => {
                self.bar.set_length(cells as u64);
                self.started = Instant::now();
                self.bar.reset_elapsed();
            }
            Event::CellFinished { done, result, .. } => {
                self.failed += usize::from(result.verdict == Verdict::Fail);
                self.unexpected += usize::from(!result.as_expected());
                self.bar.set_position(done as u64);
                let mut message = format!("{} failed", self.failed);
                if self.unexpected > 0 {
                    message += &format!(", {} not as expected", self.unexpected);
                }
                self.bar.set_message(message);
            }
        }
        if !self.shown && self.started.elapsed() >= MOMENT {
            self.shown = true;
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            // The time left moves even while no cell finishes.
            self.bar.enable_steady_tick(Duration::from_millis(250));
        }
    }

    /// Takes the bar off the screen, leaving it for the matrix.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
