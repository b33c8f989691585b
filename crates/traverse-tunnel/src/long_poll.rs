//! The `long-poll` tunnel: HTTP long-polling as engine.io (Socket.IO's
//! transport layer, protocol 4) does it, where Socket.IO starts before it
//! tries WebSocket. The client opens a session with `GET
//! /engine.io/?EIO=4&transport=polling`, answered `0{"sid":...}`; then it
//! holds a GET open for the server's bytes and POSTs its own, each request
//! naming the session in its query. The origin answers a held GET as soon
//! as the echo app has bytes, or after engine.io's `pingInterval` (25 s of
//! scenario time, scaled) with a ping, so that an idle timer on the path
//! sees an answer and the client a keepalive, which it answers with a pong
//! in its next POST; the client polls again at once. Each request may go
//! out on a new connection (a forwarder that serves one request per
//! connection), but the session is one for the whole tunnel: a session the
//! origin no longer knows (`400` with engine.io's `Session ID unknown`)
//! fails the tunnel, never reopens.
//!
//! Payloads are engine.io's polling payloads: packets separated by the
//! record separator (0x1E), the byte stream in binary packets, `b` and the
//! bytes in base64, as engine.io sends binary over polling. A text body
//! goes through every proxy and gateway that passes text (and only 4/3 of
//! the bytes), where a raw body in a text response could be re-encoded.
//! The client's `1` (close) ends its half of the stream only: the origin
//! goes on answering polls until the echo app has closed too, then answers
//! `1`, so the last echoed bytes still reach the client.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use traverse_net::{Action, BoxedIo, Protocol as Recognised};
use traverse_scenario::address::ORIGIN_HOST;
use traverse_scenario::format_duration;

use crate::bridge::{self, FrameSource, Inbound};
use crate::http_client::{
    self, Failed, Lane, MOST_PER_POST, Outgoing, Up, Uplink, Uploader, exchange,
};
use crate::session::{self, Down, OpenError, Session, UpError};
use crate::{
    ClientOptions, Connection, Dialer, Protocol, Security, ServeContext, ThroughProxy, TunnelError,
};

/// engine.io's long-polling, protocol 4.
#[derive(Debug)]
pub(crate) struct LongPoll;

/// Where engine.io's server listens by default.
const PATH: &str = "/engine.io/";

/// engine.io's defaults: a ping after 25 s of quiet, and a session
/// closed when no pong has come 20 s after it.
const PING_INTERVAL: Duration = Duration::from_secs(25);
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// engine.io's `maxHttpBufferSize`: the longest payload it takes.
const MAX_PAYLOAD: usize = 1_000_000;

/// engine.io's record separator between the packets of one payload.
const SEPARATOR: char = '\u{1e}';

const HANDSHAKE: &str = "the engine.io handshake (GET)";
const POLL: &str = "a long-poll GET";

impl Protocol for LongPoll {
    fn url(&self, security: Security) -> String {
        let scheme = match security {
            Security::Plain => "http",
            Security::TlsVerified | Security::TlsPinned => "https",
        };
        format!("{scheme}://{ORIGIN_HOST}{PATH}?EIO=4&transport=polling")
    }

    /// Plain HTTP requests, sent to an explicit proxy as browsers send
    /// their XHR and fetch requests to one.
    fn through_proxy(&self) -> ThroughProxy {
        ThroughProxy::Forward
    }

    /// The held poll, answered within engine.io's `pingInterval`.
    fn holds_requests(&self) -> Duration {
        PING_INTERVAL
    }

    /// Client half: the handshake, then a held GET down and POSTs up.
    async fn connect(
        &self,
        io: BoxedIo,
        dialer: Dialer,
        _url: &str,
        _options: &ClientOptions,
    ) -> Result<Connection, TunnelError> {
        let mut polls = Lane::new(dialer.clone(), Some(io));
        let handshake = Outgoing::get(format!(
            "{PATH}?EIO=4&transport=polling&t={}",
            cache_buster()
        ));
        let answer = exchange(&mut polls, &handshake, HANDSHAKE).await?;
        let sid = open_packet(&answer)?.sid;
        let (uploader, failed) =
            Uploader::start(Lane::new(dialer, None), Posts { sid: sid.clone() });
        let poller = Poller {
            lane: polls,
            sid,
            pending: VecDeque::new(),
            failed,
        };
        // engine.io's pings are the origin's; the client only answers them.
        Ok(bridge::client_connection(uploader, poller, None))
    }

