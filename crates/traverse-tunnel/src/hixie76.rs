//! The `hixie76` tunnel: WebSocket as draft-hixie-thewebsocketprotocol-76
//! (2010) specified it, the handshake that reverse proxies of that era
//! broke. The client sends `Sec-WebSocket-Key1`/`Key2` and then 8 raw bytes
//! of key material (key3) after the blank line, with no `Content-Length` to
//! declare them; the server answers `101` and the 16-byte MD5 of the two
//! key numbers and key3. Frames are `0x00`, UTF-8 text, `0xFF`; the close
//! frame is `0xFF 0x00`.
//!
//! Binary payloads travel in a reversible text encoding that keeps
//! printable ASCII as it is (as an application's text would be on the
//! wire, which is what a caching proxy could misread) and writes `%`, NUL,
//! and every byte from 0x80 up as `%XX`.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder, Framed};
use traverse_net::http::{HeadEnd, header, read_head, read_status};
use traverse_net::{Action, BoxedIo, Io, Protocol as Recognised};
use traverse_scenario::address::ORIGIN_HOST;

use crate::bridge::{self, FrameSink, FrameSource, Inbound, Keepalives};
use crate::protocol::websocket_url;
use crate::{
    ClientOptions, Connection, Dialer, Protocol, Security, ServeContext, TunnelError, echo,
};

/// The draft-76 WebSocket of 2010.
#[derive(Debug)]
pub(crate) struct Hixie76;

impl Protocol for Hixie76 {
    fn url(&self, security: Security) -> String {
        websocket_url(security)
    }

    /// Client half: the draft-76 handshake, then the probe's stream in frames.
    async fn connect(
        &self,
        mut io: BoxedIo,
        _dialer: Dialer,
        _url: &str,
        _options: &ClientOptions,
    ) -> Result<Connection, TunnelError> {
        // The handshake writes the URL's host and path itself, as hand-built
        // draft-76 requests did; the URL is always the same.
        let (key1, key2) = (make_key(), make_key());
        let key3: [u8; 8] = fastrand::u64(..).to_be_bytes();
        let expected = challenge_answer(&key1, &key2, &key3).map_err(TunnelError::Protocol)?;
        let mut request = format!(
            "GET /tunnel HTTP/1.1\r\nHost: {ORIGIN_HOST}\r\nConnection: Upgrade\r\n\
             Upgrade: WebSocket\r\nOrigin: http://{ORIGIN_HOST}\r\n\
             Sec-WebSocket-Key1: {key1}\r\nSec-WebSocket-Key2: {key2}\r\n\r\n"
        )
        .into_bytes();
        // Browsers sent key3 with the headers, in one segment.
        request.extend_from_slice(&key3);
        io.write_all(&request)
            .await
            .map_err(|error| TunnelError::from_io(&error, "sending the hixie-76 handshake"))?;
        let status = read_status(&mut io, b"")
            .await
            .map_err(|what| TunnelError::Protocol(format!("the server answered {what}")))?;
        if status.code != 101 {
            return Err(TunnelError::Refused {
                status: status.code,
                reason: status.reason,
                handshake: "the hixie-76 handshake",
            });
        }
        let mut answer = [0_u8; 16];
        io.read_exact(&mut answer).await.map_err(|error| {
            TunnelError::from_io(&error, "reading the hixie-76 challenge answer")
        })?;
        if answer != expected {
            return Err(TunnelError::Protocol(
                "the server's answer to the hixie-76 challenge is wrong".to_string(),
            ));
        }
        let (sink, source) = Framed::new(io, Codec::default()).split();
        // hixie-76 has no ping; only TCP keepalive is offered for it.
        Ok(bridge::client_connection(
            HixieSink(sink),
            HixieSource(source),
            None,
        ))
    }

