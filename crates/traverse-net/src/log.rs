//! Transaction logs: one record per connection a node handled, saying what
//! it identified, where it sent it, how many bytes went each way, and what it
//! did. A node that changed or stopped the traffic records a *fault*; blame
//! goes to the node nearest the client whose log holds one.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::activity::{ActivityClock, Armed};
use crate::websocket::WebSocketSeen;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a node recognised on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Not (yet) recognised: raw bytes.
    Unknown,
    Http,
    Websocket,
    /// A WebSocket seen inside TLS the node decrypted (inspection).
    WebsocketTls,
    /// TLS the node did not open.
    TlsOpaque,
}

/// What a node did with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Accepted; nothing decided yet.
    Open,
    /// Passed on as it came.
    Forwarded,
    /// Passed a WebSocket handshake on, then relayed its frames.
    Upgraded,
    /// Removed the hop-by-hop Upgrade/Connection headers before forwarding.
    StrippedUpgrade,
    /// Removed the client's WebSocket offers (`Sec-WebSocket-Protocol`,
    /// `Sec-WebSocket-Extensions`) before forwarding the handshake.
    StrippedHeaders,
    /// Answered the client itself with an error status (in the record).
    Responded,
    /// Refused by policy: a blocked host or protocol.
    Blocked,
    /// Cut the connection after it was idle for the node's idle timeout.
    IdleCut,
    /// The client refused the certificate this node presented.
    TlsRejected,
    /// The TLS handshake with the client failed for another reason.
    TlsFailed,
    /// The next node inward could not be reached or failed its handshake.
    UpstreamFailed,
    /// The bytes were not the protocol this node serves.
    ProtocolError,
    /// Holding bytes the client sent after a request's headers, undeclared
    /// by any length, until the upstream answers. A fault while it lasts:
    /// a server that waits for those bytes never answers.
    Holding,
    /// Forwarded only what HTTP framing declared and dropped what followed.
    DroppedBytes,
    /// Holding a request or response body back until it ends or fills the
    /// hop's buffer, as a buffering proxy does. A fault while it lasts: a
    /// stream that never ends (server-sent events, a streaming POST) never
    /// gets through. Released, the record recovers to what the hop did next.
    Buffered,
}

impl Action {
    /// Whether this action changed or stopped the traffic.
    pub fn is_fault(self) -> bool {
        !matches!(self, Action::Open | Action::Forwarded | Action::Upgraded)
    }
}

/// One connection as a node saw it.
#[derive(Debug, Clone, PartialEq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ConnRecord {
    /// Counted from 1 within the node.
    pub conn: u64,
    /// When the connection arrived, in milliseconds since the log began.
    pub at_ms: u64,
    /// The socket address the connection came from.
    pub peer: String,
    /// The logical port it arrived on.
    pub port: u16,
    /// The logical address it was sent on to, if any.
    pub target: Option<String>,
    /// What the node recognised on it.
    pub protocol: Protocol,
    /// What the node did with it; every action but open, forwarded and
    /// upgraded is a fault.
    pub action: Action,
    /// The status the node answered with, or saw from upstream.
    pub status: Option<u16>,
    /// The node's own line on what it did.
    pub detail: String,
    /// Bytes read from the client (toward the origin).
    pub bytes_up: u64,
    /// Bytes written to the client.
    pub bytes_down: u64,
    /// The first bytes the client sent, in hex, to show what arrived.
    pub first_bytes: String,
    /// A caching node that read bytes inside a tunnel as a request of its
    /// own: the URL it would cache the forged answer under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_poisoned: Option<String>,
    /// The node's idle timer on a relay it kept: how close a byte's reset
    /// came to its cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timer: Option<IdleTimerLeft>,
    /// How long the node's own timer ran, in wall-clock milliseconds (the
    /// scenario's duration times the run's time scale), when it was that
    /// timer running out that made the node act: an idle cut, a read
    /// timeout's 504, a request-head timeout's 408. A harness that ran late
    /// by a good part of it cannot blame the node (see the runner's
    /// starvation checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_wall_ms: Option<u64>,
    /// What the origin saw of a WebSocket it accepted: the negotiation,
    /// the client's frames and its close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketSeen>,
}

/// How close an idle timer came to cutting, in scenario time (the
/// scenario's durations, before the time scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct IdleTimerLeft {
    /// The timer, as the scenario set it.
    pub limit_ms: u64,
    /// The least it had left when a byte it counts reset it; the whole
    /// timer if it cut before any did.
    pub least_left_ms: u64,
}

