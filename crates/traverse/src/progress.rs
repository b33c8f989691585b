//! The progress of a run on stderr while its cells run: a bar with the
//! cells done, the failures so far and the time left. It appears only once
//! a run has taken longer than a moment, so a quick run prints nothing but
//! its matrix, and it is cleared before the matrix is printed. It is one
//! of the run's reporters, driven by the runner's events alone.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use traverse_runner::{Event, Verdict};

use crate::run::Reporter;

/// Runs shorter than this show no bar.
const MOMENT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Set when the run is over; the reveal must not draw after it.
    over: Arc<Mutex<bool>>,
    reveal: Option<JoinHandle<()>>,
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
        bar.set_message("0 failed");
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
            failed: 0,
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
                self.failed += usize::from(result.verdict == Verdict::Fail);
                self.unexpected += usize::from(!result.as_expected());
                self.bar.set_position(done as u64);
                let mut message = format!("{} failed", self.failed);
                if self.unexpected > 0 {
                    message += &format!(", {} not as expected", self.unexpected);
                }
                self.bar.set_message(message);
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
