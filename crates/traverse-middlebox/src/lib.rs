//! Mock middleboxes: the hops of a topology. Each kind's behaviour lives in
//! its own module with the same shape, a `start` that takes the kind's
//! options from the scenario and a [`HopContext`] (the next node inward, the
//! run's PKI, the time scale, the hop's log and the cell's tasks) and
//! returns the hop's [`Endpoints`]; the `behaviours!` list below is the one
//! line per kind that connects a kind of `traverse-scenario` to its module. Hops are started from the origin outward, so every hop
//! knows where its traffic goes. What a hop does to each connection goes
//! into its transaction log, which is how a failing cell finds its culprit.

mod buffering;
/// The fuzz targets' properties, shared with the corpus regression test.
#[doc(hidden)]
pub mod fuzzing;
mod http2_front;
mod http_proxy;
mod listen;
mod relay;
mod upstream;
mod websocket_frames;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use traverse_net::{ClosedPort, Endpoints, Tasks, TransactionLog};
use traverse_pki::{Pki, PkiError};
use traverse_scenario::{Hop, HopKind, TimeScale};

pub use upstream::{Upstream, UpstreamError};

/// Everything a hop needs from its cell.
#[derive(Debug, Clone)]
pub struct HopContext {
    /// The hop's name, as blame shows it.
    pub name: String,
    /// The next node inward: the next hop, or the origin.
    pub next: Endpoints,
    pub pki: Arc<Pki>,
    pub time_scale: TimeScale,
    pub log: TransactionLog,
    /// The cell's tasks: the hop's listeners and connections end with them.
    pub tasks: Tasks,
    /// How long one step (connect, handshake, request head) may take.
    pub step_timeout: Duration,
    /// Addresses to listen on for some logical ports, for running a hop by
    /// hand (`traverse proxy`); every other port binds 127.0.0.1:0.
    pub bind: BTreeMap<u16, SocketAddr>,
}

impl HopContext {
    /// How this hop reaches the next node's logical `port`, over TLS with
    /// `tls` if given.
    pub fn upstream(&self, port: u16, tls: Option<Arc<rustls::ClientConfig>>) -> Upstream {
        Upstream {
            port,
            // A port the next node lacks fails at connect time, as it should.
            addr: self
                .next
                .get(port)
                .unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
            tls,
            step_timeout: self.step_timeout,
            connect_timeout: None,
            activity: self.log.activity().clone(),
        }
    }

    /// A TLS server config presenting `leaf`, or an error naming this hop.
    pub fn server_tls(
        &self,
        leaf: &traverse_pki::Leaf,
        what: &'static str,
    ) -> Result<Arc<rustls::ServerConfig>, MiddleboxError> {
        leaf.server_config(what)
            .map_err(|source| MiddleboxError::Pki {
                hop: self.name.clone(),
                source,
            })
    }
}

/// A started hop: where its logical ports are, and the sockets it holds
/// closed for the ports it does not serve.
pub struct MiddleboxHandle {
    pub endpoints: Endpoints,
    _closed: Vec<ClosedPort>,
    /// What must live as long as the hop: a real proxy's process, its
    /// working folder.
    kept: Vec<Box<dyn std::any::Any + Send>>,
}

impl MiddleboxHandle {
    fn keep(&mut self, thing: Box<dyn std::any::Any + Send>) {
        self.kept.push(thing);
    }
}

impl std::fmt::Debug for MiddleboxHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MiddleboxHandle")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MiddleboxError {
    #[error("hop {hop}: cannot listen on loopback: {source}")]
    Listen {
        hop: String,
        #[source]
        source: io::Error,
    },
    #[error("hop {hop}: {why}")]
    External { hop: String, why: String },
    #[error("hop {hop}: {source}")]
    Pki {
        hop: String,
        #[source]
        source: PkiError,
    },
}

/// Each kind of [`HopKind`] with the module of its behaviour, whose
/// `start(&options, context)` runs it.
macro_rules! behaviours {
    ($($kind:ident => $module:ident),+ $(,)?) => {
        $(mod $module;)+

        /// Starts `hop` in front of `context.next`.
        pub async fn start(hop: &Hop, context: HopContext) -> Result<MiddleboxHandle, MiddleboxError> {
            match &hop.kind {
                $(HopKind::$kind(options) => $module::start(options, context).await,)+
            }
        }
    };
}

behaviours! {
    TlsTerminator => tls_terminator,
    Transparent => transparent,
    ConnectProxy => connect_proxy,
    LegacyForwarder => legacy_forwarder,
    External => external,
}
