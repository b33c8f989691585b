//! The properties the `http_head` fuzz target in `fuzz/` holds the shared
//! HTTP readers of [`crate::http`] to, kept here so that the fuzz target
//! and the corpus regression test (`tests/fuzz_corpus.rs`) check the very
//! same thing. Every node that reads a head itself (a legacy forwarder, a
//! hixie-76 origin, a tunnel meeting a proxy's answer) relies on them: a
//! head reader never returns more than its limit nor consumes a byte past
//! the head's blank line, and the chunked-body framer never claims more
//! bytes than it was given. The async readers run on an in-memory reader
//! (`&[u8]`) on one current-thread runtime per thread.
//! Not a stable interface: it panics when a property does not hold.

use std::future::Future;

use crate::http::{
    HeadEnd, MAX_HEAD, chunked_body_len, read_head, read_http_head_within, read_status,
};

/// Drives `future` to its end on this thread's runtime, built once: a
/// fuzz target calls this millions of times.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// `input`'s first byte chooses how much of the rest is the already-read
/// `start` of a head and which limit the bounded reader gets; the rest is
/// what the peer sends.
pub fn check_http_head(input: &[u8]) {
    let Some((&choice, rest)) = input.split_first() else {
        return;
    };
    let split = usize::from(choice & 0x0f).min(rest.len());
    let (start, sent) = rest.split_at(split);
    check_read_head(start, sent);
    let limit = match choice >> 4 {
        0 => MAX_HEAD,
        small => usize::from(small) * 7,
    };
    check_read_http_head_within(rest, limit);
    check_read_status(start, sent);
    check_chunked_body_len(rest);
}

fn check_read_head(start: &[u8], sent: &[u8]) {
    let mut reader = sent;
    let (head, end) = block_on(read_head(&mut reader, start)).expect("a slice never fails");
    let read = head.len() - start.len();
    assert!(head.starts_with(start), "a head keeps its start");
    assert_eq!(
        &head[start.len()..],
        &sent[..read],
        "a head is what was sent"
    );
    assert_eq!(reader, &sent[read..], "nothing past the head is consumed");
    assert!(
        head.len() <= MAX_HEAD.max(start.len()),
        "a head of {} bytes passed the limit",
        head.len()
    );
    assert_ends(&head, start.len(), end, MAX_HEAD, reader.is_empty());
}

fn check_read_http_head_within(sent: &[u8], limit: usize) {
    let mut reader = sent;
    let (head, end) =
        block_on(read_http_head_within(&mut reader, limit)).expect("a slice never fails");
    assert_eq!(head, &sent[..head.len()], "a head is what was sent");
    assert_eq!(
        reader,
        &sent[head.len()..],
        "nothing past the head is consumed"
    );
    assert!(
        head.len() <= limit,
        "a head of {} bytes passed its limit {limit}",
        head.len()
    );
    assert_ends(&head, 0, end, limit, reader.is_empty());
}

/// How a head whose bytes after `start` came from the peer ended says
/// what it is: its first blank line, its limit, or the peer's end.
fn assert_ends(head: &[u8], start: usize, end: HeadEnd, limit: usize, drained: bool) {
    let early = (start..head.len()).any(|at| head[..at].ends_with(b"\r\n\r\n"));
    assert!(!early, "read on past a blank line");
    match end {
        HeadEnd::Complete => assert!(head.ends_with(b"\r\n\r\n"), "complete at no blank line"),
        HeadEnd::TooLong => assert!(head.len() >= limit, "too long below the limit"),
        HeadEnd::Closed => {
            assert!(drained, "closed with bytes still to read");
            assert!(head.len() < limit, "closed past the limit");
        }
        HeadEnd::NotHttp => {}
    }
}

fn check_read_status(start: &[u8], sent: &[u8]) {
    let mut reader = sent;
    if let Ok(status) = block_on(read_status(&mut reader, start)) {
        assert!((100..=999).contains(&status.code), "status {}", status.code);
    }
}

fn check_chunked_body_len(bytes: &[u8]) {
    let Ok(Some(length)) = chunked_body_len(bytes) else {
        return;
    };
    assert!(
        length.total <= bytes.len(),
        "a chunked body of {} bytes in {} bytes",
        length.total,
        bytes.len()
    );
    assert!(length.data <= length.total, "more data than body");
    assert_eq!(
        chunked_body_len(&bytes[..length.total]),
        Ok(Some(length)),
        "a body ends where it said, whatever follows"
    );
    assert_eq!(
        chunked_body_len(&bytes[..length.total - 1]),
        Ok(None),
        "a body one byte short is incomplete"
    );
}
