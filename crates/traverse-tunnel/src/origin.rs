//! The origin of a topology: the tunnel's server half listening on both
//! logical ports, TLS on 443 with the origin's certificate and plain on 80,
//! as a real gateway does, each stream relayed to the echo app. It accepts
//! connections and TLS and hands each to whatever [`AnyProtocol`] it is given;
//! it knows none of them, beyond the ALPN list a protocol declares, which
//! it offers ahead of `http/1.1` (a hop that speaks HTTP/1.1 inward still
//! reaches a protocol that prefers HTTP/2). Its transaction log lets blame fall on the origin
//! when it is the origin that refused (an untrusted certificate, a request
//! it cannot serve).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use traverse_net::{
    BoxedIo, ConnEntry, Endpoints, Metered, Tasks, TransactionLog, accept_tls, bind_loopback,
};
use traverse_scenario::address::{PLAIN_PORT, TLS_PORT};

use traverse_scenario::TimeScale;

use crate::session::Sessions;
use crate::{AnyProtocol, ServeContext};

/// What the origin half needs from the cell.
#[derive(Debug, Clone)]
pub struct OriginContext {
    /// The origin's certificate, for the TLS port.
    pub tls: Arc<ServerConfig>,
    /// The echo app every stream is relayed to.
    pub target: SocketAddr,
    pub log: TransactionLog,
    pub tasks: Tasks,
    /// How long a peer may take to finish a handshake.
    pub step_timeout: Duration,
    /// The run's time scale, which the origin's own timers follow.
    pub time_scale: TimeScale,
}

/// Starts the origin for `protocol`; it lives as long as the context's tasks.
pub async fn serve_origin(
    protocol: &'static dyn AnyProtocol,
    context: OriginContext,
) -> io::Result<Endpoints> {
    let mut ports = BTreeMap::new();
    // One table for both ports: a session is the origin's, whichever port
    // each of its requests arrives on.
    let sessions = Sessions::new(&context.tasks);
    for port in [TLS_PORT, PLAIN_PORT] {
        let listener = bind_loopback().await?;
        ports.insert(port, listener.local_addr()?);
        serve_with(protocol, listener, port, context.clone(), sessions.clone());
    }
    Ok(Endpoints::new(ports))
}

/// Serves the tunnel's server half on one listener: TLS with the context's
/// certificate when `port` is the TLS port, plain otherwise. Also what
/// `traverse tunnel serve` runs on its own.
pub fn serve_listener(
    protocol: &'static dyn AnyProtocol,
    listener: TcpListener,
    port: u16,
    context: OriginContext,
) {
    let sessions = Sessions::new(&context.tasks);
    serve_with(protocol, listener, port, context, sessions);
}

/// Serves one listener with the session table its origin shares; the TLS
/// port offers the protocol's ALPN list.
fn serve_with(
    protocol: &'static dyn AnyProtocol,
    listener: TcpListener,
    port: u16,
    mut context: OriginContext,
    sessions: Sessions,
) {
    context.tls = offering(protocol.alpn(), context.tls);
    context.tasks.clone().spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let entry = context.log.open(peer, port);
            let (context, sessions) = (context.clone(), sessions.clone());
            context.tasks.clone().spawn(async move {
                serve_one(protocol, stream, port, entry, context, sessions).await;
            });
        }
    });
}

/// `tls` offering `alpn` first, then HTTP/1.1; unchanged for protocols
/// that declare none, so their clients negotiate what they always did.
fn offering(alpn: &[&[u8]], tls: Arc<ServerConfig>) -> Arc<ServerConfig> {
    if alpn.is_empty() {
        return tls;
    }
    let mut config = (*tls).clone();
    config.alpn_protocols = alpn
        .iter()
        .map(|name| name.to_vec())
        .chain([b"http/1.1".to_vec()])
        .collect();
    Arc::new(config)
}

async fn serve_one(
    protocol: &'static dyn AnyProtocol,
    stream: TcpStream,
    port: u16,
    entry: ConnEntry,
    context: OriginContext,
    sessions: Sessions,
) {
    let _ = stream.set_nodelay(true);
    let io: BoxedIo = if port == TLS_PORT {
        match accept_tls(stream, &context.tls, &entry, context.step_timeout).await {
            Some(tls) => Box::new(Metered::new(tls, entry.clone())),
            None => return,
        }
    } else {
        Box::new(Metered::new(stream, entry.clone()))
    };
    let context = ServeContext {
        entry,
        target: context.target,
        tasks: context.tasks,
        step_timeout: context.step_timeout,
        time_scale: context.time_scale,
        sessions,
    };
    if let Err(error) = protocol.serve(io, context).await {
        tracing::debug!(%error, "origin connection ended with an error");
    }
}
