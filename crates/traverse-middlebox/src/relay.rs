//! The byte relay behind every hop that passes a connection on without
//! reading it (L4 offload, TLS passthrough, CONNECT tunnels, ports a hop
//! does not serve) and behind every upgraded WebSocket: it connects
//! upstream, records what it did, relays under the idle timeout, applies
//! the hop's frame rules, and records how the relay ended.

use std::time::Duration;

use traverse_net::{Action, ConnEntry, Io, PipeEnd, pipe_with, sniff};
use traverse_scenario::{IdleCounts, Masking, WebSocketRules, format_duration};

use crate::{Upstream, websocket_frames};

/// A limit in wall time, and as the scenario wrote it (for messages).
pub(crate) type Scaled = Option<(Duration, Duration)>;

pub(crate) fn scaled(written: Option<Duration>, context: &crate::HopContext) -> Scaled {
    written.map(|written| (context.time_scale.apply(written), written))
}

/// An idle limit: how long, scaled and as written, and which bytes reset it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleLimit {
    pub wall: Duration,
    pub written: Duration,
    pub counts: IdleCounts,
}

pub(crate) type Idle = Option<IdleLimit>;

pub(crate) fn idle(
    written: Option<Duration>,
    counts: IdleCounts,
    context: &crate::HopContext,
) -> Idle {
    scaled(written, context).map(|(wall, written)| IdleLimit {
        wall,
        written,
        counts,
    })
}

/// Relays under `idle`, with `transform` on the client's bytes; the idle
/// timer is declared to the cell's clock, so a wait for it is no deadlock.
/// How close the timer came to cutting goes into the record.
async fn pipe_under(
    client: impl Io,
    server: impl Io,
    idle: Idle,
    entry: &ConnEntry,
    transform: Option<Box<dyn traverse_net::Transform>>,
) -> PipeEnd {
    let limit = idle.map(|limit| traverse_net::IdleLimit {
        limit: limit.wall,
        written: limit.written,
        counts: limit.counts,
        clock: entry.activity().clone(),
        entry: Some(entry.clone()),
    });
    pipe_with(client, server, limit, transform).await
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
            error.record(&entry, None, format!("closed: {error}"));
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
    let end = pipe_under(client, server, idle, &entry, None).await;
    record_end(&entry, end, idle, "connection");
}

/// Relays an upgraded WebSocket with the hop's frame rules on client bytes.
pub(crate) async fn relay_websocket(
    client: impl Io,
    server: impl Io,
    entry: &ConnEntry,
    idle: Idle,
    masking: Masking,
    rules: WebSocketRules,
    cache: bool,
) {
    let transforms = websocket_frames::transforms(masking, rules, cache, entry);
    let end = pipe_under(client, server, idle, entry, transforms).await;
    record_end(entry, end, idle, "WebSocket");
}

/// Records a relay that the hop itself ended.
fn record_end(entry: &ConnEntry, end: PipeEnd, idle: Idle, what: &str) {
    match end {
        PipeEnd::Rejected(reason) => {
            entry.act(Action::Blocked, None, format!("closed the {what} {reason}"))
        }
        PipeEnd::IdleCut(_) => {
            let Some(limit) = idle else { return };
            let quiet = match limit.counts {
                IdleCounts::Both => "without traffic (idle_timeout)",
                IdleCounts::Upstream => {
                    "without a byte from upstream (idle_timeout, idle_counts = \"upstream\")"
                }
                IdleCounts::Client => {
                    "without a byte from the client (idle_timeout, idle_counts = \"client\")"
                }
            };
            entry.act_on_timer(
                limit.wall,
                Action::IdleCut,
                None,
                format!(
                    "cut the {what} after {} {quiet}",
                    format_duration(limit.written)
                ),
            );
        }
        PipeEnd::Closed | PipeEnd::Failed { .. } => {}
    }
}

/// A connection to a port the hop does not serve: routed on untouched.
pub(crate) async fn route_untouched(
    client: impl Io,
    entry: ConnEntry,
    context: &crate::HopContext,
    port: u16,
    what: &str,
) {
    relay(
        client,
        entry.clone(),
        context.upstream(port, None),
        None,
        what,
    )
    .await;
    identify(&entry);
}

/// What the first bytes through a relay were, once it ended.
pub(crate) fn identify(entry: &ConnEntry) {
    entry.set_protocol(sniff(&entry.first_bytes()));
}
