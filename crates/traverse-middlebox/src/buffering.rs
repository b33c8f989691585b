//! Buffering in the L7 hops, between `http_proxy.rs` parsing a message and
//! passing it on: a request body held until it ends before the request goes
//! upstream (nginx's `proxy_request_buffering on`), a response held until
//! it ends (a gateway that scans downloads) or passed on in buffers of a
//! size, each sent when full (nginx's `proxy_buffering on`). While bytes
//! are held the connection's record is `buffered`, a fault, so a stream
//! that never ends is blamed on this hop; released, it recovers to
//! `forwarded`. Every message is held up to [`BUFFER_CAP`].

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::HeaderName;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body as _, Frame, Incoming};
use traverse_net::{Action, ConnEntry};
use traverse_scenario::{BUFFER_CAP, Buffering, RequestBuffering, ResponseBuffering, format_size};

use crate::http_proxy::{Body, local};

/// What a hop does with a request's body: sends it on as it comes, or the
/// whole of it once it has ended, with a note for the record's detail; or
/// the answer it gives instead (413 beyond the cap, 400 when the client
/// left before its body ended).
pub(crate) async fn hold_request(
    body: Incoming,
    buffering: &Buffering,
    entry: &ConnEntry,
    target: &str,
) -> Result<(Body, String), http::Response<Body>> {
    if buffering.request == RequestBuffering::Off || body.is_end_stream() {
        return Ok((body.boxed(), String::new()));
    }
    let holding = |held: usize| {
        format!(
            "holding the request body for {target} until it ends (request_buffering = \
             \"whole\"); {held} bytes held"
        )
    };
    entry.act(Action::Buffered, None, holding(0));
    let mut body = body;
    let mut held = BytesMut::new();
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    held.extend_from_slice(&data);
                    if held.len() > BUFFER_CAP {
                        entry.act(
                            Action::Responded,
                            Some(413),
                            "answered 413 Request Entity Too Large: its body is larger than \
                             1 MiB, the most it holds (nginx's client_max_body_size 1m)",
                        );
                        return Err(local(413, "request body larger than 1 MiB\n"));
                    }
                    entry.act(Action::Buffered, None, holding(held.len()));
                }
            }
            // The client left or broke its framing: nothing goes upstream,
            // and the record keeps what the hop was holding.
            Some(Err(error)) => {
                entry.act(
                    Action::Buffered,
                    None,
                    format!("{}; the body never ended: {error}", holding(held.len())),
                );
                return Err(local(400, "the request body did not end\n"));
            }
        }
    }
    let note = format!(
        " (it held the {}-byte request body until it ended: request_buffering = \"whole\")",
        held.len()
    );
    let body = Full::new(held.freeze())
        .map_err(|never| match never {})
        .boxed();
    Ok((body, note))
}

/// How one response is passed on.
pub(crate) enum ResponsePlan {
    /// As it comes, with a note for the record's detail.
    Stream(String),
    /// Held as the setting says.
    Hold(ResponseBuffering),
}

const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// Decides, from the response head, whether this response is buffered. A
/// body that has already ended needs no buffer; an honoured `X-Accel-
/// Buffering: no` turns the buffer off and, as in nginx, goes no further.
pub(crate) fn plan_response(
    buffering: &Buffering,
    headers: &mut HeaderMap,
    body: &Incoming,
    target: &str,
) -> ResponsePlan {
    if buffering.response == ResponseBuffering::Off || body.is_end_stream() {
        return ResponsePlan::Stream(String::new());
    }
    let opted_out = headers
        .get(&X_ACCEL_BUFFERING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("no"));
    if buffering.x_accel && opted_out {
        headers.remove(&X_ACCEL_BUFFERING);
        return ResponsePlan::Stream(format!(
            " (not buffered: {target} sent X-Accel-Buffering: no, which this hop honours)"
        ));
    }
    ResponsePlan::Hold(buffering.response)
}

/// Holds a response as `setting` says and answers with it once the first
/// release comes: the whole of it for `"whole"`, the first full buffer (and
/// the head with it) for a size. What follows a released buffer is held
/// buffer by buffer in the body the client reads.
pub(crate) async fn hold_response(
    parts: http::response::Parts,
    body: Incoming,
    setting: ResponseBuffering,
    entry: ConnEntry,
    target: String,
) -> http::Response<Body> {
    let status = parts.status.as_u16();
    let mut reader = Held {
        body,
        setting,
        entry,
        target,
        status,
        passed: 0,
        capped: false,
        carry: BytesMut::new(),
    };
    let (first, end) = reader.fill().await;
    match end {
        End::Ended => {
            reader.released_at_end(first.len());
            http::Response::from_parts(
                parts,
                Full::new(first).map_err(|never| match never {}).boxed(),
            )
        }
        End::Failed(error) => reader.failed(&error),
        End::Released => {
            reader.passed += first.len() as u64;
            reader.passing();
            let stream = futures_util::stream::unfold(
                (Some(first), Some(reader)),
                |(pending, reader)| async move {
                    if let Some(bytes) = pending {
                        return Some((Ok(Frame::data(bytes)), (None, reader)));
                    }
                    let mut reader = reader?;
                    let (bytes, end) = reader.fill().await;
                    let total = reader.passed + bytes.len() as u64;
                    match end {
                        End::Released => {
                            reader.passed = total;
                            reader.passing();
                            Some((Ok(Frame::data(bytes)), (None, Some(reader))))
                        }
                        End::Ended => {
                            reader.released_at_end(usize::try_from(total).unwrap_or(usize::MAX));
                            (!bytes.is_empty()).then(|| (Ok(Frame::data(bytes)), (None, None)))
                        }
                        // The client's response is already under way: it
                        // ends broken, as the origin's did.
                        End::Failed(error) => Some((Err(error), (None, None))),
                    }
                },
            );
            http::Response::from_parts(parts, StreamBody::new(stream).boxed())
        }
    }
}

