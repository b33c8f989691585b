//! What a run leaves outside itself, and how the next one cleans up after a
//! run that was killed. A cell's real programs (nginx, Squid, websocat) and
//! its private folders in the system's temporary directory outlive a
//! `traverse` that got SIGKILL: nothing of it runs to stop them. So each is
//! marked with its [`Owner`], the process that made it, named by its pid
//! namespace, pid *and* start time (a pid alone is reused, and means
//! another process in a container's namespace: a run inside a container
//! is not a dead one to the host). Programs carry the mark in their
//! environment, which their own children inherit even when they leave the
//! process group (Squid's helpers start sessions of their own); folders
//! carry it in their name. Every `traverse` command starts by reaping what
//! dead owners left.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The environment variable that marks a program as started by a run:
/// `OWNER/PROGRAM`, the owner's tag and a number for the program.
pub const MARK_VARIABLE: &str = "TRAVERSE_OWNER";

/// The prefix of every folder a run keeps in the temporary directory.
const FOLDER_PREFIX: &str = "traverse-";

/// The process that started a program or made a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The inode of the owner's pid namespace: pids mean something only
    /// within it.
    namespace: u64,
    pid: u32,
    /// Clock ticks from boot to the process's start (`/proc/PID/stat`'s
    /// 22nd field): with the pid, it names one process for the machine's
    /// uptime.
    started: u64,
}

impl Owner {
    /// This process.
    pub fn this_process() -> Owner {
        static THIS: OnceLock<Owner> = OnceLock::new();
        *THIS.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                namespace: pid_namespace().unwrap_or(0),
                pid,
                // /proc is always there on Linux; 0 never matches a start.
                started: start_time(pid).unwrap_or(0),
            }
        })
    }

    /// `NAMESPACE.PID.STARTED`: safe in a file name and an environment
    /// value.
    pub fn tag(&self) -> String {
        format!("{}.{}.{}", self.namespace, self.pid, self.started)
    }

    fn from_tag(tag: &str) -> Option<Owner> {
        let mut numbers = tag.split('.').map(|text| {
            // Digits only: `parse` would take a sign.
            let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            all_digits.then(|| text.parse::<u64>().ok()).flatten()
        });
        let (Some(namespace), Some(pid), Some(started), None) = (
            numbers.next()?,
            numbers.next()?,
            numbers.next()?,
            numbers.next(),
        ) else {
            return None;
        };
        Some(Owner {
            namespace,
            pid: u32::try_from(pid).ok()?,
            started,
        })
    }

    /// Whether the owner is one this process can judge: in its own pid
    /// namespace.
    fn is_here(&self) -> bool {
        self.namespace == Owner::this_process().namespace
    }

    /// Whether the owner still runs: its pid is taken by a process that
    /// started when it did. An owner in another pid namespace counts as
    /// alive: it cannot be looked up from here.
    pub fn is_alive(&self) -> bool {
        !self.is_here() || start_time(self.pid) == Some(self.started)
    }
}

/// A folder for a cell's keys and a real program's config, in the system's
/// temporary directory, readable and writable by this user only: there,
/// another local user could otherwise read the keys, or swap the config of
/// a proxy that runs as root. Removed when dropped.
pub fn private_folder() -> io::Result<tempfile::TempDir> {
    private_folder_in(&std::env::temp_dir())
}

/// A private folder in `parent`, named after its owner, so that a killed
/// run's folder is found and removed by the next (given `parent`).
pub fn private_folder_in(parent: &Path) -> io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new()
        .prefix(&format!("{FOLDER_PREFIX}{}-", Owner::this_process().tag()))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
}

/// The mark for one program this process starts.
pub(crate) fn program_mark(number: u64) -> String {
    format!("{}/{number}", Owner::this_process().tag())
}

/// What [`reap`] cleaned up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Programs of dead owners, killed.
    pub processes: usize,
    /// Folders of dead owners, removed.
    pub folders: usize,
}

/// How many times reaping looks again for programs started while it was
/// stopping the ones it found: a fork in flight is caught by the next look.
const STOP_ROUNDS: usize = 8;

