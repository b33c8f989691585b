//! `kind = "tls-terminator"`: an HTTPS load balancer or WAF (F5 BIG-IP,
//! Cloudflare, AWS ALB). It holds a publicly trusted certificate for the
//! origin's name and terminates TLS on 443, so a client that pins the
//! origin's own certificate refuses it. In `http` mode (L7) it parses HTTP
//! after decryption: non-HTTP bytes get `400`, WebSocket upgrades pass only
//! with `websocket = true` (F5's WebSocket profile, Cloudflare's toggle).
//! In `tcp` mode (L4 SSL offload) it relays the decrypted bytes. Toward the
//! origin it speaks per `backend`: plain to port 80 (Cloudflare Flexible),
//! TLS unchecked (Full) or TLS checked against public roots (Full strict).
//! Port 80, where it listens, is relayed plain to the origin's port 80.
//! Its `vendor` picks what a client is answered when the next node fails
//! (Cloudflare's 520 to 526, an ALB's 502 and 504) and the defaults of its
//! connect and read timeouts, which are scaled like every scenario duration.
//! With HTTP/2 offered (`http2`, on for ALB and Cloudflare), a client that
//! picks `h2` by ALPN on 443 is served by `http2_front`.

use std::sync::Arc;

use traverse_net::{BoxedIo, Metered, accept_tls};
use traverse_pki::Pki;
use traverse_scenario::address::{PLAIN_PORT, TLS_PORT};
use traverse_scenario::{Backend, TerminatorMode, TlsTerminator, UpgradePolicy};

use crate::http_proxy::{self, HttpPolicy};
use crate::http2_front::{self, Http2Front};
use crate::listen::listen;
use crate::relay::{self, relay};
use crate::{HopContext, MiddleboxError, MiddleboxHandle, Upstream};

pub(crate) async fn start(
    options: &TlsTerminator,
    context: HopContext,
) -> Result<MiddleboxHandle, MiddleboxError> {
    let tls = context.server_tls(&context.pki.middlebox, "middlebox")?;
    let tls = if options.offers_http2() {
        http2_front::offering_h2(&tls)
    } else {
        tls
    };
    let shared = Arc::new((options.clone(), context.clone(), tls));
    listen(&context, &options.ports, move |stream, port, entry| {
        let shared = shared.clone();
        async move {
            let (options, context, tls) = &*shared;
            let mut h2 = false;
            let client: BoxedIo = if port == TLS_PORT {
                match accept_tls(stream, tls, &entry, context.step_timeout).await {
                    Some(tls) => {
                        h2 = http2_front::picked_h2(&tls);
                        Box::new(Metered::new(tls, entry.clone()))
                    }
                    None => return,
                }
            } else {
                Box::new(Metered::new(stream, entry.clone()))
            };
            let idle = relay::idle(options.idle_timeout, options.idle_counts, context);
            let upstream = Upstream {
                connect_timeout: relay::scaled(options.connect_limit(), context),
                ..upstream_for(port, options.backend, context)
            };
            match options.mode {
                TerminatorMode::Http => {
                    let upgrade = if options.websocket {
                        UpgradePolicy::Forward
                    } else {
                        UpgradePolicy::Strip
                    };
                    let scheme = if port == TLS_PORT { "https" } else { "http" };
                    let policy = HttpPolicy {
                        masking: options.masking,
                        websocket_rules: options.websocket_rules,
                        undeclared_bytes: options.undeclared_bytes,
                        vendor: options.vendor,
                        read_timeout: relay::scaled(options.read_limit(), context),
                        buffering: options.buffering,
                        ..HttpPolicy::new(upgrade, idle, scheme, context)
                    };
                    let tasks = context.tasks.clone();
                    if h2 {
                        let front = Http2Front {
                            backend: options.backend_http_version(),
                            extended_connect: options.extended_connect,
                        };
                        http2_front::serve(client, entry, upstream, policy, front, tasks).await;
                    } else {
                        http_proxy::serve(client, entry, upstream, policy, tasks).await;
                    }
                }
                TerminatorMode::Tcp => {
                    relay(client, entry.clone(), upstream, idle, "the decrypted bytes").await;
                    relay::identify(&entry);
                }
            }
        }
    })
    .await
}

/// Where a connection that arrived on `port` goes next.
fn upstream_for(port: u16, backend: Backend, context: &HopContext) -> Upstream {
    let (port, tls) = match (port, backend) {
        (TLS_PORT, Backend::Tls) => (TLS_PORT, Some(Pki::unverified_client())),
        (TLS_PORT, Backend::TlsVerify) => (TLS_PORT, Some(context.pki.public_client())),
        _ => (PLAIN_PORT, None),
    };
    context.upstream(port, tls)
}