/// How a fill of the buffer ended.
enum End {
    /// The buffer is full (or the cap reached): what it holds goes now.
    Released,
    /// The response ended: what is held is its last part.
    Ended,
    /// The next node broke the response off.
    Failed(hyper::Error),
}

/// A response being read into the hop's buffer.
struct Held {
    body: Incoming,
    setting: ResponseBuffering,
    entry: ConnEntry,
    target: String,
    status: u16,
    /// Body bytes already passed on to the client.
    passed: u64,
    /// Whether `"whole"` reached the cap and now streams.
    capped: bool,
    /// What came after the last whole buffer: the start of the next.
    carry: BytesMut,
}

impl Held {
    /// Reads until the buffer is full or the response ends, recording what
    /// it holds as it grows.
    async fn fill(&mut self) -> (Bytes, End) {
        let release_at = match self.setting {
            _ if self.capped => 1,
            ResponseBuffering::Buffers(size) => size,
            ResponseBuffering::Whole | ResponseBuffering::Off => BUFFER_CAP,
        };
        let mut held = std::mem::take(&mut self.carry);
        // Before the first release the head is held too; after it, only
        // bytes in hand are.
        if self.passed == 0 || !held.is_empty() {
            self.holding(held.len());
        }
        loop {
            // What was carried over may already fill a buffer (past the
            // cap every byte does).
            if held.len() >= release_at {
                if self.setting == ResponseBuffering::Whole && !self.capped {
                    self.capped = true;
                }
                // Only whole buffers go; the rest starts the next.
                let whole = held.len() - held.len() % release_at;
                let released = held.split_to(whole).freeze();
                self.carry = held;
                return (released, End::Released);
            }
            match self.body.frame().await {
                None => return (held.freeze(), End::Ended),
                Some(Err(error)) => return (held.freeze(), End::Failed(error)),
                Some(Ok(frame)) => {
                    // Trailers are not passed on: a buffered body is sent
                    // with a length of its own or as plain chunks.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    held.extend_from_slice(&data);
                    if held.len() < release_at {
                        self.holding(held.len());
                    }
                }
            }
        }
    }

    fn setting(&self) -> String {
        setting_text(self.setting)
    }

    /// Records the bytes it holds; nothing while streaming past the cap.
    fn holding(&self, held: usize) {
        if !self.capped {
            let detail = holding_detail(self.status, &self.target, self.setting, held, self.passed);
            self.entry.act(Action::Buffered, None, detail);
        }
    }

    /// Records a released buffer: nothing is held until more arrives.
    fn passing(&self) {
        let detail = passing_detail(
            self.status,
            &self.target,
            self.setting,
            self.passed,
            self.capped,
        );
        self.entry.act(Action::Forwarded, Some(self.status), detail);
    }

    fn released_at_end(&self, total: usize) {
        let detail = released_detail(self.status, &self.target, self.setting, total, self.capped);
        self.entry.act(Action::Forwarded, Some(self.status), detail);
    }

    /// The next node broke the response off before the hop sent anything:
    /// the client is answered 502, and the record says what was held.
    fn failed(&self, error: &hyper::Error) -> http::Response<Body> {
        let message = format!(
            "{} broke off its {} response while this hop held it: {error}",
            self.target, self.status
        );
        self.entry.act(
            Action::Buffered,
            Some(502),
            format!(
                "holding the {} response from {} ({}); it never ended, so it answered 502",
                self.status,
                self.target,
                self.setting()
            ),
        );
        local(502, &format!("{message}\n"))
    }
}

fn setting_text(setting: ResponseBuffering) -> String {
    format!("response_buffering = \"{}\"", setting.written())
}

/// The record's words while a response's bytes are held: what, from whom,
/// until when, under which setting, and how many bytes.
pub(crate) fn holding_detail(
    status: u16,
    target: &str,
    setting: ResponseBuffering,
    held: usize,
    passed: u64,
) -> String {
    let until = match setting {
        ResponseBuffering::Buffers(size) => {
            format!("until {} gather or it ends", format_size(size))
        }
        _ => "until it ends".to_string(),
    };
    let passed = if passed > 0 {
        format!(", {passed} passed on")
    } else {
        String::new()
    };
    format!(
        "holding the {status} response from {target} {until} ({}); {held} bytes of its body \
         held{passed}",
        setting_text(setting)
    )
}

/// The record's words between buffers: the response passes, nothing held.
pub(crate) fn passing_detail(
    status: u16,
    target: &str,
    setting: ResponseBuffering,
    passed: u64,
    capped: bool,
) -> String {
    let how = if capped {
        "it held the first 1 MiB, the most it holds, and streams the rest".to_string()
    } else {
        format!("passing it on in buffers ({})", setting_text(setting))
    };
    format!("forwarded to {target}; it answered {status}; {how}, {passed} bytes so far")
}

/// The record's words once a buffered response has ended and gone.
pub(crate) fn released_detail(
    status: u16,
    target: &str,
    setting: ResponseBuffering,
    total: usize,
    capped: bool,
) -> String {
    let how = match setting {
        _ if capped => "held the first 1 MiB, the most it holds, and streamed the rest".to_string(),
        ResponseBuffering::Buffers(_) => {
            format!("passed on in buffers ({})", setting_text(setting))
        }
        _ => format!("held until it ended ({})", setting_text(setting)),
    };
    format!("forwarded to {target}; it answered {status}, buffered: {how}, {total} bytes")
}
