//! Whether the harness keeps time. A run's cells judge a hop by the clock:
//! an idle cut came after so long, a step timed out after so long. On a
//! machine busier than its cores (too many `--jobs`, a parallel build), the
//! harness itself runs late, and a timeout it then sees is its own doing.
//! So a ticker on the run's runtime wakes every [`TICK`] and records how
//! late it woke; a cell whose failure is a matter of time checks how late
//! the harness ran while it lasted, and reads `harness` past a bound
//! instead of blaming a node.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::task::AbortOnDropHandle;

/// How often the ticker wakes: small next to a step's timeout (2 s), large
/// enough to cost nothing.
const TICK: Duration = Duration::from_millis(20);

/// A tick later than this is remembered; below it is ordinary scheduling.
const NOTED: Duration = Duration::from_millis(50);

/// How long late ticks are remembered: the longest a cell lasts.
const KEPT: Duration = Duration::from_secs(600);

/// The run's ticker, and what it saw.
#[derive(Debug, Clone)]
pub(crate) struct Lateness {
    late: Arc<Mutex<VecDeque<(Instant, Duration)>>>,
    _ticker: Arc<AbortOnDropHandle<()>>,
}

impl Lateness {
    /// Starts ticking on the current runtime, until the last clone is
    /// dropped.
    pub(crate) fn start() -> Lateness {
        let late: Arc<Mutex<VecDeque<(Instant, Duration)>>> = Arc::default();
        let noted = late.clone();
        let ticker = tokio::spawn(async move {
            loop {
                let due = Instant::now() + TICK;
                tokio::time::sleep(TICK).await;
                let woke = Instant::now();
                let behind = woke.saturating_duration_since(due);
                if behind >= NOTED {
                    let mut noted = lock(&noted);
                    while noted
                        .front()
                        .is_some_and(|(at, _)| woke.duration_since(*at) > KEPT)
                    {
                        noted.pop_front();
                    }
                    noted.push_back((woke, behind));
                }
            }
        });
        Lateness {
            late,
            _ticker: Arc::new(AbortOnDropHandle::new(ticker)),
        }
    }

    /// How late the harness ran since `since`: the latest single wake,
    /// and all the lateness added up.
    pub(crate) fn since(&self, since: Instant) -> Behind {
        lock(&self.late).iter().filter(|(at, _)| *at >= since).fold(
            Behind::default(),
            |behind, (_, late)| Behind {
                worst: behind.worst.max(*late),
                total: behind.total + *late,
            },
        )
    }
}

/// How late the harness ran over a span of time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Behind {
    pub(crate) worst: Duration,
    pub(crate) total: Duration,
}

impl Behind {
    /// Whether a timing judgement of `limit` (a step's timeout) made in
    /// this span cannot be trusted: the harness lost a quarter of it at
    /// once, or twice it in all. A busy runtime (a debug build running
    /// many cells) wakes its ticker 50–300 ms late again and again; that
    /// is ordinary, and a cell's failure under it is still the path's.
    pub(crate) fn spoils(&self, limit: Duration) -> bool {
        self.worst * 4 >= limit || self.total >= limit * 2
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime whose only worker is kept busy cannot tick on time.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_is_seen_running_late() {
        let lateness = Lateness::start();
        let started = Instant::now();
        // Let the ticker arm its first sleep.
        tokio::time::sleep(TICK * 2).await;
        // The whole runtime held up, as a starved machine holds it up.
        std::thread::sleep(Duration::from_millis(400));
        tokio::time::sleep(TICK * 2).await;
        let behind = lateness.since(started);
        assert!(behind.worst >= Duration::from_millis(300), "{behind:?}");
        assert!(behind.spoils(Duration::from_secs(1)));
        assert!(!behind.spoils(Duration::from_secs(60)));
        // What came before a span is not counted in it.
        assert_eq!(lateness.since(Instant::now()), Behind::default());
    }
}
