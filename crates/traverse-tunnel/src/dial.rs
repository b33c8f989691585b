//! The client's first steps: TCP to wherever the origin's name leads (or to
//! the explicit proxy, asking it to `CONNECT` there, as RFC 6455 §4.1 says
//! clients behind a proxy do, unless the protocol sends plain requests to
//! the proxy itself, [`ThroughProxy::Forward`]), then TLS as the tunnel's security asks,
//! offering the protocol's own ALPN list when it has one (`h2`) and
//! refusing a server that agrees to none of it. [`Dialer`] is that way to
//! the server, kept: a protocol that needs more than one connection (a held
//! poll beside its POSTs, a re-dial after a proxy closed the last one)
//! opens each the same way.

use std::io;
use std::sync::Arc;
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

/// How a client's requests in clear go through an explicit proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThroughProxy {
    /// A `CONNECT` tunnel to the origin, then the protocol inside it, as
    /// RFC 6455 §4.1 asks of WebSocket clients.
    Connect,
    /// Each request to the proxy itself in absolute form (`GET
    /// http://origin.test/…`, RFC 9112 §3.2.2), as browsers, aiohttp and
    /// every HTTP library send `http://` requests to a proxy: the way
    /// HTTP fallbacks meet a corporate proxy that allows `CONNECT` to 443
    /// alone. Inside TLS a client always asks for `CONNECT`.
    Forward,
}

/// Where a forwarding client's requests go and what they carry there.
#[derive(Debug, Clone)]
pub(crate) struct Forwarding {
    /// What goes before the origin-form target: `http://origin.test`.
    pub origin: String,
    /// `Proxy-Authorization`, when the proxy has credentials.
    pub authorization: Option<String>,
}

/// The client's way to the server through the path: every connection it
/// opens goes where the first did, through the same proxy, with the same
/// TLS and TCP keepalive.
#[derive(Debug, Clone)]
pub struct Dialer {
    path: ClientPath,
    security: Security,
    port: u16,
    tcp_keepalive: Option<Duration>,
    /// What the client offers by ALPN, and insists on (`h2`); none for most.
    alpn: &'static [&'static [u8]],
    through_proxy: ThroughProxy,
}

impl Dialer {
    pub(crate) fn new(
        path: &ClientPath,
        security: Security,
        port: u16,
        tcp_keepalive: Option<Duration>,
        alpn: &'static [&'static [u8]],
        through_proxy: ThroughProxy,
    ) -> Dialer {
        Dialer {
            path: path.clone(),
            security,
            port,
            tcp_keepalive,
            alpn,
            through_proxy,
        }
    }

    /// One more connection to the server, each of its steps within the
    /// step timeout.
    pub async fn dial(&self) -> Result<BoxedIo, TunnelError> {
        dial(
            &self.path,
            self.security,
            self.port,
            self.tcp_keepalive,
            self.alpn,
            !self.forwards(),
        )
        .await
    }

    /// Whether requests go to the explicit proxy itself, in absolute form:
    /// a protocol that forwards, in clear, behind a proxy.
    fn forwards(&self) -> bool {
        self.path.proxy.is_some()
            && self.through_proxy == ThroughProxy::Forward
            && self.security == Security::Plain
    }

    /// How requests go to the explicit proxy in absolute form, when they
    /// do (see [`Dialer::forwards`]).
    pub(crate) fn forwarding(&self) -> Option<Forwarding> {
        let proxy = self.path.proxy.as_ref().filter(|_| self.forwards())?;
        let origin = match self.port {
            traverse_scenario::address::PLAIN_PORT => format!("http://{ORIGIN_HOST}"),
            port => format!("http://{ORIGIN_HOST}:{port}"),
        };
        Some(Forwarding {
            origin,
            authorization: proxy.credentials.as_ref().map(basic_authorization),
        })
    }

    /// The longest any single step (a connect, one request) may take.
    pub fn step_timeout(&self) -> Duration {
        self.path.step_timeout
    }

    /// A dialer for protocols tested over one stream they are handed, which
    /// never dial again: it leads nowhere.
    #[cfg(test)]
    pub(crate) fn nowhere() -> Dialer {
        let path = ClientPath {
            connect_to: ([127, 0, 0, 1], 1).into(),
            verifying: traverse_pki::Pki::unverified_client(),
            pinning: traverse_pki::Pki::unverified_client(),
            step_timeout: Duration::from_secs(2),
            proxy: None,
            deadlock: None,
        };
        Dialer::new(&path, Security::Plain, 1, None, &[], ThroughProxy::Connect)
    }
}

