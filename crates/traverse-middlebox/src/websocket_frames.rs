//! What HTTP-mode hops can do to a WebSocket's client frames once they
//! relay it, as transforms on the client's bytes: refuse frames and
//! messages over a size (close with 1009) or with reserved bits set (1002),
//! enforce RFC 6455 masking
//! (close with 1002 on an unmasked frame), unmask and mask again with a key
//! of their own (F5 `WS::masking remask`), or, as a cache that never
//! understood the Upgrade, read the bytes as new HTTP requests and so be
//! poisoned by whatever a client can make appear on the wire in clear.

use traverse_net::websocket::{FrameHeader, FrameScanner, header_extension};
use traverse_net::{ConnEntry, Rejection, Transform};
use traverse_scenario::{Masking, ReservedBits, WebSocketRules};

/// The transforms a hop applies to a relayed WebSocket's client bytes.
pub(crate) fn transforms(
    masking: Masking,
    rules: WebSocketRules,
    cache: bool,
    entry: &ConnEntry,
) -> Option<Box<dyn Transform>> {
    let mut chain: Vec<Box<dyn Transform>> = Vec::new();
    if rules.reads_frames() {
        chain.push(Box::new(FrameRules::new(rules)));
    }
    if masking != Masking::Ignore {
        chain.push(Box::new(MaskingRule::new(masking)));
    }
    if cache {
        chain.push(Box::new(CacheReader::new(entry.clone())));
    }
    match chain.len() {
        0 => None,
        1 => chain.pop(),
        _ => Some(Box::new(chain)),
    }
}

/// A close frame as a server (or intermediary) sends it: unmasked.
pub(crate) fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut frame = vec![0x88, 2 + reason.len() as u8];
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason);
    frame
}

/// Enforces or rewrites client-frame masking, one frame at a time.
pub(crate) struct MaskingRule {
    masking: Masking,
    state: FrameState,
}

enum FrameState {
    /// Collecting a frame header, which may arrive in pieces.
    Header(Vec<u8>),
    Payload {
        remaining: u64,
        offset: usize,
        unmask: Option<[u8; 4]>,
        mask: Option<[u8; 4]>,
    },
}

impl MaskingRule {
    pub(crate) fn new(masking: Masking) -> MaskingRule {
        MaskingRule {
            masking,
            state: FrameState::Header(Vec::with_capacity(14)),
        }
    }

    /// Handles a complete header; returns what goes upstream for it.
    fn header(&mut self, header: &[u8]) -> Result<(Vec<u8>, FrameState), Rejection> {
        let masked = header[1] & 0x80 != 0;
        let extended = header_extension(header[1]);
        let length = match extended {
            0 => u64::from(header[1] & 0x7f),
            2 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            _ => u64::from_be_bytes(header[2..10].try_into().unwrap_or_default()),
        };
        let old_key: Option<[u8; 4]> = masked.then(|| {
            header[2 + extended..6 + extended]
                .try_into()
                .unwrap_or_default()
        });
        if !masked && self.masking == Masking::Require {
            return Err(Rejection {
                reason: "with 1002: the client sent an unmasked frame (masking = require)"
                    .to_string(),
                reply: close_frame(1002, "client frames must be masked"),
            });
        }
        let (out, unmask, mask) = match self.masking {
            Masking::Remask => {
                let key = masking_key();
                let mut out = header[..2 + extended].to_vec();
                out[1] |= 0x80;
                out.extend_from_slice(&key);
                (out, old_key, Some(key))
            }
            _ => (header.to_vec(), None, None),
        };
        Ok((
            out,
            FrameState::Payload {
                remaining: length,
                offset: 0,
                unmask,
                mask,
            },
        ))
    }
}

/// Refuses client frames and messages over the hop's sizes, and frames
/// with reserved bits, before any of their bytes go upstream.
pub(crate) struct FrameRules {
    rules: WebSocketRules,
    scanner: FrameScanner,
    /// The bytes of the message under way, its frames added up.
    message: u64,
}

impl FrameRules {
    pub(crate) fn new(rules: WebSocketRules) -> FrameRules {
        FrameRules {
            rules,
            scanner: FrameScanner::default(),
            message: 0,
        }
    }

    /// Why `header` is refused, with the close frame that says so.
    fn judge(&mut self, header: &FrameHeader) -> Option<Rejection> {
        let refuse = |code: u16, reason: String, short: &str| Rejection {
            reason: format!("with {code}: {reason}"),
            reply: close_frame(code, short),
        };
        if header.reserved != 0 && self.rules.reserved_bits == ReservedBits::Reject {
            return Some(refuse(
                1002,
                format!(
                    "the client sent a frame with reserved bits set (RSV {:#05b})                      (reserved_bits = \"reject\")",
                    header.reserved >> 4
                ),
                "reserved bits set",
            ));
        }
        if header.is_control() {
            return None;
        }
        if let Some(most) = self.rules.max_frame_size
            && header.length > most as u64
        {
            return Some(refuse(
                1009,
                format!(
                    "the client sent a frame of {} bytes, over max_frame_size = {most}",
                    header.length
                ),
                "frame too big",
            ));
        }
        self.message = if header.opcode == traverse_net::websocket::CONTINUATION {
            self.message + header.length
        } else {
            header.length
        };
        match self.rules.max_message_size {
            Some(most) if self.message > most as u64 => Some(refuse(
                1009,
                format!(
                    "the client sent a message of {} bytes or more, over max_message_size = {most}",
                    self.message
                ),
                "message too big",
            )),
            _ => None,
        }
    }
}

