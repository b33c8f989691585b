//! L7 HTTP/1.1 proxying as load balancers and reverse proxies do it, built
//! on hyper: requests are parsed by a real HTTP implementation (bytes that
//! are not HTTP get hyper's own `400 Bad Request`, as from a real proxy),
//! hop-by-hop headers are dropped, `X-Forwarded-*` added, and a WebSocket
//! handshake is passed on (then both sides are relayed byte for byte under
//! the idle timeout), stripped of its `Upgrade` as a middlebox without
//! WebSocket support does, refused, or blocked by a per-host policy. A
//! request body or a response may be held first, as the hop's buffering
//! says (`buffering.rs`).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use traverse_net::http::{is_websocket_upgrade, strip_hop_by_hop};
use traverse_net::{Action, BoxedIo, ConnEntry, Protocol, Tasks, hex};
use traverse_scenario::{
    Buffering, Keyword as _, Masking, OriginFailure, UndeclaredBytes, UpgradePolicy, Vendor,
    WebSocketOffers, WebSocketRules, format_duration,
};

use crate::buffering::{self, ResponsePlan};
use crate::relay::{Idle, Scaled, relay_websocket};
use crate::{HopContext, Upstream};

pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// How an HTTP-mode hop treats what it parses.
#[derive(Debug, Clone)]
pub(crate) struct HttpPolicy {
    /// What happens to a WebSocket handshake.
    pub upgrade: UpgradePolicy,
    /// Speak HTTP/1.0 upstream (nginx's default `proxy_http_version`): no
    /// Upgrade can pass.
    pub http10: bool,
    /// Hosts WebSocket may reach (empty: all) and may not.
    pub websocket_allow: Vec<String>,
    pub websocket_block: Vec<String>,
    /// Whether this hop decrypted TLS the client meant for the origin.
    pub inspected: bool,
    /// What happens to client frames after an upgrade.
    pub masking: Masking,
    /// What it does to the WebSocket features it relays.
    pub websocket_rules: WebSocketRules,
    /// Whether it reads relayed bytes as new requests (a poisonable cache).
    pub cache: bool,
    /// What it does with bytes after a handshake's headers that no length
    /// declares.
    pub undeclared_bytes: UndeclaredBytes,
    /// The idle limit for relayed (upgraded) connections.
    pub idle: Idle,
    /// `https` on a TLS listener, `http` on a plain one.
    pub scheme: &'static str,
    pub step_timeout: Duration,
    /// Whose statuses it answers when the next node fails.
    pub vendor: Vendor,
    /// How long it waits for the next node's response head, in wall time
    /// and as the scenario wrote it; `None` waits until the client leaves.
    pub read_timeout: Scaled,
    /// How it holds request bodies and responses before passing them on.
    pub buffering: Buffering,
}

impl HttpPolicy {
    /// A hop that handles a WebSocket handshake as `upgrade` says, relays
    /// upgraded connections under `idle` (see [`crate::relay::idle`]), and
    /// otherwise reads nothing: no host rules, frames relayed as they are,
    /// HTTP/1.1 upstream. Kinds set what they do differently on top.
    pub(crate) fn new(
        upgrade: UpgradePolicy,
        idle: Idle,
        scheme: &'static str,
        context: &HopContext,
    ) -> HttpPolicy {
        HttpPolicy {
            upgrade,
            http10: false,
            websocket_allow: Vec::new(),
            websocket_block: Vec::new(),
            inspected: false,
            masking: Masking::Ignore,
            websocket_rules: WebSocketRules::default(),
            cache: false,
            undeclared_bytes: UndeclaredBytes::Hold,
            idle,
            scheme,
            step_timeout: context.step_timeout,
            vendor: Vendor::Generic,
            read_timeout: None,
            buffering: Buffering::default(),
        }
    }
}

