//! RFC 6455 frames as a node on the path or the origin sees them: their
//! headers read off a byte stream that arrives in pieces, and what one
//! direction's frames looked like added up. The origin records what it
//! received, the client what it sent, and the runner holds the two
//! together: a hop that re-framed, fragmented or dropped a message is seen
//! even when the bytes of the stream came through.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bytes of extended payload length a header has, from its second byte:
/// none for 0–125, 2 for the 16-bit form (126), 8 for the 64-bit form (127).
pub fn header_extension(second: u8) -> usize {
    match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// One frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1–3, as the high bits of the first byte (0x70 for all three).
    pub reserved: u8,
    pub opcode: u8,
    pub masked: bool,
    pub length: u64,
    /// Bytes of extended length on the wire: 0, 2 or 8.
    pub extension: usize,
}

impl FrameHeader {
    /// Reads a complete header (2 to 14 bytes).
    fn read(header: &[u8]) -> FrameHeader {
        let extension = header_extension(header[1]);
        let length = match extension {
            0 => u64::from(header[1] & 0x7f),
            2 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            _ => u64::from_be_bytes(header[2..10].try_into().unwrap_or_default()),
        };
        FrameHeader {
            fin: header[0] & 0x80 != 0,
            reserved: header[0] & 0x70,
            opcode: header[0] & 0x0f,
            masked: header[1] & 0x80 != 0,
            length,
            extension,
        }
    }

    /// Whether this is a control frame (close, ping, pong).
    pub fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }
}

/// Finds frame headers in a stream fed in pieces of any size.
#[derive(Debug, Default)]
pub struct FrameScanner {
    header: Vec<u8>,
    /// Payload bytes of the current frame still to skip.
    remaining: u64,
}

impl FrameScanner {
    /// Feeds the next bytes of the stream, calling `found` with each
    /// header completed in them.
    pub fn feed(&mut self, mut bytes: &[u8], mut found: impl FnMut(FrameHeader)) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let skip = bytes
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= skip as u64;
                bytes = &bytes[skip..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if self.header.len() < 2 {
                continue;
            }
            let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
            if self.header.len() == 2 + header_extension(self.header[1]) + mask {
                let header = FrameHeader::read(&self.header);
                self.header.clear();
                self.remaining = header.length;
                found(header);
            }
        }
    }
}

/// What one direction's WebSocket frames looked like, added up: enough to
/// tell whether a hop re-framed the messages on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct FrameSummary {
    /// Messages begun with a text frame.
    pub text_messages: u64,
    /// Messages begun with a binary frame.
    pub binary_messages: u64,
    /// Continuation frames: a message in more than one frame has them.
    pub continuations: u64,
    /// The largest payload of one data frame, in bytes.
    pub largest_frame: u64,
    /// Data frames whose length took the 16-bit form (126 to 65,535 bytes).
    pub length_16: u64,
    /// Data frames whose length took the 64-bit form (65,536 bytes and up).
    pub length_64: u64,
    /// Frames with any of RSV1–3 set (RSV1 is permessage-deflate's).
    pub reserved_bits: u64,
}

/// The opcodes of data frames: continuation, text, binary.
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;

impl FrameSummary {
    /// Counts one frame; control frames only for their reserved bits.
    pub fn count(&mut self, header: &FrameHeader) {
        if header.reserved != 0 {
            self.reserved_bits += 1;
        }
        if header.is_control() {
            return;
        }
        match header.opcode {
            CONTINUATION => self.continuations += 1,
            TEXT => self.text_messages += 1,
            BINARY => self.binary_messages += 1,
            _ => {}
        }
        self.largest_frame = self.largest_frame.max(header.length);
        match header.extension {
            2 => self.length_16 += 1,
            8 => self.length_64 += 1,
            _ => {}
        }
    }

    /// Adds another count of the same direction's frames to this one.
    pub fn add(&mut self, other: &FrameSummary) {
        self.text_messages += other.text_messages;
        self.binary_messages += other.binary_messages;
        self.continuations += other.continuations;
        self.largest_frame = self.largest_frame.max(other.largest_frame);
        self.length_16 += other.length_16;
        self.length_64 += other.length_64;
        self.reserved_bits += other.reserved_bits;
    }
}

