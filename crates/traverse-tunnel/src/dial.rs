//! The client's first steps: TCP to wherever the origin's name leads, then
//! TLS as the tunnel's security asks.

use std::io;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use traverse_net::BoxedIo;
use traverse_scenario::address::ORIGIN_HOST;

use crate::{ClientPath, Security, TunnelError};

pub(crate) async fn dial(
    path: &ClientPath,
    security: Security,
    port: u16,
) -> Result<BoxedIo, TunnelError> {
    let target = format!("{ORIGIN_HOST}:{port}");
    let tcp = tokio::time::timeout(path.step_timeout, TcpStream::connect(path.connect_to))
        .await
        .map_err(|_| TunnelError::Timeout {
            during: format!("the TCP connect to {target}"),
            after: path.step_timeout,
        })?
        .map_err(|error| match error.kind() {
            io::ErrorKind::ConnectionRefused => TunnelError::ConnectRefused {
                target: target.clone(),
            },
            _ => TunnelError::from_io(&error, &format!("the TCP connect to {target}")),
        })?;
    let _ = tcp.set_nodelay(true);
    let config = match security {
        Security::Plain => return Ok(Box::new(tcp)),
        Security::TlsVerified => path.pki.verifying_client(),
        Security::TlsPinned => path.pki.pinning_client(&path.pinned),
    };
    let name = ServerName::try_from(ORIGIN_HOST.to_string())
        .map_err(|error| TunnelError::Protocol(format!("bad server name: {error}")))?;
    let handshake = TlsConnector::from(config).connect(name, tcp);
    let tls = tokio::time::timeout(path.step_timeout, handshake)
        .await
        .map_err(|_| TunnelError::Timeout {
            during: "the TLS handshake".to_string(),
            after: path.step_timeout,
        })?
        .map_err(|error| match error.kind() {
            io::ErrorKind::UnexpectedEof => TunnelError::Tls {
                reason: "the server closed the connection during the handshake".to_string(),
            },
            _ => TunnelError::from_io(&error, "the TLS handshake"),
        })?;
    Ok(Box::new(tls))
}
