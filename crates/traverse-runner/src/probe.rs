//! The probe: what every tunnel must carry to pass. Echo round trips of 1
//! byte, 64 KiB and 1 MiB, each compared byte for byte; where a caching hop
//! is on the path, the echo of an attacker's request (the poison step);
//! optionally an idle pause and one more echo; then an orderly close, which
//! must end the stream with nothing extra and the tunnel reporting no error.
//! Each echo races the cell's [`QuietWatch`]: one that nothing in the
//! topology is working on any more is a deadlock, decided as a timeout
//! without waiting for `--step-timeout`. The idle pause is not a step and
//! races nothing.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use traverse_net::QuietWatch;
use traverse_net::http::response_status;
use traverse_scenario::format_duration;
use traverse_tunnel::{Connection, OutcomeHandle};

use crate::verdict::{Category, Observation};

/// The echo sizes, smallest first so a refusal shows on the cheapest one.
pub const ECHO_SIZES: [usize; 3] = [1, 64 * 1024, 1024 * 1024];

#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// The idle pause in wall time, and as the scenario wrote it.
    pub idle: Option<(Duration, Duration)>,
    /// The longest one echo or the close may take.
    pub step_timeout: Duration,
    /// Send an attacker's request inside the tunnel, for a caching hop to
    /// misread (the W2SP 2011 cache-poisoning test).
    pub poison: bool,
    /// How an echo that deadlocked is seen before `step_timeout`.
    pub deadlock: Option<QuietWatch>,
    /// The cell's turn among the run's jobs, given back for the idle pause.
    pub turn: crate::Turn,
    /// Set once the idle pause begins: before it, the probe means no
    /// silence at all, which is what an idle cut is weighed against.
    pub paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What an attacker in control of the tunnel's payload would send: a
/// request for a victim's URL, to have a cache store the answer.
pub const POISON: &[u8] = b"GET /poison HTTP/1.1\r\nHost: victim.test\r\n\r\n";

