//! The client halves of the HTTP fallbacks (`long-poll`, `sse`): their
//! requests go out through hyper's HTTP/1.1 client, one connection at a
//! time per [`Lane`], each opened by the tunnel's [`Dialer`] (TCP, TLS; to
//! an explicit proxy the requests go in absolute form, as a browser's
//! do), and a new one whenever a proxy closed
//! the last (a forwarder that serves one request per connection, a hop
//! that drops idle keep-alive connections). The bytes the client sends go
//! up in POSTs from an [`Uploader`], which batches what queued while the
//! last POST was out, as engine.io's client flushes its write buffer.
//! A failed POST ends the tunnel with its reason, which the receiving half
//! hears through [`Failed`] so the probe is not left waiting on a poll.

use std::error::Error as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};
use tokio_util::task::AbortOnDropHandle;
use traverse_net::BoxedIo;
use traverse_scenario::address::ORIGIN_HOST;

use crate::bridge::FrameSink;
use crate::dial::Forwarding;
use crate::{Dialer, TunnelError};

/// A request as a lane sends it, kept whole so that it can go out again
/// on a fresh connection.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub method: Method,
    /// Origin-form: the path and query.
    pub target: String,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Outgoing {
    pub(crate) fn get(target: String) -> Outgoing {
        Outgoing {
            method: Method::GET,
            target,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn with_body(
        method: Method,
        target: String,
        content_type: &'static str,
        body: Bytes,
    ) -> Outgoing {
        Outgoing {
            method,
            target,
            headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        }
    }

    pub(crate) fn header(mut self, name: header::HeaderName, value: &'static str) -> Outgoing {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// The request, in absolute form with the proxy's credentials when it
    /// goes to an explicit proxy (`forwarding`), in origin form otherwise.
    fn request(
        &self,
        forwarding: Option<&Forwarding>,
    ) -> Result<Request<Full<Bytes>>, TunnelError> {
        let target = match forwarding {
            Some(forwarding) => format!("{}{}", forwarding.origin, self.target),
            None => self.target.clone(),
        };
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(target)
            .header(header::HOST, ORIGIN_HOST);
        if let Some(authorization) =
            forwarding.and_then(|forwarding| forwarding.authorization.as_ref())
        {
            builder = builder.header(header::PROXY_AUTHORIZATION, authorization);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(self.body.clone()))
            .map_err(|error| TunnelError::Protocol(format!("cannot build a request: {error}")))
    }
}

/// One HTTP/1.1 connection at a time to the server, dialled again when
/// the last one closed.
pub(crate) struct Lane {
    dialer: Dialer,
    /// What every request carries to an explicit proxy it goes to in
    /// absolute form; worked out once, not per request.
    forwarding: Option<Forwarding>,
    /// The connection the tunnel's dial already opened, used first.
    first: Option<BoxedIo>,
    open: Option<Open>,
}

struct Open {
    sender: SendRequest<Full<Bytes>>,
    /// Whether a request has been answered on it: a failure before any
    /// answer on a reused connection may be the proxy's close crossing the
    /// request, which browsers retry once on a fresh connection.
    reused: bool,
    _connection: AbortOnDropHandle<()>,
}

impl Lane {
    pub(crate) fn new(dialer: Dialer, first: Option<BoxedIo>) -> Lane {
        Lane {
            forwarding: dialer.forwarding(),
            dialer,
            first,
            open: None,
        }
    }

    pub(crate) fn step_timeout(&self) -> Duration {
        self.dialer.step_timeout()
    }

    /// Sends `outgoing` and hands back the response's head (the body is
    /// the caller's to read). A status that is not 2xx is `Refused`, named
    /// by `what`.
    pub(crate) async fn send(
        &mut self,
        outgoing: &Outgoing,
        what: &'static str,
    ) -> Result<Response<Incoming>, TunnelError> {
        let response = self.send_any(outgoing, what).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refusal(&response, what))
        }
    }

    /// As [`Lane::send`], with whatever status came back.
    pub(crate) async fn send_any(
        &mut self,
        outgoing: &Outgoing,
        what: &'static str,
    ) -> Result<Response<Incoming>, TunnelError> {
        let reused = self.ready().await?;
        let response = match self.try_send(outgoing, what).await {
            Ok(response) => response,
            Err(Retry::No(error)) => return Err(error),
            Err(Retry::Once(error)) if !reused => return Err(error),
            Err(Retry::Once(_)) => {
                self.open = None;
                self.ready().await?;
                self.try_send(outgoing, what)
                    .await
                    .map_err(|retry| match retry {
                        Retry::No(error) | Retry::Once(error) => error,
                    })?
            }
        };
        if let Some(open) = &mut self.open {
            open.reused = true;
        }
        Ok(response)
    }

    /// Makes sure a connection is open; says whether it served before.
    async fn ready(&mut self) -> Result<bool, TunnelError> {
        if let Some(open) = &mut self.open {
            if !open.sender.is_closed() && open.sender.ready().await.is_ok() {
                return Ok(open.reused);
            }
            self.open = None;
        }
        let io = match self.first.take() {
            Some(io) => io,
            None => self.dialer.dial().await?,
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|error| from_hyper(&error, "opening an HTTP connection"))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        self.open = Some(Open {
            sender,
            reused: false,
            _connection: AbortOnDropHandle::new(connection),
        });
        Ok(false)
    }

    async fn try_send(
        &mut self,
        outgoing: &Outgoing,
        what: &'static str,
    ) -> Result<Response<Incoming>, Retry> {
        let request = outgoing
            .request(self.forwarding.as_ref())
            .map_err(Retry::No)?;
        let Some(open) = &mut self.open else {
            return Err(Retry::Once(TunnelError::Closed {
                during: what.to_string(),
            }));
        };
        match open.sender.try_send_request(request).await {
            Ok(response) => Ok(response),
            Err(mut error) => {
                let unsent = error.take_message().is_some();
                let error = error.into_error();
                let crossed = unsent
                    || error.is_canceled()
                    || error.is_incomplete_message()
                    || error.is_closed()
                    || io_cause(&error).is_some();
                let error = from_hyper(&error, what);
                Err(if crossed {
                    Retry::Once(error)
                } else {
                    Retry::No(error)
                })
            }
        }
    }
}

enum Retry {
    No(TunnelError),
    /// The connection failed before it answered: worth one fresh one.
    Once(TunnelError),
}

/// A status that is not 2xx, as a refusal of `what`.
pub(crate) fn refusal(response: &Response<Incoming>, what: &'static str) -> TunnelError {
    let status = response.status();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|phrase| String::from_utf8_lossy(phrase.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_default();
    TunnelError::Refused {
        status: status.as_u16(),
        reason,
        handshake: what,
    }
}

/// A response's whole body, refused beyond `limit` bytes.
pub(crate) async fn read_body(
    response: Response<Incoming>,
    limit: usize,
    what: &str,
) -> Result<Bytes, TunnelError> {
    let mut body = response.into_body();
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| from_hyper(&error, what))?;
        if let Ok(data) = frame.into_data() {
            if collected.len() + data.len() > limit {
                return Err(TunnelError::Protocol(format!(
                    "the answer to {what} is longer than {limit} bytes"
                )));
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// hyper's error in the tunnel's terms: a cut connection is `Reset` or
/// `Closed`, an answer that is not HTTP is `Protocol`.
pub(crate) fn from_hyper(error: &hyper::Error, what: &str) -> TunnelError {
    if let Some(io) = io_cause(error) {
        return TunnelError::from_io(io, what);
    }
    if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        TunnelError::Closed {
            during: what.to_string(),
        }
    } else if error.is_parse() {
        TunnelError::Protocol(format!("the answer to {what} is not HTTP ({error})"))
    } else {
        TunnelError::Protocol(format!("{error} during {what}"))
    }
}

fn io_cause(error: &hyper::Error) -> Option<&std::io::Error> {
    let mut cause = error.source();
    // A chain of causes is short; eight is far more than hyper nests.
    for _ in 0..8 {
        let current = cause?;
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = current.source();
    }
    None
}

/// What the client sends up, as an [`Uplink`] encodes it.
#[derive(Debug)]
pub(crate) enum Up {
    Data(Bytes),
    /// The answer to the server's keepalive (engine.io's pong).
    Pong,
}

/// How a protocol carries the client's bytes up.
pub(crate) trait Uplink: Send + Sync + 'static {
    /// The request that carries `batch`, in the order queued.
    fn carry(&self, batch: &[Up]) -> Outgoing;
    /// The request that ends the client's stream.
    fn end(&self) -> Outgoing;
    /// How the carrying request is named in a failure.
    const CARRY: &'static str;
    const END: &'static str;
}

/// The most client bytes one POST carries: under every body limit on the
/// path (nginx's `client_max_body_size 1m`, engine.io's `maxPayload` of
/// 1,000,000 bytes) once base64 has grown them by a third.
pub(crate) const MOST_PER_POST: usize = 256 * 1024;

/// Queued items before `send` waits: at most 256 KiB of the bridge's chunks.
const QUEUED: usize = 16;

enum Item {
    Up(Up),
    End,
}

/// How a failure of one half of a tunnel reaches the other.
pub(crate) type Failed = watch::Receiver<Option<TunnelError>>;

/// Waits until the other half failed, and says why.
pub(crate) async fn failed(failed: &mut Failed) -> TunnelError {
    loop {
        if let Some(error) = failed.borrow_and_update().clone() {
            return error;
        }
        if failed.changed().await.is_err() {
            // The uploader is gone without a failure: nothing to hear.
            return std::future::pending().await;
        }
    }
}

/// The sending half of an HTTP fallback: a task that POSTs what the bridge
/// hands it.
pub(crate) struct Uploader {
    queue: mpsc::Sender<Item>,
    writer: Option<AbortOnDropHandle<Result<(), TunnelError>>>,
    failure: watch::Receiver<Option<TunnelError>>,
}

impl Uploader {
    /// Starts the writer on `lane`; the receiver hears its failure.
    pub(crate) fn start(lane: Lane, uplink: impl Uplink) -> (Uploader, Failed) {
        let (queue, items) = mpsc::channel(QUEUED);
        let (report, failure) = watch::channel(None);
        let writer = tokio::spawn(async move {
            let result = write(lane, uplink, items).await;
            if let Err(error) = &result {
                let _ = report.send(Some(error.clone()));
            }
            result
        });
        let uploader = Uploader {
            queue,
            writer: Some(AbortOnDropHandle::new(writer)),
            failure: failure.clone(),
        };
        (uploader, failure)
    }

    async fn put(&mut self, item: Item) -> Result<(), TunnelError> {
        if self.queue.send(item).await.is_ok() {
            return Ok(());
        }
        Err(self
            .failure
            .borrow()
            .clone()
            .unwrap_or(TunnelError::Closed {
                during: "the POSTs of the client's bytes".to_string(),
            }))
    }
}

impl FrameSink for Uploader {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(self.put(Item::Up(Up::Data(data))))
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.put(Item::End).await?;
            match self.writer.take() {
                Some(writer) => writer.await.unwrap_or_else(|join| {
                    Err(TunnelError::Protocol(format!(
                        "the POST writer failed: {join}"
                    )))
                }),
                None => Ok(()),
            }
        })
    }

    fn answer(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(self.put(Item::Up(Up::Pong)))
    }
}

