//! How a hop reaches the next node inward: a logical address, the real
//! socket behind it, and whether (and how strictly) it speaks TLS there.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use traverse_net::BoxedIo;
use traverse_scenario::address::ORIGIN_HOST;

#[derive(Debug, Clone)]
pub struct Upstream {
    /// The logical port on the next node.
    pub port: u16,
    pub addr: SocketAddr,
    /// TLS toward the next node, with how its certificate is checked.
    pub tls: Option<Arc<ClientConfig>>,
    pub step_timeout: Duration,
}

/// Why the next node could not be reached, with the status an HTTP proxy
/// answers its client in that case.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connection to {target} refused")]
    Refused { target: String },
    #[error("no answer from {target} within {after:?}")]
    Timeout { target: String, after: Duration },
    #[error("TLS handshake with {target} failed: {reason}")]
    Tls { target: String, reason: String },
    #[error("cannot reach {target}: {source}")]
    Io {
        target: String,
        #[source]
        source: io::Error,
    },
}

impl UpstreamError {
    /// What a load balancer answers when its upstream fails this way.
    pub fn status(&self) -> u16 {
        match self {
            UpstreamError::Timeout { .. } => 504,
            _ => 502,
        }
    }
}

impl Upstream {
    /// The logical address, as logs and messages show it.
    pub fn target(&self) -> String {
        format!("{ORIGIN_HOST}:{}", self.port)
    }

    pub async fn connect(&self) -> Result<BoxedIo, UpstreamError> {
        let target = self.target();
        let timeout = |after| UpstreamError::Timeout {
            target: target.clone(),
            after,
        };
        let tcp = tokio::time::timeout(self.step_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| timeout(self.step_timeout))?
            .map_err(|source| match source.kind() {
                io::ErrorKind::ConnectionRefused => UpstreamError::Refused {
                    target: target.clone(),
                },
                _ => UpstreamError::Io {
                    target: target.clone(),
                    source,
                },
            })?;
        let _ = tcp.set_nodelay(true);
        let Some(config) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name =
            ServerName::try_from(ORIGIN_HOST.to_string()).map_err(|error| UpstreamError::Tls {
                target: target.clone(),
                reason: error.to_string(),
            })?;
        let handshake = TlsConnector::from(config.clone()).connect(name, tcp);
        let tls = tokio::time::timeout(self.step_timeout, handshake)
            .await
            .map_err(|_| timeout(self.step_timeout))?
            .map_err(|source| UpstreamError::Tls {
                target: target.clone(),
                reason: traverse_pki::tls_error(&source)
                    .map(traverse_pki::describe_tls)
                    .unwrap_or_else(|| source.to_string()),
            })?;
        Ok(Box::new(tls))
    }
}
