//! The accept side every kind shares: a listener per logical port the hop
//! serves, a closed port for each it does not, and one log record opened
//! per connection before the kind's handler sees it.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::net::TcpStream;
use traverse_net::{ClosedPort, ConnEntry, Endpoints, bind_loopback};
use traverse_scenario::address::PORTS;

use crate::{HopContext, MiddleboxError, MiddleboxHandle};

/// Listens on `ports` and runs `handle(stream, logical_port, entry)` for
/// every connection, as a task of the cell.
pub(crate) async fn listen<H, F>(
    context: &HopContext,
    ports: &[u16],
    handle: H,
) -> Result<MiddleboxHandle, MiddleboxError>
where
    H: Fn(TcpStream, u16, ConnEntry) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listen_error = |source| MiddleboxError::Listen {
        hop: context.name.clone(),
        source,
    };
    let mut endpoints = BTreeMap::new();
    let mut closed = Vec::new();
    // Every origin port gets an address, refusing where the hop does not
    // serve it; other served ports (an explicit proxy's) are added.
    let extra = ports.iter().copied().filter(|port| !PORTS.contains(port));
    for port in PORTS.into_iter().chain(extra) {
        if !ports.contains(&port) {
            let refuser = ClosedPort::new().map_err(listen_error)?;
            endpoints.insert(port, refuser.addr());
            closed.push(refuser);
            continue;
        }
        let listener = match context.bind.get(&port) {
            Some(addr) => tokio::net::TcpListener::bind(addr).await,
            None => bind_loopback().await,
        }
        .map_err(listen_error)?;
        endpoints.insert(port, listener.local_addr().map_err(listen_error)?);
        let tasks = context.tasks.clone();
        let log = context.log.clone();
        let handle = handle.clone();
        context.tasks.spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let entry = log.open(peer, port);
                tasks.spawn(handle(stream, port, entry));
            }
        });
    }
    Ok(MiddleboxHandle {
        endpoints: Endpoints::new(endpoints),
        _closed: closed,
        kept: Vec::new(),
    })
}
