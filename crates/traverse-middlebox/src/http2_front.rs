//! HTTP/2 towards clients, for the hops that negotiate it by ALPN inside
//! TLS they terminate (`tls-terminator` on 443, `transparent` inside the
//! TLS it inspects). A client that picked `h2` is served here on hyper's
//! HTTP/2 server; every other client goes through `http_proxy` as before.
//! Each request goes on under the hop's HTTP rules: as an HTTP/1.1 request
//! through `http_proxy::forward` (an ALB's default), or as HTTP/2 to the
//! next node (offered by ALPN over TLS, by prior knowledge over plain TCP).
//! An RFC 8441 extended CONNECT (`:protocol = websocket`) is translated
//! into an HTTP/1.1 `Upgrade: websocket`, as HAProxy 2.4+ does, and the
//! stream then relayed under the hop's idle timeout and frame rules; or,
//! refused, it is never advertised. What happened goes into the
//! connection's record, which is what blame reads.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use traverse_net::http::strip_hop_by_hop;
use traverse_net::{Action, BoxedIo, ConnEntry, Protocol, Tasks};
use traverse_scenario::{
    BackendHttp, ExtendedConnect, OriginFailure, UpgradePolicy, format_duration,
};

use crate::Upstream;
use crate::buffering::{self, ResponsePlan};
use crate::http_proxy::{self, Body, HttpPolicy, add_forwarded, bad_gateway, empty, local};

/// The ALPN name of HTTP/2 over TLS.
pub(crate) const H2: &[u8] = b"h2";
const HTTP11: &[u8] = b"http/1.1";

/// What a hop speaking HTTP/2 to its clients does beyond its HTTP rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Http2Front {
    /// What requests that came over HTTP/2 go on as.
    pub backend: BackendHttp,
    pub extended_connect: ExtendedConnect,
}

/// `config` offering `h2` before `http/1.1`, as a load balancer with
/// HTTP/2 on does: the client's pick decides which server serves it.
pub(crate) fn offering_h2(config: &Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut offering = (**config).clone();
    offering.alpn_protocols = vec![H2.to_vec(), HTTP11.to_vec()];
    Arc::new(offering)
}

/// Whether the client picked HTTP/2 on a TLS connection.
pub(crate) fn picked_h2<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> bool {
    tls.get_ref().1.alpn_protocol() == Some(H2)
}

/// hyper's HTTP/2 runs a task per stream; they go to the cell's tasks, so
/// nothing outlives the cell.
#[derive(Debug, Clone)]
struct CellExecutor(Tasks);

impl<F> hyper::rt::Executor<F> for CellExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(future);
    }
}

/// Serves one client connection that picked `h2`, until it closes.
pub(crate) async fn serve(
    client: BoxedIo,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    front: Http2Front,
    tasks: Tasks,
) {
    entry.set_protocol(Protocol::Http);
    entry.set_target(upstream.target());
    let requests = Arc::new(AtomicU64::new(0));
    let service = {
        let (entry, tasks, requests) = (entry.clone(), tasks.clone(), requests.clone());
        service_fn(move |request| {
            requests.fetch_add(1, Ordering::Relaxed);
            let (entry, upstream, policy, tasks) = (
                entry.clone(),
                upstream.clone(),
                policy.clone(),
                tasks.clone(),
            );
            async move {
                Ok::<_, Infallible>(answer(request, entry, upstream, policy, front, tasks).await)
            }
        })
    };
    let mut builder = hyper::server::conn::http2::Builder::new(CellExecutor(tasks));
    builder.timer(TokioTimer::new());
    if front.extended_connect == ExtendedConnect::Translate {
        // SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
        builder.enable_connect_protocol();
    }
    let result = builder
        .serve_connection(TokioIo::new(client), service)
        .await;
    if requests.load(Ordering::Relaxed) > 0 || entry.record().action != Action::Open {
        return;
    }
    // No request reached the hop: hyper resets an extended CONNECT it was
    // not told to accept before any service sees it, and a compliant client
    // that wanted one leaves when SETTINGS do not offer it.
    match (result, front.extended_connect) {
        (Err(error), _) if !error.is_user() => entry.act(
            Action::ProtocolError,
            None,
            format!("the client picked h2 by ALPN but did not speak HTTP/2: {error}"),
        ),
        (_, ExtendedConnect::Refuse) => entry.act(
            Action::Blocked,
            None,
            "spoke HTTP/2 without SETTINGS_ENABLE_CONNECT_PROTOCOL (extended_connect = \
             refuse): the client left without a request, as one does when it came for an \
             RFC 8441 WebSocket, and an extended CONNECT sent anyway is reset",
        ),
        _ => entry.act(Action::Forwarded, None, "the client sent no request"),
    }
}