async fn dial(
    path: &ClientPath,
    security: Security,
    port: u16,
    tcp_keepalive: Option<Duration>,
    alpn: &[&[u8]],
    tunnel_through_proxy: bool,
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
    if let Some(proxy) = path.proxy.as_ref().filter(|_| tunnel_through_proxy) {
        tokio::time::timeout(path.step_timeout, connect_through(&mut tcp, proxy, &target))
            .await
            .map_err(|_| TunnelError::Timeout {
                during: format!("CONNECT {target} through the proxy"),
                after: path.step_timeout,
            })??;
    }
    let mut config = match security {
        Security::Plain => return Ok(Box::new(tcp)),
        Security::TlsVerified => path.verifying.clone(),
        Security::TlsPinned => path.pinning.clone(),
    };
    if !alpn.is_empty() {
        // A copy: the path's configs are shared by every tunnel of the cell,
        // and only this one speaks something other than HTTP/1.1.
        let mut offering = (*config).clone();
        offering.alpn_protocols = alpn.iter().map(|name| name.to_vec()).collect();
        config = Arc::new(offering);
    }
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
            _ if refused_alpn(&error) => TunnelError::Tls {
                reason: format!(
                    "the server did not agree to {} (it answered the ALPN offer {} with \
                     no_application_protocol: it speaks none of it)",
                    protocol_names(alpn),
                    offer(alpn)
                ),
            },
            _ => TunnelError::from_io(&error, "the TLS handshake"),
        })?;
    if !alpn.is_empty() {
        let chosen = tls.get_ref().1.alpn_protocol();
        if !chosen.is_some_and(|chosen| alpn.contains(&chosen)) {
            // RFC 9113 §3.2: HTTP/2 over TLS only once ALPN chose `h2`.
            return Err(TunnelError::Tls {
                reason: format!(
                    "the server did not agree to {} (ALPN chose {})",
                    protocol_names(alpn),
                    chosen.map_or("none".into(), String::from_utf8_lossy)
                ),
            });
        }
    }
    Ok(Box::new(tls))
}

/// Whether the server ended the handshake because it speaks none of the
/// offered ALPN protocols (RFC 7301 §3.2), as rustls and nginx do.
fn refused_alpn(error: &io::Error) -> bool {
    matches!(
        traverse_pki::tls_error(error),
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol
        ))
    )
}

/// An ALPN list as people name the protocols: `h2` is HTTP/2.
fn protocol_names(alpn: &[&[u8]]) -> String {
    let names: Vec<String> = alpn
        .iter()
        .map(|name| match *name {
            b"h2" => "HTTP/2".to_string(),
            other => String::from_utf8_lossy(other).into_owned(),
        })
        .collect();
    names.join(" or ")
}

/// An ALPN list as it goes on the wire: `h2`, `h2, http/1.1`.
fn offer(alpn: &[&[u8]]) -> String {
    let names: Vec<String> = alpn
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    names.join(", ")
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
        request += &format!(
            "Proxy-Authorization: {}\r\n",
            basic_authorization(credentials)
        );
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

/// The `Proxy-Authorization` value for `credentials` (RFC 7617).
fn basic_authorization(credentials: &traverse_scenario::Credentials) -> String {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.user, credentials.password));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS server on loopback offering `alpn`, as a hop accepts TLS.
    async fn server(alpn: &[&[u8]]) -> (ClientPath, traverse_net::TransactionLog) {
        let pki = traverse_pki::Pki::generate().expect("pki");
        let mut config = (*pki.middlebox.server_config("test").expect("config")).clone();
        config.alpn_protocols = alpn.iter().map(|name| name.to_vec()).collect();
        let config = Arc::new(config);
        let listener = traverse_net::bind_loopback().await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = traverse_net::TransactionLog::new();
        let entries = log.clone();
        tokio::spawn(async move {
            let (tcp, peer) = listener.accept().await.expect("accept");
            let entry = entries.open(peer, 443);
            // A handshake that succeeded is held until the client leaves.
            let tls = traverse_net::accept_tls(tcp, &config, &entry, Duration::from_secs(2)).await;
            if let Some(mut tls) = tls {
                let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut [0_u8; 1]).await;
            }
        });
        let path = ClientPath {
            connect_to: addr,
            verifying: pki.verifying_client(),
            pinning: pki.verifying_client(),
            step_timeout: Duration::from_secs(2),
            proxy: None,
            deadlock: None,
        };
        (path, log)
    }

    async fn refusal(server_alpn: &[&[u8]]) -> (String, String) {
        let (path, log) = server(server_alpn).await;
        let error = dial(&path, Security::TlsVerified, 443, None, &[b"h2"], true)
            .await
            .err()
            .expect("the dial fails");
        log.settle(Duration::from_secs(2)).await;
        let hop = log.snapshot().first().map(|record| record.detail.clone());
        (error.to_string(), hop.unwrap_or_default())
    }

    #[tokio::test]
    async fn an_http1_only_server_refuses_h2_and_both_sides_say_so() {
        let (client, hop) = refusal(&[b"http/1.1"]).await;
        assert_eq!(
            client,
            "TLS handshake failed: the server did not agree to HTTP/2 (it answered the ALPN \
             offer h2 with no_application_protocol: it speaks none of it)"
        );
        assert_eq!(
            hop,
            "TLS handshake failed: this server speaks none of the protocols the client offered \
             in ALPN (no_application_protocol)"
        );
    }

    #[tokio::test]
    async fn a_server_without_alpn_is_not_taken_for_http2() {
        let (client, _) = refusal(&[]).await;
        assert_eq!(
            client,
            "TLS handshake failed: the server did not agree to HTTP/2 (ALPN chose none)"
        );
    }

    #[tokio::test]
    async fn a_server_choosing_h2_is_dialled() {
        let (path, _log) = server(&[b"h2", b"http/1.1"]).await;
        assert!(
            dial(&path, Security::TlsVerified, 443, None, &[b"h2"], true)
                .await
                .is_ok()
        );
    }
}