impl IdleTimerLeft {
    /// Left with less than a tenth of the timer: on a real network, where
    /// latency and the peers' clocks move by more than the harness's
    /// microseconds, whether the byte or the cut comes first is a race.
    pub fn is_close_call(&self) -> bool {
        self.least_left_ms.saturating_mul(10) < self.limit_ms
    }
}

#[derive(Debug)]
struct LogInner {
    started: Instant,
    /// Woken whenever a record changes, for [`TransactionLog::settle`].
    changed: Arc<Notify>,
    entries: Mutex<Entries>,
    /// How many closed records a bounded log keeps; `None` keeps them all.
    window: Option<usize>,
    /// The cell's clock, which every record's bytes move.
    activity: ActivityClock,
}

#[derive(Debug)]
struct Entries {
    /// Handed out under the same lock as the insertion, so `kept` never
    /// lacks a number below one it holds unless that record left the window.
    next_conn: u64,
    kept: BTreeMap<u64, Arc<EntryState>>,
    /// A bounded log's closed records, the earliest closed first: the next
    /// to leave the window.
    closed: VecDeque<u64>,
}

/// The log of one node; cloning shares it.
#[derive(Debug, Clone)]
pub struct TransactionLog {
    inner: Arc<LogInner>,
}

impl Default for TransactionLog {
    fn default() -> Self {
        TransactionLog::new()
    }
}

impl TransactionLog {
    /// A log with a clock of its own: a node run by hand, outside a cell.
    pub fn new() -> TransactionLog {
        TransactionLog::with_activity(ActivityClock::new())
    }

    /// A log whose records report to `activity`, the clock its cell shares
    /// with every other node's log. It keeps every record: blame reads them.
    pub fn with_activity(activity: ActivityClock) -> TransactionLog {
        TransactionLog::build(activity, None)
    }

    /// A log that keeps every connection still open but only the last
    /// `window` closed ones, for a node that runs for as long as someone
    /// watches it: its memory stays flat however many connections it serves.
    pub fn bounded(window: usize) -> TransactionLog {
        TransactionLog::build(ActivityClock::new(), Some(window))
    }

    fn build(activity: ActivityClock, window: Option<usize>) -> TransactionLog {
        TransactionLog {
            inner: Arc::new(LogInner {
                started: Instant::now(),
                changed: Arc::new(Notify::new()),
                entries: Mutex::new(Entries {
                    next_conn: 1,
                    kept: BTreeMap::new(),
                    closed: VecDeque::new(),
                }),
                window,
                activity,
            }),
        }
    }

    /// The clock this log's records report to.
    pub fn activity(&self) -> &ActivityClock {
        &self.inner.activity
    }

    /// Starts the record of a connection that just arrived.
    pub fn open(&self, peer: SocketAddr, port: u16) -> ConnEntry {
        let at_ms = u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.activity.moved();
        let mut entries = lock(&self.inner.entries);
        let conn = entries.next_conn;
        entries.next_conn += 1;
        let state = Arc::new(EntryState {
            record: Mutex::new(ConnRecord {
                conn,
                at_ms,
                peer: peer.to_string(),
                port,
                target: None,
                protocol: Protocol::Unknown,
                action: Action::Open,
                status: None,
                detail: String::new(),
                bytes_up: 0,
                bytes_down: 0,
                first_bytes: String::new(),
                cache_poisoned: None,
                idle_timer: None,
                websocket: None,
                timer_wall_ms: None,
            }),
            version: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            first_bytes: Mutex::new(Vec::new()),
        });
        entries.kept.insert(conn, state.clone());
        drop(entries);
        let entry = ConnEntry {
            _open: Arc::new(Open {
                log: self.inner.clone(),
                conn,
                state: state.clone(),
            }),
            state,
            changed: self.inner.changed.clone(),
            activity: self.inner.activity.clone(),
        };
        self.inner.changed.notify_waiters();
        entry
    }

    /// Every record kept, in arrival order, with live byte counts.
    pub fn snapshot(&self) -> Vec<ConnRecord> {
        lock(&self.inner.entries)
            .kept
            .values()
            .map(|state| state.record())
            .collect()
    }