async fn answer(
    request: Request<Incoming>,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    front: Http2Front,
    tasks: Tasks,
) -> Response<Body> {
    if request.method() == Method::CONNECT {
        let websocket = request
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"));
        if websocket {
            return translate(request, entry, upstream, policy, tasks).await;
        }
        entry.act(
            Action::Responded,
            Some(405),
            "answered 405: a CONNECT to a reverse proxy names no tunnel it serves",
        );
        return local(405, "CONNECT is not served here\n");
    }
    let request = as_http1(request);
    match front.backend {
        BackendHttp::Http1 => forward_http1(request, entry, upstream, policy, tasks).await,
        BackendHttp::Http2 => forward_http2(request, entry, upstream, policy, tasks).await,
    }
}

/// An HTTP/2 request in HTTP/1.1's shape: origin-form target, `Host` from
/// `:authority`. The body is left as it is, so a streaming body streams
/// on (chunked, having no length).
fn as_http1(request: Request<Incoming>) -> Request<Incoming> {
    let (mut parts, body) = request.into_parts();
    if let Some(authority) = parts.uri.authority()
        && !parts.headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, host);
    }
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |target| target.as_str());
    parts.uri = Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/"));
    parts.version = Version::HTTP_11;
    Request::from_parts(parts, body)
}

/// Forwards over HTTP/1.1 with the hop's whole HTTP/1.1 behaviour, then
/// says in the record that the client spoke HTTP/2.
async fn forward_http1(
    request: Request<Incoming>,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    tasks: Tasks,
) -> Response<Body> {
    let response =
        http_proxy::forward(request, entry.clone(), upstream.clone(), policy, tasks).await;
    if entry.record().action == Action::Forwarded {
        let status = response.status().as_u16();
        entry.act(
            Action::Forwarded,
            Some(status),
            format!(
                "HTTP/2 from the client, HTTP/1.1 to {}; it answered {status}",
                upstream.target()
            ),
        );
    }
    response
}

