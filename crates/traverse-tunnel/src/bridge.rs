//! Moves a byte stream over a message-based tunnel and back. The same bridge
//! serves both halves: on the client it connects the probe's stream to the
//! tunnel, at the origin it connects the tunnel to the echo app. Both
//! directions run at once, so neither side's buffers can deadlock the other.
//! Keepalives ride the same bridge: the client half sends one every
//! interval and counts the answers; the side that receives one answers it
//! through its own sending half.
//! The traits return boxed futures: a generic async bridge over trait
//! futures cannot yet be proven `Send` by the compiler.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::{Connection, TunnelError};

/// Sending half of a tunnel.
pub(crate) trait FrameSink: Send {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>>;
    /// Ends the stream in the protocol's own way (an end frame, a Close).
    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>>;
    /// The most bytes of the stream one `send` carries: a WebSocket client
    /// asked for larger messages reads more at once.
    fn chunk(&self) -> usize {
        CHUNK
    }
    /// Sends the protocol's keepalive (a ping, a heartbeat). Only called on
    /// a protocol that has one.
    fn keepalive(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async { Ok(()) })
    }
    /// Answers a keepalive the peer sent, where the protocol leaves that to
    /// the application (RFC 6455 pongs are tungstenite's own).
    fn answer(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async { Ok(()) })
    }
}

/// What a tunnel's receiving half can hand the bridge.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Bytes of the stream.
    Data(Bytes),
    /// The peer's keepalive, to be answered.
    Keepalive,
    /// The answer to one of ours: a keepalive that crossed the path and back.
    Answer,
}

/// Receiving half of a tunnel; `Ok(None)` is the peer's orderly end.
pub(crate) trait FrameSource: Send {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>>;
}

/// How a client half keeps its tunnel alive, and what became of its
/// keepalives.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keepalives {
    /// The interval, in wall time; none for a tunnel that sends none.
    pub every: Option<Duration>,
    pub stats: Arc<crate::KeepaliveStats>,
}

/// The largest piece of the byte stream put into one frame or message.
pub(crate) const CHUNK: usize = 16 * 1024;

pub(crate) async fn bridge(
    io: impl AsyncRead + AsyncWrite + Send,
    mut sink: impl FrameSink,
    mut source: impl FrameSource,
    local: &str,
    keepalives: Keepalives,
) -> Result<(), TunnelError> {
    let (mut reader, mut writer) = tokio::io::split(io);
    // The receiving half hears a keepalive; the sending half answers it.
    let (to_answer, mut answers) = mpsc::unbounded_channel();
    let outbound = async {
        let mut buffer = vec![0_u8; sink.chunk()];
        let mut ticks = keepalives.every.map(|every| {
            let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        loop {
            tokio::select! {
                read = reader.read(&mut buffer) => {
                    let read = read.map_err(|error| {
                        TunnelError::from_io(&error, &format!("reading {local}"))
                    })?;
                    if read == 0 {
                        return sink.finish().await;
                    }
                    sink.send(Bytes::copy_from_slice(&buffer[..read])).await?;
                }
                Some(()) = answers.recv() => sink.answer().await?,
                due = tick(&mut ticks) => {
                    let late = Instant::now().saturating_duration_since(due);
                    let late_us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
                    keepalives.stats.latest_us.fetch_max(late_us, Ordering::Relaxed);
                    sink.keepalive().await?;
                }
            }
        }
    };
    let inbound = async {
        while let Some(inbound) = source.next().await? {
            match inbound {
                Inbound::Data(data) => writer
                    .write_all(&data)
                    .await
                    .map_err(|error| TunnelError::from_io(&error, &format!("writing {local}")))?,
                // Once our side has ended there is nothing to answer with.
                Inbound::Keepalive => drop(to_answer.send(())),
                Inbound::Answer => {
                    keepalives.stats.answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let _ = writer.shutdown().await;
        Ok(())
    };
    tokio::try_join!(outbound, inbound).map(|_| ())
}

/// When the next keepalive was due, once it is; never for a tunnel that
/// sends none.
async fn tick(ticks: &mut Option<Interval>) -> Instant {
    match ticks {
        Some(ticks) => ticks.tick().await,
        None => std::future::pending().await,
    }
}

/// The client half's hand-over to the probe: a byte stream whose far end
/// the bridge carries over the tunnel, in a task that ends with the reason.
pub(crate) fn client_connection(
    sink: impl FrameSink + 'static,
    source: impl FrameSource + 'static,
    keepalive: Option<Duration>,
) -> Connection {
    client_connection_driven(
        sink,
        source,
        keepalive,
        std::future::pending::<Result<(), TunnelError>>(),
    )
}

/// [`client_connection`] for a protocol whose frames need a task of their
/// own beside the bridge (an HTTP/2 connection, which reads frames for
/// every stream): `driver` runs as long as the bridge, and its failure
/// (a GOAWAY, a lost TLS connection) is the tunnel's outcome, since the
/// bridge would only see its stream end.
pub(crate) fn client_connection_driven(
    sink: impl FrameSink + 'static,
    source: impl FrameSource + 'static,
    keepalive: Option<Duration>,
    driver: impl Future<Output = Result<(), TunnelError>> + Send + 'static,
) -> Connection {
    // Room for two of the largest messages, so that one read can fill one.
    let (stream, tunnel_side) = tokio::io::duplex((64 * 1024).max(sink.chunk() * 2));
    let keepalives = Keepalives {
        every: keepalive,
        stats: Arc::default(),
    };
    let stats = keepalives.stats.clone();
    let outcome = tokio::spawn(async move {
        let bridged = bridge(tunnel_side, sink, source, "the probe's stream", keepalives);
        tokio::pin!(bridged);
        tokio::select! {
            result = &mut bridged => result,
            driven = driver => match driven {
                Err(error) => Err(error),
                // The driver is done with a stream still open: the bridge
                // still decides.
                Ok(()) => bridged.await,
            },
        }
    });
    Connection {
        stream: Box::new(stream),
        outcome: tokio_util::task::AbortOnDropHandle::new(outcome),
        keepalives: stats,
        frames_sent: None,
    }
}
