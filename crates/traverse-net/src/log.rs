//! Transaction logs: one record per connection a node handled, saying what
//! it identified, where it sent it, how many bytes went each way, and what it
//! did. A node that changed or stopped the traffic records a *fault*; blame
//! goes to the node nearest the client whose log holds one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::activity::{ActivityClock, Armed};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a node recognised on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
}

impl Action {
    /// Whether this action changed or stopped the traffic.
    pub fn is_fault(self) -> bool {
        !matches!(self, Action::Open | Action::Forwarded | Action::Upgraded)
    }
}

/// One connection as a node saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
}

/// How close an idle timer came to cutting, in scenario time (the
/// scenario's durations, before the time scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IdleTimerLeft {
    /// The timer, as the scenario set it.
    pub limit_ms: u64,
    /// The least it had left when a byte it counts reset it.
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
    next_conn: AtomicU64,
    entries: Mutex<Vec<ConnEntry>>,
    /// The cell's clock, which every record's bytes move.
    activity: ActivityClock,
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
    /// with every other node's log.
    pub fn with_activity(activity: ActivityClock) -> TransactionLog {
        TransactionLog {
            inner: Arc::new(LogInner {
                started: Instant::now(),
                changed: Arc::new(Notify::new()),
                next_conn: AtomicU64::new(1),
                entries: Mutex::new(Vec::new()),
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
        let conn = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let at_ms = u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.activity.moved();
        let entry = ConnEntry {
            changed: self.inner.changed.clone(),
            activity: self.inner.activity.clone(),
            state: Arc::new(EntryState {
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
                }),
                bytes_up: AtomicU64::new(0),
                bytes_down: AtomicU64::new(0),
                first_bytes: Mutex::new(Vec::new()),
            }),
        };
        lock(&self.inner.entries).push(entry.clone());
        self.inner.changed.notify_waiters();
        entry
    }

    /// Every record so far, in arrival order, with live byte counts.
    pub fn snapshot(&self) -> Vec<ConnRecord> {
        lock(&self.inner.entries)
            .iter()
            .map(ConnEntry::record)
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
}

/// How many of the client's first bytes a record shows.
const FIRST_BYTES_SHOWN: usize = 16;

/// How many of the client's first bytes are kept: enough for a request head
/// and what follows it, to count bytes no header declared.
const CLIENT_BYTES_KEPT: usize = 16 * 1024;

#[derive(Debug)]
struct EntryState {
    record: Mutex<ConnRecord>,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    first_bytes: Mutex<Vec<u8>>,
}

/// The live record of one connection, shared by the tasks that serve it.
#[derive(Debug, Clone)]
pub struct ConnEntry {
    state: Arc<EntryState>,
    changed: Arc<Notify>,
    activity: ActivityClock,
}

impl ConnEntry {
    pub fn set_protocol(&self, protocol: Protocol) {
        lock(&self.state.record).protocol = protocol;
    }

    pub fn set_target(&self, target: impl Into<String>) {
        lock(&self.state.record).target = Some(target.into());
    }

    /// Records what the node did. The first fault sticks: what happens after
    /// a node broke the traffic is a consequence, not the cause. Holding
    /// bytes is the one fault that success can still clear.
    pub fn act(&self, action: Action, status: Option<u16>, detail: impl Into<String>) {
        let mut record = lock(&self.state.record);
        let held_then_recovered = record.action == Action::Holding && !action.is_fault();
        if record.action.is_fault() && !held_then_recovered {
            return;
        }
        record.action = action;
        record.status = status.or(record.status);
        record.detail = detail.into();
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
        lock(&self.state.record).cache_poisoned = Some(url.into());
    }

    /// Records how close the node's idle timer came to cutting.
    pub fn note_idle_timer(&self, left: IdleTimerLeft) {
        lock(&self.state.record).idle_timer = Some(left);
    }

    pub fn record(&self) -> ConnRecord {
        let mut record = lock(&self.state.record).clone();
        record.bytes_up = self.state.bytes_up.load(Ordering::Relaxed);
        record.bytes_down = self.state.bytes_down.load(Ordering::Relaxed);
        record.first_bytes = hex(&self.first_bytes());
        record
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

    #[test]
    fn sniffs_tls_http_and_anything_else() {
        assert_eq!(sniff(&[0x16, 0x03, 0x01, 0x02]), Protocol::TlsOpaque);
        assert_eq!(sniff(b"GET /tunnel HTTP/1.1"), Protocol::Http);
        assert_eq!(sniff(&[0, 0, 0, 16, b'T']), Protocol::Unknown);
    }
}
