//! The properties the `legacy_request` and `websocket_masking` fuzz
//! targets in `fuzz/` hold the mocks' own parsers to, kept here so that the
//! fuzz targets and the corpus regression test (`tests/fuzz_corpus.rs`)
//! check the very same thing. The legacy forwarder's request reader never
//! returns a head beyond nginx's limits, and what it forwards as declared
//! is exactly what the framing declares, never a byte more (else a
//! smuggled request rides behind a body); the RFC 6455 masking rule passes
//! masked frames byte for byte, refuses the first unmasked one, and a
//! remask keeps every frame's length and payload while changing its key.
//! Not a stable interface: it panics when a property does not hold.

use traverse_net::fuzzing::block_on;
use traverse_net::http::chunked_body_len;
use traverse_net::{Rejection, TransactionLog, Transform};
use traverse_scenario::{Masking, ReservedBits, WebSocketRules};

use crate::legacy_forwarder::{
    BODY_LIMIT, Body, HEAD_LIMIT, LINE_LIMIT, body_framing, read_body, read_request,
};
use crate::websocket_frames::{CacheReader, FrameRules, MaskingRule};

/// `input` as the bytes a client sends a legacy forwarder: its head, then
/// the body its framing declares and what follows.
pub fn check_legacy_request(input: &[u8]) {
    let mut reader = input;
    let (head, rest) = match block_on(read_request(&mut reader)) {
        Err(error) => {
            assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
            return;
        }
        Ok(Err(refusal)) => {
            assert!([400, 414].contains(&refusal.status), "{}", refusal.detail);
            return;
        }
        Ok(Ok(request)) => request,
    };
    assert!(head.len() <= HEAD_LIMIT, "a head of {} bytes", head.len());
    assert!(
        head.split(|&byte| byte == b'\n')
            .all(|line| line.len() <= LINE_LIMIT),
        "a line past nginx's buffer"
    );
    let read = input.len() - reader.len();
    assert_eq!(
        [&head[..], &rest[..]].concat(),
        &input[..read],
        "what was read, in order"
    );

    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
        return;
    }
    let body = match body_framing(request.headers) {
        Ok(body) => body,
        Err(refusal) => {
            assert!(
                [400, 413, 501].contains(&refusal.status),
                "{}",
                refusal.detail
            );
            return;
        }
    };
    let (declared, undeclared) = match block_on(read_body(&mut reader, rest, body)) {
        Ok(split) => split,
        Err(refusal) => {
            assert!([400, 413].contains(&refusal.status), "{}", refusal.detail);
            return;
        }
    };
    let read = input.len() - reader.len();
    assert_eq!(
        [&head[..], &declared[..], &undeclared[..]].concat(),
        &input[..read],
        "the body and what follows it are what was read, in order"
    );
    match body {
        Body::Absent => assert!(declared.is_empty(), "a body no header declares"),
        Body::Length(length) => {
            assert_eq!(declared.len(), length, "Content-Length: {length}");
            assert!(length <= BODY_LIMIT);
        }
        Body::Chunked => {
            let framed = chunked_body_len(&declared).expect("a chunked body that parsed");
            let framed = framed.expect("a whole chunked body");
            assert_eq!(framed.total, declared.len(), "the chunked body, to its end");
            assert!(framed.data <= BODY_LIMIT);
        }
    }
}

/// `input`'s first byte chooses the masking rule and the size of the
/// pieces the rest arrives in; the rest is a client's WebSocket bytes.
pub fn check_websocket_masking(input: &[u8]) {
    let Some((&choice, stream)) = input.split_first() else {
        return;
    };
    let piece = usize::from(choice >> 1) + 1;
    let frames = parse_frames(stream);
    let headers_len: usize = frames.iter().map(|frame| frame.header.len()).sum();
    let payload_len: usize = frames.iter().map(|frame| frame.payload.len()).sum();
    if choice & 1 == 0 {
        let whole = apply(
            &mut MaskingRule::new(Masking::Require),
            stream,
            stream.len().max(1),
        );
        let pieces = apply(&mut MaskingRule::new(Masking::Require), stream, piece);
        match (&whole, &pieces) {
            (Ok(whole), Ok(pieces)) => assert_eq!(whole, pieces, "the same however it arrives"),
            (Err(whole), Err(pieces)) => assert_eq!(whole.reply, pieces.reply),
            _ => panic!("{whole:?} as a whole, {pieces:?} in pieces"),
        }
        let unmasked = frames.iter().any(|frame| frame.key.is_none());
        match whole {
            Ok(out) => {
                assert!(!unmasked, "an unmasked frame passed");
                assert_eq!(
                    out,
                    &stream[..headers_len + payload_len],
                    "masked frames untouched"
                );
            }
            Err(rejection) => {
                assert!(unmasked, "a masked stream refused: {}", rejection.reason);
                assert_eq!(
                    &rejection.reply[..4],
                    &[0x88, rejection.reply.len() as u8 - 2, 0x03, 0xEA]
                );
            }
        }
    } else {
        let out = apply(&mut MaskingRule::new(Masking::Remask), stream, piece)
            .unwrap_or_else(|rejection| panic!("remask refused: {}", rejection.reason));
        let remasked = parse_frames(&out);
        assert_eq!(remasked.len(), frames.len(), "as many frames out as in");
        for (was, is) in frames.iter().zip(&remasked) {
            assert_eq!(is.length, was.length, "a remasked frame keeps its length");
            assert_eq!(is.header[0], was.header[0], "and its opcode and flags");
            assert!(is.key.is_some(), "a remasked frame is masked");
            assert_eq!(is.clear(), was.clear(), "and keeps its payload");
        }
        assert_eq!(
            out.len(),
            remasked
                .iter()
                .map(|frame| frame.header.len() + frame.payload.len())
                .sum::<usize>()
        );
    }
    let log = TransactionLog::new();
    let entry = log.open(([127, 0, 0, 1], 1).into(), 80);
    // In one piece: the cache looks back over its whole window on every
    // read, so byte-sized pieces would cost the fuzzer a square.
    let out = apply(&mut CacheReader::new(entry), stream, stream.len().max(1))
        .expect("a cache passes all");
    assert_eq!(out, stream, "a cache passes every byte on");
    check_frame_rules(stream, piece, &frames);
}

