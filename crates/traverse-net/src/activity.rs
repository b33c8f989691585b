//! The cell's activity clock: when a byte last moved anywhere in the
//! topology, and which nodes are waiting on a timer of their own. Every
//! socket the harness owns reports to it (each node's metered client side
//! through its log's records, the echo app, the probe's stream, the taps in
//! front of real programs), so a step of the probe during which nothing has
//! moved for a quiet period, while no node has a timer armed that will act
//! within the step, is a deadlock: waiting out the step's timeout would only
//! confirm it. Reporting is one atomic `fetch_max` per read or write; only
//! arming a timer takes a lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::Metered;
use crate::log::lock;

/// One cell's clock; cloning shares it.
#[derive(Debug, Clone)]
pub struct ActivityClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    /// When something last moved, in microseconds since `epoch`.
    last: AtomicU64,
    /// The longest gap between two moves since [`ActivityClock::restart_gaps`],
    /// in microseconds: what the quiet period is chosen against.
    longest_gap: AtomicU64,
    next_timer: AtomicU64,
    /// The deadlines of the timers nodes have armed, by timer.
    armed: Mutex<BTreeMap<u64, Instant>>,
    /// Programs of the topology (an external tunnel's halves), by process
    /// group, with the CPU time each had used when last looked at, in
    /// clock ticks: one that computes moves the clock as a byte does.
    programs: Mutex<BTreeMap<u32, u64>>,
}

impl Default for ActivityClock {
    fn default() -> Self {
        ActivityClock::new()
    }
}

impl ActivityClock {
    pub fn new() -> ActivityClock {
        ActivityClock {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                last: AtomicU64::new(0),
                longest_gap: AtomicU64::new(0),
                next_timer: AtomicU64::new(0),
                armed: Mutex::new(BTreeMap::new()),
                programs: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Something moved: bytes read or written, an end of stream, an error.
    pub fn moved(&self) {
        let now = self.micros(Instant::now());
        let previous = self.inner.last.fetch_max(now, Ordering::Relaxed);
        if now > previous {
            self.inner
                .longest_gap
                .fetch_max(now - previous, Ordering::Relaxed);
        }
    }

    /// Starts the quiet period afresh without counting the gap before it:
    /// a timer that fired or was disarmed ended that gap, not a byte.
    fn reset(&self) {
        let now = self.micros(Instant::now());
        self.inner.last.fetch_max(now, Ordering::Relaxed);
    }

    /// Counts the CPU that the processes of group `group` use as movement
    /// (a program started in a group of its own, with its children): a
    /// program of the topology that is busy computing (a Python tunnel
    /// encoding a 1 MiB echo in base64) is not still, though no byte moves
    /// for a while. Without this, such a program's silence is read as a
    /// deadlock.
    pub fn watch_program(&self, group: u32) {
        let used = cpu_ticks(group).unwrap_or(0);
        lock(&self.inner.programs).insert(group, used);
    }

    /// Moves the clock if a watched program used the CPU since it was last
    /// looked at; says whether one did.
    fn programs_ran(&self) -> bool {
        let mut programs = lock(&self.inner.programs);
        let mut ran = false;
        for (pid, seen) in programs.iter_mut() {
            if let Some(used) = cpu_ticks(*pid).filter(|used| used > seen) {
                *seen = used;
                ran = true;
            }
        }
        drop(programs);
        if ran {
            self.moved();
        }
        ran
    }

    /// When something last moved.
    pub fn last_moved(&self) -> Instant {
        self.inner.epoch + Duration::from_micros(self.inner.last.load(Ordering::Relaxed))
    }

    /// Declares a timer of a node's own that will act at `deadline` (a
    /// read timeout that answers 504, an idle timeout that cuts): until the
    /// guard is dropped, no step whose bound is later is judged deadlocked.
    /// Dropping the guard, when the timer fires or is no longer needed,
    /// starts the quiet period afresh.
    pub fn arm(&self, deadline: Instant) -> Armed {
        let id = self.inner.next_timer.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.armed).insert(id, deadline);
        Armed {
            clock: self.clone(),
            id,
        }
    }

    /// Whether a timer is armed that fires before `horizon`. One that fires
    /// later cannot act within the step and does not count.
    pub fn armed_before(&self, horizon: Instant) -> bool {
        lock(&self.inner.armed)
            .values()
            .any(|deadline| *deadline < horizon)
    }

    /// Forgets the gaps so far; the next [`longest_gap`](Self::longest_gap)
    /// covers only what follows, as from the start of a step.
    pub fn restart_gaps(&self) {
        self.reset();
        self.inner.longest_gap.store(0, Ordering::Relaxed);
    }

    /// The longest time between two moves since [`restart_gaps`](Self::restart_gaps),
    /// leaving out gaps ended by a timer.
    pub fn longest_gap(&self) -> Duration {
        Duration::from_micros(self.inner.longest_gap.load(Ordering::Relaxed))
    }

    /// `io`, reporting every read and write to this clock: for the harness's
    /// own sockets that keep no log record (the echo app, taps, the probe).
    pub fn watch<S>(&self, io: S) -> Watched<S> {
        Metered::new(io, self.clone())
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.epoch).as_micros())
            .unwrap_or(u64::MAX)
    }
}

