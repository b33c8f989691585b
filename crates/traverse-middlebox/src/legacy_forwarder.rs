//! `kind = "legacy-forwarder"`: a plain HTTP reverse proxy of the hixie-76
//! era on port 80, configured to pass `Upgrade` on, that forwards a request
//! as HTTP framing describes it. Draft-76 clients send 8 bytes of key
//! material after the headers with no `Content-Length`, so what the
//! forwarder does with undeclared bytes decides the handshake:
//! `declared-only` drops them (nginx, Apache: the origin waits forever),
//! `hold-until-response` keeps them until the origin answers (HAProxy in
//! 2010: a deadlock), `forward` passes everything (a compliant forwarder).
//! An origin that never answers gets `504` after `read_timeout` (nginx's
//! `proxy_read_timeout`). After a `101` it relays both ways, with the hop's
//! masking rule on client frames. Port 443 is not its business and is
//! routed on untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use traverse_net::http::{HeadEnd, read_http_head, response_status};
use traverse_net::{Action, ConnEntry, Metered, Protocol};
use traverse_scenario::address::{PLAIN_PORT, PORTS};
use traverse_scenario::{BodyPolicy, LegacyForwarder, format_duration};

use crate::listen::listen;
use crate::relay;
use crate::{HopContext, MiddleboxError, MiddleboxHandle};

pub(crate) async fn start(
    options: &LegacyForwarder,
    context: HopContext,
) -> Result<MiddleboxHandle, MiddleboxError> {
    let shared = Arc::new((options.clone(), context.clone()));
    listen(&context, &PORTS, move |stream, port, entry| {
        let shared = shared.clone();
        async move {
            let (options, context) = &*shared;
            let client = Metered::new(stream, entry.clone());
            if port != PLAIN_PORT {
                relay::route_untouched(
                    client,
                    entry,
                    context,
                    port,
                    "a connection it does not serve",
                )
                .await;
                return;
            }
            forward(client, &entry, options, context).await;
        }
    })
    .await
}