/// The frame and message caps and the reserved-bits rule refuse the first
/// frame that breaks one, however the stream arrives, and pass every byte
/// of a stream that breaks none.
fn check_frame_rules(stream: &[u8], piece: usize, frames: &[Frame<'_>]) {
    let rules = WebSocketRules {
        max_frame_size: Some(300),
        max_message_size: Some(600),
        reserved_bits: ReservedBits::Reject,
        ..WebSocketRules::default()
    };
    let whole = apply(&mut FrameRules::new(rules), stream, stream.len().max(1));
    let pieces = apply(&mut FrameRules::new(rules), stream, piece);
    let mut message = 0_u64;
    let first_broken = frames.iter().position(|frame| {
        let (first, control) = (frame.header[0], frame.header[0] & 0x08 != 0);
        if first & 0x70 != 0 {
            return true;
        }
        if control {
            return false;
        }
        message = if first & 0x0f == 0 {
            message + frame.length
        } else {
            frame.length
        };
        frame.length > 300 || message > 600
    });
    match (whole, pieces, first_broken) {
        (Ok(whole), Ok(pieces), None) => {
            assert_eq!(whole, stream, "nothing broken, every byte passes");
            assert_eq!(pieces, stream, "in pieces too");
        }
        (Err(whole), Err(pieces), Some(_)) => {
            assert_eq!(
                whole.reply, pieces.reply,
                "the same refusal however it arrives"
            );
            let code = u16::from_be_bytes([whole.reply[2], whole.reply[3]]);
            assert!(code == 1002 || code == 1009, "closed with {code}");
        }
        (whole, pieces, broken) => {
            panic!("{whole:?} as a whole, {pieces:?} in pieces, first broken frame {broken:?}")
        }
    }
}

fn apply(rule: &mut dyn Transform, input: &[u8], piece: usize) -> Result<Vec<u8>, Rejection> {
    let mut output = Vec::new();
    for chunk in input.chunks(piece) {
        rule.apply(chunk, &mut output)?;
    }
    Ok(output)
}

/// One client frame as RFC 6455 §5.2 lays it out, read independently of
/// the rule under test; its payload is cut short where the input ends.
#[derive(Debug)]
struct Frame<'a> {
    header: &'a [u8],
    key: Option<[u8; 4]>,
    length: u64,
    payload: &'a [u8],
}

impl Frame<'_> {
    fn clear(&self) -> Vec<u8> {
        let key = self.key.unwrap_or_default();
        self.payload
            .iter()
            .enumerate()
            .map(|(at, byte)| byte ^ key[at % 4])
            .collect()
    }
}

/// The frames of `bytes` whose header is whole; the last may be cut short.
fn parse_frames(bytes: &[u8]) -> Vec<Frame<'_>> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 2 {
        let extension = match rest[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let masked = rest[1] & 0x80 != 0;
        let header_len = 2 + extension + if masked { 4 } else { 0 };
        if rest.len() < header_len {
            break;
        }
        let length = match extension {
            0 => u64::from(rest[1] & 0x7f),
            2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
            _ => u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes")),
        };
        let key = masked.then(|| rest[2 + extension..header_len].try_into().expect("4 bytes"));
        let available = rest.len() - header_len;
        let take = usize::try_from(length).map_or(available, |length| length.min(available));
        frames.push(Frame {
            header: &rest[..header_len],
            key,
            length,
            payload: &rest[header_len..header_len + take],
        });
        rest = &rest[header_len + take..];
    }
    frames
}
