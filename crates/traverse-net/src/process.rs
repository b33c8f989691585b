//! Real programs in a cell: an external tunnel's halves, a real proxy in a
//! chain. The harness fills their command lines (`{listen}`, `{target}`,
//! …), starts each in a process group of its own, waits until it listens
//! (read from the kernel's socket table, so no probe connection travels
//! the path and shows up in a hop's log), keeps the last of its output for
//! failing cells, and ends the whole group, children included, when the
//! cell ends: SIGTERM, then SIGKILL after a grace period. Each program is
//! also marked in its environment ([`crate::leftovers`]), which finds what
//! left the group (Squid's helpers), and is started with a parent-death
//! signal, so that a `traverse` killed outright takes it along.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use traverse_scenario::format_duration;

use crate::leftovers::{MARK_VARIABLE, marked, program_mark, signal_marked};

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
    /// This program's mark, inherited by all it starts.
    mark: String,
    output: Arc<Mutex<Vec<u8>>>,
    collectors: Vec<tokio::task::JoinHandle<()>>,
}

impl ChildProcess {
    /// Starts `argv` in a new process group, capturing its output.
    pub fn spawn(role: &'static str, argv: &[String]) -> Result<ChildProcess, String> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| format!("the {role} has an empty command line"))?;
        // Found here rather than by exec, so that a missing program is
        // named even when the death-signal wrapper is what runs.
        let Some(found) = find_program(program) else {
            return Err(format!(
                "the {role} command `{program}` is not installed (not found on PATH)"
            ));
        };
        static NUMBER: AtomicU64 = AtomicU64::new(0);
        let mark = program_mark(NUMBER.fetch_add(1, Ordering::Relaxed));
        let mut command = match death_signal_wrapper() {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "TERM", "--"]).arg(&found);
                command
            }
            None => Command::new(&found),
        };
        let mut child = command
            .args(args)
            .env(MARK_VARIABLE, &mark)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start the {role} `{program}`: {error}"))?;
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
            mark,
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

    /// Its process group, which its children share.
    pub fn group(&self) -> Option<u32> {
        self.group
            .and_then(|group| u32::try_from(group.as_raw()).ok())
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
        // then SIGKILL for whatever did not listen. What left the group
        // still carries the mark.
        let stopping = Stopping {
            group: self.group,
            mark: std::mem::take(&mut self.mark),
        };
        stopping.signal(Signal::SIGTERM);
        signalled().push(stopping.clone());
        std::thread::spawn(move || {
            if !stopping.wait_gone(KILL_GRACE) {
                stopping.signal(Signal::SIGKILL);
            }
        });
    }
}

/// A program told to stop: its process group and its mark.
#[derive(Debug, Clone)]
struct Stopping {
    group: Option<Pid>,
    mark: String,
}

impl Stopping {
    fn signal(&self, signal: Signal) {
        if let Some(group) = self.group {
            let _ = killpg(group, signal);
        }
        signal_marked(&self.mark, signal);
    }

    /// Waits, at most `grace`, until nothing of the program runs.
    fn wait_gone(&self, grace: Duration) -> bool {
        let until = Instant::now() + grace;
        loop {
            let group_gone = self.group.is_none_or(|group| !group_alive(group));
            if group_gone && marked(&self.mark).is_empty() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            // Process exit has no event to await here; a short poll it is.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Programs told to stop, not yet seen gone.
fn signalled() -> std::sync::MutexGuard<'static, Vec<Stopping>> {
    static SIGNALLED: Mutex<Vec<Stopping>> = Mutex::new(Vec::new());
    SIGNALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits, at most `grace`, for every program this process told to stop to
/// be gone, then kills what is left. A program about to exit calls it: the
/// escalation threads die with it, and a slow proxy (Squid takes seconds to
/// stop) must not outlive the run.
pub fn reap(grace: Duration) {
    let until = Instant::now() + grace;
    let stopping: Vec<Stopping> = signalled().drain(..).collect();
    for program in &stopping {
        let left = until.saturating_duration_since(Instant::now());
        if !program.wait_gone(left) {
            program.signal(Signal::SIGKILL);
        }
    }
}

/// The program, found as exec would find it: a path as given, a name on
/// `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let is_executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .map(|folder| folder.join(program))
        .find(|path| is_executable(path))
}

/// util-linux's `setpriv`, which sets the parent-death signal and then
/// execs the program: `prctl(PR_SET_PDEATHSIG)` must run between fork and
/// exec, which Rust's `pre_exec` allows only as `unsafe`. The signal
/// follows the *thread* that forked; programs are started from the
/// runtime's workers, which live as long as the run. A run killed in the
/// instant before setpriv has set it, or a machine without setpriv, leaves
/// its programs to the next `traverse`, which reaps them.
fn death_signal_wrapper() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV.get_or_init(|| find_program("setpriv")).as_deref()
}

/// Whether any process of `group` still runs. Signal 0 would also count
/// zombies, dead members their parent has not reaped yet, so /proc it is.
fn group_alive(group: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return killpg(group, None).is_ok();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(crate::leftovers::stat_fields)
        .any(|fields| {
            let (state, pgrp) = (fields.first(), fields.get(2));
            pgrp.and_then(|pgrp| pgrp.parse::<i32>().ok()) == Some(group.as_raw())
                && state.is_some_and(|state| state != "Z")
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

    /// The pids of running processes whose command line is `argv`.
    fn running(argv: &str) -> Vec<Pid> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|entry| {
                let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let mut words: Vec<String> = cmdline
                    .split(|b| *b == 0)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                // A program found on PATH runs under its full path.
                if let Some(program) = words.first_mut() {
                    *program = program.rsplit('/').next().unwrap_or_default().to_string();
                }
                (words.join(" ") == argv).then(|| Pid::from_raw(pid))
            })
            .filter(|pid| crate::leftovers::is_running(*pid))
            .collect()
    }

    /// Squid's helpers start a session of their own, out of the process
    /// group: the mark in their environment still finds them.
    #[tokio::test]
    async fn what_left_the_process_group_is_stopped_with_the_program() {
        let process = ChildProcess::spawn(
            "test",
            &["sh".into(), "-c".into(), "setsid sleep 31.5 & wait".into()],
        )
        .expect("sh runs");
        let mut escaped = Vec::new();
        let until = Instant::now() + Duration::from_secs(10);
        while escaped.is_empty() && Instant::now() < until {
            escaped = running("sleep 31.5");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(escaped.len(), 1, "the helper started");
        drop(process);
        reap(Duration::from_secs(5));
        assert_eq!(
            running("sleep 31.5"),
            [],
            "the helper is gone with its program"
        );
    }

    /// A program started by a thread dies with it: the signal follows
    /// the thread that forked, as it follows a killed `traverse`.
    #[test]
    fn a_program_dies_with_the_thread_that_started_it() {
        let started = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let process =
                    ChildProcess::spawn("test", &["sleep".into(), "32.5".into()]).expect("sleep");
                let pid = process.group.expect("a pid");
                // Once sleep runs, setpriv has set the signal: a thread
                // that ended before then would not be seen to end.
                let until = Instant::now() + Duration::from_secs(10);
                while running("sleep 32.5").is_empty() && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                // Kept running past this thread: only its death ends it.
                std::mem::forget(process);
                pid
            })
        })
        .join()
        .expect("thread");
        crate::leftovers::wait_gone(&[started], Duration::from_secs(10));
        assert_eq!(
            running("sleep 32.5"),
            [],
            "sleep got its parent-death signal"
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
