//! Byte counting and first-bytes capture for a node's client side. Every
//! read and write also moves the cell's activity clock, through the
//! record's [`ConnEntry`].

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::activity::ActivityClock;
use crate::log::ConnEntry;

/// What a metered stream reports to: a connection's record, or for the
/// harness's own sockets that keep none, only the cell's clock.
pub trait Meter: Unpin {
    /// Bytes read (none: the end of the stream).
    fn read(&self, bytes: &[u8]);
    fn wrote(&self, bytes: usize);
    /// News that carries no bytes: an error, a shutdown.
    fn event(&self);
}

impl Meter for ConnEntry {
    fn read(&self, bytes: &[u8]) {
        self.count_up(bytes);
    }

    fn wrote(&self, bytes: usize) {
        self.count_down(bytes);
    }

    fn event(&self) {
        self.moved();
    }
}

impl Meter for ActivityClock {
    fn read(&self, _bytes: &[u8]) {
        self.moved();
    }

    fn wrote(&self, _bytes: usize) {
        self.moved();
    }

    fn event(&self) {
        self.moved();
    }
}

/// Wraps the client side of a connection: what is read from the client is
/// counted as bytes up (toward the origin), what is written as bytes down,
/// and the first bytes read are kept for the log.
#[derive(Debug)]
pub struct Metered<S, M = ConnEntry> {
    inner: S,
    meter: M,
}

impl<S, M> Metered<S, M> {
    pub fn new(inner: S, meter: M) -> Metered<S, M> {
        Metered { inner, meter }
    }
}

impl<S: AsyncRead + Unpin, M: Meter> AsyncRead for Metered<S, M> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &poll {
            Poll::Ready(Ok(())) => self.meter.read(&buf.filled()[before..]),
            // A reset is news too: whoever reads it acts on it.
            Poll::Ready(Err(_)) => self.meter.event(),
            Poll::Pending => {}
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin, M: Meter> AsyncWrite for Metered<S, M> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        match &poll {
            Poll::Ready(Ok(written)) => self.meter.wrote(*written),
            Poll::Ready(Err(_)) => self.meter.event(),
            Poll::Pending => {}
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        match &poll {
            Poll::Ready(Ok(written)) => self.meter.wrote(*written),
            Poll::Ready(Err(_)) => self.meter.event(),
            Poll::Pending => {}
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        if poll.is_ready() {
            self.meter.event();
        }
        poll
    }
}

/// Hands the first bytes read from a stream to an observer, once, and
/// otherwise passes everything through: how a node that relays without
/// parsing still learns what crossed it (the protocol inside a CONNECT
/// tunnel, a real proxy's first answer).
pub struct FirstRead<S> {
    inner: S,
    observe: Option<Observer>,
}

/// What is told the first bytes, once.
type Observer = Box<dyn FnOnce(&[u8]) + Send>;

impl<S> FirstRead<S> {
    pub fn new(inner: S, observe: impl FnOnce(&[u8]) + Send + 'static) -> FirstRead<S> {
        FirstRead {
            inner,
            observe: Some(Box::new(observe)),
        }
    }

    /// Records the protocol of the first bytes on `entry`.
    pub fn sniffing(inner: S, entry: ConnEntry) -> FirstRead<S> {
        FirstRead::new(inner, move |first| entry.set_protocol(crate::sniff(first)))
    }
}

impl<S> std::fmt::Debug for FirstRead<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("FirstRead").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstRead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll
            && buf.filled().len() > before
            && let Some(observe) = self.observe.take()
        {
            observe(&buf.filled()[before..]);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstRead<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
