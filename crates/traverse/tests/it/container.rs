//! A tunnel's server half in a container: the reference wss server from
//! the locally built image traverse-tunnel:local (see ci/build-image.sh),
//! run with host networking so every byte stays on loopback, driven
//! through topologies like any external tunnel, and removed when its cell
//! ends.

use std::process::Command;

use traverse_runner::{RunOptions, TunnelSpec};

use crate::support::{require_image, scenario};

const IMAGE: &str = "traverse-tunnel:local";

/// Containers whose name starts with `prefix`.
fn containers(prefix: &str) -> Vec<String> {
    let listed = Command::new("docker")
        .args(["ps", "--all", "--format", "{{.Names}}", "--filter"])
        .arg(format!("name={prefix}"))
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_container_tunnel_server_runs_through_topologies_and_is_removed() {
    require_image(IMAGE);
    let prefix = format!("traverse-test-{}", std::process::id());
    let folder = tempfile::tempdir().expect("tempdir");
    let binary = env!("CARGO_BIN_EXE_traverse");
    // The wrapper removes its container when the cell ends it (SIGTERM).
    let server = format!(
        "trap 'docker rm -f \"$0\" >/dev/null 2>&1; exit 0' TERM INT; \
         docker run --rm --network host --name \"$0\" -v \"$1:/cert.pem:ro\" -v \"$2:/key.pem:ro\" \
         {IMAGE} tunnel serve wss --listen \"$3\" --target \"$4\" --cert /cert.pem --key /key.pem & wait $!"
    );
    let definition = format!(
        "transport = \"tls\"\nready_timeout = \"30s\"\n\
         server = [\"sh\", \"-c\", {server:?}, \"{prefix}-{{listen_port}}\", \"{{cert_pem}}\", \"{{key_pem}}\", \"{{listen}}\", \"{{target}}\"]\n\
         client = [\"{binary}\", \"tunnel\", \"connect\", \"wss\", \"--local\", \"{{local}}\", \"--connect\", \"{{connect}}\", \"--ca\", \"{{ca_pem}}\"]\n"
    );
    let path = folder.path().join("container-wss.toml");
    std::fs::write(&path, definition).expect("write");
    let tunnel: TunnelSpec = traverse_scenario::load_tunnel(&path)
        .unwrap_or_else(|error| panic!("{error}"))
        .into();
    let topologies = [
        scenario("name = \"direct\""),
        scenario(
            "name = \"f5-websocket\"\n[[hops]]\nkind = \"tls-terminator\"\nname = \"f5\"\nwebsocket = true\n",
        ),
        scenario("name = \"f5-plain\"\n[[hops]]\nkind = \"tls-terminator\"\nname = \"f5\"\n"),
    ];
    let results = traverse_runner::run(
        traverse_runner::plan(&topologies, &[tunnel]),
        &RunOptions::default(),
        |_| {},
    )
    .await
    .expect("run");
    let got: Vec<String> = results
        .iter()
        .map(|cell| {
            format!(
                "{} {} {:?}",
                cell.scenario,
                cell.verdict.as_str(),
                cell.blame
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "direct pass None",
            "f5-websocket pass None",
            "f5-plain fail Some(\"f5\")"
        ],
        "{:#?}",
        results.iter().map(|cell| &cell.detail).collect::<Vec<_>>()
    );
    // Removal takes docker a moment after the wrapper is told to stop.
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        &format!("the cells' containers ({prefix}*) removed"),
        || containers(&prefix).is_empty(),
    );
}
