//! `kind = "legacy-forwarder"`: a plain HTTP reverse proxy of the hixie-76
//! era on port 80, configured to pass `Upgrade` on, that forwards a request
//! as HTTP framing describes it. Draft-76 clients send 8 bytes of key
//! material after the headers with no `Content-Length`, so what the
//! forwarder does with undeclared bytes decides the handshake:
//! `declared-only` drops them (nginx, Apache: the origin waits forever),
//! `hold-until-response` keeps them until the origin answers (HAProxy in
//! 2010: a deadlock), `forward` passes everything (a compliant forwarder).
//! What is declared is what framing says: `Content-Length` bytes, or a
//! chunked body up to its last chunk and trailers; bytes after that are
//! undeclared too, so a request smuggled behind a body never reaches the
//! origin by way of `declared-only`. A request nginx would not forward
//! (both length headers, an unknown coding, a head beyond its buffers, a
//! body over 1 MiB) is answered here and never reaches the next node.
//! An origin that never answers gets `504` after `read_timeout` (nginx's
//! `proxy_read_timeout`). After a `101` it relays both ways, with the hop's
//! masking rule on client frames. With `response_buffering` it holds a
//! response, framed as above, until it ends or in buffers of a size, as
//! nginx's `proxy_buffering` does (see `buffering.rs` for the record's
//! words). Port 443 is not its business and is routed on untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use traverse_net::http::{
    HeadEnd, chunked_body_len, read_http_head, read_http_head_within, response_status,
};
use traverse_net::{Action, ConnEntry, Metered, Protocol};
use traverse_scenario::address::{PLAIN_PORT, PORTS};
use traverse_scenario::{BUFFER_CAP, BodyPolicy, LegacyForwarder, ResponseBuffering, format_duration};

use crate::listen::listen;
use crate::relay;
use crate::{HopContext, MiddleboxError, MiddleboxHandle};

pub(crate) async fn start(
    options: &LegacyForwarder,
    context: HopContext,
) -> Result<MiddleboxHandle, MiddleboxError> {
    let shared = Arc::new((options.clone(), context.clone()));
    listen(&context, &PORTS, move |stream, port, entry| {
        let shared = shared.clone();
        async move {
            let (options, context) = &*shared;
            let client = Metered::new(stream, entry.clone());
            if port != PLAIN_PORT {
                relay::route_untouched(
                    client,
                    entry,
                    context,
                    port,
                    "a connection it does not serve",
                )
                .await;
                return;
            }
            forward(client, &entry, options, context).await;
        }
    })
    .await
}

/// nginx's `large_client_header_buffers 4 8k`, the limits this kind
/// models: a request line must fit one 8 KiB buffer (else `414`), each
/// header line one buffer and the whole head four (else `400 Request
/// Header Or Cookie Too Large`). HAProxy answers `400` for both.
pub(crate) const LINE_LIMIT: usize = 8 * 1024;
pub(crate) const HEAD_LIMIT: usize = 4 * LINE_LIMIT;

/// nginx's `client_max_body_size 1m`: a longer declared body is answered
/// `413` before anything is forwarded.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// How the request says its body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body {
    /// Neither header: no body, so whatever follows the head is undeclared.
    Absent,
    Length(usize),
    Chunked,
}

/// An answer the forwarder gives itself instead of forwarding.
pub(crate) struct Refusal {
    pub(crate) status: u16,
    reason: &'static str,
    pub(crate) detail: String,
}

impl Refusal {
    fn new(status: u16, reason: &'static str, why: impl std::fmt::Display) -> Refusal {
        Refusal {
            status,
            reason,
            detail: format!("answered {status} {reason}: {why}"),
        }
    }
}

