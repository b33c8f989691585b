//! Whether a cell's failure is the harness's own: the rules that read a
//! failure time can cause as `harness` when the harness ran late while
//! the cell lasted (lateness.rs measures how late), so that a starved
//! harness never blames a hop. Each rule takes a failure the verdict gave
//! and hands it back, or a `harness` failure that says why.

use std::time::Duration;

use traverse_net::ConnRecord;

use crate::lateness::Behind;
use crate::verdict::{Category, Failure, NodeLog};

/// How a cell's detail begins when the harness could not keep time.
pub(crate) const STARVED: &str = "the harness was starved";

/// HTTP statuses a node answers when one of its own timers ran out: 408
/// Request Timeout, 504 Gateway Timeout, Cloudflare's 522 and 524.
const TIMEOUT_STATUSES: [u16; 4] = [408, 504, 522, 524];

/// A failure that time can cause in a cell during which the harness itself
/// ran late by more than the judgement can bear: the machine was too busy
/// to tell a slow hop from a slow harness. Time can cause a step's timeout,
/// an idle cut, a node's timer answering 504, and a closed tunnel that no
/// node explains otherwise (a real program's own timeout closes without a
/// record). A deadlock is decided by stillness, which a badly starved
/// process fakes too: at 16 busy loops a hop's 426 was once taken for one.
/// A refusal by policy or changed bytes do not depend on time.
///
/// A node's timer that ran out (its record's `timer_wall_ms`) makes a
/// failure timed. Lateness is weighed against the step's timeout even when
/// that timer was shorter: weighed against a 0.2 s read timeout, one 50 ms
/// late tick in a busy test binary took a legitimate 504 from the node.
pub(crate) fn starved_clock(
    failure: Failure,
    logs: &[NodeLog],
    behind: Behind,
    step_timeout: Duration,
    span: Duration,
) -> Failure {
    let timer_ran_out =
        |status: Option<u16>| status.is_some_and(|status| TIMEOUT_STATUSES.contains(&status));
    let blamed_fault = blamed_fault(&failure, logs);
    let blamed_timer_ran_out = blamed_fault.is_some_and(|record| {
        record.action == traverse_net::Action::IdleCut
            || record.timer_wall_ms.is_some()
            || timer_ran_out(record.status)
    });
    let timed = match failure.category {
        Category::Timeout => true,
        Category::IdleCut => true,
        Category::Reset => blamed_fault.is_none() || blamed_timer_ran_out,
        _ => timer_ran_out(failure.status) || blamed_timer_ran_out,
    };
    if !timed || !behind.spoils(step_timeout, span) {
        return failure;
    }
    Failure::harness(format!(
        "{STARVED}: its timers fired up to {} late ({} in all over {}{}), so it cannot tell \
             whether {} was at fault (lower --jobs); it saw: {}",
        traverse_scenario::format_duration(behind.worst),
        traverse_scenario::format_duration(behind.total),
        traverse_scenario::format_duration(span),
        waited_for_a_cpu(behind),
        failure.blame,
        failure.detail
    ))
}

/// How long the harness's threads waited for a CPU, as a detail's clause.
fn waited_for_a_cpu(behind: Behind) -> String {
    if behind.waited.is_zero() {
        return String::new();
    }
    format!(
        ", its threads waited {} for a CPU",
        traverse_scenario::format_duration(behind.waited)
    )
}

/// The first fault of the node a failure blames, which is what blamed it.
fn blamed_fault<'a>(failure: &Failure, logs: &'a [NodeLog]) -> Option<&'a ConnRecord> {
    logs.iter()
        .filter(|log| log.node == failure.blame)
        .find_map(|log| log.records.iter().find(|record| record.action.is_fault()))
}

/// The longest the probe means to be silent, in wall time: its idle pause,
/// cut short by a keepalive that carries bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Silence {
    pub(crate) pause: Option<Duration>,
    pub(crate) keepalive_every: Option<Duration>,
}

impl Silence {
    fn longest(self) -> Duration {
        let pause = self.pause.unwrap_or(Duration::ZERO);
        self.keepalive_every.map_or(pause, |every| pause.min(every))
    }
}