    /// Waits, at most `deadline`, until no connection is still undecided.
    /// A client that gives up at once (say, on a certificate it refuses)
    /// can finish before the node has recorded why; judging must wait.
    pub async fn settle(&self, deadline: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.inner.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self
                    .snapshot()
                    .iter()
                    .all(|record| record.action != Action::Open)
                {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(deadline, wait).await.is_ok()
    }

    /// Resolves when a record changes next; enable it before reading the
    /// records, so no change between the read and the wait is missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }

    /// The first record in which this node changed or stopped the traffic.
    pub fn first_fault(&self) -> Option<ConnRecord> {
        self.snapshot()
            .into_iter()
            .find(|record| record.action.is_fault())
    }

    /// The records that changed since `follower` last read this log, and how
    /// many it can no longer read in their final form, because they closed
    /// and left a bounded log's window first. A reader that prints a live
    /// log reads only what changed, so a pass costs little more than the
    /// changes however large the window.
    pub fn changes(&self, follower: &mut Follower) -> Changes {
        let entries = lock(&self.inner.entries);
        let mut changes = Changes::default();
        for (&conn, state) in &entries.kept {
            let (version, closed, record) = state.versioned_record();
            let seen = follower.seen.get(&conn).copied();
            if seen.map(|seen| seen.version) != Some(version) {
                // A change that leaves the record as it was read (a close
                // after the last byte was counted) is no news.
                let hash = {
                    let mut hasher = std::hash::DefaultHasher::new();
                    record.hash(&mut hasher);
                    hasher.finish()
                };
                follower.seen.insert(
                    conn,
                    Seen {
                        version,
                        closed,
                        hash,
                    },
                );
                if seen.map(|seen| seen.hash) != Some(hash) {
                    changes.records.push(record);
                }
            }
            if conn >= follower.next_conn {
                // Numbers skipped since the last read: records that came and
                // left the window in between, never read at all.
                changes.missed += conn - follower.next_conn;
                follower.next_conn = conn + 1;
            }
        }
        changes.missed += entries.next_conn.saturating_sub(follower.next_conn);
        follower.next_conn = follower.next_conn.max(entries.next_conn);
        follower.seen.retain(|conn, seen| {
            let kept = entries.kept.contains_key(conn);
            if !kept && !seen.closed {
                changes.missed += 1;
            }
            kept
        });
        changes
    }
}

/// Where a reader of [`TransactionLog::changes`] is: the version of every
/// kept record it read, whether it saw that record closed, and the next
/// connection number it has not read.
#[derive(Debug)]
pub struct Follower {
    seen: BTreeMap<u64, Seen>,
    next_conn: u64,
}

/// One record as a follower last read it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    version: u64,
    closed: bool,
    /// Of the record's content, to tell a change from a repeat.
    hash: u64,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            seen: BTreeMap::new(),
            next_conn: 1,
        }
    }
}

/// What [`TransactionLog::changes`] found.
#[derive(Debug, Default)]
pub struct Changes {
    /// Records changed since the last read, in arrival order.
    pub records: Vec<ConnRecord>,
    /// Records that closed and left the window before their final form
    /// was read.
    pub missed: u64,
}

/// Held by every handle of one connection's entry: when the last handle
/// goes, no task serves the connection any more and its record is final.
#[derive(Debug)]
struct Open {
    log: Arc<LogInner>,
    conn: u64,
    state: Arc<EntryState>,
}

impl Drop for Open {
    fn drop(&mut self) {
        {
            // Only records show the first bytes now, and nothing reads the
            // rest (up to 16 KiB a connection) once the connection is gone.
            let mut first = lock(&self.state.first_bytes);
            first.truncate(FIRST_BYTES_SHOWN);
            first.shrink_to_fit();
        }
        // Closed and versioned together, under the record's lock.
        self.state
            .changed(|_| self.state.closed.store(true, Ordering::Relaxed));
        if let Some(window) = self.log.window {
            let mut entries = lock(&self.log.entries);
            entries.closed.push_back(self.conn);
            while entries.closed.len() > window {
                if let Some(oldest) = entries.closed.pop_front() {
                    entries.kept.remove(&oldest);
                }
            }
        }
        self.log.changed.notify_waiters();
    }
}

/// How many of the client's first bytes a record shows.
const FIRST_BYTES_SHOWN: usize = 16;

/// How many of the client's first bytes are kept: enough for a request head
/// and what follows it, to count bytes no header declared.
const CLIENT_BYTES_KEPT: usize = 16 * 1024;

