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

/// Reads the rest of a response head that began with `start`, one byte at
/// a time so that nothing after the head is consumed, and parses it.
pub(crate) async fn read_status(
    io: &mut (impl AsyncRead + Unpin),
    start: &[u8],
) -> Result<Status, String> {
    let mut head = start.to_vec();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(format!("a response head longer than {MAX_HEAD} bytes"));
        }
        match io.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            Ok(_) => break,
            Err(error) => return Err(error.to_string()),
        }
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
