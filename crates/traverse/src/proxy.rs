//! `traverse proxy KIND`: one mock middlebox run by hand, in front of a real
//! server, for a browser or a real client, its transaction log printed as
//! it happens. The hop's options are the scenario file's, given as
//! `--set key=value` (TOML values), so they are checked the same way.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use traverse_middlebox::HopContext;
use traverse_net::{ConnRecord, Endpoints, Follower, Tasks, TransactionLog};
use traverse_scenario::address::{PLAIN_PORT, PORTS, PROXY_PORT, TLS_PORT};
use traverse_scenario::{HopKind, TimeScale};

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The middlebox kind (see `traverse list`).
    kind: String,
    /// An option of the kind, as in a scenario file: `websocket=true`,
    /// `mode="tcp"`, `idle_timeout="100s"`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Where to listen: `ADDR` for the kind's main port, or `PORT=ADDR` for
    /// a logical port (443, 80, 3128). Unnamed ports get 127.0.0.1:0.
    #[arg(long, value_name = "[PORT=]ADDR")]
    listen: Vec<String>,
    /// The real server behind the hop; every logical port leads there.
    #[arg(long, value_name = "ADDR")]
    upstream: SocketAddr,
    /// Folder for the run's certificates (the public CA to trust, the
    /// enterprise inspection CA); default: a fresh folder of this proxy's
    /// own under $XDG_CACHE_HOME/traverse (or ~/.cache/traverse), removed
    /// when it stops.
    #[arg(long, value_name = "DIR")]
    certs: Option<PathBuf>,
    /// Factor applied to the option's durations; 1 is real time.
    #[arg(long, default_value_t = TimeScale::REAL.factor())]
    time_scale: f64,
}

/// How many closed connections a hop run by hand keeps in its log: the
/// live log is their only reader, and it reads every change as soon as it
/// is woken, so a record need only outlast the connections that close
/// between two of its passes (a handful on loopback, where a pass takes well
/// under a millisecond). 4096 leaves room for a burst a thousand times that,
/// at a few hundred bytes a closed record: about 2 MB however long it runs.
pub(crate) const LIVE_WINDOW: usize = 4096;

/// Builds the hop from the command line, runs it until Ctrl-C.
pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let hop = hop_from_command_line(&args.kind, &args.options)?;
    let bind = listen_addresses(&hop.kind, &args.listen)?;
    let time_scale = TimeScale::new(args.time_scale).with_context(|| {
        format!(
            "--time-scale {} must be above 0 and at most 1000",
            args.time_scale
        )
    })?;
    let own = match &args.certs {
        Some(_) => None,
        None => Some(OwnCerts::create()?),
    };
    let certs = match (&own, &args.certs) {
        (Some(own), _) => own.folder.clone(),
        (None, given) => certs_folder(given.clone())?,
    };
    let pki = Arc::new(traverse_pki::Pki::generate()?);
    pki.write_pem(&certs)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let tasks = Tasks::new();
        let log = TransactionLog::bounded(LIVE_WINDOW);
        let next = Endpoints::new(
            [TLS_PORT, PLAIN_PORT, PROXY_PORT]
                .into_iter()
                .map(|port| (port, args.upstream))
                .collect(),
        );
        let handle = traverse_middlebox::start(
            &hop,
            HopContext {
                name: hop.name.clone(),
                next,
                pki,
                time_scale,
                log: log.clone(),
                tasks: tasks.clone(),
                step_timeout: Duration::from_secs(30),
                bind,
            },
        )
        .await?;
        let interrupted = crate::signals::interrupted();
        print_banner(&hop, &handle.endpoints, &args.upstream, &certs);
        watch(&log, interrupted).await;
        tasks.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

/// A proxy's own certificates when `--certs` names no folder: a fresh set in
/// a folder of this process's, so two proxies never trust each other's CA
/// or overwrite it, removed when the proxy stops (the set is worth nothing
/// after). A proxy killed outright leaves it behind, under the user's
/// cache, until the next `traverse` reaps it.
struct OwnCerts {
    folder: PathBuf,
}

/// Where proxies keep their own certificates.
pub(crate) fn own_certs_parent() -> PathBuf {
    match dirs::cache_dir() {
        Some(cache) => cache.join("traverse"),
        None => std::env::temp_dir(),
    }
}

impl OwnCerts {
    fn create() -> anyhow::Result<OwnCerts> {
        let parent = own_certs_parent();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        // The CAs' keys are in it: readable by this user only.
        let folder = traverse_net::leftovers::private_folder_in(&parent)
            .with_context(|| format!("cannot create a folder in {}", parent.display()))?
            .keep();
        Ok(OwnCerts { folder })
    }
}

impl Drop for OwnCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Where a command's certificates go: the folder given, or one of the
/// user's own, never the working tree (a first run may be anywhere, a
/// checkout included, and keys do not belong in one).
pub fn certs_folder(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(folder) = given {
        return Ok(folder);
    }
    let Some(cache) = dirs::cache_dir() else {
        // No home to keep a cache in: a fresh temporary folder, kept after
        // the command ends because the banner told clients to trust it.
        return tempfile::Builder::new()
            .prefix("traverse-certs-")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .context("cannot create a temporary folder for the certificates");
    };
    let folder = cache.join("traverse").join("certs");
    // The CAs' keys are in it: another user who could read them could mint
    // certificates that the clients told to trust these CAs accept.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    Ok(folder)
}

