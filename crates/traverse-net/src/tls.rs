//! The server side of a TLS handshake, as every TLS-speaking node does it.
//! The handshake's bytes move the cell's activity clock like any others:
//! the socket under TLS is watched, not only the plaintext a node meters.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{Action, ConnEntry, Watched};

/// Accepts TLS from a client within `deadline`. A failure is recorded on
/// `entry`: a client that answers our certificate with an alert refused it
/// (`tls-rejected`, the node terminated TLS where the client did not expect
/// it); anything else is `tls-failed`.
pub async fn accept_tls(
    stream: TcpStream,
    config: &Arc<ServerConfig>,
    entry: &ConnEntry,
    deadline: Duration,
) -> Option<TlsStream<Watched<TcpStream>>> {
    let handshake = TlsAcceptor::from(config.clone()).accept(entry.activity().watch(stream));
    let error = match tokio::time::timeout(deadline, handshake).await {
        Ok(Ok(tls)) => return Some(tls),
        Ok(Err(error)) => error,
        Err(_) => {
            entry.act_on_timer(
                deadline,
                Action::TlsFailed,
                None,
                "the client never finished the TLS handshake",
            );
            return None;
        }
    };
    match traverse_pki::tls_error(&error) {
        Some(rustls::Error::AlertReceived(alert)) => entry.act(
            Action::TlsRejected,
            None,
            format!("the client refused this node's certificate (TLS alert {alert:?})"),
        ),
        Some(other) => entry.act(
            Action::TlsFailed,
            None,
            format!(
                "TLS handshake failed: {}",
                traverse_pki::describe_tls(other)
            ),
        ),
        None => entry.act(
            Action::TlsFailed,
            None,
            format!("TLS handshake failed: {error}"),
        ),
    }
    None
}