/// Serves one client connection until it closes or is upgraded.
pub(crate) async fn serve(
    client: BoxedIo,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    tasks: Tasks,
) {
    let header_timeout = policy.step_timeout;
    let service = {
        let entry = entry.clone();
        service_fn(move |request| {
            let (entry, upstream, policy, tasks) = (
                entry.clone(),
                upstream.clone(),
                policy.clone(),
                tasks.clone(),
            );
            async move { Ok::<_, Infallible>(forward(request, entry, upstream, policy, tasks).await) }
        })
    };
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // A client may shut its write side once its request is sent and wait
        // for the answer; without this hyper closes on that EOF unanswered.
        .half_close(true)
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(client), service)
        .with_upgrades()
        .await;
    if let Err(error) = result {
        let first = entry.first_bytes();
        if error.is_parse_too_large() {
            entry.act(
                Action::Responded,
                Some(431),
                "answered 431: the request head is larger than the hop accepts",
            );
        } else if error.is_parse() {
            entry.set_protocol(traverse_net::sniff(&first));
            entry.act(
                Action::Responded,
                Some(400),
                format!(
                    "answered 400 Bad Request: the bytes it received are not HTTP (first bytes {})",
                    hex(&first)
                ),
            );
        } else if error.is_timeout() {
            entry.act_on_timer(
                header_timeout,
                Action::Responded,
                Some(408),
                "closed: no complete request head arrived in time",
            );
        }
    }
}

pub(crate) async fn forward(
    mut request: Request<Incoming>,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    tasks: Tasks,
) -> Response<Body> {
    let wants_websocket = is_websocket_upgrade(request.headers());
    // Masking rules are RFC 6455's; a hixie-76 stream has no such frames.
    let rfc6455 = request
        .headers()
        .contains_key(http::header::SEC_WEBSOCKET_KEY);
    let mut policy = policy;
    if !rfc6455 {
        policy.masking = Masking::Ignore;
        policy.websocket_rules = WebSocketRules::default();
    }
    entry.set_protocol(match (wants_websocket, policy.inspected) {
        (true, true) => Protocol::WebsocketTls,
        (true, false) => Protocol::Websocket,
        (false, _) => Protocol::Http,
    });
    entry.set_target(upstream.target());
    if wants_websocket {
        if let Some(refused) = refuse_blocked_websocket(&request, &entry, &policy) {
            return refused;
        }
        if policy.upgrade == UpgradePolicy::Reject {
            entry.act(
                Action::Responded,
                Some(400),
                "answered 400: this hop refuses WebSocket handshakes (upgrade = reject)",
            );
            return local(400, "WebSocket handshakes are not accepted here\n");
        }
    }
    let passes_upgrade =
        wants_websocket && policy.upgrade == UpgradePolicy::Forward && !policy.http10;
    let upgrade_headers = passes_upgrade.then(|| {
        (
            request.headers().get(http::header::UPGRADE).cloned(),
            request.headers().get(http::header::CONNECTION).cloned(),
        )
    });
    let client_upgrade = passes_upgrade.then(|| hyper::upgrade::on(&mut request));

    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some((upgrade, connection)) = upgrade_headers {
        parts.headers.extend(
            [
                (http::header::UPGRADE, upgrade),
                (http::header::CONNECTION, connection),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
        );
    }
    if policy.http10 {
        parts.version = http::Version::HTTP_10;
    }
    add_forwarded(&mut parts.headers, policy.scheme);
    if passes_upgrade {
        strip_offers(&mut parts.headers, policy.websocket_rules.offers, &entry);
    }
    if wants_websocket && !passes_upgrade {
        entry.act(
            Action::StrippedUpgrade,
            None,
            if policy.http10 {
                "forwarded the WebSocket handshake as HTTP/1.0, which cannot carry \
                 `Upgrade`: the headers were dropped"
            } else {
                "removed `Upgrade: websocket` and `Connection: upgrade` before forwarding \
                 (WebSocket support is off on this hop)"
            },
        );
    }

    let undeclared = if passes_upgrade {
        undeclared_bytes(&entry, &parts.headers)
    } else {
        0
    };
    if undeclared > 0 {
        match policy.undeclared_bytes {
            UndeclaredBytes::Hold => entry.act(
                Action::Holding,
                None,
                format!(
                    "holding {undeclared} bytes that followed the request headers with no \
                     Content-Length to declare them, until {} answers the handshake",
                    upstream.target()
                ),
            ),
            UndeclaredBytes::Reject => {
                entry.act(
                    Action::Responded,
                    Some(400),
                    format!(
                        "answered 400 Bad Request: {undeclared} bytes followed the request \
                         headers with no Content-Length to declare them"
                    ),
                );
                return local(400, "bytes after the headers that no length declares\n");
            }
        }
    }
    // nginx reads a buffered body whole before it even connects upstream.
    let (body, request_note) =
        match buffering::hold_request(body, &policy.buffering, &entry, &upstream.target()).await {
            Ok(held) => held,
            Err(answer) => return answer,
        };
    let io = match upstream.connect().await {
        Ok(io) => io,
        Err(error) => return unreachable_upstream(&entry, &error, policy.vendor),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(io)).await {
            Ok(pair) => pair,
            Err(error) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
        };
    tasks.spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let sent = sender.send_request(Request::from_parts(parts, body));
    let answered = match policy.read_timeout {
        None => Ok(sent.await),
        Some((wall, written)) => {
            // Declared to the cell's clock: waiting for it is no deadlock.
            // Withdrawn before the answer, which moves bytes of its own.
            let armed = entry.arm(tokio::time::Instant::now() + wall);
            let answered = tokio::time::timeout(wall, sent)
                .await
                .map_err(|_| (wall, written));
            drop(armed);
            answered
        }
    };
    let mut response = match answered {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
        Err((wall, written)) => {
            let status = policy.vendor.answer(OriginFailure::ReadTimeout);
            let message = format!(
                "{} sent no response head within {} (read_timeout)",
                upstream.target(),
                format_duration(written)
            );
            entry.act_on_timer(
                wall,
                Action::UpstreamFailed,
                Some(status),
                format!("answered {status}: {message}"),
            );
            return local(status, &format!("{message}\n"));
        }
    };
    let status = response.status().as_u16();

    if let (StatusCode::SWITCHING_PROTOCOLS, Some(client_upgrade)) =
        (response.status(), client_upgrade)
    {
        entry.act(
            Action::Upgraded,
            Some(status),
            format!(
                "passed the WebSocket upgrade to {}; relaying frames",
                upstream.target()
            ),
        );
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tasks.spawn(relay_upgraded(
            client_upgrade,
            upstream_upgrade,
            entry,
            policy,
        ));
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, empty());
    }
    let (mut parts, body) = response.into_parts();
    let plan = buffering::plan_response(
        &policy.buffering,
        &mut parts.headers,
        &body,
        &upstream.target(),
    );
    if !wants_websocket || passes_upgrade {
        let response_note = match &plan {
            ResponsePlan::Stream(note) => note.as_str(),
            ResponsePlan::Hold(_) => "",
        };
        entry.act(
            Action::Forwarded,
            Some(status),
            format!(
                "forwarded to {}{request_note}; it answered {status}{response_note}",
                upstream.target()
            ),
        );
    }
    strip_hop_by_hop(&mut parts.headers);
    // A proxy answers its client in its own HTTP version, whatever it
    // spoke upstream (nginx with proxy_http_version 1.0 still answers 1.1).
    parts.version = http::Version::HTTP_11;
    match plan {
        ResponsePlan::Stream(_) => Response::from_parts(parts, body.boxed()),
        ResponsePlan::Hold(setting) => {
            buffering::hold_response(parts, body, setting, entry, upstream.target()).await
        }
    }
}