/// One request (these forwarders did not keep connections alive), then
/// either its response or, after a 101, a relay in both directions.
async fn forward(
    mut client: Metered<TcpStream>,
    entry: &ConnEntry,
    options: &LegacyForwarder,
    context: &HopContext,
) {
    let (head, rest) =
        match tokio::time::timeout(context.step_timeout, read_request(&mut client)).await {
            Ok(Ok(Ok(request))) => request,
            Ok(Ok(Err(refusal))) => return refuse(client, entry, refusal, context).await,
            _ => {
                entry.act_on_timer(
                    context.step_timeout,
                    Action::Responded,
                    Some(408),
                    "closed: no complete request head arrived in time",
                );
                return;
            }
        };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
        entry.set_protocol(traverse_net::sniff(&entry.first_bytes()));
        entry.act(
            Action::Responded,
            Some(400),
            format!(
                "answered 400 Bad Request: the bytes it received are not HTTP (first bytes {})",
                traverse_net::hex(&entry.first_bytes())
            ),
        );
        let _ = client
            .write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    }
    let header = |name: &str| traverse_net::http::header(request.headers, name);
    let upgrade = header("upgrade").is_some();
    let head_request = request.method == Some("HEAD");
    // Masking and frame rules are RFC 6455's; a hixie-76 stream has no
    // such frames.
    let rfc6455 = header("sec-websocket-key").is_some();
    let (masking, rules) = if rfc6455 {
        (options.masking, options.websocket_rules)
    } else {
        (traverse_scenario::Masking::Ignore, Default::default())
    };
    let removed: Vec<(&str, String)> = rules
        .offers
        .stripped()
        .iter()
        .filter_map(|name| Some((*name, header(name)?.to_string())))
        .collect();
    entry.set_protocol(if upgrade {
        Protocol::Websocket
    } else {
        Protocol::Http
    });
    let body = match body_framing(request.headers) {
        Ok(body) => body,
        Err(refusal) => return refuse(client, entry, refusal, context).await,
    };
    let read = tokio::time::timeout(context.step_timeout, read_body(&mut client, rest, body));
    let (declared, mut undeclared) = match read.await {
        Ok(Ok(split)) => split,
        Ok(Err(refusal)) => return refuse(client, entry, refusal, context).await,
        Err(_) => {
            // nginx's client_body_timeout.
            let refusal = Refusal::new(
                408,
                "Request Time-out",
                "the body its framing declares did not arrive in time",
            );
            return refuse(client, entry, refusal, context).await;
        }
    };
    let mut rest = declared;
    if options.body == BodyPolicy::Forward {
        rest.append(&mut undeclared);
    }

    let upstream = context.upstream(PLAIN_PORT, None);
    entry.set_target(upstream.target());
    let mut server = match upstream.connect().await {
        Ok(server) => server,
        Err(error) => {
            error.record(entry, Some(502), format!("answered 502: {error}"));
            let _ = client
                .write_all(b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
    };
    let names: Vec<Vec<u8>> = removed
        .iter()
        .map(|(name, _)| format!("{name}:").into_bytes())
        .collect();
    let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let mut request_out = without_fields(&head, &names);
    crate::http_proxy::note_stripped(entry, rules.offers, &removed);
    request_out.extend_from_slice(&rest);
    if server.write_all(&request_out).await.is_err() {
        return;
    }
    let undeclared_note = |verb: &str| {
        let after = match body {
            Body::Absent => {
                "the request headers with no Content-Length to declare them".to_string()
            }
            Body::Length(length) => {
                format!("the {length}-byte body its Content-Length declares")
            }
            Body::Chunked => "the last chunk of its chunked body".to_string(),
        };
        format!("{verb} {} bytes that followed {after}", undeclared.len())
    };
    match options.body {
        BodyPolicy::DeclaredOnly if !undeclared.is_empty() => entry.act(
            Action::DroppedBytes,
            None,
            format!(
                "{}: it forwards only what HTTP framing declares",
                undeclared_note("dropped")
            ),
        ),
        BodyPolicy::HoldUntilResponse if !undeclared.is_empty() => entry.act(
            Action::Holding,
            None,
            format!(
                "{}, until {} answers",
                undeclared_note("holding"),
                upstream.target()
            ),
        ),
        _ => {}
    }

    let read_timeout = context.time_scale.apply(options.read_timeout);
    // The timer that answers 504 is declared to the cell's clock: while it
    // runs, a still topology is this hop waiting, not a deadlock. It is
    // withdrawn as soon as it fires or the answer comes, before the hop acts.
    let armed = entry.arm(tokio::time::Instant::now() + read_timeout);
    let waited = tokio::time::timeout(read_timeout, read_head(&mut server)).await;
    drop(armed);
    let (response_head, response_rest) =
        match waited {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => return,
            Err(_) => {
                // What nginx does when proxy_read_timeout runs out.
                entry.act_on_timer(
                    read_timeout,
                    Action::Responded,
                    Some(504),
                    format!(
                        "answered 504: {} sent no answer within {} (read_timeout)",
                        upstream.target(),
                        format_duration(options.read_timeout)
                    ),
                );
                let _ = client
                    .write_all(b"HTTP/1.0 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            }
        };
    let released = options.body == BodyPolicy::HoldUntilResponse && !undeclared.is_empty();
    if released {
        let _ = server.write_all(&undeclared).await;
    }
    let status = response_status(&response_head).map(|status| status.code);
    let response_head = if status == Some(101) {
        response_head
    } else {
        announcing_close(&response_head)
    };
    let (response_head, note) = match response_path(options, response_head, head_request, &upstream.target()) {
        ResponsePath::AsItComes(head, note) => (head, note),
        ResponsePath::Held(held) if status != Some(101) => {
            let status = status.unwrap_or(0);
            let target = upstream.target();
            return relay_held(&mut client, &mut server, entry, held, response_rest, &target, status)
                .await;
        }
        ResponsePath::Held(held) => (held.head, String::new()),
    };
    if client.write_all(&response_head).await.is_err()
        || client.write_all(&response_rest).await.is_err()
    {
        return;
    }
    if status == Some(101) {
        entry.act(
            Action::Upgraded,
            Some(101),
            format!(
                "passed the upgrade to {}; relaying frames",
                upstream.target()
            ),
        );
        let idle = relay::idle(options.idle_timeout, options.idle_counts, context);
        relay::relay_websocket(client, server, entry, idle, masking, rules, false).await;
        return;
    }
    entry.act(
        Action::Forwarded,
        status,
        format!(
            "forwarded to {}; it answered {}{}",
            upstream.target(),
            status.map_or("something else".to_string(), |code| code.to_string()),
            if released {
                format!(", then sent the {} bytes it held", undeclared.len())
            } else {
                String::new()
            }
        ) + &note,
    );
    // The response ends where its framing says, not when the origin closes:
    // an origin keeping the connection alive would otherwise hold both
    // sockets and this task until its own keep-alive timeout, long after
    // the client left.
    match response_body_left(&response_head, head_request, response_rest.len()) {
        Some(left) => {
            let _ = tokio::io::copy(&mut (&mut server).take(left), &mut client).await;
        }
        None => {
            let _ = tokio::io::copy(&mut server, &mut client).await;
        }
    }
    let _ = client.shutdown().await;
}

/// How a response's body ends (RFC 9112 §6.3), for a hop that holds it.
#[derive(Debug, Clone, Copy)]
enum Ends {
    /// After this many bytes.
    Length(u64),
    /// At its last chunk and trailers.
    LastChunk,
    /// When the origin closes.
    Close,
}

/// A response the forwarder holds: its head, the setting, where it ends.
struct HeldResponse {
    head: Vec<u8>,
    setting: ResponseBuffering,
    ends: Ends,
}

enum ResponsePath {
    /// Relayed as it comes, with a note for the record.
    AsItComes(Vec<u8>, String),
    Held(HeldResponse),
}

/// Whether the response is held: not with buffering off or an empty body,
/// nor when the origin's `X-Accel-Buffering: no` is honoured (the header
/// then goes no further, as in nginx).
fn response_path(
    options: &LegacyForwarder,
    head: Vec<u8>,
    head_request: bool,
    target: &str,
) -> ResponsePath {
    let setting = options.buffering.response;
    let ends = match response_body_left(&head, head_request, 0) {
        _ if setting == ResponseBuffering::Off => return ResponsePath::AsItComes(head, String::new()),
        Some(0) => return ResponsePath::AsItComes(head, String::new()),
        Some(length) => Ends::Length(length),
        None if header_of(&head, "transfer-encoding").is_some() => Ends::LastChunk,
        None => Ends::Close,
    };
    let opted_out = header_of(&head, "x-accel-buffering")
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("no"));
    if options.buffering.x_accel && opted_out {
        return ResponsePath::AsItComes(
            without_fields(&head, &[b"x-accel-buffering:"]),
            format!(" (not buffered: {target} sent X-Accel-Buffering: no, which this hop honours)"),
        );
    }
    ResponsePath::Held(HeldResponse {
        head,
        setting,
        ends,
    })
}

/// The response head with `Connection: close` in place of what the
/// origin said about its connection. This forwarder serves one request
/// per connection, and a server that will close says so (RFC 9112 §9.6),
/// as varnish and nginx do: without it, a client that keeps connections
/// alive (aiohttp, a browser) sends its next request down this one and
/// loses it when the forwarder closes.
fn announcing_close(head: &[u8]) -> Vec<u8> {
    let mut out = without_fields(head, &[b"connection:", b"keep-alive:"]);
    // The new field goes before the blank line that ends the head, which
    // starts after the line feed before the last.
    let blank = out[..out.len().saturating_sub(1)]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |feed| feed + 1);
    out.splice(blank..blank, *b"Connection: close\r\n");
    out
}

/// A head without the header lines that start, in any case, with one of
/// `names` (each written lower-case, with its colon).
fn without_fields(head: &[u8], names: &[&[u8]]) -> Vec<u8> {
    head.split_inclusive(|&byte| byte == b'\n')
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            !names.iter().any(|name| lower.starts_with(name))
        })
        .flatten()
        .copied()
        .collect()
}

