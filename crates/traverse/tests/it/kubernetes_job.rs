//! The Kubernetes Indexed Job of ci/kubernetes/, run without a cluster:
//! each index's pod is a `docker run` of the locally built image
//! traverse:local (see ci/build-image.sh), with the container's command,
//! args, env, user, read-only root, memory limit and volume mounts taken
//! from the manifest as written, the claim a folder shared by every pod
//! and the index in `JOB_COMPLETION_INDEX`, as Kubernetes sets it. The
//! merge Job of traverse-merge.yaml runs the same way on that folder. Its
//! results must be the same run as one unsharded run on the host.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::shards::{as_expected_unless_starved, judged_by_both, verdicts};
use crate::support::{repo_root, require_image};

const IMAGE: &str = "traverse:local";
/// Pods that run at once: the suite runs on two cores.
const AT_ONCE: usize = 2;
/// Each container takes seconds; a hung one fails the test.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Every document of a manifest in ci/kubernetes/.
fn manifest(name: &str) -> Vec<Value> {
    let path = repo_root().join("ci/kubernetes").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
        .collect()
}

/// The one object of `kind` among `documents`.
fn object<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in the manifest");
    found[0]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The pod's one container.
fn container(pod: &Value) -> &Value {
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container in the pod");
    &containers[0]
}

/// N in the container's `--shard K/N`.
fn shards_in_args(pod: &Value) -> u64 {
    let container = container(pod);
    let line = [strings(&container["command"]), strings(&container["args"])]
        .concat()
        .join(" ");
    let (_, after) = line
        .split_once("--shard")
        .unwrap_or_else(|| panic!("the container runs `traverse run --shard K/N`: {line}"));
    let (_, n) = after.split_once('/').expect("--shard K/N");
    n.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("N in --shard K/N is a number: {after}"))
}

/// Kubernetes' quantity of bytes as docker's: 256Mi is 256m.
fn docker_bytes(quantity: &str) -> String {
    for (suffix, unit) in [("Ki", "k"), ("Mi", "m"), ("Gi", "g")] {
        if let Some(number) = quantity.strip_suffix(suffix) {
            return format!("{number}{unit}");
        }
    }
    panic!("a memory quantity this test reads (Ki, Mi, Gi): {quantity}")
}

/// A process the test started, its output in a file: a pod's `docker
/// run` (`container` is its name) or the host's run.
struct Running {
    name: String,
    container: Option<String>,
    /// Taken by [`Running::finish`], which waits for it.
    child: Option<Child>,
    log: PathBuf,
}

/// A failed assertion leaves nothing running.
impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child
            && let Ok(None) = child.try_wait()
        {
            if let Some(container) = &self.container {
                let _ = Command::new("docker").args(["kill", container]).output();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Running {
    /// Waits for the end, at most `TIMEOUT`, and returns the exit status
    /// with the output.
    fn finish(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("finished once");
        let pid = child.id();
        // std's wait has no deadline: it waits in a thread of its own.
        let (exited, exit) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = exited.send(child.wait());
        });
        let Ok(status) = exit.recv_timeout(TIMEOUT) else {
            if let Some(container) = &self.container {
                let _ = Command::new("docker").args(["kill", container]).output();
            }
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("{} ran for more than {TIMEOUT:?}", self.name);
        };
        let status = status.expect("wait");
        let output = std::fs::read_to_string(&self.log).unwrap_or_default();
        (status, output)
    }
}

/// Starts `command` with stdout and stderr in `log`.
fn start(name: String, container: bool, mut command: Command, log: PathBuf) -> Running {
    let file = std::fs::File::create(&log).expect("log file");
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file);
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    Running {
        container: container.then(|| name.clone()),
        name,
        child: Some(child),
        log,
    }
}