/// Forwards over HTTP/2: offered by ALPN over TLS (HTTP/1.1 on the same
/// connection if the next node picks it, as Cloudflare does), by prior
/// knowledge over plain TCP.
async fn forward_http2(
    request: Request<Incoming>,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    tasks: Tasks,
) -> Response<Body> {
    let target = upstream.target();
    // Buffering is the hop's, whichever HTTP it speaks inward: a body held
    // whole is read before the next node is dialled, as over HTTP/1.1.
    let (parts, body) = request.into_parts();
    let (body, request_note) =
        match buffering::hold_request(body, &policy.buffering, &entry, &target).await {
            Ok(held) => held,
            Err(answer) => return answer,
        };
    let request = Request::from_parts(parts, body);
    let (io, picked) = match upstream.connect_offering(Some(&[H2, HTTP11])).await {
        Ok(connected) => connected,
        Err(error) => return http_proxy::unreachable_upstream(&entry, &error, policy.vendor),
    };
    let speaks_h2 = upstream.tls.is_none() || picked.as_deref() == Some(H2);
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    add_forwarded(&mut parts.headers, policy.scheme);
    let answered = if speaks_h2 {
        if let Err(error) = to_http2_target(&mut parts, &upstream) {
            entry.act(
                Action::Responded,
                Some(400),
                format!("answered 400: the request names no usable authority: {error}"),
            );
            return local(400, "the request names no usable authority\n");
        }
        let (mut sender, connection) = match hyper::client::conn::http2::handshake(
            CellExecutor(tasks.clone()),
            TokioIo::new(io),
        )
        .await
        {
            Ok(pair) => pair,
            Err(error) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
        };
        tasks.spawn(async move {
            let _ = connection.await;
        });
        let sent = sender.send_request(Request::from_parts(parts, body));
        within_read_timeout(&entry, &policy, &upstream, sent).await
    } else {
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(io)).await {
                Ok(pair) => pair,
                Err(error) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
            };
        tasks.spawn(async move {
            let _ = connection.await;
        });
        let sent = sender.send_request(Request::from_parts(parts, body));
        within_read_timeout(&entry, &policy, &upstream, sent).await
    };
    let response = match answered {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
        Err(timed_out) => return timed_out,
    };
    let status = response.status().as_u16();
    let (inward, why) = if speaks_h2 {
        ("HTTP/2", "")
    } else {
        ("HTTP/1.1", " (it offered no h2 by ALPN)")
    };
    let (mut parts, body) = response.into_parts();
    let plan = buffering::plan_response(&policy.buffering, &mut parts.headers, &body, &target);
    let response_note = match &plan {
        ResponsePlan::Stream(note) => note.as_str(),
        ResponsePlan::Hold(_) => "",
    };
    entry.act(
        Action::Forwarded,
        Some(status),
        format!(
            "HTTP/2 from the client, {inward} to {target}{why}{request_note}; it answered \
             {status}{response_note}"
        ),
    );
    strip_hop_by_hop(&mut parts.headers);
    match plan {
        ResponsePlan::Stream(_) => Response::from_parts(parts, body.boxed()),
        ResponsePlan::Hold(setting) => {
            buffering::hold_response(parts, body, setting, entry, target).await
        }
    }
}

/// HTTP/2 names the authority in the target, not in `Host`.
fn to_http2_target(
    parts: &mut http::request::Parts,
    upstream: &Upstream,
) -> Result<(), http::Error> {
    let authority = parts
        .headers
        .remove(header::HOST)
        .and_then(|host| host.to_str().ok().map(str::to_string))
        .unwrap_or_else(|| upstream.target());
    let scheme = if upstream.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_string();
    parts.uri = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path)
        .build()?;
    parts.version = Version::HTTP_2;
    Ok(())
}

/// Waits for the next node's response head under the hop's read timeout,
/// declared to the cell's clock; on expiry the vendor's answer, recorded.
async fn within_read_timeout<T>(
    entry: &ConnEntry,
    policy: &HttpPolicy,
    upstream: &Upstream,
    sent: impl Future<Output = T>,
) -> Result<T, Response<Body>> {
    let Some((wall, written)) = policy.read_timeout else {
        return Ok(sent.await);
    };
    let armed = entry.arm(tokio::time::Instant::now() + wall);
    let answered = tokio::time::timeout(wall, sent).await;
    drop(armed);
    answered.map_err(|_| {
        let status = policy.vendor.answer(OriginFailure::ReadTimeout);
        let message = format!(
            "{} sent no response head within {} (read_timeout)",
            upstream.target(),
            format_duration(written)
        );
        entry.act(
            Action::UpstreamFailed,
            Some(status),
            format!("answered {status}: {message}"),
        );
        local(status, &format!("{message}\n"))
    })
}