impl Transform for FrameRules {
    fn apply(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), Rejection> {
        let mut refused = None;
        let mut headers = Vec::new();
        self.scanner.feed(input, |header| headers.push(header));
        for header in headers {
            if refused.is_none() {
                refused = self.judge(&header);
            }
        }
        match refused {
            Some(rejection) => Err(rejection),
            None => {
                output.extend_from_slice(input);
                Ok(())
            }
        }
    }
}

impl Transform for MaskingRule {
    fn apply(&mut self, mut input: &[u8], output: &mut Vec<u8>) -> Result<(), Rejection> {
        while !input.is_empty() {
            match &mut self.state {
                FrameState::Header(collected) => {
                    collected.push(input[0]);
                    input = &input[1..];
                    let complete = collected.len() >= 2 && {
                        let masked = collected[1] & 0x80 != 0;
                        let need = 2 + header_extension(collected[1]) + if masked { 4 } else { 0 };
                        collected.len() == need
                    };
                    if complete {
                        let header = std::mem::take(collected);
                        let (out, next) = self.header(&header)?;
                        output.extend_from_slice(&out);
                        self.state = match next {
                            FrameState::Payload { remaining: 0, .. } => {
                                FrameState::Header(Vec::with_capacity(14))
                            }
                            payload => payload,
                        };
                    }
                }
                FrameState::Payload {
                    remaining,
                    offset,
                    unmask,
                    mask,
                } => {
                    let take = input
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    for &byte in &input[..take] {
                        let clear = unmask.map_or(byte, |key| byte ^ key[*offset % 4]);
                        output.push(mask.map_or(clear, |key| clear ^ key[*offset % 4]));
                        *offset += 1;
                    }
                    *remaining -= take as u64;
                    input = &input[take..];
                    if *remaining == 0 {
                        self.state = FrameState::Header(Vec::with_capacity(14));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A fresh masking key, as unpredictable as RFC 6455 asks of a client.
fn masking_key() -> [u8; 4] {
    fastrand::u32(..).to_be_bytes()
}

/// A cache that ignores the Upgrade and keeps parsing the client's bytes as
/// HTTP requests: any complete request in clear would be forwarded and its
/// answer cached under the request's Host and path.
pub(crate) struct CacheReader {
    entry: ConnEntry,
    window: Vec<u8>,
    poisoned: bool,
}

/// How much of the stream the cache keeps looking back over.
const WINDOW: usize = 8 * 1024;

impl CacheReader {
    pub(crate) fn new(entry: ConnEntry) -> CacheReader {
        CacheReader {
            entry,
            window: Vec::new(),
            poisoned: false,
        }
    }

    /// The URL of the first complete request with a Host in the window.
    fn find_request(&self) -> Option<String> {
        const METHODS: [&[u8]; 4] = [b"GET ", b"POST ", b"HEAD ", b"PUT "];
        (0..self.window.len()).find_map(|start| {
            let rest = &self.window[start..];
            if !METHODS.iter().any(|method| rest.starts_with(method)) {
                return None;
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(rest) {
                Ok(httparse::Status::Complete(_)) => {
                    let host = traverse_net::http::header(request.headers, "host")?;
                    Some(format!("http://{host}{}", request.path.unwrap_or("/")))
                }
                _ => None,
            }
        })
    }
}

impl Transform for CacheReader {
    fn apply(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), Rejection> {
        output.extend_from_slice(input);
        if self.poisoned {
            return Ok(());
        }
        self.window.extend_from_slice(input);
        if self.window.len() > WINDOW {
            let excess = self.window.len() - WINDOW;
            self.window.drain(..excess);
        }
        if let Some(url) = self.find_request() {
            self.poisoned = true;
            self.entry.note_poisoned(url);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: FIN + binary, with `key` if masked.
    fn frame(payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![0x82];
        let mask_bit = if key.is_some() { 0x80 } else { 0 };
        if payload.len() < 126 {
            out.push(mask_bit | payload.len() as u8);
        } else {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        if let Some(key) = key {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// Reads a masked frame back to its payload.
    fn unmask(frame: &[u8]) -> Vec<u8> {
        assert_eq!(frame[1] & 0x80, 0x80, "the frame is masked");
        let extension = header_extension(frame[1]);
        let key = &frame[2 + extension..6 + extension];
        frame[6 + extension..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect()
    }

    fn run(rule: &mut dyn Transform, input: &[u8], piece: usize) -> Result<Vec<u8>, Rejection> {
        let mut output = Vec::new();
        for chunk in input.chunks(piece) {
            rule.apply(chunk, &mut output)?;
        }
        Ok(output)
    }

    #[test]
    fn require_passes_masked_frames_untouched() {
        let masked = frame(b"hello", Some([1, 2, 3, 4]));
        let mut rule = MaskingRule::new(Masking::Require);
        assert_eq!(run(&mut rule, &masked, 3).expect("masked"), masked);
    }

    #[test]
    fn require_closes_with_1002_on_an_unmasked_frame() {
        let mut rule = MaskingRule::new(Masking::Require);
        let refusal = run(&mut rule, &frame(b"hello", None), 64).expect_err("unmasked");
        assert_eq!(
            &refusal.reply[..4],
            &[0x88, refusal.reply.len() as u8 - 2, 0x03, 0xEA]
        );
    }

    #[test]
    fn remask_masks_unmasked_frames_and_changes_masked_keys() {
        let payload: Vec<u8> = (0..300).map(|i| (i % 251) as u8).collect();
        for key in [None, Some([9, 8, 7, 6])] {
            let input = frame(&payload, key);
            let mut rule = MaskingRule::new(Masking::Remask);
            let output = run(&mut rule, &input, 7).expect("remask");
            assert_eq!(unmask(&output), payload, "payload survives with {key:?}");
            assert_ne!(&output[4..8], &[9, 8, 7, 6], "a fresh key");
        }
    }

    #[test]
    fn remasked_frames_each_get_a_key_of_their_own() {
        let mut rule = MaskingRule::new(Masking::Remask);
        let keys: std::collections::BTreeSet<Vec<u8>> = (0..100)
            .map(|_| run(&mut rule, &frame(b"hi", None), 64).expect("remask")[2..6].to_vec())
            .collect();
        assert!(keys.len() > 90, "{keys:?}");
    }

    #[test]
    fn the_cache_reads_a_request_in_clear_but_not_in_masked_frames() {
        let attack = b"GET /poison HTTP/1.1\r\nHost: victim.test\r\n\r\n";
        let log = traverse_net::TransactionLog::new();
        let clear = log.open(([127, 0, 0, 1], 1).into(), 80);
        let mut cache = CacheReader::new(clear.clone());
        run(&mut cache, &frame(attack, None), 5).expect("pass");
        assert_eq!(
            clear.record().cache_poisoned.as_deref(),
            Some("http://victim.test/poison")
        );
        let masked = log.open(([127, 0, 0, 1], 2).into(), 80);
        let mut cache = CacheReader::new(masked.clone());
        run(
            &mut cache,
            &frame(attack, Some([0x5a, 0x11, 0xc3, 0x7e])),
            5,
        )
        .expect("pass");
        assert_eq!(masked.record().cache_poisoned, None);
    }

    /// A frame over the cap, a message over the cap in fragments and a
    /// frame with RSV1 are each refused before any of their bytes go on,
    /// with the close code RFC 6455 gives for it; what is within the rules
    /// passes untouched.
    #[test]
    fn frame_rules_refuse_what_is_over_their_limits() {
        let rules = |frame, message, reserved| WebSocketRules {
            max_frame_size: frame,
            max_message_size: message,
            reserved_bits: reserved,
            ..WebSocketRules::default()
        };
        let fragment = |first: u8, length: usize| {
            let mut out = frame(&vec![7; length], Some([1, 2, 3, 4]));
            out[0] = first;
            out
        };
        let close_code =
            |rejection: &Rejection| u16::from_be_bytes([rejection.reply[2], rejection.reply[3]]);
        let within = [fragment(0x02, 300), fragment(0x80, 300)].concat();
        let mut cap = FrameRules::new(rules(Some(300), Some(600), ReservedBits::Pass));
        assert_eq!(run(&mut cap, &within, 7).expect("within"), within);

        let mut cap = FrameRules::new(rules(Some(300), None, ReservedBits::Pass));
        let refused = run(&mut cap, &fragment(0x82, 301), 5).expect_err("over the frame cap");
        assert_eq!(close_code(&refused), 1009);
        assert_eq!(
            refused.reason,
            "with 1009: the client sent a frame of 301 bytes, over max_frame_size = 300"
        );

        let mut cap = FrameRules::new(rules(None, Some(500), ReservedBits::Pass));
        let refused = run(&mut cap, &within, 64).expect_err("over the message cap");
        assert_eq!(close_code(&refused), 1009);
        assert!(
            refused.reason.contains("a message of 600 bytes"),
            "{}",
            refused.reason
        );

        let mut strict = FrameRules::new(rules(None, None, ReservedBits::Reject));
        let refused = run(&mut strict, &fragment(0xc2, 3), 64).expect_err("RSV1");
        assert_eq!(close_code(&refused), 1002);
        let mut lenient = FrameRules::new(rules(None, None, ReservedBits::Pass));
        assert!(run(&mut lenient, &fragment(0xc2, 3), 64).is_ok());
    }
}