pub async fn probe(connection: Connection, plan: &ProbePlan) -> Result<(), Observation> {
    let Connection {
        stream,
        mut outcome,
        ..
    } = connection;
    // The probe's own stream is part of the topology too (for an external
    // tunnel, the only socket to its client half the harness has).
    let stream: traverse_net::BoxedIo = match &plan.deadlock {
        Some(watch) => Box::new(watch.clock.watch(stream)),
        None => stream,
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut steps: Vec<(Vec<u8>, String)> = ECHO_SIZES
        .iter()
        .enumerate()
        .map(|(seed, size)| {
            (
                pattern(*size, seed),
                format!("the {} echo", size_name(*size)),
            )
        })
        .collect();
    if plan.poison {
        steps.push((
            POISON.to_vec(),
            "the echo of an attacker's request".to_string(),
        ));
    }
    let before_idle = steps.len();
    if plan.idle.is_some() {
        steps.push((
            pattern(1, steps.len()),
            "the echo after the idle pause".to_string(),
        ));
    }
    for (index, (payload, step)) in steps.iter().enumerate() {
        if index == before_idle
            && let Some((pause, written)) = plan.idle
        {
            tracing::debug!(idle = %format_duration(written), "probe idles");
            // Waiting is not work: another cell may run meanwhile. The echo
            // after the pause is one byte and takes no turn back, so that
            // a busy run cannot lengthen the pause the scenario set.
            plan.turn.give_back();
            plan.paused
                .store(true, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(pause).await;
        }
        if let Some(watch) = &plan.deadlock {
            watch.clock.restart_gaps();
        }
        let echoed = echo(&mut reader, &mut writer, payload, plan).await;
        if let Some(watch) = &plan.deadlock {
            tracing::debug!(
                step = %step,
                longest_gap_us = u64::try_from(watch.clock.longest_gap().as_micros()).unwrap_or(u64::MAX),
                ok = echoed.is_ok(),
                "probe step"
            );
        }
        let failure = match echoed {
            Ok(()) => continue,
            Err(failure) => failure,
        };
        // The tunnel's own account of why the stream broke beats ours.
        return Err(match failure {
            EchoFailure::Broken(detail) => tunnel_reason(&mut outcome).await.unwrap_or_else(|| {
                Observation::new(Category::Reset, format!("{detail} during {step}"))
            }),
            EchoFailure::Timeout(came_back) => {
                tunnel_reason(&mut outcome).await.unwrap_or_else(|| {
                    let wait = format_duration(plan.step_timeout);
                    let detail = match came_back {
                        0 => format!("no answer within {wait} during {step}"),
                        bytes => format!(
                            "{bytes} bytes came back, then nothing for {wait}, during {step}"
                        ),
                    };
                    Observation::new(Category::Timeout, detail)
                })
            }
            // The tunnel task is stuck with the rest: only a reason it has
            // already given counts, or the deadlock would be waited for.
            EchoFailure::Deadlock(quiet) => finished_reason(&mut outcome).unwrap_or_else(|| {
                Observation::new(
                    Category::Timeout,
                    format!("{DEADLOCK} for {} during {step}", format_duration(quiet)),
                )
            }),
            EchoFailure::Corrupt(detail) => {
                Observation::new(Category::Corrupt, format!("{detail} in {step}"))
            }
            EchoFailure::Refused(status, reason) => Observation {
                category: Category::Refused,
                status: Some(status),
                detail: format!("answered HTTP {status} {reason} instead of echoing {step}"),
            },
        });
    }
    close(reader, writer, outcome, plan.step_timeout).await
}

/// How a deadlock's detail begins: decided by stillness, not by a clock.
pub(crate) const DEADLOCK: &str = "no byte moved anywhere in the topology";

enum EchoFailure {
    Broken(String),
    /// Nothing came back for the step timeout, after this many bytes of
    /// the echo had.
    Timeout(usize),
    /// Nothing moved anywhere for this long, no timer armed to act.
    Deadlock(Duration),
    Corrupt(String),
    /// The path answered with an HTTP status instead of echoing.
    Refused(u16, String),
}

async fn echo(
    reader: &mut (impl AsyncRead + Unpin),
    writer: &mut (impl AsyncWrite + Unpin),
    sent: &[u8],
    plan: &ProbePlan,
) -> Result<(), EchoFailure> {
    let mut received = vec![0_u8; sent.len()];
    let send = async {
        writer.write_all(sent).await?;
        writer.flush().await
    };
    tokio::pin!(send);
    let mut sending = true;
    let mut came_back = 0;
    // The step timeout is a wait for the next bytes of the echo, not for
    // all of it: a loaded machine may take longer than it to move 1 MiB,
    // and an echo that keeps coming back is not stuck.
    let started = tokio::time::Instant::now();
    let mut deadline = started + plan.step_timeout;
    let mut deadlocked = Box::pin(traverse_net::deadlock(
        plan.deadlock.as_ref(),
        started,
        deadline,
    ));
    while sending || came_back < received.len() {
        tokio::select! {
            written = &mut send, if sending => {
                written.map_err(|error| EchoFailure::Broken(error.to_string()))?;
                sending = false;
            }
            read = reader.read(&mut received[came_back..]), if came_back < received.len() => {
                match read {
                    Ok(0) => return Err(EchoFailure::Broken("the tunnel closed".to_string())),
                    Ok(bytes) => came_back += bytes,
                    Err(error) => return Err(EchoFailure::Broken(error.to_string())),
                }
                deadline = tokio::time::Instant::now() + plan.step_timeout;
                // A node's timer that fires before the new bound matters now.
                deadlocked = Box::pin(traverse_net::deadlock(
                    plan.deadlock.as_ref(),
                    started,
                    deadline,
                ));
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(EchoFailure::Timeout(came_back));
            }
            quiet = &mut deadlocked => return Err(EchoFailure::Deadlock(quiet)),
        }
    }
    let mismatch = sent.iter().zip(&received).position(|(a, b)| a != b);
    if mismatch.is_some() && received.first() == Some(&b'H') {
        // Perhaps a status line: read what else came, briefly, to tell.
        let mut more = [0_u8; 256];
        if let Ok(Ok(read)) =
            tokio::time::timeout(Duration::from_millis(200), reader.read(&mut more)).await
        {
            received.extend_from_slice(&more[..read]);
        }
    }
    match mismatch {
        None => Ok(()),
        // A status line where the echo should have been: a middlebox that
        // answered the tunnel's bytes itself.
        Some(_) if let Some(status) = response_status(&received) => {
            Err(EchoFailure::Refused(status.code, status.reason))
        }
        Some(offset) => Err(EchoFailure::Corrupt(format!(
            "byte {offset} came back as {:#04x} instead of {:#04x}",
            received[offset], sent[offset]
        ))),
    }
}

async fn close(
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    mut outcome: OutcomeHandle,
    deadline: Duration,
) -> Result<(), Observation> {
    let _ = writer.shutdown().await;
    let mut rest = Vec::new();
    match tokio::time::timeout(deadline, reader.read_to_end(&mut rest)).await {
        Err(_) => {
            return Err(Observation::new(
                Category::Timeout,
                format!(
                    "the tunnel did not close within {} after the client closed",
                    format_duration(deadline)
                ),
            ));
        }
        Ok(Err(error)) => {
            return Err(tunnel_reason(&mut outcome).await.unwrap_or_else(|| {
                Observation::new(Category::Reset, format!("{error} during the close"))
            }));
        }
        Ok(Ok(_)) if !rest.is_empty() => {
            return Err(Observation::new(
                Category::Corrupt,
                format!(
                    "{} unexpected bytes arrived after the last echo",
                    rest.len()
                ),
            ));
        }
        Ok(Ok(_)) => {}
    }
    match tokio::time::timeout(deadline, &mut outcome).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(Observation::from(&error)),
        Ok(Err(join)) => Err(Observation::new(
            Category::Harness,
            format!("the tunnel task failed: {join}"),
        )),
        Err(_) => Err(Observation::new(
            Category::Timeout,
            "the tunnel did not finish its closing handshake",
        )),
    }
}

/// Waits briefly for the tunnel task to say why it stopped.
async fn tunnel_reason(outcome: &mut OutcomeHandle) -> Option<Observation> {
    match tokio::time::timeout(Duration::from_secs(1), outcome).await {
        Ok(Ok(Err(error))) => Some(Observation::from(&error)),
        _ => None,
    }
}

/// The tunnel task's reason, if it has already stopped with one.
fn finished_reason(outcome: &mut OutcomeHandle) -> Option<Observation> {
    use futures_util::FutureExt;
    match outcome.now_or_never() {
        Some(Ok(Err(error))) => Some(Observation::from(&error)),
        _ => None,
    }
}

/// Deterministic bytes, different per step, so a misplaced chunk shows.
fn pattern(size: usize, seed: usize) -> Vec<u8> {
    let mut state =
        0x9E37_79B9_7F4A_7C15_u64 ^ (seed as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn size_name(size: usize) -> String {
    match size {
        size if size >= 1024 * 1024 => format!("{} MiB", size / (1024 * 1024)),
        size if size >= 1024 => format!("{} KiB", size / 1024),
        1 => "1 byte".to_string(),
        size => format!("{size} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;
    use tokio_util::task::AbortOnDropHandle;

    /// A tunnel whose far end is `far`, running in a task like a real one.
    fn connection<F, Fut>(far: F) -> Connection
    where
        F: FnOnce(DuplexStream) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stream, far_side) = tokio::io::duplex(64 * 1024);
        let task = far(far_side);
        Connection {
            stream: Box::new(stream),
            outcome: AbortOnDropHandle::new(tokio::spawn(async move {
                task.await;
                Ok(())
            })),
            keepalives: Default::default(),
            frames_sent: None,
        }
    }

    fn plan() -> ProbePlan {
        ProbePlan {
            idle: None,
            turn: crate::Turn::default(),
            step_timeout: Duration::from_millis(500),
            poison: false,
            deadlock: None,
            paused: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_faithful_echo_passes() {
        let echo = connection(|far| async move {
            let (mut reader, mut writer) = tokio::io::split(far);
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
            let _ = writer.shutdown().await;
        });
        assert_eq!(probe(echo, &plan()).await, Ok(()));
    }

    #[tokio::test]
    async fn a_changed_byte_is_reported_with_its_offset() {
        let flips = connection(|far| async move {
            let (mut reader, mut writer) = tokio::io::split(far);
            let mut seen = 0_usize;
            let mut buffer = vec![0_u8; 4096];
            while let Ok(read) = reader.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                for (index, byte) in buffer[..read].iter_mut().enumerate() {
                    if seen + index == 100 {
                        *byte ^= 0xff;
                    }
                }
                seen += read;
                if writer.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
        });
        let failure = probe(flips, &plan()).await.expect_err("corrupted");
        assert_eq!(failure.category, Category::Corrupt);
        assert!(
            failure.detail.starts_with("byte 99 came back as"),
            "{}",
            failure.detail
        );
        assert!(
            failure.detail.ends_with("in the 64 KiB echo"),
            "{}",
            failure.detail
        );
    }

    #[tokio::test]
    async fn a_silent_tunnel_times_out_on_the_first_echo() {
        let silent = connection(|far| async move {
            std::future::pending::<()>().await;
            drop(far);
        });
        let failure = probe(silent, &plan()).await.expect_err("silent");
        assert_eq!(failure.category, Category::Timeout);
        assert_eq!(
            failure.detail,
            "no answer within 500ms during the 1 byte echo"
        );
    }

    /// A far end that echoes every read back in 16 KiB pieces, `gap`
    /// apart, and stops after `at_most` bytes.
    fn trickle(gap: Duration, at_most: usize) -> Connection {
        connection(move |far| async move {
            let (mut reader, mut writer) = tokio::io::split(far);
            let mut buffer = vec![0_u8; 16 * 1024];
            let mut echoed = 0;
            while let Ok(read) = reader.read(&mut buffer).await {
                if read == 0 || echoed >= at_most {
                    break;
                }
                tokio::time::sleep(gap).await;
                if writer.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
                echoed += read;
            }
            std::future::pending::<()>().await;
        })
    }

    /// The 1 MiB echo comes back 16 KiB every 100 ms: 6.4 s in all, far
    /// past the 500 ms step timeout, but never 500 ms without a byte. A
    /// loaded machine looks like this; it is not a stuck tunnel.
    #[tokio::test(start_paused = true)]
    async fn an_echo_that_keeps_coming_back_is_waited_for() {
        let slow = trickle(Duration::from_millis(100), usize::MAX);
        let plan = ProbePlan {
            step_timeout: Duration::from_millis(500),
            ..plan()
        };
        let failure = probe(slow, &plan).await.expect_err("the close never comes");
        // Every echo came back; only the close, which the far end never
        // answers, ran out.
        assert!(!failure.detail.contains("echo"), "{}", failure.detail);
    }

    /// An echo that stops halfway says how much came back.
    #[tokio::test(start_paused = true)]
    async fn an_echo_that_stops_halfway_times_out_with_what_came_back() {
        let stops = trickle(Duration::from_millis(10), 1 + 64 * 1024 + 512 * 1024);
        let failure = probe(stops, &plan()).await.expect_err("stopped");
        assert_eq!(failure.category, Category::Timeout);
        assert_eq!(
            failure.detail,
            "524288 bytes came back, then nothing for 500ms, during the 1 MiB echo"
        );
    }

    #[tokio::test]
    async fn a_silent_tunnel_in_a_still_topology_is_a_deadlock_before_the_step_timeout() {
        let silent = connection(|far| async move {
            std::future::pending::<()>().await;
            drop(far);
        });
        let plan = ProbePlan {
            turn: crate::Turn::default(),
            step_timeout: Duration::from_secs(30),
            deadlock: Some(QuietWatch {
                clock: traverse_net::ActivityClock::new(),
                period: Duration::from_millis(50),
                waits: None,
            }),
            ..plan()
        };
        let failure = probe(silent, &plan).await.expect_err("silent");
        assert_eq!(failure.category, Category::Timeout);
        assert_eq!(
            failure.detail,
            "no byte moved anywhere in the topology for 50ms during the 1 byte echo"
        );
    }

    #[tokio::test]
    async fn a_tunnel_that_hangs_up_is_a_reset() {
        let hangs_up = connection(|far| async move { drop(far) });
        let failure = probe(hangs_up, &plan()).await.expect_err("closed");
        assert_eq!(failure.category, Category::Reset);
        assert!(
            failure.detail.contains("the 1 byte echo"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn patterns_differ_between_steps_and_repeat_within_one() {
        assert_eq!(pattern(64, 1), pattern(64, 1));
        assert_ne!(pattern(64, 1), pattern(64, 2));
        assert_eq!(size_name(64 * 1024), "64 KiB");
        assert_eq!(size_name(1024 * 1024), "1 MiB");
    }
}