fn header_of(head: &[u8], name: &str) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head).ok()?;
    traverse_net::http::header(response.headers, name).map(str::to_string)
}

/// Relays a response it holds as its setting says: the whole of it once it
/// ends (or 1 MiB of it, then the rest as it comes), or in buffers of a
/// size, each written when full, the head with the first. While bytes are
/// held the record is `buffered`.
async fn relay_held(
    client: &mut Metered<TcpStream>,
    server: &mut traverse_net::BoxedIo,
    entry: &ConnEntry,
    held: HeldResponse,
    rest: Vec<u8>,
    target: &str,
    status: u16,
) {
    use crate::buffering::{holding_detail, passing_detail, released_detail};
    let HeldResponse {
        head,
        setting,
        ends,
    } = held;
    let release_at = match setting {
        ResponseBuffering::Buffers(size) => size,
        _ => BUFFER_CAP,
    };
    let mut head = Some(head);
    let mut body: Vec<u8> = Vec::new();
    // A chunked body's end is found in what came so far, kept up to twice
    // the cap; past that it is relayed until the origin closes.
    let mut framing: Vec<u8> = Vec::new();
    let mut read: u64 = 0;
    let mut passed: u64 = 0;
    let mut capped = false;
    let mut incoming = rest;
    loop {
        read += incoming.len() as u64;
        if matches!(ends, Ends::LastChunk) && framing.len() <= 2 * BUFFER_CAP {
            framing.extend_from_slice(&incoming);
        }
        body.append(&mut incoming);
        let ended = match ends {
            Ends::Length(length) => {
                // What follows the declared body is not this response's.
                let beyond = read.saturating_sub(length);
                body.truncate(body.len().saturating_sub(usize::try_from(beyond).unwrap_or(0)));
                read >= length
            }
            Ends::LastChunk => matches!(chunked_body_len(&framing), Ok(Some(_))),
            Ends::Close => false,
        };
        if ended {
            return released(client, entry, head, body, status, &released_detail(
                status,
                target,
                setting,
                usize::try_from(read).unwrap_or(usize::MAX),
                capped,
            ))
            .await;
        }
        let release = if capped { 1 } else { release_at };
        if body.len() >= release {
            capped = capped || setting == ResponseBuffering::Whole;
            let whole = body.len() - body.len() % release;
            let out: Vec<u8> = head.take().unwrap_or_default().into_iter().chain(body.drain(..whole)).collect();
            if client.write_all(&out).await.is_err() {
                return;
            }
            passed += whole as u64;
            let detail = passing_detail(status, target, setting, passed, capped);
            entry.act(Action::Forwarded, Some(status), detail);
        }
        // What came after the last whole buffer is held until the next.
        if !capped && (head.is_some() || !body.is_empty()) {
            let detail = holding_detail(status, target, setting, body.len(), passed);
            entry.act(Action::Buffered, None, detail);
        }
        let mut chunk = vec![0_u8; 16 * 1024];
        match server.read(&mut chunk).await {
            Ok(0) if matches!(ends, Ends::Close) => {
                let detail = released_detail(
                    status,
                    target,
                    setting,
                    usize::try_from(read).unwrap_or(usize::MAX),
                    capped,
                );
                return released(client, entry, head, body, status, &detail).await;
            }
            Ok(0) | Err(_) => {
                // Broken off before its end: a client that has had nothing
                // is answered 502; one already reading sees it end short.
                if head.is_some() {
                    entry.act(
                        Action::Buffered,
                        Some(502),
                        format!(
                            "holding the {status} response from {target} (response_buffering \
                             = \"{}\"); it never ended, so it answered 502",
                            setting.written()
                        ),
                    );
                    let _ = client
                        .write_all(b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        .await;
                }
                let _ = client.shutdown().await;
                return;
            }
            Ok(read) => {
                chunk.truncate(read);
                incoming = chunk;
            }
        }
    }
}

/// Sends what is left of a held response, and says so in the record.
async fn released(
    client: &mut Metered<TcpStream>,
    entry: &ConnEntry,
    head: Option<Vec<u8>>,
    body: Vec<u8>,
    status: u16,
    detail: &str,
) {
    let out: Vec<u8> = head.unwrap_or_default().into_iter().chain(body).collect();
    if client.write_all(&out).await.is_ok() {
        entry.act(Action::Forwarded, Some(status), detail);
        let _ = client.shutdown().await;
    }
}

/// How many bytes of the response's body are still to come after `arrived`
/// came with its head (RFC 9112 §6.3), or `None` when only the origin's
/// close ends it: no length, or a chunked body, which is relayed as it
/// comes.
fn response_body_left(head: &[u8], head_request: bool, arrived: usize) -> Option<u64> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    if !matches!(response.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let status = response.code.unwrap_or(0);
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Some(0);
    }
    if traverse_net::http::header(response.headers, "transfer-encoding").is_some() {
        return None;
    }
    let length = traverse_net::http::header(response.headers, "content-length")?;
    let length = length.trim().parse::<u64>().ok()?;
    Some(length.saturating_sub(arrived as u64))
}