    /// Origin half: an HTTP/1.1 server for engine.io's three requests.
    async fn serve(&self, io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        session::serve_http1(io, context, |request, context| async move {
            answer(request, &context).await
        })
        .await
    }
}

/// The `0` packet's JSON, as engine.io writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Open {
    sid: String,
    upgrades: Vec<String>,
    ping_interval: u64,
    ping_timeout: u64,
    max_payload: usize,
}

fn open_packet(answer: &[u8]) -> Result<Open, TunnelError> {
    let text = String::from_utf8_lossy(answer);
    let not_open = || {
        TunnelError::Protocol(format!(
            "the answer to {HANDSHAKE} is not engine.io's open packet: {:?}",
            text.chars().take(80).collect::<String>()
        ))
    };
    let json = text.strip_prefix('0').ok_or_else(not_open)?;
    serde_json::from_str(json).map_err(|_| not_open())
}

/// engine.io's `t` parameter, which keeps caches on the path from
/// answering one poll with another's body.
fn cache_buster() -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
    (0..8)
        .map(|_| char::from(DIGITS[fastrand::usize(..DIGITS.len())]))
        .collect()
}

/// The client's POSTs: each a payload of binary packets, a pong, or the
/// close.
struct Posts {
    sid: String,
}

impl Posts {
    fn post(&self, payload: String) -> Outgoing {
        Outgoing::with_body(
            Method::POST,
            format!(
                "{PATH}?EIO=4&transport=polling&sid={}&t={}",
                self.sid,
                cache_buster()
            ),
            "text/plain;charset=UTF-8",
            Bytes::from(payload),
        )
    }
}

impl Uplink for Posts {
    const CARRY: &'static str = "a long-poll POST of the client's bytes";
    const END: &'static str = "the long-poll POST of the close packet";

    fn carry(&self, batch: &[Up]) -> Outgoing {
        let packets: Vec<String> = batch
            .iter()
            .map(|up| match up {
                Up::Data(data) => format!("b{}", STANDARD.encode(data)),
                Up::Pong => "3".to_string(),
            })
            .collect();
        self.post(packets.join(&SEPARATOR.to_string()))
    }

    fn end(&self) -> Outgoing {
        self.post("1".to_string())
    }
}

/// The client's receiving half: polls, and the packets they brought.
struct Poller {
    lane: Lane,
    sid: String,
    pending: VecDeque<String>,
    failed: Failed,
}

impl Poller {
    /// One held GET, until the origin answers it.
    async fn poll(&mut self) -> Result<String, TunnelError> {
        let request = Outgoing::get(format!(
            "{PATH}?EIO=4&transport=polling&sid={}&t={}",
            self.sid,
            cache_buster()
        ));
        let response = self.lane.send_any(&request, POLL).await?;
        if !response.status().is_success() {
            let refused = http_client::refusal(&response, POLL);
            // engine.io's answer to a session it no longer has; any other
            // refusal is the path's, and says so itself.
            let lost = response.status() == StatusCode::BAD_REQUEST
                && tokio::time::timeout(
                    self.lane.step_timeout(),
                    http_client::read_body(response, 4096, POLL),
                )
                .await
                .is_ok_and(|body| {
                    body.is_ok_and(|body| {
                        String::from_utf8_lossy(&body).contains("Session ID unknown")
                    })
                });
            return Err(if lost { self.lost_session() } else { refused });
        }
        let body = http_client::read_body(response, 2 * MAX_PAYLOAD, POLL).await?;
        String::from_utf8(body.to_vec()).map_err(|_| {
            TunnelError::Protocol(format!(
                "the answer to {POLL} is not an engine.io payload (not UTF-8)"
            ))
        })
    }

    fn lost_session(&self) -> TunnelError {
        TunnelError::Refused {
            status: 400,
            reason: format!(
                "Bad Request (the session {} is gone: engine.io answers \"Session ID unknown\")",
                self.sid
            ),
            handshake: POLL,
        }
    }
}

