//! The relay between a node's client and its upstream once the node has
//! decided to pass bytes through: both directions at once, half-closes
//! passed on, and an idle timer that any byte in either direction resets.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::Io;

/// Which side of a node an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Toward the tunnel client.
    Client,
    /// Toward the origin.
    Upstream,
}

#[derive(Debug)]
pub enum PipeEnd {
    /// Both directions finished with a close.
    Closed,
    /// Nothing moved for the idle timeout; both sides were dropped.
    IdleCut(Duration),
    Failed {
        side: Side,
        error: io::Error,
    },
}

/// Relays until both directions close, one fails, or nothing moves for `idle`.
pub async fn pipe(client: impl Io, upstream: impl Io, idle: Option<Duration>) -> PipeEnd {
    let start = Instant::now();
    let last_activity = Arc::new(AtomicU64::new(0));
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let relay = async {
        let up = copy(
            &mut client_read,
            &mut upstream_write,
            Side::Client,
            Side::Upstream,
            start,
            &last_activity,
        );
        let down = copy(
            &mut upstream_read,
            &mut client_write,
            Side::Upstream,
            Side::Client,
            start,
            &last_activity,
        );
        match tokio::join!(up, down) {
            (Err(failure), _) | (_, Err(failure)) => failure,
            (Ok(()), Ok(())) => PipeEnd::Closed,
        }
    };
    match idle {
        None => relay.await,
        Some(limit) => tokio::select! {
            end = relay => end,
            () = idle_watch(start, &last_activity, limit) => PipeEnd::IdleCut(limit),
        },
    }
}

async fn copy(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    from_side: Side,
    to_side: Side,
    start: Instant,
    last_activity: &AtomicU64,
) -> Result<(), PipeEnd> {
    let fail = |side, error| PipeEnd::Failed { side, error };
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let read = from
            .read(&mut buffer)
            .await
            .map_err(|error| fail(from_side, error))?;
        if read == 0 {
            // A half-close is passed on; the other direction may go on.
            let _ = to.shutdown().await;
            return Ok(());
        }
        to.write_all(&buffer[..read])
            .await
            .map_err(|error| fail(to_side, error))?;
        to.flush().await.map_err(|error| fail(to_side, error))?;
        last_activity.store(millis_since(start), Ordering::Relaxed);
    }
}

async fn idle_watch(start: Instant, last_activity: &AtomicU64, limit: Duration) {
    loop {
        let last = start + Duration::from_millis(last_activity.load(Ordering::Relaxed));
        let deadline = last + limit;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
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

    #[tokio::test(start_paused = true)]
    async fn cuts_a_connection_idle_for_the_limit() {
        let (client, _client_far) = duplex(1024);
        let (upstream, _upstream_far) = duplex(1024);
        let end = pipe(client, upstream, Some(Duration::from_secs(100))).await;
        assert!(matches!(end, PipeEnd::IdleCut(limit) if limit == Duration::from_secs(100)));
    }
}
