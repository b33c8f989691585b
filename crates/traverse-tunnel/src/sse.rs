//! The `sse` tunnel: server-sent events down and POSTs up, as SignalR's
//! ServerSentEvents transport, its fallback when WebSockets fail. The
//! client negotiates a connection (`POST /tunnel/negotiate`, answered with
//! SignalR's JSON and a connection id), opens `GET /tunnel?id=...` with
//! `Accept: text/event-stream`, and keeps that response open: the echo
//! app's bytes come down in it as events, base64 in their `data:` lines,
//! because an event stream is UTF-8 text (SignalR base64-encodes its binary
//! protocol over SSE the same way). Its own bytes go up in POSTs to the
//! same URL as they are (an HTTP request body carries any bytes), and a
//! `DELETE` ends its half, as SignalR's client stops. The origin writes a
//! comment line (`:`) every 15 s without an event (SignalR's keep-alive
//! interval, scaled), so idle timers on the path see bytes come down; once
//! the echo app has closed it sends a `close` event and ends the response.
//! The origin sets no `X-Accel-Buffering: no`: a hop that buffers
//! responses holds the stream back, and the tunnel shows it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use serde::{Deserialize, Serialize};
use traverse_net::{Action, BoxedIo, ConnEntry, Protocol as Recognised};
use traverse_scenario::address::ORIGIN_HOST;

use crate::bridge::{self, FrameSource, Inbound};
use crate::http_client::{
    self, Failed, Lane, MOST_PER_POST, Outgoing, Up, Uplink, Uploader, exchange, from_hyper,
};
use crate::session::{self, Down, HeldDown, InFlight, OpenError, Session, Sessions, UpError};
use crate::{
    ClientOptions, Connection, Dialer, Protocol, Security, ServeContext, ThroughProxy, TunnelError,
};

/// SignalR's ServerSentEvents transport.
#[derive(Debug)]
pub(crate) struct ServerSentEvents;

/// The hub's path.
const PATH: &str = "/tunnel";
const NEGOTIATE_PATH: &str = "/tunnel/negotiate";

/// SignalR's `KeepAliveInterval`: a keepalive after 15 s without a message.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// SignalR's `ClientTimeoutInterval`: a connection with no request for
/// 30 s is gone.
const LIFETIME: Duration = Duration::from_secs(30);

/// The longest line the client reads from the stream: one event's
/// base64, with room to spare.
const LINE_LIMIT: usize = 1024 * 1024;
/// The longest POST body the origin takes.
const BODY_LIMIT: usize = 1024 * 1024;

const NEGOTIATE: &str = "the SignalR negotiate (POST)";
const STREAM: &str = "the event stream (GET)";

impl Protocol for ServerSentEvents {
    fn url(&self, security: Security) -> String {
        let scheme = match security {
            Security::Plain => "http",
            Security::TlsVerified | Security::TlsPinned => "https",
        };
        format!("{scheme}://{ORIGIN_HOST}{PATH}")
    }

    /// Plain HTTP requests, sent to an explicit proxy as browsers send
    /// their XHR and fetch requests to one.
    fn through_proxy(&self) -> ThroughProxy {
        ThroughProxy::Forward
    }

