//! The application behind every tunnel: it sends back what it receives and
//! closes when its peer does, so the probe can check every byte end to end.
//! Every protocol's origin half dials it with [`connect`] once its
//! handshake is done, so the origin itself never needs to know which
//! protocol it serves. Its sockets move the cell's activity clock: the echo
//! is part of the topology a deadlock is seen in.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;
use traverse_net::{ActivityClock, Tasks, bind_loopback};

use crate::TunnelError;

/// Starts the echo app; it lives as long as `tasks`, and what it reads and
/// writes moves `activity`.
pub async fn start_echo(tasks: &Tasks, activity: &ActivityClock) -> io::Result<SocketAddr> {
    let listener = bind_loopback().await?;
    let addr = listener.local_addr()?;
    let connections = tasks.clone();
    let activity = activity.clone();
    tasks.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Echoed chunks must not wait for Nagle behind a delayed ACK.
            let _ = stream.set_nodelay(true);
            let stream = activity.watch(stream);
            connections.spawn(async move {
                let (mut reader, mut writer) = tokio::io::split(stream);
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut writer).await;
            });
        }
    });
    Ok(addr)
}

/// An origin half's connection to the echo app at `target`.
pub(crate) async fn connect(target: SocketAddr) -> Result<TcpStream, TunnelError> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|error| TunnelError::from_io(&error, "connecting to the echo app"))?;
    // As at the echo app's end: small frames must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
