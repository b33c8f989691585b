//! Reading an HTTP response head where a client expected one (a proxy's
//! answer to CONNECT) or met one instead of its own protocol (an HTTP
//! middlebox refusing the tunnel's first bytes).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Heads larger than this are not a proxy's answer.
const MAX_HEAD: usize = 16 * 1024;

/// The status line of a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub code: u16,
    pub reason: String,
}

/// How reading a head ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadEnd {
    /// At its blank line.
    Complete,
    /// The peer closed first.
    Closed,
    /// It grew past [`MAX_HEAD`] without a blank line.
    TooLong,
}

/// Reads an HTTP head that began with `start`, one byte at a time so that
/// nothing after it (hixie-76's key3, a tunnel's first bytes) is consumed.
pub(crate) async fn read_head(
    io: &mut (impl AsyncRead + Unpin),
    start: &[u8],
) -> std::io::Result<(Vec<u8>, HeadEnd)> {
    let mut head = start.to_vec();
    let mut byte = [0_u8; 1];
    loop {
        if head.ends_with(b"\r\n\r\n") {
            return Ok((head, HeadEnd::Complete));
        }
        if head.len() >= MAX_HEAD {
            return Ok((head, HeadEnd::TooLong));
        }
        if io.read(&mut byte).await? == 0 {
            return Ok((head, HeadEnd::Closed));
        }
        head.push(byte[0]);
    }
}

/// Reads the rest of a response head that began with `start` and parses
/// its status line; a head cut short by the peer is parsed as it is.
pub(crate) async fn read_status(
    io: &mut (impl AsyncRead + Unpin),
    start: &[u8],
) -> Result<Status, String> {
    let (head, end) = read_head(io, start)
        .await
        .map_err(|error| error.to_string())?;
    if end == HeadEnd::TooLong {
        return Err(format!("a response head longer than {MAX_HEAD} bytes"));
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match (response.parse(&head), response.code) {
        (Ok(_), Some(code)) => Ok(Status {
            code,
            reason: response.reason.unwrap_or_default().to_string(),
        }),
        _ => Err(format!(
            "{:?} is not an HTTP response",
            String::from_utf8_lossy(&head[..head.len().min(40)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
