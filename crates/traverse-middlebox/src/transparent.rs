//! `kind = "transparent"`: an intercepting proxy on the path, invisible to
//! the client, whose lookup of the origin's name lands on it (an ISP or
//! campus cache behind a port-80/443 redirect, a Zscaler-style secure web
//! gateway). It tells TLS from everything else by the first byte. TLS is
//! relayed untouched, reset, or inspected: terminated with a certificate
//! from the enterprise inspection CA (which managed clients trust), the HTTP
//! rules applied to what is inside, and re-encrypted to the origin, whose
//! certificate must validate. Everything else is parsed as HTTP: non-HTTP
//! bytes get `400`, WebSocket handshakes are forwarded, stripped (as an
//! HTTP/1.0 proxy or nginx's defaults do) or refused, per host policy.
//! With `http2`, a client that picks `h2` inside inspected TLS is served by
//! `http2_front` under the same rules.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use traverse_net::{Action, Metered, Protocol, accept_tls};
use traverse_scenario::address::PORTS;
use traverse_scenario::{HttpVersion, TlsPolicy, Transparent};

use crate::http_proxy::{self, HttpPolicy};
use crate::http2_front::{self, Http2Front};
use crate::listen::listen;
use crate::relay::{self, relay};
use crate::{HopContext, MiddleboxError, MiddleboxHandle};

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

pub(crate) async fn start(
    options: &Transparent,
    context: HopContext,
) -> Result<MiddleboxHandle, MiddleboxError> {
    let inspection = context.server_tls(&context.pki.inspection, "inspection")?;
    let inspection = if options.http2 {
        http2_front::offering_h2(&inspection)
    } else {
        inspection
    };
    let shared = Arc::new((options.clone(), context.clone(), inspection));
    // It sits on the path for every port; the ones it does not intercept
    // are routed on untouched, as a redirect rule for port 80 alone does.
    listen(&context, &PORTS, move |stream, port, entry| {
        let shared = shared.clone();
        async move {
            let (options, context, inspection) = &*shared;
            if !options.ports.contains(&port) {
                let client = Metered::new(stream, entry.clone());
                relay::route_untouched(
                    client,
                    entry,
                    context,
                    port,
                    "a connection it does not intercept",
                )
                .await;
                return;
            }
            let Some(first) = first_byte(&stream, context.step_timeout).await else {
                entry.act(Action::Forwarded, None, "the client sent nothing");
                return;
            };
            let idle = relay::idle(options.idle_timeout, options.idle_counts, context);
            let next = |tls| context.upstream(port, tls);
            if first != TLS_HANDSHAKE {
                let client = Box::new(Metered::new(stream, entry.clone()));
                let policy = http_policy(options, context, "http", false);
                http_proxy::serve(client, entry, next(None), policy, context.tasks.clone()).await;
                return;
            }
            entry.set_protocol(Protocol::TlsOpaque);
            match options.tls {
                TlsPolicy::Block => {
                    entry.act(
                        Action::Blocked,
                        None,
                        "reset a TLS connection: TLS is blocked here (tls = block)",
                    );
                    // An abortive close: the client sees a reset, as from
                    // a firewall, not an orderly end.
                    let _ = stream.set_zero_linger();
                }
                TlsPolicy::Passthrough => {
                    let client = Metered::new(stream, entry.clone());
                    relay(client, entry, next(None), idle, "TLS untouched").await;
                }
                TlsPolicy::Inspect => {
                    let Some(tls) =
                        accept_tls(stream, inspection, &entry, context.step_timeout).await
                    else {
                        return;
                    };
                    let h2 = http2_front::picked_h2(&tls);
                    let client = Box::new(Metered::new(tls, entry.clone()));
                    let upstream = next(Some(context.pki.public_client()));
                    let policy = http_policy(options, context, "https", true);
                    let tasks = context.tasks.clone();
                    if h2 {
                        let front = Http2Front {
                            backend: options.backend_http,
                            extended_connect: options.extended_connect,
                        };
                        http2_front::serve(client, entry, upstream, policy, front, tasks).await;
                    } else {
                        http_proxy::serve(client, entry, upstream, policy, tasks).await;
                    }
                }
            }
        }
    })
    .await
}

fn http_policy(
    options: &Transparent,
    context: &HopContext,
    scheme: &'static str,
    inspected: bool,
) -> HttpPolicy {
    HttpPolicy {
        http10: options.http_version == HttpVersion::Http10,
        websocket_allow: options.websocket_allow.clone(),
        websocket_block: options.websocket_block.clone(),
        inspected,
        masking: options.masking,
        websocket_rules: options.websocket_rules,
        cache: options.cache,
        undeclared_bytes: options.undeclared_bytes,
        buffering: options.buffering,
        ..HttpPolicy::new(
            options.upgrade,
            relay::idle(options.idle_timeout, options.idle_counts, context),
            scheme,
            context,
        )
    }
}

/// Waits for the client's first byte without consuming it.
async fn first_byte(stream: &TcpStream, deadline: Duration) -> Option<u8> {
    let mut byte = [0_u8; 1];
    match tokio::time::timeout(deadline, stream.peek(&mut byte)).await {
        Ok(Ok(1)) => Some(byte[0]),
        _ => None,
    }
}
