//! Byte counting and first-bytes capture for a node's client side. Every
//! read and write also moves the cell's activity clock, through the
//! record's [`ConnEntry`].

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::log::ConnEntry;

/// Wraps the client side of a connection: what is read from the client is
/// counted as bytes up (toward the origin), what is written as bytes down,
/// and the first bytes read are kept for the log.
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    entry: ConnEntry,
}

impl<S> Metered<S> {
    pub fn new(inner: S, entry: ConnEntry) -> Metered<S> {
        Metered { inner, entry }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &poll {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                self.entry.count_up(fresh);
            }
            // A reset is news too: whoever reads it acts on it.
            Poll::Ready(Err(_)) => self.entry.moved(),
            Poll::Pending => {}
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        match &poll {
            Poll::Ready(Ok(written)) => self.entry.count_down(*written),
            Poll::Ready(Err(_)) => self.entry.moved(),
            Poll::Pending => {}
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        if poll.is_ready() {
            self.entry.moved();
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
