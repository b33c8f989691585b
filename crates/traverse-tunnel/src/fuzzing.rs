//! The property the `hixie76` fuzz target in `fuzz/` holds the hixie-76
//! tunnel's own parsers to, kept here so that the fuzz target and the
//! corpus regression test (`tests/fuzz_corpus.rs`) check the very same
//! thing. Both halves of the `hixie76` tunnel read frames with one codec
//! from whatever a middlebox passes: it reads the same frames however the
//! bytes are split, never claims more bytes than arrived, and every text
//! frame it reads is written back as the same frame; the text encoding
//! round-trips every byte; a handshake key's number is its digits divided
//! by its spaces, or an error.
//! Not a stable interface: it panics when a property does not hold.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::hixie76::{Codec, Frame, challenge_answer, decode, encode, key_number};

/// `input`'s first byte chooses the size of the pieces the rest arrives in.
pub fn check_hixie76(input: &[u8]) {
    let Some((&choice, wire)) = input.split_first() else {
        return;
    };
    let piece = usize::from(choice) + 1;
    let whole = read_frames(wire, wire.len().max(1));
    let pieces = read_frames(wire, piece);
    assert_eq!(whole, pieces, "the same frames however the bytes arrive");
    let (frames, consumed, _) = &whole;
    assert!(
        *consumed <= wire.len(),
        "{consumed} bytes read of {}",
        wire.len()
    );
    let mut written = BytesMut::new();
    for frame in frames {
        if let Frame::Text(text) = frame {
            assert!(
                text.len() + 2 <= *consumed,
                "a frame larger than what arrived"
            );
        }
        Codec::default()
            .encode(frame.clone(), &mut written)
            .expect("encoding cannot fail");
    }
    let (again, _, failed) = read_frames(&written, written.len().max(1));
    assert!(!failed, "frames it wrote it cannot read");
    assert_eq!(&again, frames, "frames read back as written");

    assert_eq!(
        decode(&encode(wire)).as_deref(),
        Ok(wire),
        "the text encoding round-trips"
    );
    if let Ok(text) = decode(wire) {
        assert!(text.len() <= wire.len(), "decoding never grows text");
    }
    check_keys(wire);
}

/// The frames read from `wire` fed `piece` bytes at a time, how many bytes
/// they took, and whether reading stopped at bytes that are not a frame.
fn read_frames(wire: &[u8], piece: usize) -> (Vec<Frame>, usize, bool) {
    let mut codec = Codec::default();
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    for chunk in wire.chunks(piece) {
        buffer.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, fed - buffer.len(), true),
            }
        }
    }
    (frames, fed - buffer.len(), false)
}

/// The first two lines of `wire` as `Sec-WebSocket-Key1` and `Key2`, the
/// next 8 bytes as key3.
fn check_keys(wire: &[u8]) {
    let text = String::from_utf8_lossy(wire);
    let mut lines = text.split('\n');
    let (Some(key1), Some(key2)) = (lines.next(), lines.next()) else {
        return;
    };
    for key in [key1, key2] {
        if let Ok(number) = key_number(key) {
            let digits: String = key.chars().filter(char::is_ascii_digit).collect();
            let spaces = key.chars().filter(|c| *c == ' ').count() as u64;
            assert_eq!(
                u64::from(number) * spaces,
                digits.parse::<u64>().expect("a key with a number"),
                "{key:?}"
            );
        }
    }
    let key3: [u8; 8] = std::array::from_fn(|at| wire.get(at).copied().unwrap_or_default());
    let answer = challenge_answer(key1, key2, &key3);
    assert_eq!(
        answer.is_ok(),
        key_number(key1).is_ok() && key_number(key2).is_ok()
    );
}
