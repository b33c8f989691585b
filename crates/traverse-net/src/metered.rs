//! Byte counting and first-bytes capture for a node's client side.

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
        if let Poll::Ready(Ok(())) = poll {
            let fresh = &buf.filled()[before..];
            self.entry.count_up(fresh);
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
        if let Poll::Ready(Ok(written)) = poll {
            self.entry.count_down(written);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Names the protocol of a relayed stream from its first bytes, for nodes
/// that pass bytes on without parsing them (a CONNECT tunnel's contents).
#[derive(Debug)]
pub struct Sniffing<S> {
    inner: S,
    entry: ConnEntry,
    sniffed: bool,
}

impl<S> Sniffing<S> {
    pub fn new(inner: S, entry: ConnEntry) -> Sniffing<S> {
        Sniffing {
            inner,
            entry,
            sniffed: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffing<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll
            && !self.sniffed
            && buf.filled().len() > before
        {
            self.sniffed = true;
            let protocol = crate::sniff(&buf.filled()[before..]);
            self.entry.set_protocol(protocol);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffing<S> {
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
