//! Whether the harness keeps time. A run's cells judge a hop by the clock:
//! an idle cut came after so long, a step timed out after so long. On a
//! machine busier than its cores (too many `--jobs`, a parallel build), the
//! harness itself runs late, and a timeout it then sees is its own doing.
//! Two measures say how late: a ticker on the run's runtime wakes every
//! [`TICK`] and records how late it woke, and the kernel's count of how
//! long the runtime's threads waited, runnable, for a CPU (the run-queue
//! delay in `/proc/self/task/*/schedstat`). The second catches what the
//! first cannot: a process given a sliver of the CPUs wakes its cheap
//! ticker nearly on time, yet every handshake it serves takes many times
//! longer. Only the threads the ticker has run on count: the runtime's
//! workers, where the mocks and the probe run. A test binary's other
//! threads run other tests' runtimes, whose waits say nothing of this
//! one's (counted, they once took a legitimate 504 from a node). A cell whose failure is a matter of time checks how late the
//! harness ran while it lasted, and reads `harness` past a bound instead
//! of blaming a node.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
    /// The kernel's ids of the threads the ticker has woken on: the
    /// runtime's workers (on a multi-threaded runtime tasks move between
    /// them, so over a run the ticker visits each; one it missed is left
    /// out, which can only make the harness look less starved).
    workers: Arc<Mutex<BTreeSet<u32>>>,
    _ticker: Arc<AbortOnDropHandle<()>>,
}

impl Lateness {
    /// Starts ticking on the current runtime, until the last clone is
    /// dropped.
    pub(crate) fn start() -> Lateness {
        let late: Arc<Mutex<VecDeque<(Instant, Duration)>>> = Arc::default();
        let workers: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
        let (noted, seen) = (late.clone(), workers.clone());
        let ticker = tokio::spawn(async move {
            loop {
                lock(&seen).insert(traverse_net::current_thread_id());
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
            workers,
            _ticker: Arc::new(AbortOnDropHandle::new(ticker)),
        }
    }

    /// Where a span starts: now, and how long each thread has waited so
    /// far (every thread: a worker the ticker first visits later counts
    /// from here all the same).
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            at: Instant::now(),
            waited: traverse_net::run_queue_waits(),
        }
    }

    /// How late the harness ran since `mark`: the latest single wake, all
    /// the lateness added up, and the time the runtime's threads waited
    /// for a CPU.
    pub(crate) fn since(&self, mark: &Mark) -> Behind {
        let ticks = lock(&self.late)
            .iter()
            .filter(|(at, _)| *at >= mark.at)
            .fold(Behind::default(), |behind, (_, late)| Behind {
                worst: behind.worst.max(*late),
                total: behind.total + *late,
                ..behind
            });
        let workers = lock(&self.workers).clone();
        let waited = traverse_net::run_queue_waits()
            .iter()
            .filter(|(thread, _)| workers.contains(thread))
            .map(|(thread, waited)| waited.saturating_sub(*mark.waited.get(thread).unwrap_or(&0)))
            .sum();
        Behind {
            waited: Duration::from_nanos(waited),
            ..ticks
        }
    }
}

/// The start of a span [`Lateness::since`] measures.
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    at: Instant,
    /// Nanoseconds each thread (by id) had waited for a CPU.
    waited: BTreeMap<u32, u64>,
}

/// How late the harness ran over a span of time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Behind {
    pub(crate) worst: Duration,
    pub(crate) total: Duration,
    /// How long the runtime's threads waited for a CPU, added up over
    /// threads: an upper bound on how long the path's work was held up.
    pub(crate) waited: Duration,
}

impl Behind {
    /// Whether a timing judgement of `limit` (a step's timeout) made in
    /// this span, `span` long, cannot be trusted: the harness lost a
    /// quarter of it at once, or twice it in all, or all of it in a span
    /// it lost three quarters of. A busy runtime (a debug build running
    /// many cells) wakes its ticker 50–300 ms late again and again; that
    /// is ordinary, and a cell's failure under it is still the path's. The
    /// last clause is for a cell that failed soon: at 16 busy loops a
    /// 2 s step ran out in a cell of 3 s that lost 2.4 s of them, which
    /// the second never sees in a span shorter than twice the step.
    pub(crate) fn spoils(&self, limit: Duration, span: Duration) -> bool {
        self.worst * 4 >= limit
            || self.total >= limit * 2
            || (self.total >= limit && self.total * 4 >= span * 3)
    }

    /// Whether the harness showed any sign of running late.
    pub(crate) fn ran_late(&self) -> bool {
        self.worst > Duration::ZERO || self.waited >= NOTED
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
        let mark = lateness.mark();
        // Let the ticker arm its first sleep.
        tokio::time::sleep(TICK * 2).await;
        // The whole runtime held up, as a starved machine holds it up.
        std::thread::sleep(Duration::from_millis(400));
        tokio::time::sleep(TICK * 2).await;
        let behind = lateness.since(&mark);
        assert!(behind.worst >= Duration::from_millis(300), "{behind:?}");
        let span = Duration::from_secs(1);
        assert!(behind.spoils(Duration::from_secs(1), span));
        assert!(!behind.spoils(Duration::from_secs(60), span));
        // What came before a span is not counted in it.
        assert_eq!(lateness.since(&lateness.mark()).worst, Duration::ZERO);
    }

    /// A runtime's thread that wants a CPU while others hold the cores
    /// waits in the run queue, and the kernel's count of that wait is read
    /// back: the starvation a ticker that wakes on time would not show.
    /// The other threads' waits are not the runtime's and are left out.
    #[test]
    fn a_runtime_kept_from_a_cpu_is_seen_waiting() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let lateness = Lateness::start();
            // Let the ticker run once on this thread, the runtime's.
            tokio::time::sleep(TICK * 2).await;
            let mark = lateness.mark();
            let process_before = traverse_net::run_queue_wait();
            let cores = std::thread::available_parallelism().map_or(2, usize::from);
            // More spinning threads than cores, each for a bounded 300 ms
            // of wall time, so that some are always runnable and waiting,
            // this one too.
            let spin = |for_: Duration| {
                let until = Instant::now() + for_;
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            };
            let spinners: Vec<_> = (0..cores * 3)
                .map(|_| std::thread::spawn(move || spin(Duration::from_millis(300))))
                .collect();
            // Read the waits while the spinners still exist: an ended
            // thread's count leaves /proc with it.
            spin(Duration::from_millis(200));
            let behind = lateness.since(&mark);
            let process = traverse_net::run_queue_wait().saturating_sub(process_before);
            for spinner in spinners {
                spinner.join().expect("spinner");
            }
            assert!(
                behind.waited >= Duration::from_millis(50),
                "{} threads on {cores} cores, and the runtime's waited only {:?}",
                cores * 3 + 1,
                behind.waited
            );
            assert!(
                behind.waited * 3 < process,
                "the runtime's thread waited {:?} of the process's {process:?}",
                behind.waited
            );
            assert!(behind.ran_late());
        });
    }
}
