//! `masking` on every HTTP-mode kind: ignore, require, remask, told apart
//! by a client that masks its frames and one that does not.

use crate::support::{assert_cells, run};

const HOPS: [(&str, &str); 3] = [
    ("tls-terminator", "websocket = true"),
    ("transparent", "upgrade = \"forward\""),
    ("legacy-forwarder", "body = \"forward\""),
];

fn topology(kind: &str, enable: &str, masking: &str) -> String {
    format!("[[hops]]\nkind = \"{kind}\"\nname = \"hop\"\n{enable}\nmasking = \"{masking}\"\n")
}

#[tokio::test]
async fn ignore_passes_unmasked_frames() {
    for (kind, enable) in HOPS {
        assert_cells(
            &topology(kind, enable, "ignore"),
            &["ws", "ws-unmasked"],
            &["ws pass", "ws-unmasked pass"],
        )
        .await;
    }
}

#[tokio::test]
async fn require_closes_an_unmasked_client_with_1002() {
    for (kind, enable) in HOPS {
        assert_cells(
            &topology(kind, enable, "require"),
            &["ws", "ws-unmasked"],
            &["ws pass", "ws-unmasked fail blocked blame=hop"],
        )
        .await;
    }
    let results = run(
        &topology("tls-terminator", "websocket = true", "require"),
        &["wss-unmasked"],
    )
    .await;
    assert!(results[0].detail.contains("1002"), "{}", results[0].detail);
}

#[tokio::test]
async fn remask_passes_unmasked_clients() {
    for (kind, enable) in HOPS {
        assert_cells(
            &topology(kind, enable, "remask"),
            &["ws", "ws-unmasked"],
            &["ws pass", "ws-unmasked pass"],
        )
        .await;
    }
}

#[tokio::test]
async fn remasked_frames_no_longer_poison_a_cache_behind() {
    // The proof that remasking happened: a cache behind the hop can read an
    // unmasked client's payload, but not once the hop has masked it.
    let behind = |masking: &str| {
        format!(
            "[[hops]]\nkind = \"tls-terminator\"\nname = \"f5\"\nwebsocket = true\nmasking = \"{masking}\"\n\
             [[hops]]\nkind = \"transparent\"\nname = \"cache\"\nupgrade = \"forward\"\ncache = true\n"
        )
    };
    let ignored = run(&behind("ignore"), &["ws-unmasked"]).await;
    assert_eq!(ignored[0].poisonable, Some(true), "{}", ignored[0].detail);
    let remasked = run(&behind("remask"), &["ws-unmasked"]).await;
    assert_eq!(
        remasked[0].poisonable,
        Some(false),
        "{}",
        remasked[0].detail
    );
}

#[tokio::test]
async fn masking_rules_leave_hixie76_alone() {
    // Its frames are not RFC 6455 frames; a rule for those must not touch them.
    for masking in ["require", "remask"] {
        assert_cells(
            &topology("legacy-forwarder", "body = \"forward\"", masking),
            &["hixie76"],
            &["hixie76 pass"],
        )
        .await;
    }
}