/// Relays an upgraded pair (an HTTP/1.1 101, or an RFC 8441 stream a hop
/// translated into one) under the hop's idle, masking and cache rules.
pub(crate) async fn relay_upgraded(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    entry: ConnEntry,
    policy: HttpPolicy,
) {
    let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
        entry.act(
            Action::ProtocolError,
            None,
            "the upgrade did not complete on both sides",
        );
        return;
    };
    relay_websocket(
        TokioIo::new(client),
        TokioIo::new(upstream),
        &entry,
        policy.idle,
        policy.masking,
        policy.websocket_rules,
        policy.cache,
    )
    .await;
}

/// Removes the client's WebSocket offers that `offers` strips, recording
/// what went: the origin then selects no subprotocol or extension.
pub(crate) fn strip_offers(
    headers: &mut http::HeaderMap,
    offers: WebSocketOffers,
    entry: &ConnEntry,
) {
    let removed: Vec<(&str, String)> = offers
        .stripped()
        .iter()
        .filter_map(|name| {
            let values: Vec<String> = headers
                .get_all(*name)
                .iter()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect();
            headers.remove(*name);
            (!values.is_empty()).then(|| (*name, values.join(", ")))
        })
        .collect();
    note_stripped(entry, offers, &removed);
}

/// Records the offers a hop removed, each a header's name and its value.
pub(crate) fn note_stripped(
    entry: &ConnEntry,
    offers: WebSocketOffers,
    removed: &[(&str, String)],
) {
    if removed.is_empty() {
        return;
    }
    let removed: Vec<String> = removed
        .iter()
        .map(|(name, value)| format!("`{}: {value}`", canonical(name)))
        .collect();
    entry.act(
        Action::StrippedHeaders,
        None,
        format!(
            "removed {} from the WebSocket handshake before forwarding (websocket_offers = \"{}\")",
            removed.join(" and "),
            offers.keyword()
        ),
    );
}

