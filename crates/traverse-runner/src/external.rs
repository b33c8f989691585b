//! A cell's side of an external tunnel: the run's certificates written
//! where the user's commands can read them, the server half started in
//! front of the echo app, the client half started toward whatever the
//! origin's name leads to (or its explicit proxy), and their output kept
//! for the verdict. The server half is reached through a tap of the
//! harness's, a plain relay that moves the cell's activity clock, so the
//! bytes between the halves are seen even with no hop between them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use traverse_net::process::{ChildProcess, fill, reserve_port};
use traverse_net::{ActivityClock, ClosedPort, Endpoints, Tasks, bind_loopback, pipe};
use traverse_pki::{Leaf, Pki};
use traverse_scenario::TunnelDefinition;
use traverse_scenario::address::{ORIGIN_HOST, PORTS};
use traverse_tunnel::{Connection, ExplicitProxy};

use crate::verdict::{Category, Observation};

/// What an external tunnel holds for the life of its cell.
/// How a client half's line naming its transport begins.
const TRANSPORT_LINE: &str = "transport: ";

#[derive(Debug)]
pub(crate) struct ExternalCell {
    definition: Arc<TunnelDefinition>,
    folder: tempfile::TempDir,
    processes: Vec<ChildProcess>,
    /// What the halves were given that must not reach a report.
    secrets: Secrets,
    /// The run's, for the halves' own timers (`{time_scale}`).
    time_scale: traverse_scenario::TimeScale,
    /// The cell's: the halves' CPU counts as movement in it.
    activity: ActivityClock,
    _closed: Vec<ClosedPort>,
}

impl ExternalCell {
    /// Writes the certificates and starts the server half listening on the
    /// origin's logical port (behind the tap), forwarding to `target`.
    pub(crate) async fn start(
        definition: &Arc<TunnelDefinition>,
        pki: &Pki,
        origin: &Leaf,
        target: SocketAddr,
        tasks: &Tasks,
        activity: &ActivityClock,
        time_scale: traverse_scenario::TimeScale,
    ) -> Result<(ExternalCell, Endpoints), String> {
        let folder = traverse_net::leftovers::private_folder().map_err(|error| {
            format!("cannot make a folder for the tunnel's certificates: {error}")
        })?;
        // A managed device's trust: the public CA and the inspection CA.
        let trusted = format!(
            "{}{}",
            pki.public_ca().cert_pem(),
            pki.inspection_ca().cert_pem()
        );
        for (file, contents) in [
            ("ca.pem", trusted.as_str()),
            ("cert.pem", origin.cert_pem()),
            ("key.pem", origin.key_pem()),
        ] {
            traverse_pki::write_private(&folder.path().join(file), contents)
                .map_err(|error| format!("cannot write {file} for the tunnel: {error}"))?;
        }
        let listen = reserve_port()
            .map_err(|error| format!("no free port for the tunnel server: {error}"))?;
        let port = definition.transport.port();
        let mut cell = ExternalCell {
            definition: definition.clone(),
            folder,
            processes: Vec::new(),
            secrets: Secrets::default(),
            time_scale,
            activity: activity.clone(),
            _closed: Vec::new(),
        };
        let mut values = cell.common_values();
        split(&mut values, "listen", listen);
        values.insert("target", target.to_string());
        let argv = fill(&definition.server, &values);
        let mut server = ChildProcess::spawn("tunnel server", &argv)?;
        if let Some(group) = server.group() {
            activity.watch_program(group);
        }
        let ready = server.wait_ready(listen, definition.ready_timeout).await;
        let output = server.output();
        cell.processes.push(server);
        ready.map_err(|why| with_output(&why, &output))?;

        let tap = tap(listen, tasks, activity)
            .await
            .map_err(|error| format!("cannot listen in front of the tunnel server: {error}"))?;
        let mut ports = BTreeMap::from([(port, tap)]);
        for other in PORTS.into_iter().filter(|other| *other != port) {
            let closed = ClosedPort::new().map_err(|error| error.to_string())?;
            ports.insert(other, closed.addr());
            cell._closed.push(closed);
        }
        Ok((cell, Endpoints::new(ports)))
    }

    /// Starts the client half and connects the probe to it. The outer error
    /// is the harness's (the client never started); the inner one is the
    /// tunnel's own behaviour (it refused or reset the probe at once).
    pub(crate) async fn connect(
        &mut self,
        connect: SocketAddr,
        proxy: Option<&ExplicitProxy>,
    ) -> Result<Result<Connection, Observation>, String> {
        let local = reserve_port()
            .map_err(|error| format!("no free port for the tunnel client: {error}"))?;
        let mut values = self.common_values();
        split(&mut values, "local", local);
        split(&mut values, "connect", connect);
        values.insert(
            "proxy",
            proxy
                .map(|proxy| proxy.addr.to_string())
                .unwrap_or_default(),
        );
        let credentials = proxy.and_then(|proxy| proxy.credentials.as_ref());
        self.secrets = Secrets::of(credentials);
        let proxy_auth = credentials
            .map(|credentials| format!("{}:{}", credentials.user, credentials.password))
            .unwrap_or_default();
        // On a command line, every local user reads it in `ps`; a file
        // of this user's is the way for programs that can take one.
        let proxy_auth_file = self.folder.path().join("proxy-auth");
        traverse_pki::write_private(&proxy_auth_file, &proxy_auth)
            .map_err(|error| format!("cannot write proxy-auth for the tunnel: {error}"))?;
        values.insert("proxy_auth", proxy_auth);
        values.insert("proxy_auth_file", path_text(proxy_auth_file));
        let argv = fill(&self.definition.client, &values);
        let mut client = ChildProcess::spawn("tunnel client", &argv)?;
        if let Some(group) = client.group() {
            self.activity.watch_program(group);
        }
        let ready = client
            .wait_ready(local, self.definition.ready_timeout)
            .await;
        let output = self.secrets.redact(&client.output());
        self.processes.push(client);
        ready.map_err(|why| with_output(&why, &output))?;
        let stream = match tokio::net::TcpStream::connect(local).await {
            Ok(stream) => stream,
            Err(error) => {
                return Ok(Err(Observation::new(
                    Category::Reset,
                    format!("the tunnel client dropped the connection at once: {error}"),
                )));
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(Ok(Connection {
            stream: Box::new(stream),
            // The user's client reports nothing per stream; what broke is
            // read from the probe and the hops' logs.
            outcome: tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async { Ok(()) })),
            keepalives: Default::default(),
            frames_sent: None,
        }))
    }

