//! The cache-poisoning probe: a caching intercepting proxy that ignores the
//! Upgrade reads the client's bytes as requests; whether an attacker's
//! request inside the tunnel shows up in clear decides `poisonable`.

use crate::support::run;

const CACHE: &str = r#"
    [[hops]]
    kind = "transparent"
    name = "cache"
    upgrade = "forward"
    cache = true
"#;

#[tokio::test]
async fn masked_clients_pass_and_cannot_poison() {
    for cell in run(CACHE, &["ws", "wss", "tls"]).await {
        assert_eq!(
            cell.verdict.as_str(),
            "pass",
            "{}: {}",
            cell.tunnel,
            cell.detail
        );
        assert_eq!(cell.poisonable, Some(false), "{}", cell.tunnel);
    }
}

#[tokio::test]
async fn an_unmasked_client_passes_and_is_poisonable() {
    let results = run(CACHE, &["ws-unmasked"]).await;
    let cell = &results[0];
    assert_eq!(cell.verdict.as_str(), "pass");
    assert_eq!(cell.poisonable, Some(true));
    assert_eq!(
        cell.detail,
        "poisonable: cache read bytes inside the tunnel as a request for \
         http://victim.test/poison and would cache the answer"
    );
    let record = &cell.logs[0].records[0];
    assert_eq!(
        record.cache_poisoned.as_deref(),
        Some("http://victim.test/poison")
    );
}

#[tokio::test]
async fn tls_the_cache_cannot_read_hides_even_unmasked_frames() {
    let results = run(CACHE, &["wss-unmasked"]).await;
    assert_eq!(results[0].poisonable, Some(false));
    let inspecting = format!("{CACHE}tls = \"inspect\"\n");
    let results = run(&inspecting, &["wss-unmasked"]).await;
    assert_eq!(results[0].poisonable, Some(true), "{}", results[0].detail);
}

#[tokio::test]
async fn without_a_cache_on_the_path_the_question_does_not_arise() {
    let results = run("", &["ws-unmasked"]).await;
    assert_eq!(results[0].poisonable, None);
}
