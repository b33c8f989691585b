//! The relay between a node's client and its upstream once the node has
//! decided to pass bytes through: both directions at once, half-closes
//! passed on, and an idle timer that the bytes its rule counts reset (any
//! byte either way, or only one direction's, as a product's timer counts).
//! What the client sends may pass through a [`Transform`] on its way up (a
//! WebSocket frame rewriter, a cache reading requests where there are
//! none); a transform may reject the stream with a last word to the client.
//! The idle timer is declared to the cell's activity clock while it runs:
//! a relay that will cut an idle connection is not part of a deadlock.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use traverse_scenario::IdleCounts;

use crate::{ActivityClock, ConnEntry, IdleTimerLeft, Io};

#[derive(Debug)]
pub enum PipeEnd {
    /// Both directions finished with a close.
    Closed,
    /// Nothing moved for the idle timeout; both sides were dropped.
    IdleCut(Duration),
    /// Reading or writing either side failed.
    Failed { error: io::Error },
    /// A transform refused what the client sent.
    Rejected(String),
}

/// Rewrites or inspects the client's bytes on their way upstream.
pub trait Transform: Send {
    /// Turns `input` into what goes upstream, appended to `output`.
    fn apply(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), Rejection>;
}

/// A transform's refusal: why, and the bytes the client is told before the
/// connection ends (a WebSocket close frame, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub reply: Vec<u8>,
}

/// Transforms applied one after another.
impl Transform for Vec<Box<dyn Transform>> {
    fn apply(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), Rejection> {
        let mut current = input.to_vec();
        for transform in self.iter_mut() {
            let mut next = Vec::with_capacity(current.len() + 16);
            transform.apply(&current, &mut next)?;
            current = next;
        }
        output.extend_from_slice(&current);
        Ok(())
    }
}

/// An idle limit, and the clock of the cell its timer is declared to.
#[derive(Debug, Clone)]
pub struct IdleLimit {
    /// In wall time.
    pub limit: Duration,
    /// The limit as the scenario wrote it, before the time scale.
    pub written: Duration,
    /// Which bytes reset the timer.
    pub counts: IdleCounts,
    pub clock: ActivityClock,
    /// The record told, as it happens, the least time the timer had left
    /// when a byte it counts reset it: a keepalive that resets it with
    /// little left is a race that a real network's latency decides.
    pub entry: Option<ConnEntry>,
}

/// Relays until both directions close, one fails, or nothing moves for `idle`.
pub async fn pipe(client: impl Io, upstream: impl Io, idle: Option<IdleLimit>) -> PipeEnd {
    pipe_with(client, upstream, idle, None).await
}

/// [`pipe`], with the client's bytes passing through `transform` upstream.
pub async fn pipe_with(
    client: impl Io,
    upstream: impl Io,
    idle: Option<IdleLimit>,
    transform: Option<Box<dyn Transform>>,
) -> PipeEnd {
    let counts = idle.as_ref().map_or(IdleCounts::Both, |idle| idle.counts);
    let counts_up = matches!(counts, IdleCounts::Both | IdleCounts::Client);
    let counts_down = matches!(counts, IdleCounts::Both | IdleCounts::Upstream);
    let start = Instant::now();
    let last_activity = Arc::new(AtomicU64::new(0));
    let timer = idle.as_ref().map(|idle| Timer {
        start,
        idle,
        last_ms: &last_activity,
        least_left: AtomicU64::new(u64::MAX),
    });
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let relay = async {
        let outcome = {
            let up = copy(
                &mut client_read,
                &mut upstream_write,
                timer.as_ref().filter(|_| counts_up),
                transform,
            );
            let down = copy(
                &mut upstream_read,
                &mut client_write,
                timer.as_ref().filter(|_| counts_down),
                None,
            );
            tokio::pin!(up, down);
            let (mut up_done, mut down_done) = (false, false);
            loop {
                tokio::select! {
                    result = &mut up, if !up_done => match result {
                        Ok(()) => up_done = true,
                        // Stop relaying down at once: the client gets the
                        // transform's last word and nothing after it.
                        Err(end) => break Err(end),
                    },
                    result = &mut down, if !down_done => match result {
                        Ok(()) => down_done = true,
                        Err(end) => break Err(end),
                    },
                }
                if up_done && down_done {
                    break Ok(());
                }
            }
        };
        match outcome {
            Ok(()) => PipeEnd::Closed,
            Err(Stop::Rejected(rejection)) => {
                let _ = client_write.write_all(&rejection.reply).await;
                let _ = client_write.shutdown().await;
                PipeEnd::Rejected(rejection.reason)
            }
            Err(Stop::Failed(error)) => PipeEnd::Failed { error },
        }
    };
    match &idle {
        None => relay.await,
        Some(IdleLimit {
            limit,
            written,
            clock,
            entry,
            ..
        }) => tokio::select! {
            end = relay => end,
            () = idle_watch(start, &last_activity, *limit, clock) => {
                // A cut before any counted byte reset the timer still says
                // how long the timer was: a starved harness is told by it.
                if let Some(entry) = entry.as_ref().filter(|entry| entry.record().idle_timer.is_none()) {
                    entry.note_idle_timer(IdleTimerLeft {
                        limit_ms: millis(*written),
                        least_left_ms: millis(*written),
                    });
                }
                PipeEnd::IdleCut(*limit)
            }
        },
    }
}