    /// Origin half: reads the handshake, waits for key3, answers, relays.
    async fn serve(&self, mut io: BoxedIo, context: ServeContext) -> Result<(), TunnelError> {
        let ServeContext {
            entry,
            step_timeout,
            target,
            ..
        } = context;
        let head = read_request_head(&mut io, step_timeout).await?;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        if request
            .parse(&head)
            .map_err(|error| error.to_string())
            .is_err()
        {
            entry.act(Action::ProtocolError, None, "the request head is not HTTP");
            return Err(TunnelError::Protocol("not an HTTP request".to_string()));
        }
        let upgrade = header(request.headers, "upgrade")
            .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
        let (true, Some(key1), Some(key2)) = (
            upgrade,
            header(request.headers, "sec-websocket-key1"),
            header(request.headers, "sec-websocket-key2"),
        ) else {
            entry.set_protocol(Recognised::Http);
            entry.act(
                Action::Responded,
                Some(426),
                "answered 426: the request reached the origin without a hixie-76 `Upgrade: WebSocket`",
            );
            let body = "this endpoint speaks WebSocket (hixie-76)\n";
            let response = format!(
                "HTTP/1.1 426 Upgrade Required\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = io.write_all(response.as_bytes()).await;
            return Ok(());
        };
        entry.set_protocol(Recognised::Websocket);
        let mut key3 = [0_u8; 8];
        let wait = step_timeout * KEY3_WAIT_FACTOR;
        // Declared like any timer that will act, and by its length always
        // past the bound of the client's step, so it never holds off the
        // verdict that a forwarder deadlocked the handshake.
        let armed = entry.arm(tokio::time::Instant::now() + wait);
        let read = tokio::time::timeout(wait, io.read_exact(&mut key3)).await;
        drop(armed);
        match read {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(TunnelError::from_io(&error, "reading key3")),
            Err(_) => {
                entry.act(
                    Action::ProtocolError,
                    None,
                    "waited for the 8 key bytes that follow the headers (key3); they never arrived",
                );
                return Err(TunnelError::Timeout {
                    during: "the wait for key3".to_string(),
                    after: wait,
                });
            }
        }
        let answer = challenge_answer(key1, key2, &key3).map_err(|why| {
            entry.act(Action::ProtocolError, None, why.clone());
            TunnelError::Protocol(why)
        })?;
        let mut response = format!(
            "HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Origin: http://{ORIGIN_HOST}\r\nSec-WebSocket-Location: ws://{ORIGIN_HOST}/tunnel\r\n\r\n"
        )
        .into_bytes();
        response.extend_from_slice(&answer);
        io.write_all(&response)
            .await
            .map_err(|error| TunnelError::from_io(&error, "answering the hixie-76 handshake"))?;
        entry.act(
            Action::Upgraded,
            Some(101),
            "hixie-76 WebSocket open; relaying to the target",
        );
        let echo = echo::connect(target).await?;
        let (sink, source) = Framed::new(io, Codec::default()).split();
        bridge::bridge(
            echo,
            HixieSink(sink),
            HixieSource(source),
            "the echo app",
            Keepalives::default(),
        )
        .await
    }
}

/// How long the origin waits for key3 after the headers: longer than any
/// client step, so a client behind a forwarder that drops them times out
/// first and sees the hang as the forwarder made it.
const KEY3_WAIT_FACTOR: u32 = 2;

/// The 16-byte answer to a handshake: MD5 of the two key numbers (each the
/// key's digits divided by its spaces, big-endian) and key3.
pub(crate) fn challenge_answer(key1: &str, key2: &str, key3: &[u8; 8]) -> Result<[u8; 16], String> {
    let mut hasher = Md5::new();
    hasher.update(key_number(key1)?.to_be_bytes());
    hasher.update(key_number(key2)?.to_be_bytes());
    hasher.update(key3);
    Ok(hasher.finalize().into())
}

pub(crate) fn key_number(key: &str) -> Result<u32, String> {
    let digits: String = key.chars().filter(char::is_ascii_digit).collect();
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("key {key:?} has no number in it"))?;
    let spaces = key.chars().filter(|c| *c == ' ').count() as u64;
    if spaces == 0 || number % spaces != 0 {
        return Err(format!(
            "key {key:?} is not a number divisible by its {spaces} spaces"
        ));
    }
    u32::try_from(number / spaces).map_err(|_| format!("key {key:?} is too large"))
}

