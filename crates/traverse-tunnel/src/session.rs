//! The origin's sessions, for the protocols whose one tunnel spans many
//! HTTP requests on many connections (a held poll beside its POSTs, an
//! event stream beside them), as engine.io and SignalR servers keep them:
//! one table per origin, shared by every connection it accepts on both
//! ports, each session relaying to one connection to the echo app. A
//! request finds its session by the id in its query; the session outlives
//! the connections, and ends when the echo app closes, or when no request
//! has come for its lifetime. Everything is bounded: the sessions an origin
//! keeps, the bytes a session holds for the client (the echo app's socket
//! waits when they are many), and how long an idle session stays.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use traverse_net::{BoxedIo, Tasks};

use crate::bridge::CHUNK;
use crate::{ServeContext, TunnelError, echo};

/// Serves one origin connection as HTTP/1.1, each request answered by
/// `answer`: the origin half of every protocol whose tunnel is sessions of
/// HTTP requests (`long-poll`, `sse`).
pub(crate) async fn serve_http1<F, Fut, B>(
    io: BoxedIo,
    context: ServeContext,
    answer: F,
) -> Result<(), TunnelError>
where
    F: Fn(Request<Incoming>, ServeContext) -> Fut + Send + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = service_fn(move |request| {
        let answered = answer(request, context.clone());
        async move { Ok::<_, Infallible>(answered.await) }
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await
        .map_err(|error| TunnelError::Protocol(format!("HTTP error at the origin: {error}")))
}

/// How many sessions one origin keeps at once; a handshake beyond them is
/// answered 503, as a server out of capacity does.
pub(crate) const MAX_SESSIONS: usize = 128;

/// Chunks of the echo app's bytes a session holds for its client: with
/// [`CHUNK`]-sized reads, at most 256 KiB before the echo app's writes wait.
const HELD_CHUNKS: usize = 16;

/// The sessions of one origin; cloning shares the table.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    table: Mutex<HashMap<String, Arc<Session>>>,
    tasks: Tasks,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Sessions")
            .field("open", &lock(&self.inner.table).len())
            .finish()
    }
}

/// Why a session could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// [`MAX_SESSIONS`] are open.
    Full,
    Echo(TunnelError),
}

impl Sessions {
    /// A table whose sessions' work runs in `tasks`.
    pub(crate) fn new(tasks: &Tasks) -> Sessions {
        Sessions {
            inner: Arc::new(Inner {
                table: Mutex::new(HashMap::new()),
                tasks: tasks.clone(),
            }),
        }
    }