/// The hop that `KIND` and the `--set` options describe, read as a scenario
/// file reads it. Each option is one line of that file, written as given,
/// so a mistake's line names the option and its column is the option's.
fn hop_from_command_line(kind: &str, options: &[String]) -> anyhow::Result<traverse_scenario::Hop> {
    let mut source = format!("[[hops]]\nkind = {kind:?}\n");
    for option in options {
        if !option.contains('=') {
            bail!("--set {option}: write KEY=VALUE, like websocket=true or mode=\"tcp\"");
        }
        if option.contains(['\n', '\r']) {
            bail!("--set {option:?}: one option per --set, on one line");
        }
        source += option;
        source += "\n";
    }
    let scenario = traverse_scenario::check(Path::new("set"), &source)
        .map_err(|errors| anyhow::anyhow!("{}", set_errors(kind, options, &errors)))?;
    scenario
        .hops
        .into_iter()
        .next()
        .context("no hop was described")
}

/// The first lines of the hop's text are `[[hops]]` and `kind`.
const OPTIONS_FROM_LINE: usize = 3;

/// Each error as `--set OPTION: message` with a caret under the option's
/// text (or `KIND "...": message`, for the kind), the first without the
/// `error: ` that the command's edge puts before it.
fn set_errors(
    kind: &str,
    options: &[String],
    errors: &[traverse_scenario::ScenarioError],
) -> String {
    let style = if console::colors_enabled_stderr() {
        traverse_scenario::Style::Coloured
    } else {
        traverse_scenario::Style::Plain
    };
    let mut out = String::new();
    // `check` gives them in file order already, which is the options' order.
    for (index, error) in errors.iter().enumerate() {
        let (message, location) = match error {
            // Escaped as the error's own text would be: it may quote an option.
            traverse_scenario::ScenarioError::Invalid { location, message } => (
                traverse_scenario::printable(message).into_owned(),
                Some(location),
            ),
            other => (other.to_string(), None),
        };
        let option = location
            .and_then(|location| location.line.checked_sub(OPTIONS_FROM_LINE))
            .and_then(|index| options.get(index).or(options.last()));
        let rendered = match (option, location) {
            (Some(option), Some(location)) => traverse_scenario::render_one(
                &format!("--set {option}: {message}"),
                Some(traverse_scenario::SourceLine {
                    text: option,
                    number: None,
                    column: location.column,
                    width: location.width,
                }),
                style,
            ),
            _ => traverse_scenario::render_one(&format!("KIND {kind:?}: {message}"), None, style),
        };
        if index > 0 {
            out += "error: ";
        }
        out += &rendered;
    }
    out.trim_end().to_string()
}

/// The kind's main port: where a client of this kind of middlebox connects.
fn listen_addresses(
    kind: &HopKind,
    listen: &[String],
) -> anyhow::Result<BTreeMap<u16, SocketAddr>> {
    let mut bind = BTreeMap::new();
    for item in listen {
        let (port, addr) = match item.split_once('=') {
            Some((port, addr)) => (
                port.parse::<u16>()
                    .ok()
                    .filter(|port| PORTS.contains(port) || *port == PROXY_PORT)
                    .with_context(|| {
                        format!("--listen {item}: the logical port is 443, 80 or 3128")
                    })?,
                addr,
            ),
            None => (kind.main_port(), item.as_str()),
        };
        let addr: SocketAddr = addr.parse().with_context(|| {
            format!("--listen {item}: {addr} is not an address like 127.0.0.1:8443")
        })?;
        bind.insert(port, addr);
    }
    Ok(bind)
}

fn print_banner(
    hop: &traverse_scenario::Hop,
    endpoints: &Endpoints,
    upstream: &SocketAddr,
    certs: &Path,
) {
    println!(
        "{} ({}) in front of {upstream}",
        hop.name,
        hop.kind.kind_name()
    );
    for (port, addr) in endpoints.iter() {
        println!("  logical port {port} listens on {addr}");
    }
    println!(
        "  clients trust {}; press Ctrl-C to stop",
        certs.join("public-ca.pem").display()
    );
    let _ = std::io::stdout().flush();
}

/// Prints every record that changed, until `interrupted` (made before the
/// banner, so a Ctrl-C right after it is heard). A record is printed again
/// when it changes and once more when its connection closes, with its final
/// byte counts.
pub(crate) async fn watch(log: &TransactionLog, interrupted: impl Future<Output = ()>) {
    let mut follower = Follower::default();
    tokio::pin!(interrupted);
    loop {
        let changed = log.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let changes = log.changes(&mut follower);
        for record in &changes.records {
            println!("{}", describe(record));
        }
        if changes.missed > 0 {
            println!(
                "({} closed connections not printed: they left the window of the last {LIVE_WINDOW} closed before the log was read)",
                changes.missed
            );
        }
        let _ = std::io::stdout().flush();
        tokio::select! {
            () = changed => {}
            () = &mut interrupted => return,
        }
    }
}

/// One record as one line.
pub fn describe(record: &ConnRecord) -> String {
    let action = serde_json::to_value(record.action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    let protocol = serde_json::to_value(record.protocol)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    let status = record
        .status
        .map(|status| format!(" {status}"))
        .unwrap_or_default();
    let target = record.target.as_deref().unwrap_or("-");
    format!(
        "[{:>6} ms] conn {} from {} on :{} -> {target}: {protocol} {action}{status}, up {} B, down {} B{}",
        record.at_ms,
        record.conn,
        record.peer,
        record.port,
        record.bytes_up,
        record.bytes_down,
        if record.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", record.detail)
        }
    )
}