/// An idle cut by a hop whose timer is at least twice as long as any
/// silence the probe means to keep: the probe (or the origin answering
/// it) could not send in time, which is the harness running late, not the
/// hop. Every bundled idle cut comes after a pause longer than the hop's
/// timer; a starved harness turns a 30 s keepalive against a 60 s timer,
/// or an echo with no pause at all, into one.
pub(crate) fn starved_silence(
    failure: Failure,
    logs: &[NodeLog],
    silence: Silence,
    behind: Behind,
) -> Failure {
    if failure.category != Category::IdleCut || !behind.ran_late() {
        return failure;
    }
    let Some(limit) = blamed_fault(&failure, logs)
        .filter(|record| record.action == traverse_net::Action::IdleCut)
        .and_then(|record| record.timer_wall_ms)
        .map(Duration::from_millis)
    else {
        return failure;
    };
    let meant = silence.longest();
    // The timer is kept in whole milliseconds and the time scale multiplies
    // in floating point: 30 s against 60 s must not miss by a hair.
    if meant.mul_f64(2.0) > limit.mul_f64(1.001) + Duration::from_millis(1) {
        return failure;
    }
    Failure::harness(format!(
        "{STARVED}: {} cut the tunnel after {} (wall time) without traffic, but the probe \
             is never silent for more than {}, and the harness ran up to {} late{} (lower --jobs); \
             it saw: {}",
        failure.blame,
        traverse_scenario::format_duration(limit),
        traverse_scenario::format_duration(meant),
        traverse_scenario::format_duration(behind.worst),
        waited_for_a_cpu(behind),
        failure.detail
    ))
}

/// HTTP statuses a node answers when its read timeout ran out waiting for
/// the next node's answer: 504 Gateway Timeout, Cloudflare's 524.
const READ_TIMEOUT_STATUSES: [u16; 2] = [504, 524];

/// A node's read timeout that ran out on an origin that holds requests
/// on purpose (`long-poll`'s poll, `hold` in wall time) and was sure to
/// answer well within it: the timer is at least twice the hold. Only an
/// origin that ran late misses such a timer, so while the harness ran
/// late by a good part of the difference, the 504 is its own doing. At 16
/// busy loops an ALB's 60 s read timeout answered 504 to a poll held for
/// 25 s. A timer shorter than that stays the node's: a 20 s read timeout
/// against a 25 s poll is a real finding.
pub(crate) fn starved_answer(
    failure: Failure,
    logs: &[NodeLog],
    hold: Option<Duration>,
    behind: Behind,
) -> Failure {
    let Some(hold) = hold.filter(|hold| !hold.is_zero()) else {
        return failure;
    };
    let Some(timer) = blamed_fault(&failure, logs)
        .filter(|record| {
            record
                .status
                .is_some_and(|status| READ_TIMEOUT_STATUSES.contains(&status))
        })
        .and_then(|record| record.timer_wall_ms)
        .map(Duration::from_millis)
    else {
        return failure;
    };
    // The whole milliseconds of the timer, against a hold the time scale
    // multiplied in floating point, must not miss by a hair.
    if timer.mul_f64(1.001) + Duration::from_millis(1) < hold * 2 || !behind.ran_late() {
        return failure;
    }
    let slack = timer.saturating_sub(hold);
    if behind.worst * 2 < slack && behind.total < slack {
        return failure;
    }
    Failure::harness(format!(
        "{STARVED}: {} gave up on an answer after {} (wall time), but the origin answers \
             within {}, and the harness ran up to {} late ({} in all{}) (lower --jobs); it saw: {}",
        failure.blame,
        traverse_scenario::format_duration(timer),
        traverse_scenario::format_duration(hold),
        traverse_scenario::format_duration(behind.worst),
        traverse_scenario::format_duration(behind.total),
        waited_for_a_cpu(behind),
        failure.detail
    ))
}

/// A keepalive sent late by more than a quarter of its interval: the
/// harness was starved (a loaded machine), and an idle cut that followed
/// is its own doing, not the hop's.
pub(crate) fn starved_keepalive(
    failure: Failure,
    lateness: Option<(Duration, Duration)>,
) -> Failure {
    match lateness {
        Some((every, late)) if failure.category == Category::IdleCut && late * 4 > every => {
            Failure::harness(format!(
                "{STARVED}: a keepalive due every {} (wall time) went out {} late, \
                     and then {} cut the tunnel ({})",
                traverse_scenario::format_duration(every),
                traverse_scenario::format_duration(late),
                failure.blame,
                failure.detail
            ))
        }
        _ => failure,
    }
}

#[cfg(test)]
mod tests {
    use traverse_net::TransactionLog;

    use super::*;

    fn idle_cut_by(hop: &str) -> Failure {
        Failure {
            category: Category::IdleCut,
            status: None,
            blame: hop.to_string(),
            detail: "nginx: cut the connection after 60s without a byte from upstream".to_string(),
        }
    }

