//! A first run anywhere: the installed `traverse` outside the repository,
//! with a home of its own, runs the scenarios built into it, keeps its
//! certificates in the user's cache, writes the bundled scenarios out on
//! request, and prints completions and a manual page from its command line.

use std::io::BufRead as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{finished_within, repo_root};

/// Every command of `traverse`, as a user would type it.
const COMMANDS: [&str; 11] = [
    "run",
    "validate",
    "list",
    "proxy",
    "tunnel",
    "merge",
    "compare",
    "certs",
    "scenarios",
    "completions",
    "man",
];

/// `traverse` in `dir`, with nothing of the user's environment but PATH,
/// and `home` for HOME and XDG_CACHE_HOME's parent.
fn traverse_in(dir: &Path, home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_traverse"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read the folder")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into())
        .collect()
}

fn bundled_names() -> Vec<String> {
    traverse_scenario::load_all(&[repo_root().join("scenarios")])
        .unwrap_or_else(|errors| panic!("bundled scenarios are invalid: {errors:?}"))
        .into_iter()
        .map(|scenario| scenario.name)
        .collect()
}

#[test]
fn a_run_outside_the_repository_runs_the_built_in_scenarios_and_leaves_nothing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    // The default 2 s step and 16 cells per core are for a machine of its
    // own; this test judges where the scenarios come from, not how well a
    // loaded machine keeps the idle timers of 32 cells at once.
    let output = finished_within(
        traverse_in(
            empty.path(),
            home.path(),
            &["run", "--quiet", "--jobs", "4", "--step-timeout", "10s"],
        ),
        Duration::from_secs(300),
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {stderr}\n{}",
        stdout.split("Not as expected").nth(1).unwrap_or(&stdout)
    );
    assert_eq!(
        stderr,
        "running the 30 built-in scenarios; `traverse scenarios export DIR` writes them out\n"
    );
    let names = bundled_names();
    assert_eq!(names.len(), 30);
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| !stdout.lines().any(|line| line.starts_with(name.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the matrix: {missing:?}\n{stdout}"
    );
    assert!(
        stdout.contains(", 0 not as expected"),
        "every cell as expected:\n{stdout}"
    );
    assert_eq!(
        entries(empty.path()),
        Vec::<String>::new(),
        "wrote nothing here"
    );
}

#[test]
fn inside_a_folder_with_scenarios_those_are_the_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scenarios")).expect("mkdir");
    std::fs::write(
        dir.path().join("scenarios/mine.toml"),
        "name = \"mine\"\n[[hops]]\nkind = \"nonsense\"\n",
    )
    .expect("write");
    let output = finished_within(
        traverse_in(dir.path(), home.path(), &["run", "--quiet"]),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("scenarios/mine.toml:3:8: "),
        "the local file, located: {stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn export_writes_the_bundled_files_and_will_not_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let deadline = Duration::from_secs(30);
    let output = finished_within(
        traverse_in(dir.path(), home.path(), &["scenarios", "export", "out"]),
        deadline,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let mut written = entries(&dir.path().join("out"));
    written.sort();
    let mut bundled = entries(&repo_root().join("scenarios"));
    bundled.retain(|name| name.ends_with(".toml"));
    bundled.sort();
    assert_eq!(written, bundled);
    for name in &bundled {
        assert_eq!(
            std::fs::read(dir.path().join("out").join(name)).expect("read"),
            std::fs::read(repo_root().join("scenarios").join(name)).expect("read"),
            "{name} is the bundled file, byte for byte"
        );
    }
    assert_eq!(
        text(&output.stdout).lines().next(),
        Some("out/aws-alb-idle-timeout.toml")
    );

    std::fs::write(dir.path().join("out/direct.toml"), "# edited").expect("write");
    let again = finished_within(
        traverse_in(dir.path(), home.path(), &["scenarios", "export", "out"]),
        deadline,
    );
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        text(&again.stderr),
        "error: out/aws-alb-idle-timeout.toml and 29 other scenario files already there; \
         nothing was written (`--force` overwrites)\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/direct.toml")).expect("read"),
        "# edited"
    );

    let forced = finished_within(
        traverse_in(
            dir.path(),
            home.path(),
            &["scenarios", "export", "out", "--force"],
        ),
        deadline,
    );
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(
        std::fs::read(dir.path().join("out/direct.toml")).expect("read"),
        std::fs::read(repo_root().join("scenarios/direct.toml")).expect("read")
    );

    // What was exported runs as a folder like any other.
    let validated = finished_within(
        traverse_in(dir.path(), home.path(), &["validate", "out"]),
        deadline,
    );
    assert_eq!(validated.status.code(), Some(0));
    assert_eq!(text(&validated.stdout).lines().count(), 30);
}

