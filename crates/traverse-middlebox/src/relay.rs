//! The byte relay behind every hop that passes a connection on without
//! reading it: L4 offload, TLS passthrough, CONNECT tunnels. It connects
//! upstream, records what it did, relays under the idle timeout and records
//! an idle cut.

use std::time::Duration;

use traverse_net::{Action, ConnEntry, Io, PipeEnd, pipe, sniff};
use traverse_scenario::format_duration;

use crate::Upstream;

/// An idle limit in wall time, and as the scenario wrote it (for messages).
pub(crate) type Idle = Option<(Duration, Duration)>;

pub(crate) fn idle(written: Option<Duration>, context: &crate::HopContext) -> Idle {
    written.map(|written| (context.time_scale.apply(written), written))
}

/// Relays `client` to `upstream`; `what` says what is being relayed, for the
/// log (`"the decrypted bytes"`, `"TLS untouched"`).
pub(crate) async fn relay(
    client: impl Io,
    entry: ConnEntry,
    upstream: Upstream,
    idle: Idle,
    what: &str,
) {
    entry.set_target(upstream.target());
    let server = match upstream.connect().await {
        Ok(server) => server,
        Err(error) => {
            entry.act(Action::UpstreamFailed, None, format!("closed: {error}"));
            return;
        }
    };
    relay_connected(client, server, entry, &upstream.target(), idle, what).await;
}

/// Relays between a client and an upstream already connected to `target`.
pub(crate) async fn relay_connected(
    client: impl Io,
    server: impl Io,
    entry: ConnEntry,
    target: &str,
    idle: Idle,
    what: &str,
) {
    entry.act(
        Action::Forwarded,
        None,
        format!("relayed {what} to {target}"),
    );
    let end = pipe(client, server, idle.map(|(wall, _)| wall)).await;
    if let PipeEnd::IdleCut(_) = end {
        entry.act(
            Action::IdleCut,
            None,
            format!(
                "cut the connection after {} without traffic (idle_timeout)",
                idle.map(|(_, written)| format_duration(written))
                    .unwrap_or_default()
            ),
        );
    }
}

/// What the first bytes through a relay were, once it ended.
pub(crate) fn identify(entry: &ConnEntry) {
    entry.set_protocol(sniff(&entry.first_bytes()));
}
