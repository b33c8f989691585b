//! The few HTTP facts every HTTP-speaking node shares: which headers are
//! hop-by-hop, what a WebSocket upgrade looks like, and, for the nodes that
//! read heads themselves rather than through hyper (a legacy forwarder, a
//! tunnel meeting a proxy's answer, a hixie-76 origin, the probe, a real
//! proxy's tap), one bounded head reader and one status and header lookup.

use http::HeaderMap;
use http::header::{CONNECTION, UPGRADE};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Heads larger than this are refused: no client or proxy modelled here
/// sends one, so a longer one is not HTTP or not meant for us.
pub const MAX_HEAD: usize = 16 * 1024;

/// A head with more headers than this is not parsed, as servers cap them.
const MAX_HEADERS: usize = 64;

/// Headers that describe one hop's connection and are never forwarded as
/// they are (RFC 9110 §7.6.1), plus the legacy ones proxies also drop.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Whether a request or response asks to switch to WebSocket: `Connection`
/// lists the `upgrade` token and `Upgrade` names `websocket`.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let lists = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|item| item.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    lists(CONNECTION, "upgrade") && lists(UPGRADE, "websocket")
}

/// Removes hop-by-hop headers, including those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// How reading a head ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadEnd {
    /// At its blank line.
    Complete,
    /// The peer closed first.
    Closed,
    /// It grew to its limit ([`MAX_HEAD`] unless the reader said) without
    /// a blank line.
    TooLong,
    /// Its bytes cannot begin a request or a response (only
    /// [`read_http_head`] looks).
    NotHttp,
}

/// Reads an HTTP head that began with `start`, up to its blank line, one
/// byte at a time so that nothing after it (hixie-76's key3, a tunnel's
/// first bytes, a body) is consumed: the caller decides what they are.
pub async fn read_head(
    io: &mut (impl AsyncRead + Unpin),
    start: &[u8],
) -> std::io::Result<(Vec<u8>, HeadEnd)> {
    read_until_blank_line(io, start, false, MAX_HEAD).await
}

/// [`read_head`] as a real HTTP parser reads: bytes that cannot begin a
/// request or a response end it at once with [`HeadEnd::NotHttp`], as such
/// a parser answers them without waiting for more.
pub async fn read_http_head(
    io: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<(Vec<u8>, HeadEnd)> {
    read_http_head_within(io, MAX_HEAD).await
}

/// [`read_http_head`] with the node's own bound on a head instead of
/// [`MAX_HEAD`], for a node that models a product's header buffers.
pub async fn read_http_head_within(
    io: &mut (impl AsyncRead + Unpin),
    limit: usize,
) -> std::io::Result<(Vec<u8>, HeadEnd)> {
    read_until_blank_line(io, b"", true, limit).await
}

async fn read_until_blank_line(
    io: &mut (impl AsyncRead + Unpin),
    start: &[u8],
    refuse_early: bool,
    limit: usize,
) -> std::io::Result<(Vec<u8>, HeadEnd)> {
    let mut head = start.to_vec();
    let mut byte = [0_u8; 1];
    loop {
        if head.ends_with(b"\r\n\r\n") {
            return Ok((head, HeadEnd::Complete));
        }
        // Each look parses the whole head again, so past its first KiB it
        // looks once a line or once a KiB: a long head costs linear time,
        // not quadratic (a 32 KiB head took seconds in a debug build).
        let look = head.len() <= 1024 || head.ends_with(b"\n") || head.len() % 1024 == 0;
        if refuse_early && look && !head.is_empty() && !could_be_http(&head) {
            return Ok((head, HeadEnd::NotHttp));
        }
        if head.len() >= limit {
            return Ok((head, HeadEnd::TooLong));
        }
        if io.read(&mut byte).await? == 0 {
            return Ok((head, HeadEnd::Closed));
        }
        head.push(byte[0]);
    }
}

/// Whether `bytes` may still become a request or response head.
fn could_be_http(bytes: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parses_as_request = httparse::Request::new(&mut headers).parse(bytes).is_ok();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    parses_as_request || httparse::Response::new(&mut headers).parse(bytes).is_ok()
}

/// The status line of a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: String,
}