/// A timer declared to the clock; dropping it disarms it.
#[derive(Debug)]
pub struct Armed {
    clock: ActivityClock,
    id: u64,
}

impl Armed {
    /// Moves the deadline, as an idle timer does when bytes move.
    pub fn rearm(&self, deadline: Instant) {
        lock(&self.clock.inner.armed).insert(self.id, deadline);
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        lock(&self.clock.inner.armed).remove(&self.id);
        self.clock.reset();
    }
}

/// What decides a step as deadlocked: the cell's clock, and how long the
/// whole topology must be still, with no timer armed, to say so.
#[derive(Debug, Clone)]
pub struct QuietWatch {
    pub clock: ActivityClock,
    pub period: Duration,
    /// How long this process's threads have waited, runnable, for a CPU
    /// ([`run_queue_wait`]): a quiet period in which they waited half of
    /// it is no proof of stillness, since an event may be waiting for a
    /// worker the kernel has not run (seen on a loaded CI machine as a
    /// hixie-76 1 MiB echo decided as a deadlock). `None` judges by the
    /// clock alone (tests on a paused clock).
    pub waits: Option<fn() -> Duration>,
}

/// How long this process's threads have waited, runnable, for a CPU, by
/// thread id, in nanoseconds: the second field of each one's `schedstat`.
/// A kernel without schedstats gives none.
pub fn run_queue_waits() -> BTreeMap<u32, u64> {
    let Ok(threads) = std::fs::read_dir("/proc/self/task") else {
        return BTreeMap::new();
    };
    threads
        .flatten()
        .filter_map(|thread| {
            let id = thread.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(thread.path().join("schedstat")).ok()?;
            let waited = stat.split_whitespace().nth(1)?.parse().ok()?;
            Some((id, waited))
        })
        .collect()
}

/// The kernel's id of the calling thread, as [`run_queue_waits`] keys it.
pub fn current_thread_id() -> u32 {
    nix::unistd::gettid().as_raw().unsigned_abs()
}

/// [`run_queue_waits`] added up over the threads that exist now.
pub fn run_queue_wait() -> Duration {
    Duration::from_nanos(run_queue_waits().values().sum())
}

impl QuietWatch {
    /// Resolves once nothing has moved for `period` since `since` (the
    /// step's start: quiet before it, as the probe's idle pause, does not
    /// count) while no timer is armed to fire before `horizon` (the step's
    /// own bound), and the runtime has been idle since the last move. That
    /// last condition is what keeps a loaded machine from looking still: a
    /// worker parks only when no task is left to run or steal, and parking
    /// polls the sockets, so once workers have parked twice after the last
    /// move (once to take in pending socket events, once more with the
    /// tasks those woke done), no task with bytes to move is waiting for
    /// its turn on a worker that is running. One on a worker the operating
    /// system has stopped can be, so every worker must also have been idle
    /// since the last move (see [`Parks::each_idle_since`]). A runtime that
    /// never goes idle (an oversubscribed machine) never decides a
    /// deadlock; the step's timeout does, as it did before.
    pub async fn until_quiet(&self, since: Instant, horizon: Instant) {
        // Once still, look often: a busy worker parks now and then between
        // its tasks, and each look is two atomic loads per worker.
        let look_again = Duration::from_millis(2);
        // The last move this wait has seen, the parks counted then, and how
        // long the threads had waited for a CPU then.
        let mut seen: Option<(Instant, Parks, Duration)> = None;
        let waited = || self.waits.map_or(Duration::ZERO, |waits| waits());
        loop {
            if self.clock.armed_before(horizon) {
                // A node will act on its own; look again later. Its guard's
                // drop starts the quiet period afresh.
                seen = None;
                tokio::time::sleep(self.period).await;
                continue;
            }
            let last = self.clock.last_moved().max(since);
            if seen.as_ref().is_none_or(|(at, _, _)| *at != last) {
                seen = Some((last, Parks::now(), waited()));
            }
            let quiet_until = last + self.period;
            if Instant::now() < quiet_until {
                tokio::time::sleep_until(quiet_until).await;
                continue;
            }
            if self.clock.programs_ran() {
                continue;
            }
            let kept_from_a_cpu = seen
                .as_ref()
                .is_some_and(|(_, _, before)| waited().saturating_sub(*before) * 2 >= self.period);
            if kept_from_a_cpu {
                // Not stillness: the kernel held the harness back. The
                // quiet period starts again from here.
                seen = None;
                self.clock.reset();
                continue;
            }
            if seen
                .as_ref()
                .is_some_and(|(_, before, _)| Parks::now().idle_since(before))
            {
                return;
            }
            tokio::time::sleep(look_again).await;
        }
    }
}