/// A request head within nginx's limits and the bytes that arrived with
/// it, or the answer nginx gives a head beyond them.
pub(crate) async fn read_request(
    io: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<Result<(Vec<u8>, Vec<u8>), Refusal>> {
    let (head, end) = read_http_head_within(io, HEAD_LIMIT).await?;
    let mut lines = head.split(|&byte| byte == b'\n');
    if lines.next().is_some_and(|line| line.len() > LINE_LIMIT) {
        return Ok(Err(Refusal::new(
            414,
            "Request-URI Too Large",
            "its request line is longer than 8 KiB (nginx's large_client_header_buffers 4 8k)",
        )));
    }
    if lines.any(|line| line.len() > LINE_LIMIT) {
        return Ok(Err(Refusal::new(
            400,
            "Bad Request",
            "Request Header Or Cookie Too Large: a header line is longer than 8 KiB \
             (nginx's large_client_header_buffers 4 8k)",
        )));
    }
    match end {
        HeadEnd::Complete | HeadEnd::NotHttp => Ok(Ok((head, arrived_with(io).await?))),
        HeadEnd::Closed => Err(std::io::ErrorKind::UnexpectedEof.into()),
        HeadEnd::TooLong => Ok(Err(Refusal::new(
            400,
            "Bad Request",
            "Request Header Or Cookie Too Large: its head is longer than 32 KiB \
             (nginx's large_client_header_buffers 4 8k)",
        ))),
    }
}

/// How the body is framed, from its headers, or why the request is not
/// one to forward.
pub(crate) fn body_framing(headers: &[httparse::Header]) -> Result<Body, Refusal> {
    let values = |name: &str| {
        headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| String::from_utf8_lossy(header.value).trim().to_string())
            .collect::<Vec<_>>()
    };
    let lengths = values("content-length");
    let codings = values("transfer-encoding");
    if !lengths.is_empty() && !codings.is_empty() {
        // RFC 9112 §6.1: such a message "ought to be handled as an error",
        // and a server MAY reject it; forwarding it on is how one request
        // becomes two behind the hop (request smuggling).
        return Err(Refusal::new(
            400,
            "Bad Request",
            "the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1)",
        ));
    }
    if !codings.is_empty() {
        let coding = codings.join(", ");
        return if coding.eq_ignore_ascii_case("chunked") {
            Ok(Body::Chunked)
        } else {
            // What nginx answers a coding it does not know.
            Err(Refusal::new(
                501,
                "Not Implemented",
                format!("it frames only Transfer-Encoding chunked, not {coding:?}"),
            ))
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(Body::Absent);
    };
    let length = first
        .parse::<usize>()
        .ok()
        .filter(|_| lengths.iter().all(|other| other == first));
    match length {
        None => Err(Refusal::new(
            400,
            "Bad Request",
            format!("its Content-Length is not one number: {:?}", lengths.join(", ")),
        )),
        Some(length) if length > BODY_LIMIT => Err(too_large()),
        Some(length) => Ok(Body::Length(length)),
    }
}

/// nginx's `client_max_body_size` answer.
fn too_large() -> Refusal {
    Refusal::new(
        413,
        "Request Entity Too Large",
        "its body is larger than 1 MiB (nginx's client_max_body_size 1m)",
    )
}

/// Reads on until the body `body` declares is all there, and splits what
/// came into that body and the bytes after it, which no framing declares.
pub(crate) async fn read_body(
    io: &mut (impl AsyncRead + Unpin),
    mut bytes: Vec<u8>,
    body: Body,
) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    loop {
        let end = match body {
            Body::Absent => Some(0),
            Body::Length(length) => (bytes.len() >= length).then_some(length),
            Body::Chunked => match chunked_body_len(&bytes) {
                Ok(Some(len)) if len.data > BODY_LIMIT => return Err(too_large()),
                Ok(len) => len.map(|len| len.total),
                Err(bad) => return Err(Refusal::new(400, "Bad Request", bad)),
            },
        };
        if let Some(end) = end {
            let undeclared = bytes.split_off(end);
            return Ok((bytes, undeclared));
        }
        // Chunk framing costs a few bytes a chunk; twice the limit is more
        // than any body within it needs.
        if bytes.len() > 2 * BODY_LIMIT {
            return Err(too_large());
        }
        let mut chunk = [0_u8; 4096];
        let read = io.read(&mut chunk).await.unwrap_or(0);
        if read == 0 {
            let what = match body {
                Body::Length(length) => {
                    format!("the {length}-byte body its Content-Length declares")
                }
                _ => "the last chunk of its chunked body".to_string(),
            };
            return Err(Refusal::new(
                400,
                "Bad Request",
                format!("the client closed before {what}"),
            ));
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
}

/// Answers a request the forwarder will not forward, then reads what the
/// client still sends until it closes (nginx's lingering close): closing
/// with unread bytes would reset the connection, and the client could
/// lose the answer before reading it.
async fn refuse(
    mut client: Metered<TcpStream>,
    entry: &ConnEntry,
    refusal: Refusal,
    context: &HopContext,
) {
    entry.act(Action::Responded, Some(refusal.status), refusal.detail);
    let answer = format!(
        "HTTP/1.0 {} {}\r\nContent-Length: 0\r\n\r\n",
        refusal.status, refusal.reason
    );
    if client.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let _ = client.shutdown().await;
    let mut sink = tokio::io::sink();
    let drain = tokio::io::copy(&mut client, &mut sink);
    let _ = tokio::time::timeout(context.step_timeout, drain).await;
}

/// A head, up to its blank line, and the bytes that arrived with it: what
/// a forwarder reading in chunks holds beyond the blank line when it has
/// parsed the head. Bytes that cannot begin an HTTP message end the head at
/// once, as a real parser answers them without waiting for more. Any other
/// end (the peer closed, the head grew too long) is an error.
async fn read_head(io: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let (head, end) = read_http_head(io).await?;
    match end {
        HeadEnd::Complete | HeadEnd::NotHttp => Ok((head, arrived_with(io).await?)),
        HeadEnd::Closed => Err(std::io::ErrorKind::UnexpectedEof.into()),
        HeadEnd::TooLong => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "head too large",
        )),
    }
}

/// What is already readable, without waiting for more: the head is read a
/// byte at a time, so what came in the same segments is still unread.
async fn arrived_with(io: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut chunk = [0_u8; 4096];
    let mut buffer = ReadBuf::new(&mut chunk);
    std::future::poll_fn(|cx| match Pin::new(&mut *io).poll_read(cx, &mut buffer) {
        Poll::Pending => Poll::Ready(Ok(())),
        ready => ready,
    })
    .await?;
    Ok(buffer.filled().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_head_announces_the_close_in_place_of_the_origin_s_keep_alive() {
        let heads: [(&[u8], &[u8]); 3] = [
            (
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
            ),
            (
                b"HTTP/1.1 200 OK\nCONNECTION: Keep-Alive\n\n",
                b"HTTP/1.1 200 OK\nConnection: close\r\n\n",
            ),
        ];
        for (head, announced) in heads {
            assert_eq!(
                String::from_utf8_lossy(&announcing_close(head)),
                String::from_utf8_lossy(announced)
            );
        }
    }
}