/// The status of a response head, complete or cut short; `None` when the
/// bytes do not begin a response.
pub fn response_status(head: &[u8]) -> Option<Status> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match (response.parse(head), response.code) {
        // httparse reads any three digits; a code below 100 (`050`) is no
        // status RFC 9110 §15 knows, so the bytes are not a response.
        (Ok(_), Some(code)) if code >= 100 => Some(Status {
            code,
            reason: response.reason.unwrap_or_default().to_string(),
        }),
        _ => None,
    }
}

/// Reads the rest of a response head that began with `start` and parses
/// its status line; a head cut short by the peer is parsed as it is. The
/// error says what arrived instead, for a message of the caller's.
pub async fn read_status(
    io: &mut (impl AsyncRead + Unpin),
    start: &[u8],
) -> Result<Status, String> {
    let (head, end) = read_head(io, start)
        .await
        .map_err(|error| error.to_string())?;
    if end == HeadEnd::TooLong {
        return Err(format!("a response head longer than {MAX_HEAD} bytes"));
    }
    response_status(&head).ok_or_else(|| {
        format!(
            "{:?} is not an HTTP response",
            String::from_utf8_lossy(&head[..head.len().min(40)])
        )
    })
}

/// The value of the header `name` (any case) among parsed headers, if it
/// is there and is text.
pub fn header<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .and_then(|header| std::str::from_utf8(header.value).ok())
}

/// A chunked body (RFC 9112 §7.1) that is not one: a chunk-size line
/// httparse refuses, a chunk not ended by CRLF, or a size past `usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid chunked body: {0}")]
pub struct BadChunk(&'static str);

/// How many bytes at the start of `bytes` the chunked body takes: its
/// chunks, the last (zero-size) chunk, its trailer fields and the blank
/// line that ends them. `None` while it is still incomplete. What follows
/// is not part of this message: a forwarder that frames by HTTP treats it
/// as undeclared.
pub fn chunked_body_len(bytes: &[u8]) -> Result<Option<ChunkedLen>, BadChunk> {
    let mut at = 0_usize;
    let mut data = 0_usize;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&bytes[at..]) {
            Ok(httparse::Status::Complete(parsed)) => parsed,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(BadChunk("a chunk-size line is malformed")),
        };
        at += used;
        let size = usize::try_from(size).map_err(|_| BadChunk("a chunk is too large"))?;
        if size == 0 {
            return Ok(trailers_end(&bytes[at..]).map(|len| ChunkedLen {
                total: at + len,
                data,
            }));
        }
        data = data
            .checked_add(size)
            .ok_or(BadChunk("a chunk is too large"))?;
        let end = at
            .checked_add(size)
            .and_then(|end| end.checked_add(2))
            .ok_or(BadChunk("a chunk is too large"))?;
        if bytes.len() < end {
            return Ok(None);
        }
        if &bytes[end - 2..end] != b"\r\n" {
            return Err(BadChunk("a chunk's data is not followed by CRLF"));
        }
        at = end;
    }
}

/// The length of a chunked body, as [`chunked_body_len`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedLen {
    /// Every byte of the body as it is framed on the wire.
    pub total: usize,
    /// The chunks' payload alone.
    pub data: usize,
}

