//! `kind = "external"`: a real proxy program in the chain (nginx, HAProxy,
//! Squid from the distribution's packages, or anything else), so the mocks
//! can be judged against the products they imitate. Its config is made
//! from a template, it runs in a process group of its own, and the harness
//! taps its logical ports: a byte relay in front of it whose log records
//! the real proxy's HTTP error answers, and a close it makes after a quiet
//! spell as an idle cut, so blame can fall on it too.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use traverse_net::http::{Status, response_status};
use traverse_net::process::{ChildProcess, fill, reserve_port};
use traverse_net::{Action, ConnEntry, FirstRead, Metered};
use traverse_scenario::External;
use traverse_scenario::address::PLAIN_PORT;

use crate::listen::listen;
use crate::relay::relay_connected;
use crate::{HopContext, MiddleboxError, MiddleboxHandle};

pub(crate) async fn start(
    options: &External,
    context: HopContext,
) -> Result<MiddleboxHandle, MiddleboxError> {
    let failed = |why: String| MiddleboxError::External {
        hop: context.name.clone(),
        why,
    };
    let folder = traverse_net::leftovers::private_folder()
        .map_err(|error| failed(format!("no working folder: {error}")))?;
    let file = |name: &str| folder.path().join(name).to_string_lossy().into_owned();
    let mut values: BTreeMap<&str, String> = BTreeMap::from([
        ("dir", folder.path().to_string_lossy().into_owned()),
        ("config", file("proxy.conf")),
        ("cert_pem", file("cert.pem")),
        ("key_pem", file("key.pem")),
        ("cert_key_pem", file("cert-key.pem")),
        ("ca_pem", file("ca.pem")),
    ]);
    let mut real = BTreeMap::new();
    for port in &options.ports {
        let addr = reserve_port().map_err(|error| failed(format!("no free port: {error}")))?;
        real.insert(*port, addr);
        values.insert(listen_key(*port), addr.to_string());
    }
    for (port, addr) in context.next.iter() {
        if let Some(key) = upstream_key(port) {
            values.insert(key, addr.to_string());
        }
    }
    let main_port = options.ports.first().copied().unwrap_or(PLAIN_PORT);
    if let Some(addr) = context.next.get(main_port) {
        values.insert("upstream", addr.to_string());
    }
    let uses_parent = options.config.contains("{parent_")
        || options.command.iter().any(|word| word.contains("{parent_"));
    if uses_parent {
        let parent = start_parent(&context).await?;
        values.insert("parent_host", parent.ip().to_string());
        values.insert("parent_port", parent.port().to_string());
    }
    // A real proxy may drop privileges (Squid runs as its own user) and
    // still needs to write its pid file there.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o777));
    let config = fill(std::slice::from_ref(&options.config), &values).concat();
    let cert_key = format!(
        "{}{}",
        context.pki.middlebox.cert_pem(),
        context.pki.middlebox.key_pem()
    );
    let files = [
        ("proxy.conf", config.as_str()),
        ("cert-key.pem", cert_key.as_str()),
        ("cert.pem", context.pki.middlebox.cert_pem()),
        ("key.pem", context.pki.middlebox.key_pem()),
        ("ca.pem", context.pki.public_ca().cert_pem()),
    ];
    for (name, contents) in files {
        traverse_pki::write_private(&folder.path().join(name), contents)
            .map_err(|error| failed(format!("cannot write {name}: {error}")))?;
    }
    let mut process = ChildProcess::spawn("external middlebox", &fill(&options.command, &values))
        .map_err(&failed)?;
    for addr in real.values() {
        if let Err(why) = process.wait_ready(*addr, options.ready_timeout).await {
            let output = process.output();
            return Err(failed(format!("{why}; it printed: {output}")));
        }
    }
    let program = options
        .preset
        .clone()
        .unwrap_or_else(|| options.command[0].clone());
    let shared = Arc::new((real, program));
    let mut handle = listen(&context, &options.ports, move |stream, port, entry| {
        let shared = shared.clone();
        async move {
            let (real, program) = &*shared;
            let Some(addr) = real.get(&port) else { return };
            let client = Metered::new(stream, entry.clone());
            let server = match TcpStream::connect(addr).await {
                Ok(server) => server,
                Err(error) => {
                    entry.act(
                        Action::UpstreamFailed,
                        None,
                        format!("{program} stopped accepting: {error}"),
                    );
                    return;
                }
            };
            let _ = server.set_nodelay(true);
            let server = QuietClose::new(server, entry.clone(), program.clone());
            let server =
                FirstRead::new(server, record_error_status(entry.clone(), program.clone()));
            let what = format!("the connection to {program}");
            relay_connected(
                client,
                server,
                entry,
                &format!("{program} at {addr}"),
                None,
                &what,
            )
            .await;
        }
    })
    .await?;
    handle.keep(Box::new(process));
    handle.keep(Box::new(folder));
    Ok(handle)
}