#[test]
fn scenarios_list_names_each_built_in_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = finished_within(
        traverse_in(dir.path(), dir.path(), &["scenarios", "list"]),
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    let listed: Vec<&str> = stdout
        .lines()
        .map(|line| line.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(listed, bundled_names());
    assert!(
        stdout.contains("direct  ") && stdout.lines().all(|line| line.len() > 40),
        "each with its description:\n{stdout}"
    );
}

#[test]
fn certs_go_to_the_user_s_cache_unless_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let output = finished_within(
        traverse_in(dir.path(), home.path(), &["certs"]),
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let cache = home.path().join(".cache/traverse/certs");
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some(cache.join("public-ca.pem").to_string_lossy().as_ref())
    );
    assert!(cache.join("public-ca.pem").is_file());
    assert!(cache.join("public-ca.key").is_file());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&cache).expect("the folder").permissions(),
    );
    assert_eq!(mode & 0o077, 0, "keys kept from other users: {mode:o}");
    assert_eq!(
        entries(dir.path()),
        Vec::<String>::new(),
        "wrote nothing here"
    );

    // Without XDG_CACHE_HOME, ~/.cache.
    let mut command = traverse_in(dir.path(), home.path(), &["certs"]);
    command.env_remove("XDG_CACHE_HOME").env("HOME", dir.path());
    let output = finished_within(command, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0));
    assert!(
        dir.path()
            .join(".cache/traverse/certs/origin.pem")
            .is_file()
    );
}

/// A proxy started without `--certs`, and the folder its banner tells
/// clients to trust.
fn proxy_trusting(dir: &Path, home: &Path) -> (std::process::Child, PathBuf) {
    let mut child = traverse_in(
        dir,
        home,
        &["proxy", "tls-terminator", "--upstream", "127.0.0.1:9"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the traverse binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let trust = loop {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .expect("the banner within 30 s");
        if line.contains("clients trust") {
            break line;
        }
    };
    let ca = trust
        .strip_prefix("  clients trust ")
        .and_then(|rest| rest.strip_suffix("; press Ctrl-C to stop"))
        .unwrap_or_else(|| panic!("the banner's trust line: {trust}"));
    (child, PathBuf::from(ca))
}

/// Two proxies without `--certs` each get a fresh set in a folder of their
/// own under the user's cache, never the current folder, and it goes when
/// the proxy stops: neither can overwrite the CA the other's clients trust.
#[test]
fn each_proxy_keeps_its_own_certificates_in_the_user_s_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let (first, first_ca) = proxy_trusting(dir.path(), home.path());
    let (second, second_ca) = proxy_trusting(dir.path(), home.path());
    let cache = home.path().join(".cache/traverse");
    for ca in [&first_ca, &second_ca] {
        assert!(ca.is_file(), "{}", ca.display());
        assert_eq!(
            ca.file_name().and_then(|name| name.to_str()),
            Some("public-ca.pem")
        );
        let folder = ca.parent().expect("a folder");
        assert_eq!(folder.parent(), Some(cache.as_path()), "{}", ca.display());
        let mode = std::fs::metadata(folder)
            .expect("folder")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
    }
    assert_ne!(first_ca, second_ca, "a folder each");
    assert_eq!(
        entries(dir.path()),
        Vec::<String>::new(),
        "wrote nothing here"
    );
    for (child, ca) in [(first, first_ca), (second, second_ca)] {
        let status = crate::support::signal_and_wait(child, "INT").status;
        assert!(status.success(), "{status}");
        assert!(
            !ca.parent().expect("a folder").exists(),
            "removed on stop: {}",
            ca.display()
        );
    }
}

#[test]
fn bash_completions_offer_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = finished_within(
        traverse_in(dir.path(), dir.path(), &["completions", "bash"]),
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(0));
    let script = text(&output.stdout);
    assert!(script.contains("complete -F _traverse"), "{script}");
    // The words bash offers after `traverse `.
    let offered = script
        .lines()
        .skip_while(|line| !line.trim().starts_with("traverse)"))
        .find_map(|line| line.trim().strip_prefix("opts=\""))
        .expect("the top-level options");
    for command in COMMANDS {
        assert!(
            offered.split_whitespace().any(|word| word == command),
            "{command} not offered: {offered}"
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = finished_within(
            traverse_in(dir.path(), dir.path(), &["completions", shell]),
            Duration::from_secs(30),
        );
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(text(&output.stdout).contains("scenarios"), "{shell}");
    }
    let unknown = finished_within(
        traverse_in(dir.path(), dir.path(), &["completions", "tcsh"]),
        Duration::from_secs(30),
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("possible values: bash, elvish, fish, powershell, zsh"));
}

#[test]
fn the_manual_page_is_roff_and_names_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = finished_within(
        traverse_in(dir.path(), dir.path(), &["man"]),
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(0));
    let page = text(&output.stdout);
    let title = page
        .lines()
        .find(|line| !line.starts_with(".ie") && !line.starts_with(".el"))
        .unwrap_or_default();
    assert!(title.starts_with(".TH traverse 1"), "{page}");
    for command in COMMANDS {
        assert!(
            page.contains(&format!("traverse\\-{command}(1)")),
            "{command} not in the page"
        );
    }

    let pages = finished_within(
        traverse_in(dir.path(), dir.path(), &["man", "--dir", "man1"]),
        Duration::from_secs(30),
    );
    assert_eq!(pages.status.code(), Some(0));
    for command in COMMANDS {
        let page = std::fs::read_to_string(dir.path().join(format!("man1/traverse-{command}.1")))
            .unwrap_or_else(|error| panic!("traverse-{command}.1: {error}"));
        assert!(
            page.contains(&format!(".TH traverse-{command} 1  \"traverse 0.1.0\"")),
            "{page}"
        );
    }
    assert!(dir.path().join("man1/traverse-tunnel-serve.1").is_file());
}