/// The length of the trailer section and its closing blank line, when it
/// is all there.
fn trailers_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line = bytes[at..].windows(2).position(|pair| pair == b"\r\n")?;
        at += line + 2;
        if line == 0 {
            return Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[tokio::test]
    async fn reads_exactly_the_head() {
        let mut input: &[u8] =
            b" 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\nrest";
        let status = read_status(&mut input, b"HTTP/1.1").await.expect("status");
        assert_eq!(status.code, 407);
        assert_eq!(status.reason, "Proxy Authentication Required");
        assert_eq!(input, b"rest");
    }

    #[tokio::test]
    async fn says_what_arrived_when_it_is_not_http() {
        let mut input: &[u8] = b"\x00\x01garbage\r\n\r\n";
        let error = read_status(&mut input, b"").await.expect_err("not http");
        assert!(error.contains("is not an HTTP response"), "{error}");
    }

    #[tokio::test]
    async fn a_head_ends_at_its_limit_or_when_the_peer_closes() {
        let long = vec![b'a'; MAX_HEAD + 10];
        let (head, end) = read_head(&mut &long[..], b"").await.expect("read");
        assert_eq!((head.len(), end), (MAX_HEAD, HeadEnd::TooLong));
        let (head, end) = read_head(&mut &b"GET / HTTP/1.1\r\n"[..], b"")
            .await
            .expect("read");
        assert_eq!(
            (&head[..], end),
            (&b"GET / HTTP/1.1\r\n"[..], HeadEnd::Closed)
        );
    }

    #[tokio::test]
    async fn a_parser_stops_at_the_first_byte_that_cannot_be_http() {
        let mut hello: &[u8] = b"\x00\x00\x00\x10TRAVERSE/1 HELLO";
        let (head, end) = read_http_head(&mut hello).await.expect("read");
        assert_eq!((&head[..], end), (&b"\x00"[..], HeadEnd::NotHttp));
        assert_eq!(hello.len(), 19, "the rest is left unread");
        let mut request: &[u8] = b"GET /tunnel HTTP/1.1\r\nHost: origin.test\r\n\r\nkey3";
        let (_, end) = read_http_head(&mut request).await.expect("read");
        assert_eq!((end, request), (HeadEnd::Complete, &b"key3"[..]));
    }

    #[test]
    fn a_status_is_read_from_a_head_cut_short() {
        let status = response_status(b"HTTP/1.1 502 Bad Gateway\r\nServer: ngi");
        assert_eq!(
            status,
            Some(Status {
                code: 502,
                reason: "Bad Gateway".to_string()
            })
        );
        assert_eq!(response_status(b"GET / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(response_status(b"\x82\x05hello"), None);
    }

    #[test]
    fn a_status_below_100_is_not_a_response() {
        // Found by fuzzing (fuzz/corpus/http_head/status-below-100).
        assert_eq!(response_status(b"HTTP/1.1 050 Odd\r\n\r\n"), None);
        assert_eq!(response_status(b"HTTP/1.1 000 Odd\r\n"), None);
        assert_eq!(
            response_status(b"HTTP/1.1 100 Continue\r\n").map(|status| status.code),
            Some(100)
        );
    }

    #[test]
    fn headers_are_found_in_any_case() {
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut request = httparse::Request::new(&mut headers);
        request
            .parse(b"GET / HTTP/1.1\r\nSec-WebSocket-Key1: 1 2\r\n\r\n")
            .expect("parse");
        assert_eq!(header(request.headers, "sec-websocket-key1"), Some("1 2"));
        assert_eq!(header(request.headers, "host"), None);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn recognises_upgrades_as_browsers_and_proxies_write_them() {
        assert!(is_websocket_upgrade(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket")
        ])));
        assert!(is_websocket_upgrade(&headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket")
        ])));
        assert!(!is_websocket_upgrade(&headers(&[("upgrade", "websocket")])));
        assert!(!is_websocket_upgrade(&headers(&[
            ("connection", "upgrade"),
            ("upgrade", "h2c")
        ])));
    }

    #[test]
    fn a_chunked_body_ends_after_its_trailers() {
        let body = b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\nGET /extra HTTP/1.1\r\n\r\n";
        assert_eq!(
            chunked_body_len(body),
            Ok(Some(ChunkedLen { total: 25, data: 5 }))
        );
        assert_eq!(&body[25..], b"GET /extra HTTP/1.1\r\n\r\n");
        assert_eq!(chunked_body_len(b"5\r\nhel"), Ok(None));
        assert_eq!(chunked_body_len(b"5\r\nhello\r\n0\r\n"), Ok(None));
        assert_eq!(
            chunked_body_len(b"zz\r\n"),
            Err(BadChunk("a chunk-size line is malformed"))
        );
        assert_eq!(
            chunked_body_len(b"2\r\nabc\r\n0\r\n\r\n"),
            Err(BadChunk("a chunk's data is not followed by CRLF"))
        );
    }

    #[test]
    fn strips_hop_by_hop_headers_and_those_connection_names() {
        let mut map = headers(&[
            ("connection", "Upgrade, X-Trace"),
            ("upgrade", "websocket"),
            ("x-trace", "1"),
            ("keep-alive", "timeout=5"),
            ("host", "origin.test"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        strip_hop_by_hop(&mut map);
        let mut left: Vec<_> = map.keys().map(|name| name.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["host", "sec-websocket-key"]);
    }
}
