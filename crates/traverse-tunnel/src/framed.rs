//! The `tcp` and `tls` tunnels' protocol, a stand-in for a product's own
//! "privacy protocol": the client sends a hello frame, the server answers
//! with a welcome frame, then both sides exchange frames of a 4-byte
//! big-endian length and that many bytes. An empty frame ends the stream.
//! Two lengths no frame can have are control words with no payload: a
//! heartbeat (`FF FF FF FF`), which the other side answers with a
//! heartbeat answer (`FF FF FF FE`), as a product's tunnel keeps itself
//! alive through idle timers. Nothing about it is HTTP, so an HTTP-parsing
//! middlebox must refuse it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{self, LengthDelimitedCodec};
use traverse_net::{Action, BoxedIo, Io, hex};
use traverse_scenario::address::{ORIGIN_HOST, PLAIN_PORT, TLS_PORT};

use crate::bridge::{self, CHUNK, FrameSink, FrameSource, Inbound, Keepalives};
use crate::{
    ClientOptions, Connection, Dialer, KeepaliveKind, Protocol, Security, ServeContext,
    TunnelError, echo,
};

/// The framed protocol, as `tcp` and `tls` speak it.
#[derive(Debug)]
pub(crate) struct Framed;

impl Protocol for Framed {
    fn url(&self, security: Security) -> String {
        match security {
            Security::Plain => format!("tcp://{ORIGIN_HOST}:{PLAIN_PORT}"),
            Security::TlsVerified | Security::TlsPinned => {
                format!("tls://{ORIGIN_HOST}:{TLS_PORT}")
            }
        }
    }

    fn keepalive(&self) -> Option<KeepaliveKind> {
        Some(KeepaliveKind::Heartbeat)
    }

    /// Client half: hello, welcome, then the probe's stream over frames.
    async fn connect(
        &self,
        mut io: BoxedIo,
        _dialer: Dialer,
        _url: &str,
        options: &ClientOptions,
    ) -> Result<Connection, TunnelError> {
        write_frame(&mut io, HELLO)
            .await
            .map_err(|error| TunnelError::from_io(&error, "sending the tunnel hello"))?;
        let mut head = [0_u8; 4];
        io.read_exact(&mut head)
            .await
            .map_err(|error| TunnelError::from_io(&error, "waiting for the tunnel welcome"))?;
        if &head == b"HTTP" {
            return Err(read_http_refusal(io, head).await);
        }
        let length = u32::from_be_bytes(head) as usize;
        if length != WELCOME.len() {
            return Err(TunnelError::Protocol(format!(
                "the server's first bytes ({}) are not the tunnel's welcome",
                hex(&head)
            )));
        }
        let mut welcome = vec![0_u8; length];
        io.read_exact(&mut welcome)
            .await
            .map_err(|error| TunnelError::from_io(&error, "reading the tunnel welcome"))?;
        if welcome != WELCOME {
            return Err(TunnelError::Protocol(format!(
                "the server answered {:?} instead of the tunnel's welcome",
                String::from_utf8_lossy(&welcome)
            )));
        }
        let (sink, source) = codec::Framed::new(io, FrameCodec::new()).split();
        Ok(bridge::client_connection(
            FramedSink(sink),
            FramedSource(source),
            options.keepalive,
        ))
    }

    /// Origin half: expects the hello, answers, then relays to the echo app.
    async fn serve(&self, mut io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        let entry = &context.entry;
        let mut head = [0_u8; 4];
        io.read_exact(&mut head)
            .await
            .map_err(|error| TunnelError::from_io(&error, "waiting for the tunnel hello"))?;
        let length = u32::from_be_bytes(head) as usize;
        let mut hello = vec![0_u8; length.min(MAX_FRAME)];
        if length == HELLO.len() {
            io.read_exact(&mut hello)
                .await
                .map_err(|error| TunnelError::from_io(&error, "reading the tunnel hello"))?;
        }
        if hello != HELLO {
            let detail = format!(
                "expected the tunnel hello, received bytes starting {}",
                hex(&entry.first_bytes())
            );
            entry.set_protocol(traverse_net::sniff(&entry.first_bytes()));
            entry.act(Action::ProtocolError, None, detail.clone());
            return Err(TunnelError::Protocol(detail));
        }
        write_frame(&mut io, WELCOME)
            .await
            .map_err(|error| TunnelError::from_io(&error, "sending the tunnel welcome"))?;
        entry.act(
            Action::Forwarded,
            None,
            "tunnel open; relaying to the target",
        );
        let echo = echo::connect(context.target).await?;
        let (sink, source) = codec::Framed::new(io, FrameCodec::new()).split();
        bridge::bridge(
            echo,
            FramedSink(sink),
            FramedSource(source),
            "the echo app",
            Keepalives::default(),
        )
        .await
    }
}

