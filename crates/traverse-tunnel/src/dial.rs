//! The client's first steps: TCP to wherever the origin's name leads (or to
//! the explicit proxy, asking it to `CONNECT` there, as RFC 6455 §4.1 says
//! clients behind a proxy do), then TLS as the tunnel's security asks.
//! [`Dialer`] is that way to the server, kept: a protocol that needs more
//! than one connection (a held poll beside its POSTs, a re-dial after a
//! proxy closed the last one) opens each the same way.

use std::io;
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};

use base64::Engine as _;
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use traverse_net::BoxedIo;
use traverse_scenario::address::ORIGIN_HOST;

use crate::{ClientPath, ExplicitProxy, Security, TunnelError};

/// The client's way to the server through the path: every connection it
/// opens goes where the first did, through the same proxy, with the same
/// TLS and TCP keepalive.
#[derive(Debug, Clone)]
pub struct Dialer {
    path: ClientPath,
    security: Security,
    port: u16,
    tcp_keepalive: Option<Duration>,
}

impl Dialer {
    pub(crate) fn new(
        path: &ClientPath,
        security: Security,
        port: u16,
        tcp_keepalive: Option<Duration>,
    ) -> Dialer {
        Dialer {
            path: path.clone(),
            security,
            port,
            tcp_keepalive,
        }
    }

    /// One more connection to the server, each of its steps within the
    /// step timeout.
    pub async fn dial(&self) -> Result<BoxedIo, TunnelError> {
        dial(&self.path, self.security, self.port, self.tcp_keepalive).await
    }

    /// The longest any single step (a connect, one request) may take.
    pub fn step_timeout(&self) -> Duration {
        self.path.step_timeout
    }
}

async fn dial(
    path: &ClientPath,
    security: Security,
    port: u16,
    tcp_keepalive: Option<Duration>,
) -> Result<BoxedIo, TunnelError> {
    let target = format!("{ORIGIN_HOST}:{port}");
    let (addr, first_hop) = match &path.proxy {
        Some(proxy) => (proxy.addr, "the explicit proxy".to_string()),
        None => (path.connect_to, target.clone()),
    };
    let mut tcp = tokio::time::timeout(path.step_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| TunnelError::Timeout {
            during: format!("the TCP connect to {first_hop}"),
            after: path.step_timeout,
        })?
        .map_err(|error| match error.kind() {
            io::ErrorKind::ConnectionRefused => TunnelError::ConnectRefused {
                target: first_hop.clone(),
            },
            _ => TunnelError::from_io(&error, &format!("the TCP connect to {first_hop}")),
        })?;
    let _ = tcp.set_nodelay(true);
    if let Some(every) = tcp_keepalive {
        keep_alive(&tcp, every)
            .map_err(|error| TunnelError::from_io(&error.into(), "turning on TCP keepalive"))?;
    }
    if let Some(proxy) = &path.proxy {
        tokio::time::timeout(path.step_timeout, connect_through(&mut tcp, proxy, &target))
            .await
            .map_err(|_| TunnelError::Timeout {
                during: format!("CONNECT {target} through the proxy"),
                after: path.step_timeout,
            })??;
    }
    let config = match security {
        Security::Plain => return Ok(Box::new(tcp)),
        Security::TlsVerified => path.verifying.clone(),
        Security::TlsPinned => path.pinning.clone(),
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

/// Asks the proxy for a tunnel to `target`; anything but 2xx is a refusal.
/// `SO_KEEPALIVE`, with the first probe after `every` of quiet and the
/// next ones `every` apart. The kernel counts whole seconds, so an interval
/// the time scale makes shorter becomes 1 s.
fn keep_alive(tcp: &TcpStream, every: Duration) -> nix::Result<()> {
    let seconds = u32::try_from(every.as_secs()).unwrap_or(u32::MAX).max(1);
    setsockopt(tcp, sockopt::KeepAlive, &true)?;
    setsockopt(tcp, sockopt::TcpKeepIdle, &seconds)?;
    setsockopt(tcp, sockopt::TcpKeepInterval, &seconds)
}

async fn connect_through(
    tcp: &mut TcpStream,
    proxy: &ExplicitProxy,
    target: &str,
) -> Result<(), TunnelError> {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", credentials.user, credentials.password));
        request += &format!("Proxy-Authorization: Basic {token}\r\n");
    }
    request += "\r\n";
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|error| TunnelError::from_io(&error, "sending CONNECT to the proxy"))?;
    let status = traverse_net::http::read_status(tcp, b"")
        .await
        .map_err(|what| TunnelError::Protocol(format!("the proxy answered CONNECT with {what}")))?;
    if (200..300).contains(&status.code) {
        Ok(())
    } else {
        Err(TunnelError::Refused {
            status: status.code,
            reason: status.reason,
            handshake: "CONNECT through the explicit proxy",
        })
    }
}