fn listen_key(port: u16) -> &'static str {
    match port {
        traverse_scenario::address::TLS_PORT => "listen_443",
        traverse_scenario::address::PROXY_PORT => "listen_3128",
        _ => "listen_80",
    }
}

/// A parent proxy for a real forward proxy (Squid's `cache_peer`): it
/// takes every CONNECT and maps origin.test to the next node, so the real
/// proxy makes its own decisions while the topology keeps its addresses.
/// It is the harness's plumbing, not a hop: its log counts toward no blame.
async fn start_parent(context: &HopContext) -> Result<SocketAddr, MiddleboxError> {
    let parent = traverse_scenario::ConnectProxy {
        allowed_ports: traverse_scenario::address::PORTS.to_vec(),
        auth: None,
        ..traverse_scenario::ConnectProxy::default()
    };
    let plumbing = HopContext {
        name: format!("{} (parent)", context.name),
        // Its bytes still move the cell's clock: they are on the path.
        log: traverse_net::TransactionLog::with_activity(context.log.activity().clone()),
        bind: BTreeMap::new(),
        ..context.clone()
    };
    let handle = crate::connect_proxy::start(&parent, plumbing).await?;
    let addr = handle
        .endpoints
        .get(traverse_scenario::address::PROXY_PORT)
        .ok_or_else(|| MiddleboxError::External {
            hop: context.name.clone(),
            why: "the parent proxy did not listen".to_string(),
        })?;
    // The parent lives as long as the cell's tasks; its handle holds no
    // process, only refusing ports, which can go now.
    drop(handle);
    Ok(addr)
}

fn upstream_key(port: u16) -> Option<&'static str> {
    match port {
        443 => Some("upstream_443"),
        80 => Some("upstream_80"),
        _ => None,
    }
}

/// Reads the real proxy's first answer: an HTTP error status is what it did
/// to the traffic, and goes into the log as its fault. The tap cannot tell
/// the proxy's own answers from those it relays; either way, it is what the
/// proxy sent back.
fn record_error_status(entry: ConnEntry, program: String) -> impl FnOnce(&[u8]) + Send {
    move |first| {
        if let Some(Status { code, reason }) =
            response_status(first).filter(|status| status.code >= 400)
        {
            entry.act(
                Action::Responded,
                Some(code),
                format!("{program} answered {code} {reason} (its own answer or one it relayed)"),
            );
        }
    }
}

/// How long a tapped connection must have been quiet before the program's
/// close reads as an idle cut. A close that follows traffic (a WebSocket
/// closing handshake relayed, an answer with `Connection: close`) comes
/// within milliseconds of the last byte, even on a loaded machine; real
/// products' idle timers are set in whole seconds.
const QUIET_BEFORE_IDLE_CUT: Duration = Duration::from_millis(500);

/// A TLS record this short, alone just before the close, is the program's
/// `close_notify` on its way out (TLS 1.3 sends it as a 24-byte
/// application-data record), not traffic: the quiet is what came before it.
const CLOSE_NOTIFY_AT_MOST: usize = 64;

/// The program's side of a tapped connection, watched for the one idle cut
/// the tap can see: the program had answered, then no byte moved either
/// way for a while, then it closed (or reset) while the client still had
/// its side open. The tap knows nothing of the program's timers or of the
/// probe; it judges only what it relayed.
struct QuietClose<S> {
    inner: S,
    entry: ConnEntry,
    program: String,
    last_byte: Instant,
    /// The program's latest chunk: whether it may be a TLS alert, how long
    /// the connection had been quiet before it, and when it came.
    last_chunk: Option<(bool, Duration, Instant)>,
    answered: bool,
    client_closed: bool,
    judged: bool,
}

impl<S> QuietClose<S> {
    fn new(inner: S, entry: ConnEntry, program: String) -> QuietClose<S> {
        QuietClose {
            inner,
            entry,
            program,
            last_byte: Instant::now(),
            last_chunk: None,
            answered: false,
            client_closed: false,
            judged: false,
        }
    }

    /// The program's last chunk was a lone alert-sized record after quiet,
    /// just now: its `close_notify`, which the client may be answering.
    fn said_goodbye_after_quiet(&self) -> bool {
        matches!(self.last_chunk, Some((true, before, at))
            if before >= QUIET_BEFORE_IDLE_CUT && at.elapsed() < QUIET_BEFORE_IDLE_CUT)
    }