    /// A ping due every 300 ms that went out 200 ms late, then an idle cut:
    /// the harness's own trouble. 20 ms late is ordinary scheduling, and
    /// the cut stays the hop's, as does any other failure.
    #[test]
    fn an_idle_cut_after_a_late_keepalive_is_the_harness_s() {
        let every = Duration::from_millis(300);
        let starved = starved_keepalive(
            idle_cut_by("nginx"),
            Some((every, Duration::from_millis(200))),
        );
        assert_eq!(starved.category, Category::Harness);
        assert_eq!(starved.blame, "harness");
        assert_eq!(
            starved.detail,
            "the harness was starved: a keepalive due every 300ms (wall time) went out 200ms late, \
             and then nginx cut the tunnel (nginx: cut the connection after 60s without a byte from upstream)"
        );
        let on_time = starved_keepalive(
            idle_cut_by("nginx"),
            Some((every, Duration::from_millis(20))),
        );
        assert_eq!(on_time, idle_cut_by("nginx"));
        assert_eq!(
            starved_keepalive(idle_cut_by("nginx"), None),
            idle_cut_by("nginx")
        );
        let refused = Failure {
            category: Category::Refused,
            ..idle_cut_by("f5")
        };
        assert_eq!(
            starved_keepalive(refused.clone(), Some((every, Duration::from_secs(1)))),
            refused
        );
    }

    fn timed_out(detail: &str) -> Failure {
        Failure {
            category: Category::Timeout,
            status: None,
            blame: "cloudflare".to_string(),
            detail: detail.to_string(),
        }
    }

    /// A step timeout or an idle cut in a cell during which the harness
    /// lost 600 ms at once, against a 2 s step timeout: the harness's. A
    /// deadlock, decided by stillness, and a refusal stay the node's, and
    /// so does anything when the harness kept time.
    #[test]
    fn a_timed_failure_while_the_harness_ran_late_is_the_harness_s() {
        let step = Duration::from_secs(2);
        let span = Duration::from_secs(5);
        let late = Behind {
            worst: Duration::from_millis(600),
            total: Duration::from_millis(900),
            ..Behind::default()
        };
        let starved = starved_clock(
            timed_out("no answer within 2s during the 1 MiB echo"),
            &[],
            late,
            step,
            span,
        );
        assert_eq!(starved.category, Category::Harness);
        assert_eq!(starved.blame, "harness");
        assert_eq!(
            starved.detail,
            "the harness was starved: its timers fired up to 600ms late (900ms in all over 5s), \
             so it cannot tell whether cloudflare was at fault (lower --jobs); \
             it saw: no answer within 2s during the 1 MiB echo"
        );
        assert_eq!(
            starved_clock(idle_cut_by("nginx"), &[], late, step, span).blame,
            "harness"
        );
        // Many small delays that add up to twice the step timeout.
        let dragging = Behind {
            worst: Duration::from_millis(100),
            total: Duration::from_millis(4500),
            ..Behind::default()
        };
        assert_eq!(
            starved_clock(idle_cut_by("nginx"), &[], dragging, step, span).blame,
            "harness"
        );
        // A cell that failed soon, having lost most of its time: a whole
        // step's timeout of its 3 s went to the harness. Half of it lost
        // is still a busy runtime's.
        let soon = Duration::from_secs(3);
        let mostly_lost = Behind {
            worst: Duration::from_millis(250),
            total: Duration::from_millis(2400),
            ..Behind::default()
        };
        assert_eq!(
            starved_clock(
                timed_out("no answer within 2s"),
                &[],
                mostly_lost,
                step,
                soon
            )
            .blame,
            "harness"
        );
        let half_lost = Behind {
            total: Duration::from_millis(1500),
            ..mostly_lost
        };
        assert_eq!(
            starved_clock(timed_out("no answer within 2s"), &[], half_lost, step, soon),
            timed_out("no answer within 2s")
        );
        // A busy runtime's ordinary lateness, and a reset a hop explains
        // with a fault of its own, are the path's.
        let busy = Behind {
            worst: Duration::from_millis(300),
            total: Duration::from_millis(1600),
            ..Behind::default()
        };
        assert_eq!(
            starved_clock(idle_cut_by("nginx"), &[], busy, step, span).blame,
            "nginx"
        );
        let log = TransactionLog::new();
        log.open("127.0.0.1:1".parse().expect("addr"), 80).act(
            traverse_net::Action::StrippedUpgrade,
            None,
            "removed `Upgrade: websocket`",
        );
        let stripped = [NodeLog {
            node: "f5".to_string(),
            records: log.snapshot(),
        }];
        let reset = Failure {
            category: Category::Reset,
            ..idle_cut_by("f5")
        };
        assert_eq!(
            starved_clock(reset.clone(), &stripped, late, step, span),
            reset
        );
        assert_eq!(starved_clock(reset, &[], late, step, span).blame, "harness");

        let deadlock = timed_out(&format!(
            "{} for 150ms during the 1 byte echo",
            crate::probe::DEADLOCK
        ));
        assert_eq!(
            starved_clock(deadlock.clone(), &[], late, step, span).blame,
            "harness"
        );
        assert_eq!(
            starved_clock(deadlock.clone(), &[], busy, step, span),
            deadlock
        );
        let refused = Failure {
            category: Category::Refused,
            ..idle_cut_by("f5")
        };
        assert_eq!(
            starved_clock(refused.clone(), &[], late, step, span),
            refused
        );
        let on_time = Behind {
            worst: Duration::from_millis(60),
            total: Duration::from_millis(200),
            ..Behind::default()
        };
        let slow_hop = timed_out("no answer within 2s during the 1 byte echo");
        assert_eq!(
            starved_clock(slow_hop.clone(), &[], on_time, step, span),
            slow_hop
        );
    }