const HELLO: &[u8] = b"TRAVERSE/1 HELLO";
const WELCOME: &[u8] = b"TRAVERSE/1 OK";
/// Frames carry at most a bridge chunk; anything larger is not our protocol.
const MAX_FRAME: usize = CHUNK;

/// The control words: lengths far above [`MAX_FRAME`], so no data frame
/// is ever read as one.
const HEARTBEAT: u32 = u32::MAX;
const HEARTBEAT_ANSWER: u32 = u32::MAX - 1;

/// What crosses the tunnel after the welcome.
#[derive(Debug)]
enum Frame {
    Data(Bytes),
    Heartbeat,
    HeartbeatAnswer,
}

/// Length-prefixed frames, and the two control words between them.
struct FrameCodec(LengthDelimitedCodec);

impl FrameCodec {
    fn new() -> FrameCodec {
        FrameCodec(
            LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(MAX_FRAME)
                .new_codec(),
        )
    }
}

impl codec::Decoder for FrameCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        let control = buffer
            .get(..4)
            .map(|head| u32::from_be_bytes([head[0], head[1], head[2], head[3]]))
            .and_then(|word| match word {
                HEARTBEAT => Some(Frame::Heartbeat),
                HEARTBEAT_ANSWER => Some(Frame::HeartbeatAnswer),
                _ => None,
            });
        if let Some(control) = control {
            buffer.advance(4);
            return Ok(Some(control));
        }
        Ok(self
            .0
            .decode(buffer)?
            .map(|data| Frame::Data(data.freeze())))
    }
}

impl codec::Encoder<Frame> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: Frame, buffer: &mut BytesMut) -> Result<(), Self::Error> {
        match frame {
            Frame::Data(data) => self.0.encode(data, buffer),
            Frame::Heartbeat => {
                buffer.put_u32(HEARTBEAT);
                Ok(())
            }
            Frame::HeartbeatAnswer => {
                buffer.put_u32(HEARTBEAT_ANSWER);
                Ok(())
            }
        }
    }
}

/// One write per frame, so a peer sees the whole hello in one segment, as
/// it would from any real client.
async fn write_frame(io: &mut BoxedIo, payload: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut frame = length.to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    io.write_all(&frame).await?;
    io.flush().await
}

/// An HTTP-speaking middlebox answered our hello: read its status line.
async fn read_http_refusal(mut io: BoxedIo, head: [u8; 4]) -> TunnelError {
    match traverse_net::http::read_status(&mut io, &head).await {
        Ok(status) => TunnelError::Refused {
            status: status.code,
            reason: status.reason,
            handshake: "the tunnel's hello (an HTTP server is on the path)",
        },
        Err(what) => TunnelError::Protocol(format!(
            "the server answered {what} instead of the tunnel's welcome"
        )),
    }
}

struct FramedSink<S>(SplitSink<codec::Framed<S, FrameCodec>, Frame>);
struct FramedSource<S>(SplitStream<codec::Framed<S, FrameCodec>>);

impl<S: Io> FramedSink<S> {
    async fn put(&mut self, frame: Frame, what: &str) -> Result<(), TunnelError> {
        self.0
            .send(frame)
            .await
            .map_err(|error| TunnelError::from_io(&error, what))
    }
}

impl<S: Io> FrameSink for FramedSink<S> {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(self.put(Frame::Data(data), "sending a frame"))
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(self.put(Frame::Data(Bytes::new()), "sending the end frame"))
    }

    fn keepalive(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(self.put(Frame::Heartbeat, "sending a heartbeat"))
    }

    fn answer(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(self.put(Frame::HeartbeatAnswer, "answering a heartbeat"))
    }
}

impl<S: Io> FrameSource for FramedSource<S> {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            match self.0.next().await {
                Some(Ok(Frame::Data(frame))) if frame.is_empty() => Ok(None),
                Some(Ok(Frame::Data(frame))) => Ok(Some(Inbound::Data(frame))),
                Some(Ok(Frame::Heartbeat)) => Ok(Some(Inbound::Keepalive)),
                Some(Ok(Frame::HeartbeatAnswer)) => Ok(Some(Inbound::Answer)),
                Some(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                    Err(TunnelError::Protocol(format!(
                        "received bytes that are not a tunnel frame ({error})"
                    )))
                }
                Some(Err(error)) => Err(TunnelError::from_io(&error, "receiving a frame")),
                None => Err(TunnelError::Closed {
                    during: "the tunnel, before its end frame".to_string(),
                }),
            }
        })
    }
}