/// A WebSocket header's name as RFC 6455 writes it.
fn canonical(name: &str) -> &'static str {
    match name {
        "sec-websocket-protocol" => "Sec-WebSocket-Protocol",
        _ => "Sec-WebSocket-Extensions",
    }
}

/// Bytes the client sent after a WebSocket handshake's headers that no
/// length declares (hixie-76's key3). hyper, like HAProxy in 2010, keeps
/// them until the upgrade completes, so an origin that waits for them never
/// answers; HAProxy 2.6 answers 400 instead.
fn undeclared_bytes(entry: &ConnEntry, headers: &http::HeaderMap) -> usize {
    let captured = entry.client_bytes();
    let Some(head_end) = captured.windows(4).position(|window| window == b"\r\n\r\n") else {
        return 0;
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(0);
    (captured.len() - head_end - 4).saturating_sub(declared)
}

/// The Host a request names, without its port, as policy rules match it.
fn request_host(request: &Request<Incoming>) -> String {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or_default();
    host.rsplit_once(':')
        .map_or(host, |(name, _)| name)
        .to_ascii_lowercase()
}

fn blocks_websocket(policy: &HttpPolicy, host: &str) -> bool {
    policy.websocket_block.iter().any(|blocked| blocked == host)
        || (!policy.websocket_allow.is_empty()
            && !policy.websocket_allow.iter().any(|allowed| allowed == host))
}

pub(crate) fn add_forwarded(headers: &mut http::HeaderMap, scheme: &'static str) {
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(scheme),
    );
    headers.append(
        HeaderName::from_static("x-forwarded-for"),
        HeaderValue::from_static("127.0.0.1"),
    );
}

/// The 403 a hop answers, and records, for a WebSocket its host rules do
/// not allow; `None` when they do.
pub(crate) fn refuse_blocked_websocket(
    request: &Request<Incoming>,
    entry: &ConnEntry,
    policy: &HttpPolicy,
) -> Option<Response<Body>> {
    let host = request_host(request);
    if !blocks_websocket(policy, &host) {
        return None;
    }
    let detail = format!("blocked by policy: WebSocket to {host} is not allowed");
    entry.act(
        Action::Blocked,
        Some(403),
        format!("answered 403: {detail}"),
    );
    Some(local(403, &format!("{detail}\n")))
}

/// What a hop answers, and records, when it cannot reach its next node:
/// the vendor's status, with the hop's timer when that ran out.
pub(crate) fn unreachable_upstream(
    entry: &ConnEntry,
    error: &crate::upstream::UpstreamError,
    vendor: Vendor,
) -> Response<Body> {
    let status = vendor.answer(error.failure());
    error.record(entry, Some(status), format!("answered {status}: {error}"));
    local(status, &format!("{error}\n"))
}

/// The next node took the request but closed without an answer, or
/// answered something that is not HTTP.
pub(crate) fn bad_gateway(
    entry: &ConnEntry,
    upstream: &Upstream,
    error: &hyper::Error,
    vendor: Vendor,
) -> Response<Body> {
    let status = vendor.answer(OriginFailure::EmptyResponse);
    let message = if error.is_incomplete_message() {
        format!(
            "{} closed the connection without an answer",
            upstream.target()
        )
    } else {
        format!("{} failed to answer: {error}", upstream.target())
    };
    entry.act(
        Action::UpstreamFailed,
        Some(status),
        format!("answered {status}: {message}"),
    );
    local(status, &format!("{message}\n"))
}

/// Cloudflare's names for its own statuses, which HTTP does not name.
fn vendor_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        520 => "Web Server Returned an Unknown Error",
        521 => "Web Server Is Down",
        522 => "Connection Timed Out",
        523 => "Origin Is Unreachable",
        524 => "A Timeout Occurred",
        525 => "SSL Handshake Failed",
        526 => "Invalid SSL Certificate",
        _ => return None,
    })
}

pub(crate) fn local(status: u16, body: &str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Some(reason) = vendor_reason(status) {
        response
            .extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(reason.as_bytes()));
    }
    response
}

pub(crate) fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}