impl FrameSource for Poller {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            // Each turn takes a packet or makes a poll; a payload of noops
            // is followed by the next poll, as engine.io's client does.
            loop {
                if let Some(packet) = self.pending.pop_front() {
                    match decode(&packet)? {
                        Packet::Data(data) => return Ok(Some(Inbound::Data(data))),
                        Packet::Ping => return Ok(Some(Inbound::Keepalive)),
                        Packet::Close => return Ok(None),
                        Packet::Nothing => continue,
                    }
                }
                let mut failed = self.failed.clone();
                let payload = tokio::select! {
                    polled = self.poll() => polled?,
                    error = http_client::failed(&mut failed) => return Err(error),
                };
                self.pending
                    .extend(payload.split(SEPARATOR).map(str::to_string));
            }
        })
    }
}

/// A packet as the tunnel reads it.
#[derive(Debug, PartialEq)]
enum Packet {
    Data(Bytes),
    Ping,
    Close,
    /// A pong, a noop: nothing for the stream.
    Nothing,
}

fn decode(packet: &str) -> Result<Packet, TunnelError> {
    let mut chars = packet.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    Ok(match kind {
        Some('b') => Packet::Data(Bytes::from(STANDARD.decode(rest).map_err(|_| {
            TunnelError::Protocol("a binary engine.io packet is not base64".to_string())
        })?)),
        Some('4') => Packet::Data(Bytes::copy_from_slice(rest.as_bytes())),
        Some('2') => Packet::Ping,
        Some('1') => Packet::Close,
        Some('3' | '6') => Packet::Nothing,
        _ => {
            return Err(TunnelError::Protocol(format!(
                "{:?} is not an engine.io packet",
                packet.chars().take(40).collect::<String>()
            )));
        }
    })
}

