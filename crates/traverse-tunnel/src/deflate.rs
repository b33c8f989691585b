//! permessage-deflate (RFC 7692) for the WebSocket tunnels, through yawc.
//! tungstenite, which does every handshake here, has no compression and
//! refuses frames with RSV1 set, so once a handshake has agreed on the
//! extension both halves hand the upgraded stream to yawc with what was
//! agreed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use traverse_net::Io;
use traverse_net::websocket as frames;
use yawc::close::CloseCode;
use yawc::{Frame, OpCode, WebSocket};

use crate::TunnelError;
use crate::bridge::{FrameSink, FrameSource, Inbound};
use crate::websocket::{CLOSE_REASON, Closing, Framing, Receiving};

/// What the client offers: permessage-deflate, with the window it may
/// be asked to use (RFC 7692 §7.1.2.2), as browsers offer it.
pub(crate) const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// What the origin agrees to: permessage-deflate with the default
/// windows and context takeover.
pub(crate) const AGREED: &str = "permessage-deflate";

/// Whether a `Sec-WebSocket-Extensions` value names permessage-deflate.
pub(crate) fn names_deflate(extensions: &str) -> bool {
    extensions.split(',').any(|extension| {
        extension
            .split(';')
            .next()
            .is_some_and(|name| name.trim().eq_ignore_ascii_case("permessage-deflate"))
    })
}

/// The stream, once a handshake agreed on `extensions`, as yawc frames it.
/// `client` says which side masks; an unmasked client frames as a server.
pub(crate) fn wrap<S: Io>(
    io: S,
    masks: bool,
    extensions: &str,
) -> Result<WebSocket<S>, TunnelError> {
    let role = if masks {
        yawc::Role::Client
    } else {
        yawc::Role::Server
    };
    let options = yawc::Options::default()
        .with_compression_level(yawc::CompressionLevel::default())
        // The largest message a tunnel sends, in base64: 16 MiB and a third.
        .with_max_payload_read(24 * 1024 * 1024);
    WebSocket::from_stream_with_extensions(io, role, Some(extensions), options).map_err(|error| {
        TunnelError::Protocol(format!(
            "cannot start permessage-deflate ({extensions}): {error}"
        ))
    })
}

pub(crate) struct DeflateSink<S> {
    pub(crate) sink: SplitSink<WebSocket<S>, Frame>,
    pub(crate) framing: Framing,
}

pub(crate) struct DeflateSource<S> {
    pub(crate) source: SplitStream<WebSocket<S>>,
    pub(crate) closing: Closing,
    pub(crate) text: Arc<AtomicBool>,
}

impl<S: Io> DeflateSink<S> {
    /// The source that goes with this sink's close.
    pub(crate) fn source(&self, source: SplitStream<WebSocket<S>>) -> DeflateSource<S> {
        let (closing, text) = self.framing.receiving();
        DeflateSource {
            source,
            closing,
            text,
        }
    }
}

fn from_yawc(error: yawc::WebSocketError, during: &str) -> TunnelError {
    match error {
        yawc::WebSocketError::IoError(error) => TunnelError::from_io(&error, during),
        yawc::WebSocketError::ConnectionClosed => TunnelError::Closed {
            during: during.to_string(),
        },
        other => TunnelError::Protocol(format!("{other} during {during}")),
    }
}

impl<S: Io> FrameSink for DeflateSink<S> {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            for piece in self.framing.pieces(data) {
                let frame = match piece.opcode {
                    frames::TEXT => Frame::text(piece.payload),
                    frames::BINARY => Frame::binary(piece.payload),
                    _ => Frame::continuation(piece.payload),
                };
                self.sink
                    .feed(frame.with_fin(piece.fin))
                    .await
                    .map_err(|error| from_yawc(error, "sending a WebSocket message"))?;
            }
            self.sink
                .flush()
                .await
                .map_err(|error| from_yawc(error, "sending a WebSocket message"))
        })
    }

    fn chunk(&self) -> usize {
        self.framing.chunk()
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            // The client sends its close. The origin's answer went when
            // the client's arrived (see the source); closing the sink would
            // send a close of yawc's own, 1000, so it is only flushed.
            let closed = match self.framing.close() {
                Some(code) => {
                    self.sink
                        .send(Frame::close(CloseCode::from(code), CLOSE_REASON))
                        .await
                }
                None => self.sink.flush().await,
            };
            match closed {
                Ok(()) | Err(yawc::WebSocketError::ConnectionClosed) => Ok(()),
                Err(error) => Err(from_yawc(error, "closing the WebSocket")),
            }
        })
    }

    fn keepalive(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.sink
                .send(Frame::ping(Bytes::from_static(b"traverse")))
                .await
                .map_err(|error| from_yawc(error, "sending a WebSocket ping"))
        })
    }
}

impl<S: Io> FrameSource for DeflateSource<S> {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            let receiving = Receiving {
                closing: &self.closing,
                text: &self.text,
            };
            loop {
                let Some(frame) = self.source.next().await else {
                    return Err(TunnelError::Closed {
                        during: "the WebSocket, before its Close frame".to_string(),
                    });
                };
                match frame.opcode() {
                    OpCode::Binary => return receiving.data(false, frame.into_payload()),
                    OpCode::Text => return receiving.data(true, frame.into_payload()),
                    OpCode::Pong => return Ok(Some(Inbound::Answer)),
                    OpCode::Close => {
                        let code = frame.close_code().map(u16::from);
                        let reason = frame
                            .close_reason()
                            .ok()
                            .flatten()
                            .unwrap_or_default()
                            .to_string();
                        let closed = receiving.closed(code.map(|code| (code, reason)));
                        if let Closing::Record(_) = self.closing {
                            // yawc sends its answer, the client's code and
                            // reason echoed, from its next read, which now
                            // ends at once.
                            let _ = self.source.next().await;
                        }
                        return closed;
                    }
                    // yawc answers pings itself and reassembles fragments.
                    OpCode::Ping | OpCode::Continuation => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_or_agreement_is_read_by_its_extension_name() {
        assert!(names_deflate(OFFER));
        assert!(names_deflate(
            "x-webkit-deflate-frame, Permessage-Deflate ; server_no_context_takeover"
        ));
        assert!(!names_deflate("x-webkit-deflate-frame"));
        assert!(!names_deflate(""));
    }
}