/// RFC 8441 §5 in reverse: the extended CONNECT becomes an HTTP/1.1
/// WebSocket handshake with a key of the hop's own; a `101` whose accept
/// matches that key is answered `200` on the stream, which is then relayed
/// to the upgraded connection as an HTTP/1.1 WebSocket is.
async fn translate(
    mut request: Request<Incoming>,
    entry: ConnEntry,
    upstream: Upstream,
    policy: HttpPolicy,
    tasks: Tasks,
) -> Response<Body> {
    const TRANSLATED: &str =
        "translated the extended CONNECT (:protocol websocket) into an HTTP/1.1 Upgrade";
    entry.set_protocol(if policy.inspected {
        Protocol::WebsocketTls
    } else {
        Protocol::Websocket
    });
    if let Some(refused) = http_proxy::refuse_blocked_websocket(&request, &entry, &policy) {
        return refused;
    }
    if policy.upgrade != UpgradePolicy::Forward || policy.http10 {
        entry.act(
            Action::Responded,
            Some(400),
            "answered 400: this hop passes no WebSocket on, so it cannot translate an \
             extended CONNECT",
        );
        return local(400, "WebSocket handshakes are not accepted here\n");
    }
    let client_upgrade = hyper::upgrade::on(&mut request);
    let key = generate_key();
    let (parts, _) = request.into_parts();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    // The HTTP/1.1 handshake's own fields are the hop's: RFC 8441 §5 has
    // the client send neither key nor `Upgrade`.
    for name in [header::SEC_WEBSOCKET_KEY, header::SEC_WEBSOCKET_VERSION] {
        headers.remove(name);
    }
    add_forwarded(&mut headers, policy.scheme);
    let authority = parts
        .uri
        .authority()
        .map_or_else(|| upstream.target(), |authority| authority.to_string());
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_string();
    let mut handshake = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11)
        .body(Empty::<Bytes>::new())
        .unwrap_or_default();
    *handshake.headers_mut() = headers;
    let fields = [
        (header::HOST, HeaderValue::from_str(&authority).ok()),
        (header::UPGRADE, Some(HeaderValue::from_static("websocket"))),
        (
            header::CONNECTION,
            Some(HeaderValue::from_static("Upgrade")),
        ),
        (header::SEC_WEBSOCKET_KEY, HeaderValue::from_str(&key).ok()),
        (
            header::SEC_WEBSOCKET_VERSION,
            Some(HeaderValue::from_static("13")),
        ),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            handshake.headers_mut().insert(name, value);
        }
    }

    let target = upstream.target();
    let io = match upstream.connect().await {
        Ok(io) => io,
        Err(error) => return http_proxy::unreachable_upstream(&entry, &error, policy.vendor),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io)).await {
            Ok(pair) => pair,
            Err(error) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
        };
    tasks.spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let sent = sender.send_request(handshake);
    let mut response = match within_read_timeout(&entry, &policy, &upstream, sent).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return bad_gateway(&entry, &upstream, &error, policy.vendor),
        Err(timed_out) => return timed_out,
    };
    let status = response.status().as_u16();
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        entry.act(
            Action::Forwarded,
            Some(status),
            format!("{TRANSLATED} to {target}; it answered {status}"),
        );
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        return Response::from_parts(parts, body.boxed());
    }
    let accepted = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|accept| accept.as_bytes() == derive_accept_key(key.as_bytes()).as_bytes());
    if !accepted {
        let status = policy.vendor.answer(OriginFailure::EmptyResponse);
        entry.act(
            Action::UpstreamFailed,
            Some(status),
            format!(
                "answered {status}: {target} answered the translated handshake 101 without \
                 the Sec-WebSocket-Accept of the hop's key"
            ),
        );
        return local(
            status,
            "the upstream accepted a WebSocket it was not asked for\n",
        );
    }
    entry.act(
        Action::Upgraded,
        Some(200),
        format!("{TRANSLATED} to {target}; it answered 101, the stream 200; relaying frames"),
    );
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    tasks.spawn(http_proxy::relay_upgraded(
        client_upgrade,
        upstream_upgrade,
        entry.clone(),
        policy,
    ));
    // The subprotocol and extensions the server chose are the client's to see.
    let mut answer = Response::new(empty());
    for name in [
        header::SEC_WEBSOCKET_PROTOCOL,
        header::SEC_WEBSOCKET_EXTENSIONS,
    ] {
        if let Some(value) = response.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}
