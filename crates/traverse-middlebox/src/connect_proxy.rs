//! `kind = "connect-proxy"`: an explicit forward proxy that clients are
//! configured with, as in a corporate network (Squid and its like). A
//! client asks `CONNECT origin.test:443` and gets a byte tunnel; the usual
//! configuration denies CONNECT to any port but 443 (`SSL_ports`) with
//! `403`, and a proxy with `auth` answers `407` with `Proxy-Authenticate:
//! Basic` until the request carries matching `Proxy-Authorization`. Plain
//! requests in absolute form (`GET http://origin.test/`) are forwarded as a
//! forward proxy does, hop-by-hop headers removed, so a WebSocket Upgrade
//! does not survive. It only reaches the topology's own addresses: it is
//! never an open relay.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine as _;
use http::{Method, Request, Response, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use traverse_net::{Action, ConnEntry, FirstRead, Metered, Protocol};
use traverse_scenario::address::{ORIGIN_HOST, PLAIN_PORT, PROXY_PORT, TLS_PORT};
use traverse_scenario::{ConnectProxy, Credentials, UpgradePolicy};

use crate::http_proxy::{self, Body, HttpPolicy, local};
use crate::listen::listen;
use crate::relay::{self, relay_connected};
use crate::{HopContext, MiddleboxError, MiddleboxHandle};

pub(crate) async fn start(
    options: &ConnectProxy,
    context: HopContext,
) -> Result<MiddleboxHandle, MiddleboxError> {
    let shared = Arc::new((options.clone(), context.clone()));
    listen(&context, &[PROXY_PORT], move |stream, _port, entry| {
        let shared = shared.clone();
        async move {
            let client = TokioIo::new(Metered::new(stream, entry.clone()));
            let header_timeout = shared.1.step_timeout;
            let service = service_fn(move |request| {
                let (shared, entry) = (shared.clone(), entry.clone());
                async move {
                    let (options, context) = &*shared;
                    Ok::<_, Infallible>(answer(request, options, context, entry).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // A client may shut its write side once its request is sent and wait
                // for the answer; without this hyper closes on that EOF unanswered.
                .half_close(true)
                .header_read_timeout(header_timeout)
                .serve_connection(client, service)
                .with_upgrades()
                .await;
        }
    })
    .await
}

async fn answer(
    mut request: Request<Incoming>,
    options: &ConnectProxy,
    context: &HopContext,
    entry: ConnEntry,
) -> Response<Body> {
    entry.set_protocol(Protocol::Http);
    if let Some(expected) = &options.auth
        && let Err(why) = authorized(&request, expected)
    {
        entry.act(
            Action::Responded,
            Some(407),
            format!("answered 407 Proxy Authentication Required: {why}"),
        );
        let mut response = local(407, "proxy authentication required\n");
        response.headers_mut().insert(
            header::PROXY_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"traverse\""),
        );
        return response;
    }
    let authority = request.uri().authority().cloned();
    let Some(authority) = authority else {
        entry.act(
            Action::Responded,
            Some(400),
            "answered 400: a request to a proxy needs an absolute URL or CONNECT",
        );
        return local(400, "use CONNECT or an absolute URL\n");
    };
    let host = authority.host().to_ascii_lowercase();
    let default_port = match (request.method(), request.uri().scheme_str()) {
        (&Method::CONNECT, _) => 0,
        (_, Some("https")) => TLS_PORT,
        _ => PLAIN_PORT,
    };
    let port = authority.port_u16().unwrap_or(default_port);
    entry.set_target(format!("{host}:{port}"));
    if host != ORIGIN_HOST {
        let detail = format!("{host} is not part of this topology; the proxy is no open relay");
        entry.act(
            Action::Blocked,
            Some(403),
            format!("answered 403: {detail}"),
        );
        return local(403, &format!("{detail}\n"));
    }
    if request.method() != Method::CONNECT {
        // A forward proxy of the usual kind: Upgrade is hop-by-hop and goes.
        *request.uri_mut() = request.uri().path_and_query().map_or_else(
            || "/".parse().unwrap_or_default(),
            |path| path.as_str().parse().unwrap_or_default(),
        );
        let upstream = context.upstream(port, None);
        let policy = HttpPolicy {
            buffering: options.buffering,
            ..HttpPolicy::new(
                UpgradePolicy::Strip,
                relay::idle(options.idle_timeout, options.idle_counts, context),
                "http",
                context,
            )
        };
        return http_proxy::forward(request, entry, upstream, policy, context.tasks.clone()).await;
    }
    if !options.allowed_ports.contains(&port) {
        let allowed: Vec<String> = options.allowed_ports.iter().map(u16::to_string).collect();
        let detail = format!(
            "CONNECT to port {port} is denied; allowed ports: {}",
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        );
        entry.act(
            Action::Responded,
            Some(403),
            format!("answered 403: {detail}"),
        );
        return local(403, &format!("{detail}\n"));
    }
    if context.next.get(port).is_none() {
        let detail = format!("nothing in this topology serves {ORIGIN_HOST}:{port}");
        entry.act(
            Action::UpstreamFailed,
            Some(502),
            format!("answered 502: {detail}"),
        );
        return local(502, &format!("{detail}\n"));
    }
    // Squid connects before it answers: a client is told 503, not handed a
    // tunnel that is already dead.
    let upstream = context.upstream(port, None);
    let server = match upstream.connect().await {
        Ok(server) => server,
        Err(error) => {
            error.record(&entry, Some(503), format!("answered 503: {error}"));
            return local(503, &format!("{error}\n"));
        }
    };
    let upgrade = hyper::upgrade::on(&mut request);
    let idle = relay::idle(options.idle_timeout, options.idle_counts, context);
    let target = upstream.target();
    context.tasks.spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let tunnel = FirstRead::sniffing(TokioIo::new(upgraded), entry.clone());
                relay_connected(tunnel, server, entry, &target, idle, "a CONNECT tunnel").await;
            }
            Err(error) => entry.act(
                Action::ProtocolError,
                None,
                format!("the CONNECT tunnel never opened: {error}"),
            ),
        }
    });
    local(200, "")
}

/// Checks `Proxy-Authorization: Basic …` against the proxy's credentials.
fn authorized(request: &Request<Incoming>, expected: &Credentials) -> Result<(), String> {
    let Some(value) = request.headers().get(header::PROXY_AUTHORIZATION) else {
        return Err("the request carried no Proxy-Authorization".to_string());
    };
    let decoded = value
        .to_str()
        .ok()
        .and_then(|text| text.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or("Proxy-Authorization is not valid Basic credentials")?;
    match decoded.split_once(':') {
        Some((user, password)) if user == expected.user && password == expected.password => Ok(()),
        Some((user, _)) => Err(format!("wrong credentials for user \"{user}\"")),
        None => Err("Proxy-Authorization is not valid Basic credentials".to_string()),
    }
}
