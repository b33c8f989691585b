//! Real programs in a cell: an external tunnel's halves, a real proxy in a
//! chain. The harness fills their command lines (`{listen}`, `{target}`,
//! …), starts each in a process group of its own, waits until it listens
//! (read from the kernel's socket table, so no probe connection travels
//! the path and shows up in a hop's log), keeps the last of its output for
//! failing cells, and ends the whole group, children included, when the
//! cell ends: SIGTERM, then SIGKILL after a grace period.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use traverse_scenario::format_duration;

/// How long a process group gets after SIGTERM before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How much of a process's output is kept: its last words matter most.
const OUTPUT_KEPT: usize = 8 * 1024;

/// A free loopback port, for a command that must be told where to listen.
/// The port is released before the command binds it, so it is not one the
/// kernel hands out by itself: outgoing connections and listeners on port
/// 0 take theirs from the ephemeral range, and under load one of them took
/// a port released a moment before (nginx then failed with "Address
/// already in use"). Ports below that range come to nobody unasked; a
/// random start keeps concurrent runs from asking for the same one.
pub fn reserve_port() -> io::Result<SocketAddr> {
    let (first_ephemeral, _) = ephemeral_ports();
    let unassigned = RESERVED_FLOOR..first_ephemeral;
    if unassigned.len() >= 1024 {
        for _ in 0..64 {
            let port = fastrand::u16(unassigned.clone());
            if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                return listener.local_addr();
            }
        }
    }
    // A machine whose ephemeral range leaves nothing below it.
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

/// Below this are the ports of well-known and registered services.
const RESERVED_FLOOR: u16 = 10_000;

/// The kernel's ephemeral port range, Linux's default when unreadable.
fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(str::parse::<u16>);
            Some((bounds.next()?.ok()?, bounds.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// Fills `{placeholders}` in each word of a command line.
pub fn fill(argv: &[String], values: &BTreeMap<&str, String>) -> Vec<String> {
    argv.iter()
        .map(|word| {
            values.iter().fold(word.clone(), |word, (name, value)| {
                word.replace(&format!("{{{name}}}"), value)
            })
        })
        .collect()
}

/// One half of an external tunnel, running.
#[derive(Debug)]
pub struct ChildProcess {
    role: &'static str,
    child: Child,
    group: Option<Pid>,
    output: Arc<Mutex<Vec<u8>>>,
    collectors: Vec<tokio::task::JoinHandle<()>>,
}

impl ChildProcess {
    /// Starts `argv` in a new process group, capturing its output.
    pub fn spawn(role: &'static str, argv: &[String]) -> Result<ChildProcess, String> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| format!("the {role} has an empty command line"))?;
        let mut child = Command::new(program)
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => {
                    format!("the {role} command `{program}` is not installed (not found on PATH)")
                }
                _ => format!("cannot start the {role} `{program}`: {error}"),
            })?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut collectors = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            collectors.push(tokio::spawn(collect(stdout, output.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            collectors.push(tokio::spawn(collect(stderr, output.clone())));
        }
        Ok(ChildProcess {
            role,
            child,
            group,
            output,
            collectors,
        })
    }

    /// Waits until something listens on `addr`, the process dies, or
    /// `deadline` passes.
    pub async fn wait_ready(&mut self, addr: SocketAddr, deadline: Duration) -> Result<(), String> {
        let role = self.role;
        let wait = async {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!(
                        "the {role} exited ({status}) before listening on {addr}"
                    ));
                }
                if is_listening(addr) {
                    return Ok(());
                }
                // The kernel has no event for "someone started listening";
                // a short poll is the readiness check tools like this use.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let ready = tokio::time::timeout(deadline, wait)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the {role} did not listen on {addr} within {}",
                    format_duration(deadline)
                ))
            });
        if ready.is_err() {
            // A process that gave up has its last words still in the pipes.
            let _ = self.child.start_kill();
            for collector in &mut self.collectors {
                let _ = tokio::time::timeout(Duration::from_secs(1), collector).await;
            }
        }
        ready
    }

    /// The last of what the process printed, stdout and stderr together.
    pub fn output(&self) -> String {
        let output = self
            .output
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&output).trim().to_string()
    }

    pub fn role(&self) -> &'static str {
        self.role
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        for collector in &self.collectors {
            collector.abort();
        }
        // The whole group: forking tunnels (socat fork, stunnel) leave
        // children that ending the leader alone would orphan. SIGTERM first,
        // so a wrapper can clean up after itself (remove its container),
        // then SIGKILL for whatever did not listen.
        if let Some(group) = self.group {
            let _ = killpg(group, Signal::SIGTERM);
            signalled().push(group);
            std::thread::spawn(move || {
                std::thread::sleep(KILL_GRACE);
                let _ = killpg(group, Signal::SIGKILL);
            });
        }
    }
}

/// Process groups told to stop, not yet seen gone.
fn signalled() -> std::sync::MutexGuard<'static, Vec<Pid>> {
    static SIGNALLED: Mutex<Vec<Pid>> = Mutex::new(Vec::new());
    SIGNALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits, at most `grace`, for every process group this program told to