/// A key as a draft-76 client makes it: a multiple of its space count, with
/// random non-digit characters and the spaces scattered through it.
fn make_key() -> String {
    let spaces = fastrand::u64(1..=12);
    let number = fastrand::u64(..u64::from(u32::MAX) / spaces);
    let mut key: Vec<char> = (number * spaces).to_string().chars().collect();
    for _ in 0..=fastrand::u8(..12) {
        // U+0021-U+002F and U+003A-U+007E: anything but digits and space.
        let noise = match fastrand::u8(..15 + 69) {
            pick @ ..15 => 0x21 + pick,
            pick => 0x3a + pick - 15,
        };
        key.insert(fastrand::usize(..=key.len()), char::from(noise));
    }
    for _ in 0..spaces {
        // Never first or last: a space there would be trimmed as a header's.
        key.insert(fastrand::usize(1..key.len()), ' ');
    }
    key.into_iter().collect()
}

/// Bytes as hixie-76 text: printable ASCII as is, the rest as `%XX`.
pub(crate) fn encode(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = Vec::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        if byte == b'%' || byte == 0 || byte >= 0x80 {
            text.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]);
        } else {
            text.push(byte);
        }
    }
    text
}

/// The inverse of [`encode`].
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&first, after)) = rest.split_first() {
        if first != b'%' {
            bytes.push(first);
            rest = after;
            continue;
        }
        let digit = |byte: u8| char::from(byte).to_digit(16);
        let hex = match after {
            [high, low, ..] => digit(*high).zip(digit(*low)),
            _ => None,
        }
        .ok_or("a % in a text frame is not followed by two hex digits")?;
        bytes.push((hex.0 * 16 + hex.1) as u8);
        rest = &after[2..];
    }
    Ok(bytes)
}

/// One hixie-76 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(Bytes),
    Close,
}

/// Frames on the wire; text is decoded, so the codec carries raw bytes.
#[derive(Debug, Default)]
pub(crate) struct Codec {
    /// How much of a partial text frame has been searched for its end, so
    /// a large frame arriving in pieces is scanned once, not once a piece.
    scanned: usize,
}

impl Decoder for Codec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        match buffer.first() {
            None => Ok(None),
            Some(0x00) => {
                let from = self.scanned.max(1);
                let Some(end) = buffer[from..].iter().position(|byte| *byte == 0xFF) else {
                    self.scanned = buffer.len();
                    return Ok(None);
                };
                self.scanned = 0;
                let frame = buffer.split_to(from + end + 1);
                let end = from + end;
                let text = decode(&frame[1..end]).map_err(invalid)?;
                Ok(Some(Frame::Text(Bytes::from(text))))
            }
            Some(0xFF) if buffer.len() < 2 => Ok(None),
            Some(0xFF) if buffer[1] == 0x00 => {
                buffer.advance(2);
                Ok(Some(Frame::Close))
            }
            Some(other) => Err(invalid(format!(
                "a hixie-76 frame cannot start with {other:#04x}"
            ))),
        }
    }
}

impl Encoder<Frame> for Codec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: Frame, buffer: &mut BytesMut) -> Result<(), Self::Error> {
        match frame {
            Frame::Text(bytes) => {
                buffer.put_u8(0x00);
                buffer.extend_from_slice(&encode(&bytes));
                buffer.put_u8(0xFF);
            }
            Frame::Close => buffer.extend_from_slice(&[0xFF, 0x00]),
        }
        Ok(())
    }
}

/// The request head, up to its blank line, and not a byte more. A head too
/// long to be one is returned as it is, for the parser to refuse.
async fn read_request_head(io: &mut BoxedIo, deadline: Duration) -> Result<Vec<u8>, TunnelError> {
    let (head, end) = tokio::time::timeout(deadline, read_head(io, b""))
        .await
        .map_err(|_| TunnelError::Timeout {
            during: "the wait for the request head".to_string(),
            after: deadline,
        })?
        .map_err(|error| TunnelError::from_io(&error, "reading the request head"))?;
    match end {
        HeadEnd::Complete | HeadEnd::TooLong | HeadEnd::NotHttp => Ok(head),
        HeadEnd::Closed => Err(TunnelError::Closed {
            during: "reading the request head".to_string(),
        }),
    }
}

struct HixieSink<S>(SplitSink<Framed<S, Codec>, Frame>);
struct HixieSource<S>(SplitStream<Framed<S, Codec>>);