impl std::fmt::Display for FrameSummary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} binary and {} text messages, {} continuation frames, the largest frame {} bytes, \
             {} frames with 16-bit and {} with 64-bit lengths",
            self.binary_messages,
            self.text_messages,
            self.continuations,
            self.largest_frame,
            self.length_16,
            self.length_64
        )?;
        if self.reserved_bits > 0 {
            write!(formatter, ", {} with reserved bits", self.reserved_bits)?;
        }
        Ok(())
    }
}

/// The first of a `Sec-WebSocket-Protocol` list of offers: the one a
/// server that speaks them all selects.
pub fn first_offer(offers: &str) -> &str {
    offers.split(',').next().unwrap_or_default().trim()
}

/// A close frame's code and reason, as an endpoint received it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct CloseSeen {
    pub code: u16,
    pub reason: String,
}

/// What the origin saw of one WebSocket: the handshake's negotiation, the
/// client's frames, and its close.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct WebSocketSeen {
    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), as
    /// they arrived; the origin selects the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocols: Option<String>,
    /// The extensions the client offered (`Sec-WebSocket-Extensions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<String>,
    /// The client's frames as they arrived.
    pub frames: FrameSummary,
    /// The client's close frame, if one came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<CloseSeen>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame's bytes: `first` byte, a masking key, and `length` bytes of
    /// payload in the shortest length form.
    fn frame(first: u8, length: usize) -> Vec<u8> {
        let mut out = vec![first];
        match length {
            0..=125 => out.push(0x80 | length as u8),
            126..=65_535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(length as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend(std::iter::repeat_n(0x55, length));
        out
    }

    /// A fragmented binary message, a text message, a large frame and a
    /// ping, fed a few bytes at a time: every header is found, and the
    /// summary counts the data frames alone.
    #[test]
    fn headers_are_found_in_a_stream_cut_anywhere() {
        let frames = [
            (0x02, 1000),
            (0x00, 1000),
            (0x80, 24),
            (0x81, 5),
            (0x82, 70_000),
            (0x89, 8),
        ];
        let stream: Vec<u8> = frames
            .iter()
            .flat_map(|(first, length)| frame(*first, *length))
            .collect();
        for piece in [1, 3, 7, 1500, stream.len()] {
            let mut scanner = FrameScanner::default();
            let mut summary = FrameSummary::default();
            let mut headers = Vec::new();
            for chunk in stream.chunks(piece) {
                scanner.feed(chunk, |header| {
                    summary.count(&header);
                    headers.push((header.fin, header.opcode, header.length));
                });
            }
            assert_eq!(
                headers,
                [
                    (false, 2, 1000),
                    (false, 0, 1000),
                    (true, 0, 24),
                    (true, 1, 5),
                    (true, 2, 70_000),
                    (true, 9, 8)
                ],
                "in pieces of {piece}"
            );
            let expected = FrameSummary {
                text_messages: 1,
                binary_messages: 2,
                continuations: 2,
                largest_frame: 70_000,
                length_16: 2,
                length_64: 1,
                reserved_bits: 0,
            };
            assert_eq!(summary, expected, "in pieces of {piece}");
            assert_eq!(
                summary.to_string(),
                "2 binary and 1 text messages, 2 continuation frames, the largest frame 70000 \
                 bytes, 2 frames with 16-bit and 1 with 64-bit lengths"
            );
        }
    }

    #[test]
    fn reserved_bits_are_counted_on_any_frame() {
        let mut scanner = FrameScanner::default();
        let mut summary = FrameSummary::default();
        let stream = [frame(0xc2, 3), frame(0x89 | 0x20, 0)].concat();
        scanner.feed(&stream, |header| summary.count(&header));
        assert_eq!(summary.reserved_bits, 2);
        assert_eq!(summary.binary_messages, 1);
    }
}