/// The `docker run` that stands in for `pod`: its container as written,
/// every claim it mounts a folder of `claims`, every emptyDir a tmpfs, on
/// a network of its own with loopback only (as a pod's), and `env` added
/// as Kubernetes adds it.
fn docker_run(
    pod: &Value,
    claims: &HashMap<String, PathBuf>,
    env: &[(&str, String)],
    name: &str,
) -> Command {
    let container = container(pod);
    assert_eq!(
        container["image"], IMAGE,
        "the image ci/build-image.sh builds"
    );
    let mut docker = Command::new("docker");
    docker.args(["run", "--rm", "--pull", "never", "--network", "none"]);
    docker.args(["--name", name]);

    // The container's security context over the pod's.
    let security = |key: &str| -> &Value {
        match &container["securityContext"][key] {
            Value::Null => &pod["securityContext"][key],
            value => value,
        }
    };
    if security("runAsNonRoot") == true {
        // The image's user is root: the kubelet would refuse to start it.
        assert!(
            security("runAsUser").as_u64().is_some_and(|user| user != 0),
            "runAsNonRoot needs a runAsUser other than 0 with this image"
        );
    }
    if let Some(user) = security("runAsUser").as_u64() {
        match security("runAsGroup").as_u64() {
            Some(group) => docker.arg(format!("--user={user}:{group}")),
            None => docker.arg(format!("--user={user}")),
        };
    }
    if let Some(group) = pod["securityContext"]["fsGroup"].as_u64() {
        docker.arg(format!("--group-add={group}"));
    }
    if container["securityContext"]["readOnlyRootFilesystem"] == true {
        docker.arg("--read-only");
    }
    if container["securityContext"]["allowPrivilegeEscalation"] == false {
        docker.arg("--security-opt=no-new-privileges");
    }
    for capability in strings(&container["securityContext"]["capabilities"]["drop"]) {
        docker.arg(format!("--cap-drop={capability}"));
    }
    for capability in strings(&container["securityContext"]["capabilities"]["add"]) {
        docker.arg(format!("--cap-add={capability}"));
    }
    if let Some(memory) = container["resources"]["limits"]["memory"].as_str() {
        docker.arg(format!("--memory={}", docker_bytes(memory)));
    }
    if let Some(folder) = container["workingDir"].as_str() {
        docker.arg(format!("--workdir={folder}"));
    }
    for variable in container["env"].as_array().into_iter().flatten() {
        let value = variable["value"].as_str().unwrap_or_else(|| {
            panic!("env with a plain value (this test reads no valueFrom): {variable}")
        });
        docker.arg("--env").arg(format!(
            "{}={value}",
            variable["name"].as_str().expect("env name")
        ));
    }
    for (variable, value) in env {
        docker.arg("--env").arg(format!("{variable}={value}"));
    }
    let volumes = pod["volumes"].as_array().expect("volumes");
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let path = mount["mountPath"].as_str().expect("mountPath");
        let volume = volumes
            .iter()
            .find(|volume| volume["name"] == mount["name"])
            .unwrap_or_else(|| panic!("the pod has the volume it mounts: {mount}"));
        if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            let folder = claims.get(claim).unwrap_or_else(|| {
                panic!("the claim {claim} is the PersistentVolumeClaim of traverse-job.yaml")
            });
            let read_only = if mount["readOnly"] == true { ":ro" } else { "" };
            docker
                .arg("--volume")
                .arg(format!("{}:{path}{read_only}", folder.display()));
        } else if volume.get("emptyDir").is_some() {
            docker.arg(format!("--tmpfs={path}"));
        } else {
            panic!("a volume this test can stand in for (a claim, an emptyDir): {volume}");
        }
    }
    // `command` replaces the image's entrypoint, `args` its command.
    let command = strings(&container["command"]);
    if let Some(program) = command.first() {
        docker.arg(format!("--entrypoint={program}"));
    }
    docker.arg(IMAGE);
    docker.args(command.iter().skip(1));
    docker.args(strings(&container["args"]));
    docker
}