    /// What each half printed, for a failing cell.
    pub(crate) fn outputs(&self) -> BTreeMap<String, String> {
        self.processes
            .iter()
            .map(|process| {
                let output = self.secrets.redact(&process.output());
                (process.role().to_string(), output)
            })
            .filter(|(_, output)| !output.is_empty())
            .collect()
    }

    /// The transport the client half said it used last, on a line of its
    /// own, `transport: NAME`: a client that chooses among several (a
    /// Socket.IO client between long-polling and WebSocket) tells which.
    /// A name that breaks the name rule is not taken.
    pub(crate) fn transport(&self) -> Option<String> {
        let client = self
            .processes
            .iter()
            .find(|process| process.role() == "tunnel client")?;
        client
            .output()
            .lines()
            .rev()
            .filter_map(|line| line.strip_prefix(TRANSPORT_LINE))
            .find(|name| traverse_scenario::name_problem(name).is_none())
            .map(str::to_string)
    }

    fn common_values(&self) -> BTreeMap<&'static str, String> {
        let file = |name: &str| -> String { path_text(self.folder.path().join(name)) };
        BTreeMap::from([
            ("server_name", ORIGIN_HOST.to_string()),
            ("port", self.definition.transport.port().to_string()),
            ("ca_pem", file("ca.pem")),
            ("cert_pem", file("cert.pem")),
            ("key_pem", file("key.pem")),
            ("time_scale", self.time_scale.factor().to_string()),
        ])
    }
}

/// A relay in front of `server` whose bytes move `activity`: the server
/// half's traffic as the harness sees it. It keeps no log: it is plumbing,
/// not a node, and never blamed.
async fn tap(
    server: SocketAddr,
    tasks: &Tasks,
    activity: &ActivityClock,
) -> std::io::Result<SocketAddr> {
    let listener = bind_loopback().await?;
    let addr = listener.local_addr()?;
    let (connections, activity) = (tasks.clone(), activity.clone());
    tasks.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let _ = client.set_nodelay(true);
            let activity = activity.clone();
            connections.spawn(async move {
                // A server half that is gone is a refused connection to the
                // client half, as without the tap: drop the client at once.
                let Ok(upstream) = tokio::net::TcpStream::connect(server).await else {
                    return;
                };
                let _ = upstream.set_nodelay(true);
                pipe(activity.watch(client), upstream, None).await;
            });
        }
    });
    Ok(addr)
}

fn path_text(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

/// `{name}`, `{name_host}` and `{name_port}` for an address.
fn split(values: &mut BTreeMap<&'static str, String>, name: &'static str, addr: SocketAddr) {
    let (host, port) = match name {
        "listen" => ("listen_host", "listen_port"),
        "local" => ("local_host", "local_port"),
        _ => ("connect_host", "connect_port"),
    };
    values.insert(name, addr.to_string());
    values.insert(host, addr.ip().to_string());
    values.insert(port, addr.port().to_string());
}

/// The proxy credentials a client half was given, in the forms a program
/// may print them: `user:password`, as a Basic header carries it, and the
/// password alone.
#[derive(Debug, Default)]
struct Secrets {
    forms: Vec<String>,
}

/// Shorter passwords are not redacted on their own: every such run of
/// letters in a program's output would go with them.
const SHORTEST_REDACTED: usize = 4;

impl Secrets {
    fn of(credentials: Option<&traverse_scenario::Credentials>) -> Secrets {
        use base64::Engine as _;
        let Some(credentials) = credentials else {
            return Secrets::default();
        };
        let pair = format!("{}:{}", credentials.user, credentials.password);
        let mut forms = vec![
            base64::engine::general_purpose::STANDARD.encode(&pair),
            pair,
        ];
        if credentials.password.len() >= SHORTEST_REDACTED {
            forms.push(credentials.password.clone());
        }
        Secrets { forms }
    }

    /// `text` with every secret replaced by `***`, longest form first.
    fn redact(&self, text: &str) -> String {
        self.forms.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
}

fn with_output(why: &str, output: &str) -> String {
    if output.is_empty() {
        why.to_string()
    } else {
        format!(
            "{why}; it printed: {}",
            output.lines().last().unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_in_every_form_a_program_prints_them() {
        let secrets = Secrets::of(Some(&traverse_scenario::Credentials {
            user: "alice".into(),
            password: "wonderland".into(),
        }));
        assert_eq!(
            secrets.redact(
                "proxy alice:wonderland; Proxy-Authorization: Basic YWxpY2U6d29uZGVybGFuZA==; password wonderland"
            ),
            "proxy ***; Proxy-Authorization: Basic ***; password ***"
        );
        let short = Secrets::of(Some(&traverse_scenario::Credentials {
            user: "bob".into(),
            password: "x".into(),
        }));
        assert_eq!(short.redact("bob:x said x"), "*** said x");
        assert_eq!(Secrets::of(None).redact("bob:x"), "bob:x");
    }
}