/// How long reaping waits for killed programs to be gone (their sockets
/// closed) before the command goes on.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// Kills every program whose owner is dead, waits (bounded) for them to be
/// gone, and removes the dead owners' folders in `folders_in` (besides the
/// temporary directory). Anything it cannot read or remove (another
/// user's) is left alone.
pub fn reap(folders_in: &[PathBuf]) -> Reaped {
    let orphaned = |mark: &str| {
        let owner = mark.split_once('/').map_or(mark, |(owner, _)| owner);
        Owner::from_tag(owner).is_some_and(|owner| !owner.is_alive())
    };
    // A program killed while its parent still runs is restarted by it (a
    // Squid master starts a new worker): everything found is stopped
    // first, which no stopped process can start anything past, and found
    // again until a scan finds nothing new; then all of it is killed.
    let mut orphans: Vec<Pid> = Vec::new();
    for _ in 0..STOP_ROUNDS {
        let found: Vec<Pid> = marked_processes(orphaned)
            .into_iter()
            .filter(|pid| !orphans.contains(pid))
            .collect();
        if found.is_empty() {
            break;
        }
        for pid in &found {
            let _ = kill(*pid, Signal::SIGSTOP);
        }
        orphans.extend(found);
    }
    for orphan in &orphans {
        let _ = kill(*orphan, Signal::SIGKILL);
    }
    wait_gone(&orphans, REAP_WAIT);
    let mut folders = 0;
    let temporary = std::env::temp_dir();
    for parent in
        std::iter::once(temporary.as_path()).chain(folders_in.iter().map(PathBuf::as_path))
    {
        folders += remove_dead_owners_folders(parent);
    }
    Reaped {
        processes: orphans.len(),
        folders,
    }
}

/// Sends `signal` to every live process carrying exactly `mark`: the
/// program, and whatever it started that left its process group.
pub(crate) fn signal_marked(mark: &str, signal: Signal) {
    for pid in marked(mark) {
        let _ = kill(pid, signal);
    }
}

/// The live processes carrying exactly `mark`.
pub(crate) fn marked(mark: &str) -> Vec<Pid> {
    marked_processes(|found| found == mark)
}

/// Waits, at most `grace`, until none of `pids` runs (zombies count as
/// gone: they hold no sockets and no files).
pub(crate) fn wait_gone(pids: &[Pid], grace: Duration) -> bool {
    let until = Instant::now() + grace;
    loop {
        if pids.iter().all(|pid| !is_running(*pid)) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        // Another process's exit has no event to await; a short poll it is.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Live processes whose mark `wanted` accepts, never this one.
fn marked_processes(wanted: impl Fn(&str) -> bool) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let this = std::process::id();
    let prefix = format!("{MARK_VARIABLE}=");
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != this)
        .filter(|pid| {
            // Another user's processes are unreadable, and are not ours.
            let Ok(environment) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            environment
                .split(|byte| *byte == 0)
                .filter_map(|entry| std::str::from_utf8(entry).ok()?.strip_prefix(&prefix))
                .any(&wanted)
        })
        .filter_map(|pid| i32::try_from(pid).ok().map(Pid::from_raw))
        .filter(|pid| is_running(*pid))
        .collect()
}

/// Whether `pid` runs: it exists and is not a zombie.
pub(crate) fn is_running(pid: Pid) -> bool {
    stat_fields(pid.as_raw().unsigned_abs())
        .is_some_and(|fields| fields.first().is_some_and(|state| state != "Z"))
}

/// `/proc/PID/stat`'s fields after the command name (which may hold
/// spaces and parentheses): state, ppid, pgrp, …
pub(crate) fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(") ")?;
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// The inode of this process's pid namespace.
fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt as _;
    Some(std::fs::metadata("/proc/self/ns/pid").ok()?.ino())
}

