//! Every option of `connect-proxy`, and clients configured with it.

use crate::support::{assert_cells, run};

const ALL: [&str; 4] = ["tcp", "tls", "ws", "wss"];

#[tokio::test]
async fn default_allows_connect_to_443_only() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
    "#;
    assert_cells(
        topology,
        &ALL,
        &[
            "tcp fail refused 403 blame=squid",
            "tls pass",
            "ws fail refused 403 blame=squid",
            "wss pass",
        ],
    )
    .await;
    let results = run(topology, &["ws"]).await;
    assert!(
        results[0]
            .detail
            .contains("CONNECT to port 80 is denied; allowed ports: 443"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn allowed_ports_open_port_80_too() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        allowed_ports = [443, 80]
    "#;
    assert_cells(
        topology,
        &ALL,
        &["tcp pass", "tls pass", "ws pass", "wss pass"],
    )
    .await;
}

#[tokio::test]
async fn a_client_with_the_proxys_credentials_passes() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        auth = "alice:wonderland"
    "#;
    assert_cells(topology, &["wss"], &["wss pass"]).await;
}

#[tokio::test]
async fn missing_credentials_get_407_from_the_proxy() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        auth = "alice:wonderland"

        [client]
        proxy_auth = ""
    "#;
    assert_cells(topology, &["wss"], &["wss fail refused 407 blame=squid"]).await;
    let results = run(topology, &["wss"]).await;
    assert!(
        results[0].detail.contains("no Proxy-Authorization"),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn wrong_credentials_get_407_naming_the_user() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        auth = "alice:wonderland"

        [client]
        proxy_auth = "alice:looking-glass"
    "#;
    assert_cells(topology, &["tls"], &["tls fail refused 407 blame=squid"]).await;
    let results = run(topology, &["tls"]).await;
    assert!(
        results[0]
            .detail
            .contains("wrong credentials for user \"alice\""),
        "{}",
        results[0].detail
    );
}

#[tokio::test]
async fn idle_timeout_cuts_a_quiet_connect_tunnel() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        idle_timeout = "60s"

        [probe]
        idle = "90s"
    "#;
    assert_cells(topology, &["wss"], &["wss fail idle-cut blame=squid"]).await;
}

#[tokio::test]
async fn the_proxy_is_no_open_relay() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let topology = crate::support::scenario(
        r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
    "#,
    );
    let tasks = traverse_net::Tasks::new();
    let log = traverse_net::TransactionLog::new();
    let pki = std::sync::Arc::new(traverse_pki::Pki::generate().expect("pki"));
    let handle = traverse_middlebox::start(
        &topology.hops[0],
        traverse_middlebox::HopContext {
            name: "squid".to_string(),
            next: traverse_net::Endpoints::new(Default::default()),
            pki,
            time_scale: traverse_scenario::TimeScale::DEFAULT,
            log: log.clone(),
            tasks: tasks.clone(),
            step_timeout: std::time::Duration::from_secs(5),
            bind: Default::default(),
        },
    )
    .await
    .expect("start");
    let proxy = handle
        .endpoints
        .get(traverse_scenario::address::PROXY_PORT)
        .expect("proxy port");
    let mut client = tokio::net::TcpStream::connect(proxy)
        .await
        .expect("connect");
    client
        .write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0_u8; 12];
    client.read_exact(&mut answer).await.expect("read");
    assert_eq!(&answer, b"HTTP/1.1 403");
    let record = log.first_fault().expect("logged");
    assert!(record.detail.contains("no open relay"), "{}", record.detail);
    tasks.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn the_log_says_what_went_through_each_tunnel() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443, 80]
    "#;
    let results = run(topology, &["wss", "ws", "tcp"]).await;
    let protocols: Vec<serde_json::Value> = results
        .iter()
        .map(|cell| {
            let record = &cell.logs[0].records[0];
            assert_eq!(
                record.target.as_deref(),
                Some(if cell.tunnel == "wss" {
                    "origin.test:443"
                } else {
                    "origin.test:80"
                })
            );
            serde_json::to_value(record.protocol).expect("json")
        })
        .collect();
    assert_eq!(protocols, ["tls-opaque", "http", "unknown"]);
}

#[tokio::test]
async fn a_dead_upstream_gets_503_not_a_dead_tunnel() {
    let topology = r#"
        [[hops]]
        kind = "connect-proxy"
        name = "squid"
        allowed_ports = [443, 80]

        [[hops]]
        kind = "tls-terminator"
        name = "lb"
        websocket = true
        ports = [443]
    "#;
    assert_cells(
        topology,
        &["ws", "wss"],
        &["ws fail refused 503 blame=squid", "wss pass"],
    )
    .await;
}