/// The runtime's workers' park counts at one moment. A worker parks only
/// when it has nothing left to run, its own next-task slot included.
#[derive(Debug, Clone)]
struct Parks {
    /// Per worker: how often it has parked, and whether it is parked now
    /// (an odd count of parks and unparks).
    workers: Vec<(u64, bool)>,
}

impl Parks {
    fn now() -> Parks {
        let metrics = tokio::runtime::Handle::current().metrics();
        let workers = (0..metrics.num_workers())
            .map(|worker| {
                (
                    metrics.worker_park_count(worker),
                    metrics.worker_park_unpark_count(worker) % 2 == 1,
                )
            })
            .collect();
        Parks { workers }
    }

    fn total(&self) -> u64 {
        self.workers.iter().map(|(parks, _)| parks).sum()
    }

    /// Whether the runtime went idle after `before`: parks twice in all,
    /// and [`each_idle_since`](Self::each_idle_since).
    fn idle_since(&self, before: &Parks) -> bool {
        self.total() >= before.total() + 2 && self.each_idle_since(before)
    }

    /// Whether every worker has parked since `before`, or is parked now.
    /// A task woken by the one before it goes into the waking worker's own
    /// slot, where no other worker can steal it; if the operating system
    /// stops that worker there, the others park again and again over a
    /// topology that only waits for it to be scheduled (seen on a loaded CI
    /// machine as a WebSocket handshake decided as a deadlock). A worker
    /// that has parked since has run that task.
    fn each_idle_since(&self, before: &Parks) -> bool {
        self.workers
            .iter()
            .zip(&before.workers)
            .all(|((parks, parked), (parks_before, _))| *parked || parks > parks_before)
    }
}

