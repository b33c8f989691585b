//! Moves a byte stream over a message-based tunnel and back. The same bridge
//! serves both halves: on the client it connects the probe's stream to the
//! tunnel, at the origin it connects the tunnel to the echo app. Both
//! directions run at once, so neither side's buffers can deadlock the other.
//! The traits return boxed futures: a generic async bridge over trait
//! futures cannot yet be proven `Send` by the compiler.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Connection, TunnelError};

/// Sending half of a tunnel.
pub(crate) trait FrameSink: Send {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>>;
    /// Ends the stream in the protocol's own way (an end frame, a Close).
    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>>;
}

/// Receiving half of a tunnel; `Ok(None)` is the peer's orderly end.
pub(crate) trait FrameSource: Send {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TunnelError>>;
}

/// The largest piece of the byte stream put into one frame or message.
pub(crate) const CHUNK: usize = 16 * 1024;

pub(crate) async fn bridge(
    io: impl AsyncRead + AsyncWrite + Send,
    mut sink: impl FrameSink,
    mut source: impl FrameSource,
    local: &str,
) -> Result<(), TunnelError> {
    let (mut reader, mut writer) = tokio::io::split(io);
    let outbound = async {
        let mut buffer = vec![0_u8; CHUNK];
        loop {
            let read = reader
                .read(&mut buffer)
                .await
                .map_err(|error| TunnelError::from_io(&error, &format!("reading {local}")))?;
            if read == 0 {
                return sink.finish().await;
            }
            sink.send(Bytes::copy_from_slice(&buffer[..read])).await?;
        }
    };
    let inbound = async {
        while let Some(data) = source.next().await? {
            writer
                .write_all(&data)
                .await
                .map_err(|error| TunnelError::from_io(&error, &format!("writing {local}")))?;
        }
        let _ = writer.shutdown().await;
        Ok(())
    };
    tokio::try_join!(outbound, inbound).map(|_| ())
}

/// The client half's hand-over to the probe: a byte stream whose far end
/// the bridge carries over the tunnel, in a task that ends with the reason.
pub(crate) fn client_connection(
    sink: impl FrameSink + 'static,
    source: impl FrameSource + 'static,
) -> Connection {
    let (stream, tunnel_side) = tokio::io::duplex(64 * 1024);
    let outcome = tokio::spawn(bridge(tunnel_side, sink, source, "the probe's stream"));
    Connection {
        stream: Box::new(stream),
        outcome: tokio_util::task::AbortOnDropHandle::new(outcome),
    }
}