/// stop to be gone, then kills what is left. A program about to exit calls
/// it: the escalation threads die with it, and a slow proxy (Squid takes
/// seconds to stop) must not outlive the run.
pub fn reap(grace: Duration) {
    let until = std::time::Instant::now() + grace;
    loop {
        let mut groups = signalled();
        groups.retain(|group| group_alive(*group));
        if groups.is_empty() || std::time::Instant::now() >= until {
            for group in groups.drain(..) {
                let _ = killpg(group, Signal::SIGKILL);
            }
            return;
        }
        drop(groups);
        // Process exit has no event to await here; a short poll it is.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether any process of `group` still runs. Signal 0 would also count
/// zombies, dead members their parent has not reaped yet, so /proc it is.
fn group_alive(group: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return killpg(group, None).is_ok();
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // After the command name, in parentheses: state, ppid, pgrp, ...
        let Some((_, after_name)) = stat.rsplit_once(") ") else {
            return false;
        };
        let mut fields = after_name.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|pgrp| pgrp.parse::<i32>().ok());
        pgrp == Some(group.as_raw()) && state != Some("Z")
    })
}

async fn collect(mut stream: impl AsyncRead + Unpin, output: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0_u8; 4096];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let mut kept = output
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.extend_from_slice(&buffer[..read]);
        if kept.len() > OUTPUT_KEPT {
            let excess = kept.len() - OUTPUT_KEPT;
            kept.drain(..excess);
        }
    }
}

/// Whether a socket listens on `addr`, from `/proc/net/tcp`: a check that
/// does not connect.
pub fn is_listening(addr: SocketAddr) -> bool {
    const LISTEN: &str = "0A";
    let SocketAddr::V4(v4) = addr else {
        return false;
    };
    let wanted_port = format!("{:04X}", v4.port());
    let wanted_ip = format!("{:08X}", u32::from_le_bytes(v4.ip().octets()));
    let any_ip = "00000000";
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                return false;
            };
            let Some((ip, port)) = local.split_once(':') else {
                return false;
            };
            *state == LISTEN && port == wanted_port && (ip == wanted_ip || ip == any_ip)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_free_and_outside_the_ephemeral_range() {
        let (first, last) = ephemeral_ports();
        let ports: std::collections::BTreeSet<u16> = (0..50)
            .map(|_| {
                let addr = reserve_port().expect("a free port");
                // Free: the command it is reserved for can bind it.
                TcpListener::bind(addr).expect("the reserved port binds");
                addr.port()
            })
            .collect();
        assert!(
            ports
                .iter()
                .all(|port| !(first..=last).contains(port) && *port >= RESERVED_FLOOR),
            "{ports:?} against the ephemeral range {first}-{last}"
        );
        // Drawn at random, not handed out in order.
        assert!(ports.len() > 40, "{ports:?}");
    }

    #[tokio::test]
    async fn reaping_waits_for_a_process_group_to_stop_and_not_for_zombies() {
        let process = ChildProcess::spawn("test", &["sleep".into(), "30".into()]).expect("sleep");
        let group = process.group.expect("a group");
        assert!(group_alive(group));
        drop(process);
        let started = std::time::Instant::now();
        reap(Duration::from_secs(5));
        assert!(!group_alive(group), "sleep got SIGTERM and is gone");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "a zombie is not waited for"
        );
    }

    #[test]
    fn fills_every_placeholder_in_every_word() {
        let values = BTreeMap::from([
            ("listen", "LISTEN".to_string()),
            ("target", "TARGET".to_string()),
        ]);
        let argv = [
            "socat".into(),
            "TCP-LISTEN:{listen}".into(),
            "TCP:{target}".into(),
        ];
        assert_eq!(
            fill(&argv, &values),
            ["socat", "TCP-LISTEN:LISTEN", "TCP:TARGET"]
        );
    }

    #[test]
    fn sees_a_listener_without_connecting_to_it() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        assert!(is_listening(addr));
        drop(listener);
        assert!(!is_listening(addr));
    }

    #[tokio::test]
    async fn a_missing_program_is_named() {
        let error = ChildProcess::spawn("tunnel client", &["traverse-no-such-tunnel".into()])
            .expect_err("not installed");
        assert_eq!(
            error,
            "the tunnel client command `traverse-no-such-tunnel` is not installed (not found on PATH)"
        );
    }

    #[tokio::test]
    async fn a_process_that_dies_early_is_not_ready_and_its_output_is_kept() {
        let mut process = ChildProcess::spawn(
            "tunnel server",
            &[
                "sh".into(),
                "-c".into(),
                "echo bad certificate >&2; exit 3".into(),
            ],
        )
        .expect("sh runs");
        let addr = reserve_port().expect("port");
        let error = process
            .wait_ready(addr, Duration::from_secs(5))
            .await
            .expect_err("it exits");
        assert!(error.contains("exited"), "{error}");
        assert_eq!(process.output(), "bad certificate");
    }
}
