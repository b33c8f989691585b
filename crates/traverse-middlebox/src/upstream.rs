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
use traverse_net::{Action, ActivityClock, BoxedIo};
use traverse_scenario::address::ORIGIN_HOST;
use traverse_scenario::{OriginFailure, Vendor, format_duration};

#[derive(Debug, Clone)]
pub struct Upstream {
    /// The logical port on the next node.
    pub port: u16,
    pub addr: SocketAddr,
    /// TLS toward the next node, with how its certificate is checked.
    pub tls: Option<Arc<ClientConfig>>,
    pub step_timeout: Duration,
    /// The wait for the TCP connect where the hop's product has one of its
    /// own (Cloudflare's 19 s), in wall time and as the scenario wrote it;
    /// otherwise `step_timeout`.
    pub connect_timeout: Option<(Duration, Duration)>,
    /// The cell's clock, to which a connect timeout of the hop's own is
    /// declared: a wait for it is no deadlock.
    pub activity: ActivityClock,
}

/// Why the next node could not be reached, with the status an HTTP proxy
/// answers its client in that case.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connection to {target} refused")]
    Refused { target: String },
    #[error("the TCP connect to {target} did not complete within {within}")]
    ConnectTimeout { target: String, within: String },
    #[error("the TLS handshake with {target} did not complete within {after:?}")]
    Timeout { target: String, after: Duration },
    #[error("TLS handshake with {target} failed: {reason}")]
    Tls {
        target: String,
        reason: String,
        /// Whether it failed on the certificate (invalid, untrusted) rather
        /// than on the protocol.
        certificate: bool,
    },
    #[error("cannot reach {target}: {source}")]
    Io {
        target: String,
        #[source]
        source: io::Error,
    },
}

impl UpstreamError {
    /// Records on `entry` that the hop could not reach its next node: with
    /// the length of the hop's own timer when that ran out (a TLS
    /// handshake the next node did not finish in time), which the
    /// runner's starvation checks weigh the harness's lateness against.
    pub(crate) fn record(
        &self,
        entry: &traverse_net::ConnEntry,
        status: Option<u16>,
        detail: String,
    ) {
        match self {
            UpstreamError::Timeout { after, .. } => {
                entry.act_on_timer(*after, Action::UpstreamFailed, status, detail);
            }
            _ => entry.act(Action::UpstreamFailed, status, detail),
        }
    }

    /// What a load balancer of no product in particular answers when its
    /// upstream fails this way.
    pub fn status(&self) -> u16 {
        Vendor::Generic.answer(self.failure())
    }

    /// The failure as a vendor's table of answers names it.
    pub fn failure(&self) -> OriginFailure {
        match self {
            UpstreamError::Refused { .. } => OriginFailure::Refused,
            UpstreamError::ConnectTimeout { .. } => OriginFailure::ConnectTimeout,
            UpstreamError::Timeout { .. } => OriginFailure::HandshakeTimeout,
            UpstreamError::Tls {
                certificate: true, ..
            } => OriginFailure::InvalidCertificate,
            UpstreamError::Tls { .. } => OriginFailure::TlsHandshake,
            UpstreamError::Io { .. } => OriginFailure::Unreachable,
        }
    }
}

impl Upstream {
    /// The logical address, as logs and messages show it.
    pub fn target(&self) -> String {
        format!("{ORIGIN_HOST}:{}", self.port)
    }

    pub async fn connect(&self) -> Result<BoxedIo, UpstreamError> {
        self.connect_offering(None).await.map(|(io, _)| io)
    }

    /// Connects as [`Upstream::connect`] does, offering `alpn` in place of
    /// the config's own protocols over TLS, and says which the next node
    /// picked (`None` over plain TCP, or when it picked none).
    pub async fn connect_offering(
        &self,
        alpn: Option<&[&[u8]]>,
    ) -> Result<(BoxedIo, Option<Vec<u8>>), UpstreamError> {
        let target = self.target();
        let timeout = |after| UpstreamError::Timeout {
            target: target.clone(),
            after,
        };
        let (wall, written) = self
            .connect_timeout
            .unwrap_or((self.step_timeout, self.step_timeout));
        let armed = self
            .connect_timeout
            .map(|(wall, _)| self.activity.arm(tokio::time::Instant::now() + wall));
        let connected = tokio::time::timeout(wall, TcpStream::connect(self.addr)).await;
        drop(armed);
        let tcp = connected
            .map_err(|_| UpstreamError::ConnectTimeout {
                target: target.clone(),
                within: format_duration(written),
            })?
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
            return Ok((Box::new(tcp), None));
        };
        let config = match alpn {
            Some(protocols) => {
                let mut offering = (**config).clone();
                offering.alpn_protocols =
                    protocols.iter().map(|protocol| protocol.to_vec()).collect();
                Arc::new(offering)
            }
            None => config.clone(),
        };
        let name =
            ServerName::try_from(ORIGIN_HOST.to_string()).map_err(|error| UpstreamError::Tls {
                target: target.clone(),
                reason: error.to_string(),
                certificate: false,
            })?;
        let handshake = TlsConnector::from(config).connect(name, tcp);
        let tls = tokio::time::timeout(self.step_timeout, handshake)
            .await
            .map_err(|_| timeout(self.step_timeout))?
            .map_err(|source| {
                let rustls = traverse_pki::tls_error(&source);
                UpstreamError::Tls {
                    target: target.clone(),
                    reason: rustls
                        .map(traverse_pki::describe_tls)
                        .unwrap_or_else(|| source.to_string()),
                    certificate: matches!(rustls, Some(rustls::Error::InvalidCertificate(_))),
                }
            })?;
        let picked = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        Ok((Box::new(tls), picked))
    }
}
