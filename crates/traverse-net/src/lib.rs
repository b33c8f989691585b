//! The plumbing under every live part of a cell. Middleboxes and tunnel
//! servers are built from the same few pieces: [`Endpoints`] map the
//! topology's logical ports to real loopback sockets, [`Tasks`] tie every
//! spawned task to its cell so nothing outlives it, [`pipe`] relays bytes
//! with an idle timeout, [`TransactionLog`] records what each node saw
//! and did, which is what blame is decided from, and the cell's
//! [`ActivityClock`] knows when a byte last moved anywhere, which is how a
//! deadlock is seen without waiting for a step's timeout.

mod activity;
mod endpoints;
/// The fuzz target's properties, shared with the corpus regression test.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod leftovers;
mod log;
mod metered;
mod pipe;
pub mod process;
mod tasks;
mod tls;
pub mod websocket;

pub use activity::{
    ActivityClock, Armed, QuietWatch, Watched, current_thread_id, deadlock, run_queue_wait,
    run_queue_waits,
};
pub use endpoints::{ClosedPort, Endpoints, bind_loopback};
pub use log::{
    Action, Changes, ConnEntry, ConnRecord, Follower, IdleTimerLeft, Protocol, TransactionLog, hex,
    sniff,
};
pub use metered::{FirstRead, Meter, Metered};
pub use pipe::{IdleLimit, PipeEnd, Rejection, Transform, pipe, pipe_with};
pub use tasks::Tasks;
pub use tls::accept_tls;

use tokio::io::{AsyncRead, AsyncWrite};

/// Any byte stream a node can relay: TCP, TLS over TCP, an upgraded HTTP
/// connection.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A byte stream whose concrete type does not matter to its user.
pub type BoxedIo = Box<dyn Io>;