impl<S: Io> FrameSink for HixieSink<S> {
    fn send(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.0
                .send(Frame::Text(data))
                .await
                .map_err(|error| TunnelError::from_io(&error, "sending a hixie-76 frame"))
        })
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), TunnelError>> {
        Box::pin(async move {
            self.0
                .send(Frame::Close)
                .await
                .map_err(|error| TunnelError::from_io(&error, "sending the hixie-76 close frame"))
        })
    }
}

impl<S: Io> FrameSource for HixieSource<S> {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<Inbound>, TunnelError>> {
        Box::pin(async move {
            match self.0.next().await {
                Some(Ok(Frame::Text(data))) => Ok(Some(Inbound::Data(data))),
                Some(Ok(Frame::Close)) => Ok(None),
                Some(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => Err(
                    TunnelError::Protocol(format!("received a broken hixie-76 frame: {error}")),
                ),
                Some(Err(error)) => Err(TunnelError::from_io(&error, "receiving hixie-76 frames")),
                None => Err(TunnelError::Closed {
                    during: "the hixie-76 stream, before its close frame".to_string(),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_drafts_own_example() {
        let answer = challenge_answer("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", b"^n:ds[4U");
        assert_eq!(answer.expect("valid keys"), *b"8jKS'y:G*Co,Wxa-");
    }

    #[test]
    fn answers_the_drafts_introduction_example() {
        let answer = challenge_answer(
            "3e6b263  4 17 80",
            "17  9 G`ZD9   2 2b 7X 3 /r90",
            b"WjN}|M(6",
        );
        assert_eq!(answer.expect("valid keys"), *b"n`9eBk9z$R8pOtVb");
    }

    #[test]
    fn answers_an_independently_computed_vector() {
        // Keys made for this test; the answer computed with Python's hashlib:
        // md5(pack('>I', 370370370 // 3) + pack('>I', 86420860 // 5) + b'traverse').
        let answer = challenge_answer("3 70=3 70 3$70", "8 6 4:2 0 8~6 0", b"traverse");
        let hex: String = answer
            .expect("valid keys")
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex, "24ba097fb646acd69cf62e9f8f33fd0e");
    }

    #[test]
    fn rejects_keys_a_server_must_refuse() {
        assert!(
            challenge_answer("12345", "1 2", b"12345678").is_err(),
            "no spaces"
        );
        assert!(
            challenge_answer("1 2 3", "1 2", b"12345678").is_err(),
            "not divisible"
        );
    }

    #[test]
    fn made_keys_are_valid_and_varied() {
        let keys: Vec<String> = (0..200).map(|_| make_key()).collect();
        for key in &keys {
            assert!(key_number(key).is_ok(), "{key:?}");
            assert!(!key.starts_with(' ') && !key.ends_with(' '), "{key:?}");
        }
        assert!(keys.iter().any(|key| key != &keys[0]));
    }

    #[test]
    fn the_text_encoding_round_trips_every_byte_and_keeps_ascii_readable() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).expect("decode"), all);
        assert!(!encode(&all).contains(&0xFF), "0xFF ends a frame");
        assert_eq!(encode(b"GET / HTTP/1.1\r\n"), b"GET / HTTP/1.1\r\n");
        assert_eq!(encode(b"100%\x00\xff"), b"100%25%00%FF");
        assert!(decode(b"%4").is_err());
    }

    #[test]
    fn frames_are_split_where_they_end() {
        let mut codec = Codec::default();
        let mut wire = BytesMut::new();
        codec
            .encode(Frame::Text(Bytes::from_static(b"\x00hi\xff")), &mut wire)
            .expect("encode");
        codec.encode(Frame::Close, &mut wire).expect("encode");
        assert_eq!(&wire[..], b"\x00%00hi%FF\xff\xff\x00");
        let mut partial = BytesMut::from(&wire[..4]);
        assert_eq!(codec.decode(&mut partial).expect("decode"), None);
        assert_eq!(
            codec.decode(&mut wire).expect("decode"),
            Some(Frame::Text(Bytes::from_static(b"\x00hi\xff")))
        );
        assert_eq!(codec.decode(&mut wire).expect("decode"), Some(Frame::Close));
    }
}