/// One request (these forwarders did not keep connections alive), then
/// either its response or, after a 101, a relay in both directions.
async fn forward(
    mut client: Metered<TcpStream>,
    entry: &ConnEntry,
    options: &LegacyForwarder,
    context: &HopContext,
) {
    let Ok(Ok((head, mut rest))) =
        tokio::time::timeout(context.step_timeout, read_head(&mut client)).await
    else {
        entry.act(
            Action::Responded,
            Some(408),
            "closed: no complete request head arrived in time",
        );
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
        entry.set_protocol(traverse_net::sniff(&entry.first_bytes()));
        entry.act(
            Action::Responded,
            Some(400),
            format!(
                "answered 400 Bad Request: the bytes it received are not HTTP (first bytes {})",
                traverse_net::hex(&entry.first_bytes())
            ),
        );
        let _ = client
            .write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    }
    let header = |name: &str| traverse_net::http::header(request.headers, name);
    let upgrade = header("upgrade").is_some();
    // Masking rules are RFC 6455's; a hixie-76 stream has no such frames.
    let masking = if header("sec-websocket-key").is_some() {
        options.masking
    } else {
        traverse_scenario::Masking::Ignore
    };
    entry.set_protocol(if upgrade {
        Protocol::Websocket
    } else {
        Protocol::Http
    });
    let declared = header("content-length")
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let chunked = header("transfer-encoding").is_some_and(|value| value.contains("chunked"));
    // Bytes that arrived with the head beyond what it declares.
    let undeclared = if chunked || options.body == BodyPolicy::Forward {
        Vec::new()
    } else {
        rest.split_off(declared.min(rest.len()))
    };

    let upstream = context.upstream(PLAIN_PORT, None);
    entry.set_target(upstream.target());
    let mut server = match upstream.connect().await {
        Ok(server) => server,
        Err(error) => {
            entry.act(
                Action::UpstreamFailed,
                Some(502),
                format!("answered 502: {error}"),
            );
            let _ = client
                .write_all(b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
    };
    let mut request_out = head.clone();
    request_out.extend_from_slice(&rest);
    if server.write_all(&request_out).await.is_err() {
        return;
    }
    let undeclared_note = |verb: &str| {
        format!(
            "{verb} {} bytes that followed the request headers with no Content-Length to \
             declare them",
            undeclared.len()
        )
    };
    match options.body {
        BodyPolicy::DeclaredOnly if !undeclared.is_empty() => entry.act(
            Action::DroppedBytes,
            None,
            format!(
                "{}: it forwards only what HTTP framing declares",
                undeclared_note("dropped")
            ),
        ),
        BodyPolicy::HoldUntilResponse if !undeclared.is_empty() => entry.act(
            Action::Holding,
            None,
            format!(
                "{}, until {} answers",
                undeclared_note("holding"),
                upstream.target()
            ),
        ),
        _ => {}
    }

    let read_timeout = context.time_scale.apply(options.read_timeout);
    // The timer that answers 504 is declared to the cell's clock: while it
    // runs, a still topology is this hop waiting, not a deadlock. It is
    // withdrawn as soon as it fires or the answer comes, before the hop acts.
    let armed = entry.arm(tokio::time::Instant::now() + read_timeout);
    let waited = tokio::time::timeout(read_timeout, read_head(&mut server)).await;
    drop(armed);
    let (response_head, response_rest) =
        match waited {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => return,
            Err(_) => {
                // What nginx does when proxy_read_timeout runs out.
                entry.act(
                    Action::Responded,
                    Some(504),
                    format!(
                        "answered 504: {} sent no answer within {} (read_timeout)",
                        upstream.target(),
                        format_duration(options.read_timeout)
                    ),
                );
                let _ = client
                    .write_all(b"HTTP/1.0 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            }
        };
    if options.body == BodyPolicy::HoldUntilResponse && !undeclared.is_empty() {
        let _ = server.write_all(&undeclared).await;
    }
    let status = response_status(&response_head).map(|status| status.code);
    if client.write_all(&response_head).await.is_err()
        || client.write_all(&response_rest).await.is_err()
    {
        return;
    }
    if status == Some(101) {
        entry.act(
            Action::Upgraded,
            Some(101),
            format!(
                "passed the upgrade to {}; relaying frames",
                upstream.target()
            ),
        );
        let idle = relay::idle(options.idle_timeout, options.idle_counts, context);
        relay::relay_websocket(client, server, entry, idle, masking, false).await;
        return;
    }
    entry.act(
        Action::Forwarded,
        status,
        format!(
            "forwarded to {}; it answered {}",
            upstream.target(),
            status.map_or("something else".to_string(), |code| code.to_string())
        ),
    );
    let _ = tokio::io::copy(&mut server, &mut client).await;
    let _ = client.shutdown().await;
}

/// A head, up to its blank line, and the bytes that arrived with it: what
/// a forwarder reading in chunks holds beyond the blank line when it has
/// parsed the head. Bytes that cannot begin an HTTP message end the head at
/// once, as a real parser answers them without waiting for more. Any other
/// end (the peer closed, the head grew too long) is an error.
async fn read_head(io: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let (head, end) = read_http_head(io).await?;
    match end {
        HeadEnd::Complete | HeadEnd::NotHttp => Ok((head, arrived_with(io).await?)),
        HeadEnd::Closed => Err(std::io::ErrorKind::UnexpectedEof.into()),
        HeadEnd::TooLong => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "head too large",
        )),
    }
}

/// What is already readable, without waiting for more: the head is read a
/// byte at a time, so what came in the same segments is still unread.
async fn arrived_with(io: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut chunk = [0_u8; 4096];
    let mut buffer = ReadBuf::new(&mut chunk);
    std::future::poll_fn(|cx| match Pin::new(&mut *io).poll_read(cx, &mut buffer) {
        Poll::Pending => Poll::Ready(Ok(())),
        ready => ready,
    })
    .await?;
    Ok(buffer.filled().to_vec())
}