/// The idle timer as the copies see it: when a counted byte last moved,
/// and the least time, in microseconds, it had left when one reset it.
struct Timer<'a> {
    start: Instant,
    idle: &'a IdleLimit,
    last_ms: &'a AtomicU64,
    least_left: AtomicU64,
}

impl Timer<'_> {
    /// A byte the timer counts moved: it starts again. A reset closer to
    /// the cut than any before is told to the record.
    fn reset(&self) {
        let now = millis_since(self.start);
        let last = Duration::from_millis(self.last_ms.swap(now, Ordering::Relaxed));
        let left = (last + self.idle.limit).saturating_sub(Duration::from_millis(now));
        let left_us = u64::try_from(left.as_micros()).unwrap_or(u64::MAX);
        let closest_yet = self.least_left.fetch_min(left_us, Ordering::Relaxed) > left_us;
        if let Some(entry) = self.idle.entry.as_ref().filter(|_| closest_yet) {
            // Back to scenario time: the record reads like the scenario.
            let ratio = self.idle.written.as_secs_f64() / self.idle.limit.as_secs_f64();
            let written_left = if ratio.is_finite() {
                left.mul_f64(ratio)
            } else {
                left
            };
            entry.note_idle_timer(IdleTimerLeft {
                limit_ms: millis(self.idle.written),
                least_left_ms: millis(written_left),
            });
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

enum Stop {
    Failed(io::Error),
    Rejected(Rejection),
}

async fn copy(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    // The idle timer this direction's bytes reset, if they count.
    timer: Option<&Timer<'_>>,
    mut transform: Option<Box<dyn Transform>>,
) -> Result<(), Stop> {
    let mut buffer = vec![0_u8; 16 * 1024];
    let mut transformed = Vec::new();
    loop {
        let read = from.read(&mut buffer).await.map_err(Stop::Failed)?;
        if read == 0 {
            // A half-close is passed on; the other direction may go on.
            let _ = to.shutdown().await;
            return Ok(());
        }
        let out = match transform.as_mut() {
            None => &buffer[..read],
            Some(transform) => {
                transformed.clear();
                transform
                    .apply(&buffer[..read], &mut transformed)
                    .map_err(Stop::Rejected)?;
                &transformed[..]
            }
        };
        to.write_all(out).await.map_err(Stop::Failed)?;
        to.flush().await.map_err(Stop::Failed)?;
        if let Some(timer) = timer {
            timer.reset();
        }
    }
}

async fn idle_watch(
    start: Instant,
    last_activity: &AtomicU64,
    limit: Duration,
    clock: &ActivityClock,
) {
    // Declared for as long as it runs; the guard goes when the cut is made.
    let armed = clock.arm(start + limit);
    loop {
        let last = start + Duration::from_millis(last_activity.load(Ordering::Relaxed));
        let deadline = last + limit;
        if Instant::now() >= deadline {
            return;
        }
        armed.rearm(deadline);
        tokio::time::sleep_until(deadline).await;
    }
}

fn millis_since(start: Instant) -> u64 {
    millis(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn relays_both_ways_and_passes_the_close_on() {
        let (client, mut client_far) = duplex(1024);
        let (upstream, mut upstream_far) = duplex(1024);
        let relay = tokio::spawn(pipe(client, upstream, None));
        client_far.write_all(b"ping").await.expect("write");
        let mut got = [0_u8; 4];
        upstream_far.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"ping");
        upstream_far.write_all(b"pong").await.expect("write");
        client_far.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"pong");
        drop(client_far);
        drop(upstream_far);
        assert!(matches!(relay.await.expect("join"), PipeEnd::Closed));
    }

    /// Refuses the first byte `!`, and upper-cases everything else.
    struct Shout;

    impl Transform for Shout {
        fn apply(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), Rejection> {
            if input.contains(&b'!') {
                return Err(Rejection {
                    reason: "no shouting".to_string(),
                    reply: b"bye".to_vec(),
                });
            }
            output.extend(input.iter().map(u8::to_ascii_uppercase));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_transform_rewrites_what_goes_up_and_may_end_it_with_a_reply() {
        let (client, mut client_far) = duplex(1024);
        let (upstream, mut upstream_far) = duplex(1024);
        let relay = tokio::spawn(pipe_with(client, upstream, None, Some(Box::new(Shout))));
        client_far.write_all(b"hello").await.expect("write");
        let mut got = [0_u8; 5];
        upstream_far.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"HELLO");
        client_far.write_all(b"now!").await.expect("write");
        let mut last_word = Vec::new();
        client_far.read_to_end(&mut last_word).await.expect("read");
        assert_eq!(last_word, b"bye");
        assert!(
            matches!(relay.await.expect("join"), PipeEnd::Rejected(reason) if reason == "no shouting")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cuts_a_connection_idle_for_the_limit() {
        let (client, _client_far) = duplex(1024);
        let (upstream, _upstream_far) = duplex(1024);
        let clock = ActivityClock::new();
        let idle = IdleLimit {
            limit: Duration::from_secs(100),
            written: Duration::from_secs(100),
            counts: IdleCounts::Both,
            clock: clock.clone(),
            entry: None,
        };
        let cutting = tokio::spawn(pipe(client, upstream, Some(idle)));
        tokio::task::yield_now().await;
        let long_after = Instant::now() + Duration::from_secs(200);
        assert!(clock.armed_before(long_after), "the idle timer is declared");
        let end = cutting.await.expect("join");
        assert!(matches!(end, PipeEnd::IdleCut(limit) if limit == Duration::from_secs(100)));
        assert!(!clock.armed_before(long_after), "and withdrawn once it cut");
    }

    /// A timer that cut before any byte reset it still tells how long it
    /// was, in scenario time, with all of it left: never a close call.
    #[tokio::test(start_paused = true)]
    async fn a_cut_before_any_counted_byte_records_the_whole_timer() {
        let (client, _client_far) = duplex(1024);
        let (upstream, _upstream_far) = duplex(1024);
        let log = crate::TransactionLog::new();
        let entry = log.open("127.0.0.1:1".parse().expect("address"), 80);
        let idle = IdleLimit {
            limit: Duration::from_secs(1),
            written: Duration::from_secs(100),
            counts: IdleCounts::Upstream,
            clock: ActivityClock::new(),
            entry: Some(entry.clone()),
        };
        let end = pipe(client, upstream, Some(idle)).await;
        assert!(matches!(end, PipeEnd::IdleCut(_)));
        let left = entry.record().idle_timer.expect("the timer is recorded");
        assert_eq!(
            left,
            IdleTimerLeft {
                limit_ms: 100_000,
                least_left_ms: 100_000
            }
        );
        assert!(!left.is_close_call());
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_the_rule_does_not_count_leave_the_timer_running() {
        for (counts, talker_is_client, cut) in [
            (IdleCounts::Upstream, true, true),
            (IdleCounts::Upstream, false, false),
            (IdleCounts::Client, true, false),
            (IdleCounts::Client, false, true),
            (IdleCounts::Both, true, false),
        ] {
            let (client, mut client_far) = duplex(1024);
            let (upstream, mut upstream_far) = duplex(1024);
            let idle = IdleLimit {
                limit: Duration::from_secs(100),
                written: Duration::from_secs(100),
                counts,
                clock: ActivityClock::new(),
                entry: None,
            };
            let relay = tokio::spawn(pipe(client, upstream, Some(idle)));
            // One side sends a byte every 30 s for 300 s; the other is quiet.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let talker = if talker_is_client {
                    &mut client_far
                } else {
                    &mut upstream_far
                };
                if talker.write_all(b".").await.is_err() {
                    break;
                }
            }
            let was_cut = relay.is_finished();
            assert_eq!(was_cut, cut, "{counts:?}, client talks: {talker_is_client}");
            relay.abort();
        }
    }

    /// A keepalive every 95 s through a timer of 100 s at a time scale of
    /// 0.1 (10 s of wall time): it survives, 5 s of scenario time from the
    /// cut each time, and the record says so while the relay still runs.
    /// One every 30 s keeps 70 s in hand.
    #[tokio::test(start_paused = true)]
    async fn the_least_time_left_on_the_timer_goes_into_the_record() {
        for (every, least_left_ms) in [(95, 5_000), (30, 70_000)] {
            let (client, mut client_far) = duplex(1024);
            let (upstream, mut upstream_far) = duplex(1024);
            let log = crate::TransactionLog::new();
            let entry = log.open("127.0.0.1:1".parse().expect("address"), 80);
            let idle = IdleLimit {
                limit: Duration::from_secs(10),
                written: Duration::from_secs(100),
                counts: IdleCounts::Both,
                clock: ActivityClock::new(),
                entry: Some(entry.clone()),
            };
            let _relay = tokio::spawn(pipe(client, upstream, Some(idle)));
            let mut got = [0_u8; 1];
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(every * 100)).await;
                client_far.write_all(b".").await.expect("write");
                upstream_far.read_exact(&mut got).await.expect("relayed");
            }
            assert_eq!(
                entry.record().idle_timer,
                Some(IdleTimerLeft {
                    limit_ms: 100_000,
                    least_left_ms,
                }),
                "a byte every {every}s"
            );
        }
    }
}
