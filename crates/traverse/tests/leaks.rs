//! A run leaves nothing behind: every socket a cell opened is closed when
//! its result is reported, including cells that failed or were cut idle.
//! It counts the whole process's descriptors, so it lives in a test binary
//! of its own where no other test opens sockets at the same time.

use traverse_runner::RunOptions;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("this test needs /proc (Linux)")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_closes_every_socket_it_opened() {
    let topology = traverse_scenario::parse(
        std::path::Path::new("leaks.toml"),
        r#"
        [[hops]]
        kind = "tls-terminator"
        websocket = true
        idle_timeout = "100s"

        [[hops]]
        kind = "tls-terminator"
        mode = "tcp"

        [probe]
        idle = "150s"
    "#,
    )
    .expect("valid scenario");
    let cells = traverse_runner::plan(&[topology], traverse_tunnel::BUILTIN);
    // One warm-up run so lazily created runtime descriptors are counted.
    let _ = traverse_runner::run(cells.clone(), &RunOptions::default(), |_| {}).await;
    let before = open_descriptors();
    let results = traverse_runner::run(cells, &RunOptions::default(), |_| {})
        .await
        .expect("run");
    assert_eq!(results.len(), traverse_tunnel::BUILTIN.len());
    assert_eq!(open_descriptors(), before, "sockets outlived the run");
}