    /// Opens a session relaying to the echo app at `target`; it is dropped
    /// once no request has come for `lifetime` (wall time).
    pub(crate) async fn open(
        &self,
        target: SocketAddr,
        lifetime: Duration,
    ) -> Result<Arc<Session>, OpenError> {
        if lock(&self.inner.table).len() >= MAX_SESSIONS {
            return Err(OpenError::Full);
        }
        let echo = echo::connect(target).await.map_err(OpenError::Echo)?;
        let (mut reader, writer) = echo.into_split();
        let (sender, receiver) = mpsc::channel(HELD_CHUNKS);
        let session = Arc::new(Session {
            id: session_id(),
            up: tokio::sync::Mutex::new(Some(writer)),
            down: Arc::new(tokio::sync::Mutex::new(receiver)),
            in_flight: AtomicUsize::new(0),
            last_request: Mutex::new(Instant::now()),
            lifetime,
        });
        {
            let mut table = lock(&self.inner.table);
            if table.len() >= MAX_SESSIONS {
                return Err(OpenError::Full);
            }
            table.insert(session.id.clone(), session.clone());
        }
        // The echo app's bytes, held for the client's next poll or event;
        // the channel's bound is what makes the echo app wait.
        self.inner.tasks.spawn(async move {
            let mut buffer = BytesMut::with_capacity(CHUNK);
            loop {
                buffer.reserve(CHUNK);
                match reader.read_buf(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if sender.send(buffer.split().freeze()).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let weak = Arc::downgrade(&session);
        let table = self.clone();
        self.inner
            .tasks
            .spawn(async move { table.expire(weak).await });
        Ok(session)
    }

    /// The session called `id`, if the origin still has it.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.inner.table).get(id).cloned()
    }

    /// Forgets the session: its echo connection closes once the requests
    /// still holding it are done.
    pub(crate) fn remove(&self, id: &str) {
        lock(&self.inner.table).remove(id);
    }

    /// Drops the session once it has had no request in flight for its
    /// lifetime. Each turn sleeps until the earliest moment that can be,
    /// so it wakes at most once per request the session serves.
    async fn expire(&self, session: Weak<Session>) {
        loop {
            let Some(alive) = session.upgrade() else {
                return;
            };
            let due = alive.idle_until();
            let id = alive.id.clone();
            drop(alive);
            tokio::time::sleep_until(due).await;
            let Some(alive) = session.upgrade() else {
                return;
            };
            if alive.in_flight.load(Ordering::Acquire) == 0 && Instant::now() >= alive.idle_until()
            {
                tracing::debug!(session = %id, "session expired: no request for its lifetime");
                self.remove(&id);
                return;
            }
        }
    }
}

/// One tunnel at the origin: the client's bytes go to `up`, the echo
/// app's wait in `down` for the client's next request.
pub(crate) struct Session {
    pub(crate) id: String,
    /// The echo connection's sending half; `None` once the client ended
    /// its stream.
    up: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    /// The echo app's bytes; a closed channel is the echo app's end. Held
    /// by one waiting request at a time.
    down: Arc<tokio::sync::Mutex<mpsc::Receiver<Bytes>>>,
    in_flight: AtomicUsize,
    last_request: Mutex<Instant>,
    lifetime: Duration,
}

/// What a wait for the echo app's bytes came to.
#[derive(Debug)]
pub(crate) enum Down {
    /// Bytes, at most the size asked for (more than one chunk when more
    /// were waiting).
    Data(Bytes),
    /// Nothing within the wait.
    Quiet,
    /// The echo app closed, and every byte it sent has been taken.
    Ended,
    /// Another request is waiting on this session already.
    Busy,
}

impl Session {
    /// Marks a request in flight until the guard drops: a session is not
    /// idle while a poll is held or a stream is open.
    pub(crate) fn request(self: &Arc<Session>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            session: self.clone(),
        }
    }

    fn idle_until(&self) -> Instant {
        let last = *lock(&self.last_request);
        match self.in_flight.load(Ordering::Acquire) {
            0 => last + self.lifetime,
            _ => Instant::now() + self.lifetime,
        }
    }

    /// Writes the client's bytes to the echo app; waits while the echo
    /// app does, which is the client's backpressure.
    pub(crate) async fn send_up(&self, data: &[u8]) -> Result<(), UpError> {
        let mut up = self.up.lock().await;
        let Some(writer) = up.as_mut() else {
            return Err(UpError::Ended);
        };
        writer
            .write_all(data)
            .await
            .map_err(|error| UpError::Echo(TunnelError::from_io(&error, "writing the echo app")))
    }

    /// The client has ended its stream: the echo app sees the end.
    pub(crate) async fn end_up(&self) {
        if let Some(mut writer) = self.up.lock().await.take() {
            let _ = writer.shutdown().await;
        }
    }

    /// Waits up to `wait` for the echo app's bytes and takes what is there
    /// (see [`take`]); `Busy` while another request holds them.
    pub(crate) async fn take_down(&self, wait: Duration, most: usize) -> Down {
        let Ok(mut down) = self.down.try_lock() else {
            return Down::Busy;
        };
        take(&mut down, wait, most).await
    }

    /// The echo app's bytes for one request to read for as long as it
    /// lasts (an event stream), or `None` while another holds them.
    pub(crate) fn hold_down(&self) -> Option<HeldDown> {
        self.down.clone().try_lock_owned().ok()
    }
}

/// The echo app's bytes, held by one request.
pub(crate) type HeldDown = tokio::sync::OwnedMutexGuard<mpsc::Receiver<Bytes>>;

/// Waits up to `wait` for the echo app's bytes and takes what is there, up
/// to `most` bytes (a whole chunk may pass it by less than one [`CHUNK`]).
pub(crate) async fn take(down: &mut mpsc::Receiver<Bytes>, wait: Duration, most: usize) -> Down {
    let first = match tokio::time::timeout(wait, down.recv()).await {
        Err(_) => return Down::Quiet,
        Ok(None) => return Down::Ended,
        Ok(Some(first)) => first,
    };
    if first.len() >= most {
        return Down::Data(first);
    }
    let mut taken = BytesMut::from(&first[..]);
    while taken.len() < most {
        match down.try_recv() {
            Ok(more) => taken.extend_from_slice(&more),
            Err(_) => break,
        }
    }
    Down::Data(taken.freeze())
}

/// How long a session stays after its last request: the protocol's
/// timeout as the scenario's time scale makes it, but never less than one
/// step of the probe, so that a harness running late (a loaded machine, a
/// compressed 45 s that is half a second of wall time) does not lose a
/// session between two requests a real client would send at once.
pub(crate) fn lifetime(context: &crate::ServeContext, written: Duration) -> Duration {
    context.time_scale.apply(written).max(context.step_timeout)
}

/// The value of `key` in a request's query, as the clients write it (no
/// escapes: ids and flags are URL-safe).
pub(crate) fn query<'a>(uri: &'a http::Uri, key: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == key).then_some(value)
    })
}