#[test]
fn the_indexed_job_runs_each_shard_in_a_pod_and_merges_to_one_run() {
    require_image(IMAGE);
    let documents = manifest("traverse-job.yaml");
    let claim = object(&documents, "PersistentVolumeClaim");
    let job = object(&documents, "Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    let spec = &job["spec"];
    let pod = &spec["template"]["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let shards = shards_in_args(pod);
    assert!(shards > 1, "more than one shard");
    assert_eq!(
        spec["completions"].as_u64(),
        Some(shards),
        "completions is the N of --shard K/N"
    );
    assert_eq!(
        spec["parallelism"].as_u64(),
        Some(shards),
        "parallelism is the N of --shard K/N"
    );
    assert!(
        matches!(pod["restartPolicy"].as_str(), Some("Never" | "OnFailure")),
        "a Job's pods restart Never or OnFailure"
    );

    let folder = tempfile::tempdir().expect("tempdir");
    // The pods run as the manifest's user; on a cluster, fsGroup gives
    // them the volume.
    let results = folder.path().join("results");
    std::fs::create_dir(&results).expect("results folder");
    std::fs::set_permissions(&results, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let claims = HashMap::from([(
        claim["metadata"]["name"]
            .as_str()
            .expect("the claim's name")
            .to_string(),
        results.clone(),
    )]);

    // One unsharded run on the host meanwhile: most of its time is spent
    // waiting on timeouts, not on the cores.
    let whole = folder.path().join("whole.json");
    let mut host = Command::new(env!("CARGO_BIN_EXE_traverse"));
    host.args(["run", "-q", "--json"])
        .arg(&whole)
        .current_dir(repo_root());
    let host = start(
        "the unsharded run".to_string(),
        false,
        host,
        folder.path().join("whole.log"),
    );

    let prefix = format!("traverse-job-test-{}", std::process::id());
    let indexes: Vec<u64> = (0..shards).collect();
    for batch in indexes.chunks(AT_ONCE) {
        let running: Vec<Running> = batch
            .iter()
            .map(|index| {
                let name = format!("{prefix}-{index}");
                let docker = docker_run(
                    pod,
                    &claims,
                    &[("JOB_COMPLETION_INDEX", index.to_string())],
                    &name,
                );
                start(
                    name,
                    true,
                    docker,
                    folder.path().join(format!("pod-{index}.log")),
                )
            })
            .collect();
        for (index, running) in batch.iter().zip(running) {
            let (status, output) = running.finish();
            let shard = results.join(format!("shard-{index}.json"));
            assert!(
                as_expected_unless_starved(status.code(), &shard),
                "index {index}: {status}\n{output}"
            );
        }
    }
    for index in 0..shards {
        let shard = results.join(format!("shard-{index}.json"));
        assert!(
            shard.metadata().is_ok_and(|file| file.len() > 0),
            "index {index} wrote {}",
            shard.display()
        );
    }

    // The merge step, as its manifest says, on the same claim.
    let merge_documents = manifest("traverse-merge.yaml");
    let merge = object(&merge_documents, "Job");
    assert!(
        merge["spec"]["completionMode"].is_null(),
        "the merge is one pod"
    );
    let name = format!("{prefix}-merge");
    let docker = docker_run(&merge["spec"]["template"]["spec"], &claims, &[], &name);
    let (status, output) = start(name, true, docker, folder.path().join("merge.log")).finish();
    assert!(
        as_expected_unless_starved(status.code(), &results.join("merged.json")),
        "merge: {status}\n{output}"
    );
    for report in ["merged.json", "report.html", "junit.xml", "report.md"] {
        assert!(
            results
                .join(report)
                .metadata()
                .is_ok_and(|file| file.len() > 0),
            "the merge wrote {report}"
        );
    }

    let (status, output) = host.finish();
    assert!(
        as_expected_unless_starved(status.code(), &whole),
        "the unsharded run: {status}\n{output}"
    );
    let (whole_cells, merged_cells) = (verdicts(&whole), verdicts(&results.join("merged.json")));
    assert!(whole_cells.len() > 100, "the bundled matrix ran");
    let (whole_cells, merged_cells) = judged_by_both(whole_cells, merged_cells);
    assert_eq!(
        merged_cells, whole_cells,
        "the Job's merged shards differ from one run on the host; if scenarios/ or the code \
         changed since the image was built, `bash ci/build-image.sh` rebuilds it"
    );
}