#[derive(Debug)]
struct EntryState {
    record: Mutex<ConnRecord>,
    /// Moved on, under the record's lock, by every change but byte counts,
    /// which records show at the next change or when the connection closes.
    version: AtomicU64,
    closed: AtomicBool,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    first_bytes: Mutex<Vec<u8>>,
}

/// The live record of one connection, shared by the tasks that serve it.
#[derive(Debug, Clone)]
pub struct ConnEntry {
    state: Arc<EntryState>,
    _open: Arc<Open>,
    changed: Arc<Notify>,
    activity: ActivityClock,
}

impl ConnEntry {
    pub fn set_protocol(&self, protocol: Protocol) {
        self.state.changed(|record| record.protocol = protocol);
    }

    pub fn set_target(&self, target: impl Into<String>) {
        let target = target.into();
        self.state.changed(|record| record.target = Some(target));
    }

    /// Records what the node did. The first fault sticks: what happens after
    /// a node broke the traffic is a consequence, not the cause. Holding and
    /// buffering bytes are faults only while they last, so success clears
    /// them; a buffer is also restated as it grows, and replaced by the
    /// node's own answer to what it held (a 413 for a body beyond its cap).
    pub fn act(&self, action: Action, status: Option<u16>, detail: impl Into<String>) {
        self.record_act(action, status, detail.into(), None);
    }

    /// Records what the node did because one of its own timers, `timer`
    /// long in wall time, ran out; the record keeps the timer's length.
    pub fn act_on_timer(
        &self,
        timer: Duration,
        action: Action,
        status: Option<u16>,
        detail: impl Into<String>,
    ) {
        self.record_act(action, status, detail.into(), Some(timer));
    }

    fn record_act(
        &self,
        action: Action,
        status: Option<u16>,
        detail: String,
        timer: Option<Duration>,
    ) {
        let mut record = lock(&self.state.record);
        let held_then_recovered =
            matches!(record.action, Action::Holding | Action::Buffered) && !action.is_fault();
        let buffer_moved = record.action == Action::Buffered
            && matches!(action, Action::Buffered | Action::Responded);
        if record.action.is_fault() && !held_then_recovered && !buffer_moved {
            return;
        }
        record.action = action;
        record.status = status.or(record.status);
        record.detail = detail;
        record.timer_wall_ms =
            timer.map(|timer| u64::try_from(timer.as_millis()).unwrap_or(u64::MAX));
        self.state.version.fetch_add(1, Ordering::Relaxed);
        drop(record);
        self.changed.notify_waiters();
    }