/// Why the client's bytes could not reach the echo app.
#[derive(Debug)]
pub(crate) enum UpError {
    /// The client had already ended its stream.
    Ended,
    Echo(TunnelError),
}

/// A request in flight on a session.
pub(crate) struct InFlight {
    session: Arc<Session>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *lock(&self.session.last_request) = Instant::now();
        self.session.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A session id as engine.io makes them: 20 characters of URL-safe base64.
fn session_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..20)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use traverse_net::ActivityClock;

    async fn echo_and_table() -> (SocketAddr, Sessions, Tasks) {
        let tasks = Tasks::new();
        let echo = crate::start_echo(&tasks, &ActivityClock::new())
            .await
            .expect("echo");
        (echo, Sessions::new(&tasks), tasks)
    }

    #[tokio::test]
    async fn a_session_relays_to_the_echo_app_and_sees_its_end() {
        let (echo, sessions, _tasks) = echo_and_table().await;
        let session = sessions
            .open(echo, Duration::from_secs(5))
            .await
            .expect("opens");
        assert!(sessions.get(&session.id).is_some());
        session.send_up(b"hello").await.expect("sent");
        let Down::Data(data) = session.take_down(Duration::from_secs(2), 1024).await else {
            panic!("the echo came back");
        };
        assert_eq!(&data[..], b"hello");
        assert!(matches!(
            session.take_down(Duration::from_millis(20), 1024).await,
            Down::Quiet
        ));
        session.end_up().await;
        assert!(matches!(
            session.take_down(Duration::from_secs(2), 1024).await,
            Down::Ended
        ));
        assert!(matches!(
            session.send_up(b"late").await,
            Err(UpError::Ended)
        ));
    }

    #[tokio::test]
    async fn a_second_waiter_is_told_the_session_is_busy() {
        let (echo, sessions, _tasks) = echo_and_table().await;
        let session = sessions
            .open(echo, Duration::from_secs(5))
            .await
            .expect("opens");
        let held = session.clone();
        let waiting =
            tokio::spawn(async move { held.take_down(Duration::from_secs(2), 1024).await });
        // The first waiter holds the receiver once it has been polled.
        tokio::task::yield_now().await;
        while session.down.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            session.take_down(Duration::from_millis(1), 1024).await,
            Down::Busy
        ));
        session.send_up(b"x").await.expect("sent");
        assert!(matches!(waiting.await.expect("joins"), Down::Data(_)));
    }

    #[tokio::test]
    async fn an_idle_session_is_forgotten_after_its_lifetime_and_a_busy_one_is_not() {
        let (echo, sessions, _tasks) = echo_and_table().await;
        let idle = sessions
            .open(echo, Duration::from_millis(50))
            .await
            .expect("opens");
        let busy = sessions
            .open(echo, Duration::from_millis(50))
            .await
            .expect("opens");
        let in_flight = busy.request();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sessions.get(&idle.id).is_some() {
            assert!(
                Instant::now() < deadline,
                "the idle session is never dropped"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(sessions.get(&busy.id).is_some(), "a held request keeps it");
        drop(in_flight);
        while sessions.get(&busy.id).is_some() {
            assert!(
                Instant::now() < deadline,
                "the session outlives its last request"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_table_is_bounded() {
        let (echo, sessions, _tasks) = echo_and_table().await;
        let mut open = Vec::new();
        for _ in 0..MAX_SESSIONS {
            open.push(
                sessions
                    .open(echo, Duration::from_secs(5))
                    .await
                    .expect("opens"),
            );
        }
        assert!(matches!(
            sessions.open(echo, Duration::from_secs(5)).await,
            Err(OpenError::Full)
        ));
    }
}
