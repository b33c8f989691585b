//! Why a tunnel failed, in the tunnel client's or server's own terms.

use std::io;
use std::time::Duration;

use traverse_scenario::format_duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TunnelError {
    #[error("connection refused: nothing listens where {target} leads")]
    ConnectRefused { target: String },
    #[error("answered HTTP {status}{} to {handshake}", reason_suffix(reason))]
    Refused {
        status: u16,
        reason: String,
        handshake: &'static str,
    },
    #[error("TLS handshake failed: {reason}")]
    Tls { reason: String },
    #[error("connection reset during {during}")]
    Reset { during: String },
    #[error("connection closed during {during}")]
    Closed { during: String },
    #[error("no answer within {} during {during}", format_duration(*after))]
    Timeout { during: String, after: Duration },
    /// Nothing moved anywhere in the topology for `quiet`, with no node
    /// waiting on a timer of its own: the step could only time out.
    #[error(
        "no byte moved anywhere in the topology for {} during {during}",
        format_duration(*quiet)
    )]
    Deadlock { during: String, quiet: Duration },
    /// The server speaks the tunnel's transport but said, with no status
    /// to show for it, that it will not carry the tunnel: an HTTP/2 server
    /// whose SETTINGS do not enable RFC 8441's extended CONNECT.
    #[error("{reason}")]
    Declined { reason: String },
    #[error("{0}")]
    Protocol(String),
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" {reason}")
    }
}

impl TunnelError {
    /// Classifies an I/O error the way a person reads it.
    pub fn from_io(error: &io::Error, during: &str) -> TunnelError {
        if let Some(tls) = traverse_pki::tls_error(error) {
            return TunnelError::Tls {
                reason: traverse_pki::describe_tls(tls),
            };
        }
        let during = during.to_string();
        match error.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => TunnelError::Reset { during },
            io::ErrorKind::UnexpectedEof => TunnelError::Closed { during },
            _ => TunnelError::Protocol(format!("{error} during {during}")),
        }
    }
}