    /// A hop's own read timeout answering 504 to a handshake the starved
    /// origin could not answer in time: the client reads it as changed
    /// bytes, but a timer decided it, so the harness's trouble it is.
    #[test]
    fn a_node_s_timer_answer_while_the_harness_ran_late_is_the_harness_s() {
        let log = TransactionLog::new();
        let entry = log.open("127.0.0.1:1".parse().expect("addr"), 80);
        entry.act(
            traverse_net::Action::Responded,
            Some(504),
            "origin.test:80 sent no answer within 60s (read_timeout)",
        );
        let logs = [NodeLog {
            node: "nginx".to_string(),
            records: log.snapshot(),
        }];
        let corrupt = Failure {
            category: Category::Corrupt,
            status: None,
            blame: "nginx".to_string(),
            detail: "WebSocket protocol error: HTTP version must be 1.1 or higher".to_string(),
        };
        let (step, span) = (Duration::from_secs(2), Duration::from_secs(3));
        let late = Behind {
            worst: Duration::from_millis(800),
            total: Duration::from_millis(900),
            ..Behind::default()
        };
        assert_eq!(
            starved_clock(corrupt.clone(), &logs, late, step, span).blame,
            "harness"
        );
        assert_eq!(
            starved_clock(corrupt.clone(), &[], late, step, span),
            corrupt,
            "no timer of the node's"
        );
        assert_eq!(
            starved_clock(corrupt.clone(), &logs, Behind::default(), step, span),
            corrupt
        );
    }

    /// An ALB's read timeout (600 ms of wall time) that answered 504 to a
    /// poll the origin holds for 250 ms: only an origin running late
    /// misses it, so with the harness 250 ms late it is the harness's. A
    /// 200 ms timer against the same poll is a real finding, as is any 504
    /// while the harness kept time, or of a tunnel whose origin holds
    /// nothing on purpose.
    #[test]
    fn a_read_timeout_on_a_poll_held_well_within_it_is_the_harness_s_when_it_ran_late() {
        let logs = |timer_ms: u64| {
            let log = TransactionLog::new();
            log.open("127.0.0.1:1".parse().expect("addr"), 80)
                .act_on_timer(
                    Duration::from_millis(timer_ms),
                    traverse_net::Action::Responded,
                    Some(504),
                    "answered 504: origin.test:80 sent no response head within 60s (read_timeout)",
                );
            [NodeLog {
                node: "alb".to_string(),
                records: log.snapshot(),
            }]
        };
        let answered_504 = Failure {
            category: Category::Refused,
            status: Some(504),
            blame: "alb".to_string(),
            detail: "answered HTTP 504 Gateway Timeout to a long-poll GET".to_string(),
        };
        let late = Behind {
            worst: Duration::from_millis(250),
            total: Duration::from_millis(300),
            ..Behind::default()
        };
        let poll = Some(Duration::from_millis(250));
        let starved = starved_answer(answered_504.clone(), &logs(600), poll, late);
        assert_eq!(starved.blame, "harness");
        assert_eq!(
            starved.detail,
            "the harness was starved: alb gave up on an answer after 600ms (wall time), but the \
             origin answers within 250ms, and the harness ran up to 250ms late (300ms in all) \
             (lower --jobs); it saw: answered HTTP 504 Gateway Timeout to a long-poll GET"
        );
        let stays = [
            ("a timer shorter than twice the poll", logs(200), poll, late),
            ("a harness on time", logs(600), poll, Behind::default()),
            (
                "a harness only a little late",
                logs(600),
                poll,
                Behind {
                    worst: Duration::from_millis(60),
                    total: Duration::from_millis(120),
                    ..Behind::default()
                },
            ),
            (
                "an origin that holds nothing",
                logs(600),
                Some(Duration::ZERO),
                late,
            ),
            ("an external tunnel", logs(600), None, late),
        ];
        for (case, logs, hold, behind) in stays {
            assert_eq!(
                starved_answer(answered_504.clone(), &logs, hold, behind),
                answered_504,
                "{case}"
            );
        }
    }

