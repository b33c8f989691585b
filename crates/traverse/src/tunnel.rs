//! `traverse tunnel serve|connect`: the reference tunnels as standalone
//! port-forwarders, following the same contract as external tunnels, so
//! they can run on their own, in a container, or be driven by a tunnel
//! definition file like any user's tunnel.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use traverse_net::{Tasks, TransactionLog};
use traverse_scenario::Credentials;
use traverse_tunnel::{ClientPath, Configured, ExplicitProxy, OriginContext, Security};

#[derive(Debug, clap::Subcommand)]
pub enum TunnelCommand {
    /// Run a built-in tunnel's server half: accept tunnels on --listen and
    /// forward each stream to --target.
    Serve {
        /// The built-in tunnel, with any parameters (`ws+ping=30s`; see
        /// `traverse list`).
        name: String,
        /// Address to accept the tunnel's clients on, like 127.0.0.1:8443
        /// (port 0 picks a free port, which the first line printed names).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// Address each stream the tunnel carries is forwarded to, like
        /// 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        target: SocketAddr,
        #[arg(long, value_name = "FILE", help = tls_help("Certificate (PEM) the server presents"))]
        cert: Option<PathBuf>,
        #[arg(long, value_name = "FILE", help = tls_help("Private key (PEM, PKCS#8) of --cert"))]
        key: Option<PathBuf>,
    },
    /// Run a built-in tunnel's client half: every connection to --local is
    /// carried through the tunnel to the server reached at --connect.
    Connect {
        /// The built-in tunnel, with any parameters (`ws+ping=30s`; see
        /// `traverse list`).
        name: String,
        /// Address to accept the connections to carry on, like
        /// 127.0.0.1:9000.
        #[arg(long, value_name = "ADDR")]
        local: SocketAddr,
        /// Address of the tunnel's server half (or of what the client meets
        /// first on its way there); the client still speaks to origin.test
        /// (SNI, Host, the CONNECT target).
        #[arg(long, value_name = "ADDR")]
        connect: SocketAddr,
        #[arg(long, value_name = "FILE", help = security_help(
            Security::TlsVerified,
            "CA certificates (PEM) the server's certificate is checked against",
        ))]
        ca: Option<PathBuf>,
        #[arg(long, value_name = "FILE", help = security_help(
            Security::TlsPinned,
            "The one certificate (PEM) the client accepts from the server",
        ))]
        pin: Option<PathBuf>,
        /// Explicit proxy (ADDR, like 127.0.0.1:3128) to reach --connect
        /// through with CONNECT; empty means none, so a tunnel definition
        /// can always pass `{proxy}`.
        #[arg(long, value_name = "ADDR", default_value = "")]
        proxy: String,
        /// Basic credentials for --proxy; empty means none, so a tunnel
        /// definition can always pass `{proxy_auth}`. Every local user sees
        /// a command line: prefer --proxy-auth-file.
        #[arg(long, value_name = "USER:PASSWORD", default_value = "")]
        proxy_auth: String,
        /// A file holding --proxy-auth's USER:PASSWORD (a final newline is
        /// ignored; empty means none), such as `{proxy_auth_file}`.
        #[arg(long, value_name = "FILE", conflicts_with = "proxy_auth")]
        proxy_auth_file: Option<PathBuf>,
    },
}