/// engine.io's error answers: a status and its JSON.
fn refuse(
    context: &ServeContext,
    status: StatusCode,
    code: u8,
    message: &str,
    why: String,
) -> Response<Full<Bytes>> {
    context.entry.act(
        Action::Responded,
        Some(status.as_u16()),
        format!("answered {}: {why}", status.as_u16()),
    );
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    respond(status, "application/json", Bytes::from(body))
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

async fn answer(request: Request<Incoming>, context: &ServeContext) -> Response<Full<Bytes>> {
    context.entry.set_protocol(Recognised::Http);
    let uri = request.uri().clone();
    if uri.path() != PATH {
        return refuse(
            context,
            StatusCode::NOT_FOUND,
            0,
            "Not found",
            format!("{} is not engine.io's {PATH}", uri.path()),
        );
    }
    if session::query(&uri, "EIO") != Some("4") {
        return refuse(
            context,
            StatusCode::BAD_REQUEST,
            5,
            "Unsupported protocol version",
            "the request does not ask for engine.io protocol 4 (EIO=4)".to_string(),
        );
    }
    if session::query(&uri, "transport") != Some("polling") {
        return refuse(
            context,
            StatusCode::BAD_REQUEST,
            0,
            "Transport unknown",
            "the request names no polling transport".to_string(),
        );
    }
    let sid = session::query(&uri, "sid").map(str::to_string);
    let method = request.method().clone();
    match (method, sid) {
        (Method::GET, None) => handshake(context).await,
        (method, Some(sid)) if method == Method::GET || method == Method::POST => {
            let Some(session) = context.sessions.get(&sid) else {
                return refuse(
                    context,
                    StatusCode::BAD_REQUEST,
                    1,
                    "Session ID unknown",
                    format!("the request names session {sid}, which the origin does not have"),
                );
            };
            if method == Method::GET {
                poll(context, &session).await
            } else {
                post(request, context, &session).await
            }
        }
        (method, _) => refuse(
            context,
            StatusCode::BAD_REQUEST,
            2,
            "Bad handshake method",
            format!("a {method} without a session is no engine.io handshake"),
        ),
    }
}

async fn handshake(context: &ServeContext) -> Response<Full<Bytes>> {
    let lifetime = session::lifetime(context, PING_INTERVAL + PING_TIMEOUT);
    let session = match context.sessions.open(context.target, lifetime).await {
        Ok(session) => session,
        Err(OpenError::Full) => {
            return refuse(
                context,
                StatusCode::SERVICE_UNAVAILABLE,
                3,
                "Bad request",
                format!("{} sessions are open already", session::MAX_SESSIONS),
            );
        }
        Err(OpenError::Echo(error)) => {
            context
                .entry
                .act(Action::UpstreamFailed, Some(502), error.to_string());
            return respond(
                StatusCode::BAD_GATEWAY,
                "text/plain",
                Bytes::from(format!("{error}\n")),
            );
        }
    };
    let open = Open {
        sid: session.id.clone(),
        upgrades: Vec::new(),
        ping_interval: millis(PING_INTERVAL),
        ping_timeout: millis(PING_TIMEOUT),
        max_payload: MAX_PAYLOAD,
    };
    let body = format!("0{}", serde_json::to_string(&open).unwrap_or_default());
    context.entry.act(
        Action::Forwarded,
        Some(200),
        format!(
            "opened engine.io session {}; relaying it to the echo app",
            session.id
        ),
    );
    respond(
        StatusCode::OK,
        "text/plain; charset=UTF-8",
        Bytes::from(body),
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A held GET: the echo app's bytes as soon as there are any, a ping after
/// `pingInterval` without, or the close once the echo app has closed.
async fn poll(context: &ServeContext, session: &std::sync::Arc<Session>) -> Response<Full<Bytes>> {
    let _in_flight = session.request();
    let wait = context.time_scale.apply(PING_INTERVAL);
    // The ping that answers a quiet poll is a timer of the origin's own:
    // while it runs, a still topology is a poll being held, not a deadlock.
    let armed = context.entry.arm(tokio::time::Instant::now() + wait);
    let down = session.take_down(wait, MOST_PER_POST).await;
    drop(armed);
    let (payload, what) = match down {
        Down::Data(data) => (
            format!("b{}", STANDARD.encode(&data)),
            format!("{} bytes", data.len()),
        ),
        Down::Quiet => (
            "2".to_string(),
            format!(
                "a ping: nothing to send for {} (engine.io's pingInterval)",
                format_duration(PING_INTERVAL)
            ),
        ),
        Down::Ended => {
            context.sessions.remove(&session.id);
            (
                "1".to_string(),
                "the close packet: the echo app closed".to_string(),
            )
        }
        Down::Busy => {
            return refuse(
                context,
                StatusCode::BAD_REQUEST,
                3,
                "Bad request",
                format!(
                    "a second poll of session {} overlaps the one held",
                    session.id
                ),
            );
        }
    };
    context.entry.act(
        Action::Forwarded,
        Some(200),
        format!("answered a poll of session {} with {what}", session.id),
    );
    respond(
        StatusCode::OK,
        "text/plain; charset=UTF-8",
        Bytes::from(payload),
    )
}

/// A POST: its packets' bytes to the echo app, its close as the end of the
/// client's stream.
async fn post(
    request: Request<Incoming>,
    context: &ServeContext,
    session: &std::sync::Arc<Session>,
) -> Response<Full<Bytes>> {
    let _in_flight = session.request();
    let body = match Limited::new(request.into_body(), MAX_PAYLOAD)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return refuse(
                context,
                StatusCode::PAYLOAD_TOO_LARGE,
                3,
                "Bad request",
                format!(
                    "a POST body is over engine.io's {MAX_PAYLOAD}-byte maxHttpBufferSize, or was cut"
                ),
            );
        }
    };
    let text = String::from_utf8_lossy(&body);
    let mut carried = 0;
    for packet in text.split(SEPARATOR) {
        let packet = match decode(packet) {
            Ok(packet) => packet,
            Err(error) => {
                return refuse(
                    context,
                    StatusCode::BAD_REQUEST,
                    3,
                    "Bad request",
                    error.to_string(),
                );
            }
        };
        match packet {
            Packet::Data(data) => match session.send_up(&data).await {
                Ok(()) => carried += data.len(),
                Err(UpError::Ended) => {
                    return refuse(
                        context,
                        StatusCode::BAD_REQUEST,
                        3,
                        "Bad request",
                        format!("session {} sent bytes after its close packet", session.id),
                    );
                }
                Err(UpError::Echo(error)) => {
                    context
                        .entry
                        .act(Action::UpstreamFailed, Some(502), error.to_string());
                    return respond(
                        StatusCode::BAD_GATEWAY,
                        "text/plain",
                        Bytes::from(format!("{error}\n")),
                    );
                }
            },
            Packet::Close => session.end_up().await,
            Packet::Ping | Packet::Nothing => {}
        }
    }
    context.entry.act(
        Action::Forwarded,
        Some(200),
        format!(
            "relayed a POST of {carried} bytes from session {} to the echo app",
            session.id
        ),
    );
    respond(StatusCode::OK, "text/html", Bytes::from_static(b"ok"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use traverse_net::{ActivityClock, Tasks, TransactionLog};
    use traverse_scenario::TimeScale;
    use traverse_scenario::address::PLAIN_PORT;

    use crate::{ClientPath, OriginContext};

    /// A poll that names a session the origin does not have (it expired,
    /// or the origin restarted): engine.io's `400 Session ID unknown`,
    /// recorded at the origin, and a failure of the tunnel that says so.
    #[tokio::test]
    async fn a_session_the_origin_lost_fails_the_tunnel_saying_so() {
        let tasks = Tasks::new();
        let log = TransactionLog::new();
        let echo = crate::start_echo(&tasks, &ActivityClock::new())
            .await
            .expect("echo");
        let pki = traverse_pki::Pki::generate().expect("pki");
        let origin = crate::serve_origin(
            &LongPoll,
            OriginContext {
                tls: pki.origin_public.server_config("origin").expect("tls"),
                target: echo,
                log: log.clone(),
                tasks: tasks.clone(),
                step_timeout: Duration::from_secs(2),
                time_scale: TimeScale::DEFAULT,
            },
        )
        .await
        .expect("origin");
        let path = ClientPath {
            connect_to: origin.get(PLAIN_PORT).expect("port 80"),
            verifying: traverse_pki::Pki::unverified_client(),
            pinning: traverse_pki::Pki::unverified_client(),
            step_timeout: Duration::from_secs(2),
            proxy: None,
            deadlock: None,
        };
        let dialer = Dialer::new(
            &path,
            Security::Plain,
            PLAIN_PORT,
            None,
            &[],
            ThroughProxy::Connect,
        );
        let (_report, failed) = tokio::sync::watch::channel(None);
        let mut poller = Poller {
            lane: Lane::new(dialer, None),
            sid: "lv_VI97HAXpY6yYWAAAC".to_string(),
            pending: VecDeque::new(),
            failed,
        };
        let error = tokio::time::timeout(Duration::from_secs(5), poller.next())
            .await
            .expect("answered at once")
            .expect_err("the session is unknown");
        assert!(
            matches!(error, TunnelError::Refused { status: 400, .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "answered HTTP 400 Bad Request (the session lv_VI97HAXpY6yYWAAAC is gone: engine.io \
             answers \"Session ID unknown\") to a long-poll GET"
        );
        let record = log.snapshot().pop().expect("the origin's record");
        assert_eq!(
            (record.action, record.status),
            (Action::Responded, Some(400))
        );
        assert!(
            record
                .detail
                .contains("names session lv_VI97HAXpY6yYWAAAC, which the origin does not have"),
            "{}",
            record.detail
        );
    }

    #[test]
    fn packets_read_as_engine_io_writes_them() {
        let table = [
            (
                "bAAEC/w==",
                Packet::Data(Bytes::from_static(&[0, 1, 2, 255])),
            ),
            ("4hello", Packet::Data(Bytes::from_static(b"hello"))),
            ("2", Packet::Ping),
            ("3", Packet::Nothing),
            ("6", Packet::Nothing),
            ("1", Packet::Close),
        ];
        for (packet, expected) in table {
            assert_eq!(decode(packet).expect(packet), expected, "{packet}");
        }
        for bad in ["", "9", "b!!"] {
            assert!(decode(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn a_batch_is_one_payload_of_binary_packets_and_pongs() {
        let posts = Posts {
            sid: "abc".to_string(),
        };
        let outgoing = posts.carry(&[
            Up::Data(Bytes::from_static(&[0, 255])),
            Up::Pong,
            Up::Data(Bytes::from_static(b"hi")),
        ]);
        assert_eq!(&outgoing.body[..], "bAP8=\u{1e}3\u{1e}baGk=".as_bytes());
        assert!(
            outgoing
                .target
                .starts_with("/engine.io/?EIO=4&transport=polling&sid=abc&t=")
        );
        assert_eq!(outgoing.method, Method::POST);
    }

    #[test]
    fn the_open_packet_is_read_back_and_anything_else_is_named() {
        let open = open_packet(
            br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .expect("engine.io's own example");
        assert_eq!(open.sid, "lv_VI97HAXpY6yYWAAAC");
        let error = open_packet(b"<html>blocked</html>").expect_err("not engine.io");
        assert!(
            error.to_string().contains("not engine.io's open packet"),
            "{error}"
        );
    }
}