    /// A hop's TLS accept that gave up on a client that never finished its
    /// handshake is the hop's step timer running out: the client closing
    /// reads as a reset the hop explains, and a harness 600 ms late at once
    /// cannot tell whether the client was slow or starved.
    #[test]
    fn a_handshake_a_starved_client_never_finished_is_the_harness_s() {
        let log = TransactionLog::new();
        log.open("127.0.0.1:1".parse().expect("addr"), 443)
            .act_on_timer(
                Duration::from_secs(2),
                traverse_net::Action::TlsFailed,
                None,
                "the client never finished the TLS handshake",
            );
        let logs = [NodeLog {
            node: "f5".to_string(),
            records: log.snapshot(),
        }];
        let reset = Failure {
            category: Category::Reset,
            status: None,
            blame: "f5".to_string(),
            detail: "connection closed during the WebSocket handshake".to_string(),
        };
        let late = Behind {
            worst: Duration::from_millis(600),
            total: Duration::from_millis(700),
            ..Behind::default()
        };
        let (step, span) = (Duration::from_secs(2), Duration::from_secs(3));
        assert_eq!(
            starved_clock(reset.clone(), &logs, late, step, span).blame,
            "harness"
        );
        assert_eq!(
            starved_clock(reset.clone(), &logs, Behind::default(), step, span),
            reset
        );
    }

    /// Cloudflare's 100 s timer (1 s of wall time at the default scale)
    /// cut a tunnel the probe never left silent for more than a 30 s
    /// keepalive, or at all: the harness ran late. After a 120 s pause the
    /// cut is the hop's, as the scenario means it.
    #[test]
    fn an_idle_cut_the_probe_never_left_time_for_is_the_harness_s() {
        let log = TransactionLog::new();
        let entry = log.open("127.0.0.1:1".parse().expect("addr"), 443);
        entry.note_idle_timer(traverse_net::IdleTimerLeft {
            limit_ms: 100_000,
            least_left_ms: 99_000,
        });
        entry.act_on_timer(
            Duration::from_secs(1),
            traverse_net::Action::IdleCut,
            None,
            "cut the WebSocket after 100s without traffic (idle_timeout)",
        );
        let logs = [NodeLog {
            node: "cloudflare".to_string(),
            records: log.snapshot(),
        }];
        let cut = idle_cut_by("cloudflare");
        let late = Behind {
            worst: Duration::from_millis(200),
            total: Duration::from_millis(400),
            ..Behind::default()
        };
        let no_pause = Silence::default();
        let starved = starved_silence(cut.clone(), &logs, no_pause, late);
        assert_eq!(starved.blame, "harness");
        assert_eq!(
            starved.detail,
            "the harness was starved: cloudflare cut the tunnel after 1s (wall time) without traffic, \
             but the probe is never silent for more than 0s, and the harness ran up to 200ms late \
             (lower --jobs); it saw: nginx: cut the connection after 60s without a byte from upstream"
        );
        let pinging = Silence {
            pause: Some(Duration::from_millis(1200)),
            keepalive_every: Some(Duration::from_millis(300)),
        };
        assert_eq!(
            starved_silence(cut.clone(), &logs, pinging, late).blame,
            "harness"
        );
        let pausing = Silence {
            pause: Some(Duration::from_millis(1200)),
            keepalive_every: None,
        };
        assert_eq!(starved_silence(cut.clone(), &logs, pausing, late), cut);
        assert_eq!(
            starved_silence(cut.clone(), &logs, no_pause, Behind::default()),
            cut,
            "a harness that kept time"
        );
        // A ticker that woke on time, in a process whose threads waited
        // for a CPU: starved all the same.
        let kept_from_a_cpu = Behind {
            waited: Duration::from_millis(300),
            ..Behind::default()
        };
        assert_eq!(
            starved_silence(cut.clone(), &logs, no_pause, kept_from_a_cpu).blame,
            "harness"
        );
    }
}