/// When `pid` started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    // Field 22 of the whole line; the 20th after the name.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Removes the folders in `parent` named after a dead owner; returns how
/// many. Only this user's directories, never through a link.
fn remove_dead_owners_folders(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let Some(owner) = name
                .to_str()
                .and_then(|name| name.strip_prefix(FOLDER_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(tag, _)| Owner::from_tag(tag))
            else {
                return false;
            };
            let is_own_folder = entry.path().symlink_metadata().is_ok_and(|metadata| {
                use std::os::unix::fs::MetadataExt as _;
                metadata.is_dir() && metadata.uid() == nix::unistd::geteuid().as_raw()
            });
            is_own_folder && !owner.is_alive()
        })
        .filter(|entry| std::fs::remove_dir_all(entry.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_its_pid_and_start_and_reads_back_from_its_tag() {
        let this = Owner::this_process();
        assert!(this.is_alive());
        assert_eq!(Owner::from_tag(&this.tag()), Some(this));
        // The same pid with another start is a process that is gone.
        let reused = Owner {
            started: this.started + 1,
            ..this
        };
        assert!(!reused.is_alive());
        for bad in [
            "", "1", "1.2", "1.2.", ".1.2", "1.2.3.4", "a.1.2", "1.+2.3", "../1",
        ] {
            assert_eq!(Owner::from_tag(bad), None, "{bad:?}");
        }
    }

    /// A run in a container has its own pid namespace: its pids name
    /// other processes here, so it is never taken for a dead run.
    #[test]
    fn an_owner_in_another_pid_namespace_is_never_dead() {
        let this = Owner::this_process();
        assert_ne!(this.namespace, 0, "/proc/self/ns/pid is readable");
        let elsewhere = Owner {
            namespace: this.namespace + 1,
            pid: 1,
            started: 0,
        };
        assert!(elsewhere.is_alive());
        let mut theirs = marked_sleep(elsewhere);
        reap(&[]);
        assert_eq!(theirs.try_wait().expect("try_wait"), None, "left alone");
        theirs.kill().expect("kill");
        theirs.wait().expect("wait");
    }

    #[test]
    fn a_dead_owner_s_folder_is_removed_and_a_live_one_s_kept() {
        let parent = tempfile::tempdir().expect("tempdir");
        let this = Owner::this_process();
        let dead = Owner {
            started: this.started + 1,
            ..this
        };
        let live_folder = parent.path().join(format!("traverse-{}-abc", this.tag()));
        let dead_folder = parent.path().join(format!("traverse-{}-abc", dead.tag()));
        let unrelated = parent.path().join("traverse-notes");
        for folder in [&live_folder, &dead_folder, &unrelated] {
            std::fs::create_dir(folder).expect("mkdir");
            std::fs::write(folder.join("key.pem"), "secret").expect("write");
        }
        // A link named like a dead owner's folder is not followed.
        let target = tempfile::tempdir().expect("tempdir");
        std::fs::write(target.path().join("kept"), "").expect("write");
        let link = parent.path().join(format!("traverse-{}-link", dead.tag()));
        std::os::unix::fs::symlink(target.path(), &link).expect("symlink");

        assert_eq!(remove_dead_owners_folders(parent.path()), 1);
        assert!(live_folder.exists() && unrelated.exists());
        assert!(!dead_folder.exists());
        assert!(target.path().join("kept").exists());
    }

    /// `sleep` marked as `owner`'s, as a killed run leaves its programs.
    fn marked_sleep(owner: Owner) -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("30")
            .env(MARK_VARIABLE, format!("{}/7", owner.tag()))
            .spawn()
            .expect("sleep runs")
    }

    #[test]
    fn reaping_kills_the_programs_of_dead_owners_only() {
        let this = Owner::this_process();
        let dead = Owner {
            started: this.started + 1,
            ..this
        };
        let mut orphan = marked_sleep(dead);
        let mut ours = marked_sleep(this);
        let reaped = reap(&[]);
        assert!(reaped.processes >= 1, "{reaped:?}");
        // Killed: it exits by SIGKILL, at once.
        let status = orphan.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(9));
        assert_eq!(
            ours.try_wait().expect("try_wait"),
            None,
            "a live owner's program runs on"
        );
        ours.kill().expect("kill");
        ours.wait().expect("wait");
    }

    #[test]
    fn private_folders_are_named_after_their_owner() {
        let folder = private_folder().expect("folder");
        let name = folder
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!("traverse-{}-", Owner::this_process().tag())),
            "{name}"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = folder
            .path()
            .metadata()
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