/// The CPU time the processes of group `group` have used, user and
/// system, in clock ticks: fields 14 and 15 of each one's `stat` (the 12th
/// and 13th after its name), for those whose field 5 (the 3rd) is the
/// group. A program's workers and helpers (nginx's, a shell's children)
/// count with it; what they used before they ended does not, so a sum may
/// fall, and only a rise is read as work.
fn cpu_ticks(group: u32) -> Option<u64> {
    let group = group.to_string();
    let entries = std::fs::read_dir("/proc").ok()?;
    let used = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(crate::leftovers::stat_fields)
        .filter(|fields| fields.get(2) == Some(&group))
        .filter_map(|fields| {
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .sum();
    Some(used)
}

/// A stream whose reads and writes move the clock and nothing else.
pub type Watched<S> = Metered<S, ActivityClock>;

/// Resolves when `watch` decides the step begun at `since` deadlocked, with
/// the quiet period it waited; never without a watch (a real network,
/// where the harness does not see every socket).
pub async fn deadlock(watch: Option<&QuietWatch>, since: Instant, horizon: Instant) -> Duration {
    match watch {
        Some(watch) => {
            watch.until_quiet(since, horizon).await;
            watch.period
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(clock: &ActivityClock) -> QuietWatch {
        QuietWatch {
            clock: clock.clone(),
            period: Duration::from_millis(150),
            waits: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_still_topology_is_quiet_after_the_period_from_the_step_start() {
        let clock = ActivityClock::new();
        // Quiet before the step (an idle pause) does not count.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let since = Instant::now();
        watch(&clock)
            .until_quiet(since, since + Duration::from_secs(2))
            .await;
        assert_eq!(since.elapsed(), Duration::from_millis(150));
    }

    /// A program of the topology that computes without a byte moving (as
    /// a Python tunnel encoding a 1 MiB echo does) keeps the topology from
    /// looking still; once it stops, the quiet period runs out. The
    /// program spins for a bounded 600 ms of wall time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watched_program_on_a_cpu_is_not_still() {
        let clock = ActivityClock::new();
        let mut spinner = tokio::process::Command::new("timeout")
            .args(["0.6", "sh", "-c", "while :; do :; done"])
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("a shell");
        clock.watch_program(spinner.id().expect("pid"));
        let since = Instant::now();
        watch(&clock)
            .until_quiet(since, since + Duration::from_secs(5))
            .await;
        let waited = since.elapsed();
        let _ = spinner.wait().await;
        assert!(
            waited >= Duration::from_millis(450),
            "decided still after {waited:?} while the program computed"
        );
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    }

    /// A quiet period in which the harness's threads waited for a CPU is
    /// no proof of stillness: an event may be waiting for a worker the
    /// kernel has not run. Once they get the CPU, the same quiet decides.
    #[tokio::test(start_paused = true)]
    async fn a_quiet_period_spent_waiting_for_a_cpu_decides_nothing() {
        static WAITED_MS: AtomicU64 = AtomicU64::new(0);
        fn kept_waiting() -> Duration {
            Duration::from_millis(WAITED_MS.fetch_add(100, Ordering::Relaxed))
        }
        let clock = ActivityClock::new();
        let since = Instant::now();
        let starved = QuietWatch {
            waits: Some(kept_waiting),
            ..watch(&clock)
        };
        let decided = tokio::time::timeout(
            Duration::from_secs(1),
            starved.until_quiet(since, since + Duration::from_secs(2)),
        )
        .await;
        assert!(
            decided.is_err(),
            "decided while the threads waited for a CPU"
        );
        let fed = QuietWatch {
            waits: Some(|| Duration::ZERO),
            ..watch(&clock)
        };
        let since = Instant::now();
        fed.until_quiet(since, since + Duration::from_secs(2)).await;
        assert_eq!(since.elapsed(), Duration::from_millis(150));
    }

    #[tokio::test(start_paused = true)]
    async fn every_move_starts_the_quiet_period_again() {
        let clock = ActivityClock::new();
        let since = Instant::now();
        let mover = clock.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                mover.moved();
            }
        });
        watch(&clock)
            .until_quiet(since, since + Duration::from_secs(2))
            .await;
        assert_eq!(since.elapsed(), Duration::from_millis(450));
        assert_eq!(clock.longest_gap(), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_runtime_that_never_goes_idle_decides_nothing() {
        // A loaded machine: tasks always ready to run, none moving this
        // cell's bytes. The step's own timeout is left to decide.
        let busy = tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        });
        let clock = ActivityClock::new();
        let since = Instant::now();
        let decided = tokio::time::timeout(
            Duration::from_millis(600),
            watch(&clock).until_quiet(since, since + Duration::from_secs(2)),
        )
        .await;
        busy.abort();
        assert!(decided.is_err(), "decided while the runtime was busy");
    }

    /// A worker the operating system has stopped, stood in for by one
    /// blocked on a channel: the other worker parks again and again, but
    /// the task in the stopped worker's own slot may be about to move
    /// bytes, so nothing is decided until that worker has been idle.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_worker_holds_the_decision_until_it_has_been_idle() {
        let (blocking, blocked) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let stopped = tokio::spawn(async move {
            let _ = blocking.send(());
            let _ = released.recv_timeout(Duration::from_secs(10));
        });
        blocked.await.unwrap();
        let clock = ActivityClock::new();
        let since = Instant::now();
        let horizon = since + Duration::from_secs(10);
        let while_stopped = tokio::time::timeout(
            Duration::from_millis(800),
            watch(&clock).until_quiet(since, horizon),
        )
        .await;
        assert!(while_stopped.is_err(), "decided while a worker was stopped");
        release.send(()).unwrap();
        stopped.await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(5),
            watch(&clock).until_quiet(since, horizon),
        )
        .await
        .expect("not decided once every worker had been idle");
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_armed_within_the_step_is_waited_for_and_one_past_it_is_not() {
        let clock = ActivityClock::new();
        let since = Instant::now();
        let horizon = since + Duration::from_secs(2);
        // Past the step's bound (the origin's wait for key3): ignored.
        let _late = clock.arm(since + Duration::from_secs(4));
        let firing = clock.arm(since + Duration::from_millis(600));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            drop(firing);
        });
        watch(&clock).until_quiet(since, horizon).await;
        // The timer fired at 600ms; the quiet period starts from there.
        let waited = since.elapsed();
        assert!(
            waited >= Duration::from_millis(750) && waited <= Duration::from_millis(900),
            "{waited:?}"
        );
        // A gap a timer ended is not a gap between moves.
        assert_eq!(clock.longest_gap(), Duration::ZERO);
    }
}