    pub fn count_up(&self, bytes: &[u8]) {
        self.activity.moved();
        self.state
            .bytes_up
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let mut first = lock(&self.state.first_bytes);
        if first.len() < CLIENT_BYTES_KEPT {
            let room = CLIENT_BYTES_KEPT - first.len();
            first.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    pub fn count_down(&self, bytes: usize) {
        self.activity.moved();
        self.state
            .bytes_down
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Something moved on this connection that no byte count shows: an
    /// end of stream, an error.
    pub fn moved(&self) {
        self.activity.moved();
    }

    /// The clock of the cell this connection belongs to.
    pub fn activity(&self) -> &ActivityClock {
        &self.activity
    }

    /// Declares a timer of this node's that will act at `deadline` (see
    /// [`ActivityClock::arm`]).
    pub fn arm(&self, deadline: tokio::time::Instant) -> Armed {
        self.activity.arm(deadline)
    }

    /// The first bytes the client sent, as records show them.
    pub fn first_bytes(&self) -> Vec<u8> {
        let kept = lock(&self.state.first_bytes);
        kept[..kept.len().min(FIRST_BYTES_SHOWN)].to_vec()
    }

    /// The client's first bytes, up to 16 KiB.
    pub fn client_bytes(&self) -> Vec<u8> {
        lock(&self.state.first_bytes).clone()
    }

    /// Records that this node would cache a forged answer under `url`.
    pub fn note_poisoned(&self, url: impl Into<String>) {
        let url = url.into();
        self.state
            .changed(|record| record.cache_poisoned = Some(url));
    }

    /// Records how close the node's idle timer came to cutting.
    pub fn note_idle_timer(&self, left: IdleTimerLeft) {
        self.state.changed(|record| record.idle_timer = Some(left));
    }

    /// Records what the origin saw of the WebSocket on this connection.
    pub fn note_websocket(&self, update: impl FnOnce(&mut WebSocketSeen)) {
        self.state
            .changed(|record| update(record.websocket.get_or_insert_with(Default::default)));
    }

    pub fn record(&self) -> ConnRecord {
        self.state.record()
    }
}

impl EntryState {
    /// Changes the record under its lock and moves its version on, so a
    /// follower reading both under the same lock never pairs a new record
    /// with an old version.
    fn changed(&self, change: impl FnOnce(&mut ConnRecord)) {
        let mut record = lock(&self.record);
        change(&mut record);
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self) -> ConnRecord {
        self.versioned_record().2
    }

    /// The record with its version and whether its connection closed, read
    /// together.
    fn versioned_record(&self) -> (u64, bool, ConnRecord) {
        let record = lock(&self.record);
        let version = self.version.load(Ordering::Relaxed);
        let closed = self.closed.load(Ordering::Relaxed);
        let mut record = record.clone();
        record.bytes_up = self.bytes_up.load(Ordering::Relaxed);
        record.bytes_down = self.bytes_down.load(Ordering::Relaxed);
        let first = lock(&self.first_bytes);
        record.first_bytes = hex(&first[..first.len().min(FIRST_BYTES_SHOWN)]);
        (version, closed, record)
    }
}

/// What the first bytes of a connection are: a TLS ClientHello, an HTTP
/// request line, or something else.
pub fn sniff(first_bytes: &[u8]) -> Protocol {
    const METHODS: [&str; 9] = [
        "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
    ];
    match first_bytes {
        [0x16, 0x03, ..] => Protocol::TlsOpaque,
        bytes
            if METHODS
                .iter()
                .any(|method| bytes.starts_with(method.as_bytes())) =>
        {
            Protocol::Http
        }
        _ => Protocol::Unknown,
    }
}

/// Bytes as space-separated hex, for logs and details.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A lock that a panic elsewhere does not poison: it must not hide what a
/// log recorded, nor stop the cell's clock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    #[test]
    fn the_first_fault_sticks() {
        let log = TransactionLog::new();
        let entry = log.open(peer(), 443);
        entry.act(Action::Forwarded, None, "passed");
        entry.act(Action::StrippedUpgrade, None, "removed Upgrade");
        entry.act(Action::Responded, Some(502), "later consequence");
        entry.act(Action::Upgraded, None, "never");
        let record = log.first_fault().expect("a fault");
        assert_eq!(record.action, Action::StrippedUpgrade);
        assert_eq!(record.detail, "removed Upgrade");
        assert_eq!(record.status, None);
    }

    #[test]
    fn holding_is_cleared_by_success_but_not_by_another_fault() {
        let log = TransactionLog::new();
        let recovered = log.open(peer(), 80);
        recovered.act(Action::Holding, None, "holding 8 bytes");
        recovered.act(Action::Upgraded, Some(101), "the origin answered");
        assert_eq!(recovered.record().action, Action::Upgraded);
        let stuck = log.open(peer(), 80);
        stuck.act(Action::Holding, None, "holding 8 bytes");
        stuck.act(Action::UpstreamFailed, Some(502), "teardown");
        assert_eq!(stuck.record().action, Action::Holding);
    }

    #[test]
    fn a_buffer_is_restated_as_it_grows_and_cleared_when_released() {
        let log = TransactionLog::new();
        let released = log.open(peer(), 80);
        released.act(Action::Forwarded, Some(200), "forwarded");
        released.act(Action::Buffered, None, "12 bytes held");
        released.act(Action::Buffered, None, "412 bytes held");
        assert_eq!(released.record().detail, "412 bytes held");
        released.act(Action::Forwarded, Some(200), "forwarded, buffered");
        assert_eq!(released.record().action, Action::Forwarded);
        let refused = log.open(peer(), 80);
        refused.act(Action::Buffered, None, "1 MiB held");
        refused.act(Action::Responded, Some(413), "answered 413");
        assert_eq!(refused.record().status, Some(413));
        let stuck = log.open(peer(), 80);
        stuck.act(Action::Buffered, None, "412 bytes held");
        stuck.act(Action::UpstreamFailed, Some(502), "teardown");
        assert_eq!(stuck.record().action, Action::Buffered);
    }

    #[test]
    fn counts_bytes_and_keeps_the_first_sixteen() {
        let log = TransactionLog::new();
        let entry = log.open(peer(), 80);
        entry.count_up(b"GET / HTTP/1.1\r\n");
        entry.count_up(b"Host: origin.test\r\n");
        entry.count_down(10);
        let record = entry.record();
        assert_eq!((record.bytes_up, record.bytes_down), (35, 10));
        assert_eq!(entry.first_bytes(), b"GET / HTTP/1.1\r\n");
        assert!(record.first_bytes.starts_with("47 45 54 20"));
    }

    #[tokio::test]
    async fn settle_waits_for_a_decision_and_gives_up_at_its_deadline() {
        let log = TransactionLog::new();
        let entry = log.open(peer(), 443);
        assert!(!log.settle(Duration::from_millis(10)).await);
        let deciding = tokio::spawn({
            let log = log.clone();
            async move { log.settle(Duration::from_secs(5)).await }
        });
        entry.act(Action::TlsRejected, None, "alert");
        assert!(deciding.await.expect("join"));
    }

    #[tokio::test]
    async fn a_bounded_log_keeps_its_window_of_closed_records_and_every_open_one() {
        const WINDOW: usize = 8;
        let log = TransactionLog::bounded(WINDOW);
        let long_lived = log.open(peer(), 443);
        long_lived.act(Action::Upgraded, Some(101), "relaying frames");
        let mut follower = Follower::default();
        let mut printed = Vec::new();
        for _ in 0..WINDOW * 50 {
            let changed = log.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let entry = log.open(peer(), 80);
            entry.count_up(&[b'x'; 4096]);
            entry.act(Action::Forwarded, Some(200), "passed");
            drop(entry);
            // Each record is still announced, and read once final.
            tokio::time::timeout(Duration::from_secs(5), changed)
                .await
                .expect("a change is notified");
            let changes = log.changes(&mut follower);
            assert_eq!(changes.missed, 0);
            printed.extend(changes.records);
            assert!(log.snapshot().len() <= WINDOW + 1);
        }
        let kept = log.snapshot();
        assert_eq!(kept.len(), WINDOW + 1);
        assert_eq!(kept[0].action, Action::Upgraded, "the open record stays");
        let last = kept.last().expect("a record");
        assert_eq!(last.conn, 1 + (WINDOW * 50) as u64);
        let finals = printed.iter().filter(|record| record.bytes_up == 4096);
        assert_eq!(finals.count(), WINDOW * 50, "every record read once final");
        // The long-lived one closes with its last bytes, read as it closed,
        // and takes its place in the window.
        long_lived.count_down(3);
        drop(long_lived);
        let changes = log.changes(&mut follower);
        assert_eq!(changes.records.len(), 1);
        assert_eq!(
            (changes.records[0].conn, changes.records[0].bytes_down),
            (1, 3)
        );
        assert_eq!(log.snapshot().len(), WINDOW);
    }

    #[test]
    fn a_follower_counts_what_left_the_window_before_it_read_it() {
        let log = TransactionLog::bounded(2);
        let mut follower = Follower::default();
        let seen_open = log.open(peer(), 80);
        assert_eq!(log.changes(&mut follower).records.len(), 1);
        drop(seen_open);
        for _ in 0..5 {
            drop(log.open(peer(), 80));
        }
        let changes = log.changes(&mut follower);
        // Conns 1 (read only while open), 2, 3 and 4 are gone; 5 and 6 are read.
        assert_eq!(changes.missed, 4);
        let conns: Vec<u64> = changes.records.iter().map(|record| record.conn).collect();
        assert_eq!(conns, [5, 6]);
        assert_eq!(log.changes(&mut follower).records.len(), 0);
    }

    #[test]
    fn a_cell_s_log_keeps_every_record() {
        let log = TransactionLog::new();
        for _ in 0..100 {
            drop(log.open(peer(), 80));
        }
        assert_eq!(log.snapshot().len(), 100);
    }

    #[test]
    fn sniffs_tls_http_and_anything_else() {
        assert_eq!(sniff(&[0x16, 0x03, 0x01, 0x02]), Protocol::TlsOpaque);
        assert_eq!(sniff(b"GET /tunnel HTTP/1.1"), Protocol::Http);
        assert_eq!(sniff(&[0, 0, 0, 16, b'T']), Protocol::Unknown);
    }
}