/// The built-in tunnels whose security is `which` (of any TLS, for `None`).
fn tunnels_with_security(which: Option<Security>) -> String {
    traverse_tunnel::BUILTIN
        .iter()
        .filter(|tunnel| match which {
            Some(which) => tunnel.security == which,
            None => tunnel.security != Security::Plain,
        })
        .map(|tunnel| tunnel.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Help for `--cert` and `--key`: which tunnels need them, from the registry.
fn tls_help(what: &str) -> String {
    format!(
        "{what}; needed by the TLS tunnels ({})",
        tunnels_with_security(None)
    )
}

/// Help for a client's trust flag: which tunnels need it, from the registry.
fn security_help(security: Security, what: &str) -> String {
    format!(
        "{what}; needed by {}",
        tunnels_with_security(Some(security))
    )
}

/// `USER:PASSWORD` from a file, as one line: editors end files with a
/// newline, which is no part of a password.
fn read_proxy_auth(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--proxy-auth-file {}: cannot read it", file.display()))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

pub fn run(command: TunnelCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command {
            TunnelCommand::Serve {
                name,
                listen,
                target,
                cert,
                key,
            } => serve(&name, listen, target, cert, key).await,
            TunnelCommand::Connect {
                name,
                local,
                connect,
                ca,
                pin,
                proxy,
                proxy_auth,
                proxy_auth_file,
            } => {
                let proxy_auth = match proxy_auth_file {
                    Some(file) => read_proxy_auth(&file)?,
                    None => proxy_auth,
                };
                forward(&name, local, connect, ca, pin, proxy, proxy_auth).await
            }
        }
    })
}

/// A built-in tunnel by name, with its parameters (`ws+ping=30s`): their
/// intervals are real time here.
fn builtin(name: &str) -> anyhow::Result<Configured> {
    Configured::parse(name).map_err(anyhow::Error::msg)
}

async fn serve(
    name: &str,
    listen: SocketAddr,
    target: SocketAddr,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let tunnel = builtin(name)?.tunnel;
    let tls = match (tunnel.security, cert, key) {
        (Security::Plain, _, _) => traverse_pki::Pki::generate()?
            .origin_public
            .server_config("unused")?,
        (_, Some(cert), Some(key)) => {
            traverse_pki::Leaf::from_pem_files(&cert, &key)?.server_config("served")?
        }
        _ => bail!("the {name} tunnel is TLS: give --cert and --key"),
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let interrupted = crate::signals::interrupted();
    println!(
        "{name} server listening on {}, forwarding to {target}",
        listener.local_addr()?
    );
    let tasks = Tasks::new();
    let log = TransactionLog::bounded(crate::proxy::LIVE_WINDOW);
    traverse_tunnel::serve_listener(
        tunnel.protocol,
        listener,
        tunnel.port(),
        OriginContext {
            tls,
            target,
            log: log.clone(),
            tasks: tasks.clone(),
            step_timeout: Duration::from_secs(30),
            // On a real network the origin's timers run in real time.
            time_scale: traverse_scenario::TimeScale::REAL,
        },
    );
    crate::proxy::watch(&log, interrupted).await;
    tasks.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

async fn forward(
    name: &str,
    local: SocketAddr,
    connect: SocketAddr,
    ca: Option<PathBuf>,
    pin: Option<PathBuf>,
    proxy: String,
    proxy_auth: String,
) -> anyhow::Result<()> {
    let tunnel = builtin(name)?;
    let verifying = match (&ca, tunnel.tunnel.security) {
        (Some(ca), _) => traverse_pki::verifying_config_from_pem(ca)?,
        (None, Security::TlsVerified) => bail!("the {name} tunnel verifies TLS: give --ca"),
        (None, _) => traverse_pki::Pki::unverified_client(),
    };
    let pinning = match (&pin, tunnel.tunnel.security) {
        (Some(pin), _) => {
            traverse_pki::pinning_config(&traverse_pki::certificates_from_pem(pin)?[0])
        }
        (None, Security::TlsPinned) => bail!("the {name} tunnel pins a certificate: give --pin"),
        (None, _) => traverse_pki::Pki::unverified_client(),
    };
    let proxy: Option<SocketAddr> = (!proxy.is_empty())
        .then(|| proxy.parse())
        .transpose()
        .with_context(|| format!("--proxy {proxy} is not an address like 127.0.0.1:3128"))?;
    let credentials = (!proxy_auth.is_empty())
        .then_some(proxy_auth)
        .map(|text| match text.split_once(':') {
            Some((user, password)) => Ok(Credentials {
                user: user.to_string(),
                password: password.to_string(),
            }),
            None => Err(anyhow::anyhow!("--proxy-auth must be user:password")),
        })
        .transpose()?;
    let path = ClientPath {
        connect_to: connect,
        verifying,
        pinning,
        step_timeout: Duration::from_secs(10),
        proxy: proxy.map(|addr| ExplicitProxy { addr, credentials }),
        // On a real network the harness sees no other socket: only the
        // step's own timeout can tell a deadlock.
        deadlock: None,
    };
    let listener = TcpListener::bind(local)
        .await
        .with_context(|| format!("cannot listen on {local}"))?;
    let interrupted = crate::signals::interrupted();
    println!(
        "{name} client listening on {}, tunnelling to {connect}",
        listener.local_addr()?
    );
    let tasks = Tasks::new();
    let accepting = async {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (path, tunnel) = (path.clone(), tunnel.clone());
            tasks.spawn(async move {
                match tunnel
                    .tunnel
                    .connect(&path, tunnel.keepalive, &tunnel.websocket)
                    .await
                {
                    Ok(mut connection) => {
                        let _ = tokio::io::copy_bidirectional(&mut stream, &mut connection.stream)
                            .await;
                    }
                    Err(error) => eprintln!("{}: {error}", tunnel.name()),
                }
            });
        }
    };
    tokio::select! {
        () = accepting => {}
        () = interrupted => {}
    }
    tasks.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