    /// Client half: negotiate, open the stream, then POST up.
    async fn connect(
        &self,
        io: BoxedIo,
        dialer: Dialer,
        _url: &str,
        _options: &ClientOptions,
    ) -> Result<Connection, TunnelError> {
        let mut stream_lane = Lane::new(dialer.clone(), Some(io));
        let negotiate = Outgoing::with_body(
            Method::POST,
            format!("{NEGOTIATE_PATH}?negotiateVersion=1"),
            "text/plain;charset=UTF-8",
            Bytes::new(),
        );
        let answer = exchange(&mut stream_lane, &negotiate, NEGOTIATE).await?;
        let id = negotiated(&answer)?;
        let open = Outgoing::get(format!("{PATH}?id={id}"))
            .header(header::ACCEPT, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache");
        let after = stream_lane.step_timeout();
        let response = tokio::time::timeout(after, stream_lane.send(&open, STREAM))
            .await
            .map_err(|_| TunnelError::Timeout {
                during: format!("{STREAM}: no response head"),
                after,
            })??;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none");
        if !content_type.starts_with("text/event-stream") {
            return Err(TunnelError::Protocol(format!(
                "the answer to {STREAM} is {content_type}, not text/event-stream"
            )));
        }
        let (uploader, failed) = Uploader::start(Lane::new(dialer, None), Posts { id });
        let events = Events {
            _lane: stream_lane,
            body: response.into_body(),
            buffer: BytesMut::new(),
            event: Event::default(),
            failed,
        };
        // The origin's comments keep the path's timers; the client sends none.
        Ok(bridge::client_connection(uploader, events, None))
    }

    /// Origin half: an HTTP/1.1 server for the negotiate, the stream, the
    /// POSTs and the DELETE.
    async fn serve(&self, io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        session::serve_http1(io, context, |request, context| async move {
            answer(request, &context).await
        })
        .await
    }
}

/// SignalR's negotiate answer, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Negotiation {
    negotiate_version: u8,
    connection_id: String,
    connection_token: String,
    available_transports: Vec<Transport>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transport {
    transport: String,
    transfer_formats: Vec<String>,
}

/// The connection token, if the answer offers server-sent events.
fn negotiated(answer: &[u8]) -> Result<String, TunnelError> {
    let negotiation: Negotiation = serde_json::from_slice(answer).map_err(|error| {
        TunnelError::Protocol(format!(
            "the answer to {NEGOTIATE} is not SignalR's negotiate JSON ({error}): {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        ))
    })?;
    if !negotiation
        .available_transports
        .iter()
        .any(|offered| offered.transport == "ServerSentEvents")
    {
        return Err(TunnelError::Protocol(
            "the origin's negotiate answer offers no ServerSentEvents transport".to_string(),
        ));
    }
    Ok(negotiation.connection_token)
}

/// The client's POSTs of raw bytes, and the DELETE that ends them.
struct Posts {
    id: String,
}

impl Uplink for Posts {
    const CARRY: &'static str = "an SSE POST of the client's bytes";
    const END: &'static str = "the SSE DELETE that ends the client's stream";

    fn carry(&self, batch: &[Up]) -> Outgoing {
        let mut body = BytesMut::new();
        for up in batch {
            if let Up::Data(data) = up {
                body.extend_from_slice(data);
            }
        }
        Outgoing::with_body(
            Method::POST,
            format!("{PATH}?id={}", self.id),
            "application/octet-stream",
            body.freeze(),
        )
    }

    fn end(&self) -> Outgoing {
        Outgoing {
            method: Method::DELETE,
            ..Outgoing::get(format!("{PATH}?id={}", self.id))
        }
    }
}

/// The event being read: its `event:` name and its `data:` lines.
#[derive(Debug, Default)]
struct Event {
    name: String,
    data: String,
}

/// What a line of the stream comes to.
#[derive(Debug, PartialEq)]
enum Line {
    /// A blank line: the event so far is complete.
    Dispatch,
    /// A comment or a field kept in the event: nothing yet.
    Kept,
}

impl Event {
    /// Reads one line (without its end), as the HTML standard's event
    /// stream parser does: a comment, a field, or the blank line that
    /// dispatches.
    fn read(&mut self, line: &str) -> Line {
        if line.is_empty() {
            return Line::Dispatch;
        }
        if line.starts_with(':') {
            return Line::Kept;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            "event" => self.name = value.to_string(),
            _ => {}
        }
        Line::Kept
    }
}

/// The client's receiving half: the event stream's events.
struct Events {
    /// Keeps the stream's connection open.
    _lane: Lane,
    body: Incoming,
    buffer: BytesMut,
    event: Event,
    failed: Failed,
}

impl Events {
    /// The next complete event's bytes, or the close; `None` until a blank
    /// line ends one.
    fn parse(&mut self) -> Result<Option<Option<Bytes>>, TunnelError> {
        while let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
            let line = self.buffer.split_to(end + 1);
            let line = String::from_utf8_lossy(&line[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if self.event.read(line) == Line::Kept {
                continue;
            }
            let event = std::mem::take(&mut self.event);
            if event.name == "close" {
                return Ok(Some(None));
            }
            if event.data.is_empty() {
                continue;
            }
            let data = STANDARD
                .decode(event.data.as_bytes())
                .map_err(|_| TunnelError::Protocol("an event's data is not base64".to_string()))?;
            return Ok(Some(Some(Bytes::from(data))));
        }
        if self.buffer.len() > LINE_LIMIT {
            return Err(TunnelError::Protocol(format!(
                "a line of the event stream is longer than {LINE_LIMIT} bytes"
            )));
        }
        Ok(None)
    }
}

impl FrameSource for Events {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            // Each turn reads one frame of the body, which the bridge's
            // chunks bound; the stream's end ends the turns.
            loop {
                match self.parse()? {
                    Some(Some(data)) => return Ok(Some(Inbound::Data(data))),
                    Some(None) => return Ok(None),
                    None => {}
                }
                let mut failed = self.failed.clone();
                let frame = tokio::select! {
                    frame = self.body.frame() => frame,
                    error = http_client::failed(&mut failed) => return Err(error),
                };
                match frame {
                    None => {
                        return Err(TunnelError::Closed {
                            during: "the event stream, before its close event".to_string(),
                        });
                    }
                    Some(Err(error)) => return Err(from_hyper(&error, STREAM)),
                    Some(Ok(frame)) => {
                        if let Ok(mut data) = frame.into_data() {
                            while data.has_remaining() {
                                let chunk = data.chunk();
                                self.buffer.extend_from_slice(chunk);
                                let read = chunk.len();
                                data.advance(read);
                            }
                        }
                    }
                }
            }
        })
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// An answer of the origin's own that is not the tunnel's: recorded, as
/// blame on the origin reads it.
fn refuse(context: &ServeContext, status: StatusCode, why: String) -> Response<Body> {
    context.entry.act(
        Action::Responded,
        Some(status.as_u16()),
        format!("answered {}: {why}", status.as_u16()),
    );
    respond(status, format!("{why}\n"))
}

async fn answer(request: Request<Incoming>, context: &ServeContext) -> Response<Body> {
    context.entry.set_protocol(Recognised::Http);
    let uri = request.uri().clone();
    let method = request.method().clone();
    if uri.path() == NEGOTIATE_PATH && method == Method::POST {
        return negotiate(context).await;
    }
    if uri.path() != PATH {
        return refuse(
            context,
            StatusCode::NOT_FOUND,
            format!("{} {} is not the hub's {PATH}", method, uri.path()),
        );
    }
    let Some(id) = session::query(&uri, "id") else {
        return refuse(
            context,
            StatusCode::BAD_REQUEST,
            "the request names no connection (`id`)".to_string(),
        );
    };
    let Some(session) = context.sessions.get(id) else {
        // SignalR's answer to a connection it does not have.
        return refuse(
            context,
            StatusCode::NOT_FOUND,
            format!(
                "No Connection with that ID: the request names {id}, which the origin does not have"
            ),
        );
    };
    match method {
        Method::GET => stream(&request, context, session),
        Method::POST => post(request, context, &session).await,
        Method::DELETE => {
            let _in_flight = session.request();
            session.end_up().await;
            context.entry.act(
                Action::Forwarded,
                Some(202),
                format!("connection {id} ended its stream (DELETE)"),
            );
            respond(StatusCode::ACCEPTED, Bytes::new())
        }
        other => refuse(
            context,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{other} is not a method of the hub"),
        ),
    }
}

async fn negotiate(context: &ServeContext) -> Response<Body> {
    let lifetime = session::lifetime(context, LIFETIME);
    let session = match context.sessions.open(context.target, lifetime).await {
        Ok(session) => session,
        Err(OpenError::Full) => {
            return refuse(
                context,
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{} connections are open already", session::MAX_SESSIONS),
            );
        }
        Err(OpenError::Echo(error)) => {
            context
                .entry
                .act(Action::UpstreamFailed, Some(502), error.to_string());
            return respond(StatusCode::BAD_GATEWAY, format!("{error}\n"));
        }
    };
    let negotiation = Negotiation {
        negotiate_version: 1,
        connection_id: session.id.clone(),
        connection_token: session.id.clone(),
        available_transports: vec![Transport {
            transport: "ServerSentEvents".to_string(),
            transfer_formats: vec!["Text".to_string()],
        }],
    };
    context.entry.act(
        Action::Forwarded,
        Some(200),
        format!(
            "negotiated connection {}; relaying it to the echo app",
            session.id
        ),
    );
    let mut response = respond(
        StatusCode::OK,
        serde_json::to_string(&negotiation).unwrap_or_default(),
    );
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The event stream: open at once, then the echo app's bytes as events,
/// a comment after each keep-alive interval without one, and the close.
fn stream(
    request: &Request<Incoming>,
    context: &ServeContext,
    session: Arc<Session>,
) -> Response<Body> {
    let accepts = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .any(|value| {
            value
                .to_str()
                .is_ok_and(|value| value.contains("text/event-stream"))
        });
    if !accepts {
        return refuse(
            context,
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "the GET of connection {} does not accept text/event-stream",
                session.id
            ),
        );
    }
    let Some(down) = session.hold_down() else {
        return refuse(
            context,
            StatusCode::CONFLICT,
            format!("connection {} has an event stream open already", session.id),
        );
    };
    context.entry.act(
        Action::Forwarded,
        Some(200),
        format!("opened the event stream of connection {}", session.id),
    );
    let live = Live {
        _in_flight: session.request(),
        down,
        id: session.id.clone(),
        entry: context.entry.clone(),
        sessions: context.sessions.clone(),
        keepalive: context.time_scale.apply(KEEPALIVE),
        phase: Phase::Opening,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        let text = live.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(text))), live))
    });
    let mut response = Response::new(StreamBody::new(events).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// An open event stream at the origin.
struct Live {
    /// The session is not idle while its stream is open.
    _in_flight: InFlight,
    down: HeldDown,
    id: String,
    entry: ConnEntry,
    sessions: Sessions,
    keepalive: Duration,
    phase: Phase,
}

enum Phase {
    Opening,
    Open,
    Closed,
}

impl Live {
    /// The stream's next text, or `None` once it has closed.
    async fn next(&mut self) -> Option<String> {
        match self.phase {
            Phase::Opening => {
                // A comment at once, as ASP.NET Core writes: the client's
                // stream is open before the first event.
                self.phase = Phase::Open;
                return Some(":\n".to_string());
            }
            Phase::Closed => return None,
            Phase::Open => {}
        }
        // The keepalive is the origin's own timer: while it runs, a still
        // topology is a stream waiting for bytes, not a deadlock.
        let armed = self.entry.arm(tokio::time::Instant::now() + self.keepalive);
        let down = session::take(&mut self.down, self.keepalive, MOST_PER_POST).await;
        drop(armed);
        Some(match down {
            Down::Data(data) => format!("data: {}\n\n", STANDARD.encode(&data)),
            Down::Quiet | Down::Busy => ":\n".to_string(),
            Down::Ended => {
                self.phase = Phase::Closed;
                self.sessions.remove(&self.id);
                "event: close\ndata:\n\n".to_string()
            }
        })
    }
}

async fn post(
    request: Request<Incoming>,
    context: &ServeContext,
    session: &Arc<Session>,
) -> Response<Body> {
    let _in_flight = session.request();
    let body = match Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return refuse(
                context,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a POST body is over {BODY_LIMIT} bytes, or was cut"),
            );
        }
    };
    match session.send_up(&body).await {
        Ok(()) => {
            context.entry.act(
                Action::Forwarded,
                Some(200),
                format!(
                    "relayed a POST of {} bytes from connection {} to the echo app",
                    body.len(),
                    session.id
                ),
            );
            respond(StatusCode::OK, Bytes::new())
        }
        Err(UpError::Ended) => refuse(
            context,
            StatusCode::BAD_REQUEST,
            format!("connection {} sent bytes after its DELETE", session.id),
        ),
        Err(UpError::Echo(error)) => {
            context
                .entry
                .act(Action::UpstreamFailed, Some(502), error.to_string());
            respond(StatusCode::BAD_GATEWAY, format!("{error}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(text: &str) -> Vec<(String, String)> {
        let mut event = Event::default();
        let mut seen = Vec::new();
        for line in text.split('\n') {
            if event.read(line) == Line::Dispatch {
                let done = std::mem::take(&mut event);
                // A blank line with nothing before it dispatches nothing.
                if !done.name.is_empty() || !done.data.is_empty() {
                    seen.push((done.name, done.data));
                }
            }
        }
        seen
    }

    #[test]
    fn the_stream_reads_as_the_html_standard_says() {
        let text = ":\n: keepalive\ndata: AAEC\n\nevent: close\ndata:\n\ndata:a\ndata: b\n\n";
        assert_eq!(
            events_of(text),
            vec![
                (String::new(), "AAEC".to_string()),
                ("close".to_string(), String::new()),
                (String::new(), "a\nb".to_string()),
            ]
        );
    }

    #[test]
    fn the_negotiate_answer_must_offer_server_sent_events() {
        let answer = br#"{"negotiateVersion":1,"connectionId":"a","connectionToken":"b","availableTransports":[{"transport":"ServerSentEvents","transferFormats":["Text"]}]}"#;
        assert_eq!(negotiated(answer).expect("SignalR's shape"), "b");
        let only_websockets = br#"{"negotiateVersion":1,"connectionId":"a","connectionToken":"b","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}"#;
        let error = negotiated(only_websockets).expect_err("no SSE");
        assert!(error.to_string().contains("no ServerSentEvents"), "{error}");
        let error = negotiated(b"<html>").expect_err("not JSON");
        assert!(
            error.to_string().contains("not SignalR's negotiate JSON"),
            "{error}"
        );
    }

    #[test]
    fn posts_carry_raw_bytes_and_the_end_is_a_delete() {
        let posts = Posts {
            id: "abc".to_string(),
        };
        let outgoing = posts.carry(&[
            Up::Data(Bytes::from_static(&[0, 255])),
            Up::Data(Bytes::from_static(b"hi")),
        ]);
        assert_eq!(&outgoing.body[..], &[0, 255, b'h', b'i']);
        assert_eq!(outgoing.target, "/tunnel?id=abc");
        assert_eq!(posts.end().method, Method::DELETE);
    }
}