    /// The program ended its side: an idle cut if it came after quiet.
    fn program_closed(&mut self) {
        if std::mem::replace(&mut self.judged, true) || !self.answered || self.client_closed {
            return;
        }
        let (quiet, how) = match self.last_chunk {
            Some((true, before, _)) if self.last_byte.elapsed() < QUIET_BEFORE_IDLE_CUT => {
                (before, " (with a TLS alert, as close_notify)")
            }
            _ => (self.last_byte.elapsed(), ""),
        };
        if quiet >= QUIET_BEFORE_IDLE_CUT {
            self.entry.act(
                Action::IdleCut,
                None,
                format!(
                    "{} closed the connection{how} after {:.1}s in which no byte moved",
                    self.program,
                    quiet.as_secs_f64()
                ),
            );
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for QuietClose<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &poll {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let chunk = &buf.filled()[before..];
                let alert_sized = chunk.len() <= CLOSE_NOTIFY_AT_MOST
                    && matches!(chunk.first(), Some(0x15 | 0x17));
                self.last_chunk = Some((alert_sized, self.last_byte.elapsed(), Instant::now()));
                self.last_byte = Instant::now();
                self.answered = true;
            }
            Poll::Ready(_) => self.program_closed(),
            Poll::Pending => {}
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for QuietClose<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = poll
            && written > 0
        {
            self.last_byte = Instant::now();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// The client closed its side first: whatever the program does next is
    /// an answer to that, not an idle cut. A client answering the
    /// program's own `close_notify` did not close first: the program did.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.judged && !self.said_goodbye_after_quiet() {
            self.client_closed = true;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use traverse_net::TransactionLog;

    /// A tapped connection to a program that answered the handshake, then
    /// a second of quiet: the state in which an idle timer fires.
    async fn quiet_connection() -> (QuietClose<DuplexStream>, DuplexStream, TransactionLog) {
        let log = TransactionLog::new();
        let entry = log.open("127.0.0.1:1".parse().unwrap(), 443);
        let (tapped, mut program) = duplex(4096);
        let mut tap = QuietClose::new(tapped, entry, "haproxy".to_string());
        program.write_all(b"\x17\x03\x03\x01\x00answer").await.unwrap();
        let mut buf = [0; 64];
        assert!(tap.read(&mut buf).await.unwrap() > 0);
        tokio::time::advance(Duration::from_secs(1)).await;
        (tap, program, log)
    }

    fn idle_cuts(log: &TransactionLog) -> Vec<String> {
        let records = log.snapshot();
        let cuts = records.iter().filter(|r| r.action == Action::IdleCut);
        cuts.map(|r| r.detail.clone()).collect()
    }

    /// The order a loaded machine showed in CI: the program's close_notify,
    /// the client answering it by closing, and only then the program's FIN.
    /// The program closed first: it is still its idle cut.
    #[tokio::test(start_paused = true)]
    async fn a_client_answering_the_programs_close_notify_leaves_the_cut_to_the_program() {
        let (mut tap, mut program, log) = quiet_connection().await;
        program.write_all(&[0x17; 24]).await.unwrap();
        let mut buf = [0; 64];
        assert_eq!(tap.read(&mut buf).await.unwrap(), 24);
        tap.shutdown().await.unwrap();
        drop(program);
        assert_eq!(tap.read(&mut buf).await.unwrap(), 0);
        assert_eq!(
            idle_cuts(&log),
            ["haproxy closed the connection (with a TLS alert, as close_notify) after 1.0s in which no byte moved"]
        );
    }

    /// The client closing first after the quiet: the program's FIN answers
    /// it, and no idle cut is the program's.
    #[tokio::test(start_paused = true)]
    async fn a_client_closing_first_is_no_idle_cut() {
        let (mut tap, program, log) = quiet_connection().await;
        tap.shutdown().await.unwrap();
        drop(program);
        let mut buf = [0; 64];
        assert_eq!(tap.read(&mut buf).await.unwrap(), 0);
        assert_eq!(idle_cuts(&log), Vec::<String>::new());
    }

    /// A close after quiet with no alert is the program's plain FIN cut.
    #[tokio::test(start_paused = true)]
    async fn a_plain_close_after_quiet_is_an_idle_cut() {
        let (mut tap, program, log) = quiet_connection().await;
        drop(program);
        let mut buf = [0; 64];
        assert_eq!(tap.read(&mut buf).await.unwrap(), 0);
        assert_eq!(
            idle_cuts(&log),
            ["haproxy closed the connection after 1.0s in which no byte moved"]
        );
    }
}