/// POSTs every batch the queue holds, one request at a time, until the end.
async fn write<U: Uplink>(
    mut lane: Lane,
    uplink: U,
    mut items: mpsc::Receiver<Item>,
) -> Result<(), TunnelError> {
    while let Some(item) = items.recv().await {
        let mut batch = Vec::new();
        let mut size = 0;
        let mut end = false;
        let mut next = Some(item);
        while let Some(item) = next.take() {
            match item {
                Item::End => end = true,
                Item::Up(up) => {
                    size += match &up {
                        Up::Data(data) => data.len(),
                        Up::Pong => 1,
                    };
                    batch.push(up);
                    if size < MOST_PER_POST {
                        next = items.try_recv().ok();
                    }
                }
            }
        }
        if !batch.is_empty() {
            exchange(&mut lane, &uplink.carry(&batch), U::CARRY).await?;
        }
        if end {
            return exchange(&mut lane, &uplink.end(), U::END).await.map(drop);
        }
    }
    Ok(())
}

/// One request that is not held open: its answer, body and all, within
/// the step timeout.
pub(crate) async fn exchange(
    lane: &mut Lane,
    outgoing: &Outgoing,
    what: &'static str,
) -> Result<Bytes, TunnelError> {
    let after = lane.step_timeout();
    let answered = async {
        let response = lane.send(outgoing, what).await?;
        read_body(response, ANSWER_LIMIT, what).await
    };
    tokio::time::timeout(after, answered)
        .await
        .map_err(|_| TunnelError::Timeout {
            during: what.to_string(),
            after,
        })?
}

/// The longest answer to a request that is not a poll: a handshake's JSON,
/// an `ok`.
const ANSWER_LIMIT: usize = 64 * 1024;
