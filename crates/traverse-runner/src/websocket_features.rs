//! Whether a WebSocket cell's features crossed the path intact. The probe
//! checks the stream's bytes; a hop can pass those and still change the
//! protocol around them: answer for the origin's close, re-frame the
//! messages, drop a subprotocol offer. After a passing probe the origin's
//! record of what it saw (see the tunnel crate's `websocket.rs`) is held
//! against what the client sent, and any difference fails the cell as
//! `corrupt`, blamed as every failure is.

use traverse_net::websocket::{CloseSeen, FrameSummary, WebSocketSeen};
use traverse_net::{Action, ConnRecord};
use traverse_tunnel::{CLOSE_CHANGED, CLOSE_REASON, Configured};

use crate::verdict::{Category, NodeLog, Observation};

/// How a detail begins when the client's frames did not arrive as sent.
pub const FRAMES_CHANGED: &str = "the WebSocket frames changed on the way";

/// Checks what the origin saw of the WebSocket a passing cell opened
/// against what the client sent (`sent`, its own count of its frames).
pub(crate) fn confirm(
    configured: &Configured,
    sent: Option<&FrameSummary>,
    logs: &[NodeLog],
) -> Result<(), Observation> {
    if !configured.tunnel.protocol.websocket_features() {
        return Ok(());
    }
    let corrupt = |detail: String| Err(Observation::new(Category::Corrupt, detail));
    let Some(seen) = origin_websocket(logs) else {
        return corrupt(
            "the probe passed, but the origin recorded no WebSocket it accepted".to_string(),
        );
    };
    let features = &configured.websocket;
    if let Some(subprotocol) = &features.subprotocol {
        let first = seen
            .subprotocols
            .as_deref()
            .map(traverse_net::websocket::first_offer);
        if first != Some(subprotocol.as_str()) {
            return corrupt(format!(
                "the client offered the subprotocol `{subprotocol}`, and the origin was offered {}",
                seen.subprotocols
                    .as_deref()
                    .map_or("none".to_string(), |offers| format!("`{offers}`"))
            ));
        }
    }
    if let Some(sent) = sent
        && *sent != seen.frames
    {
        return corrupt(format!(
            "{FRAMES_CHANGED}: the client sent {sent}; the origin received {}",
            seen.frames
        ));
    }
    let code = features.close_code();
    let expected = CloseSeen {
        code,
        reason: CLOSE_REASON.to_string(),
    };
    if seen.close.as_ref() != Some(&expected) {
        return corrupt(format!(
            "{CLOSE_CHANGED}: the client closed with {code} ({CLOSE_REASON}), and the origin \
             received {}",
            seen.close
                .as_ref()
                .map_or("no close frame".to_string(), |close| format!(
                    "{} ({})",
                    close.code, close.reason
                ))
        ));
    }
    Ok(())
}

/// The last WebSocket the origin accepted: a fallback's earlier attempts
/// and a client's retries come before it.
fn origin_websocket(logs: &[NodeLog]) -> Option<&WebSocketSeen> {
    logs.iter()
        .rev()
        .find(|log| log.node == "origin")?
        .records
        .iter()
        .rev()
        .filter(|record: &&ConnRecord| record.action == Action::Upgraded)
        .find_map(|record| record.websocket.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin_saw(seen: WebSocketSeen) -> Vec<NodeLog> {
        let log = traverse_net::TransactionLog::new();
        let entry = log.open("127.0.0.1:1".parse().expect("addr"), 80);
        entry.act(Action::Upgraded, Some(101), "WebSocket open");
        entry.note_websocket(|record| *record = seen);
        vec![NodeLog {
            node: "origin".to_string(),
            records: log.snapshot(),
        }]
    }

    fn frames(binary: u64, continuations: u64) -> FrameSummary {
        FrameSummary {
            binary_messages: binary,
            continuations,
            largest_frame: 4096,
            length_16: binary + continuations,
            ..FrameSummary::default()
        }
    }

    fn closed(code: u16, reason: &str) -> Option<CloseSeen> {
        Some(CloseSeen {
            code,
            reason: reason.to_string(),
        })
    }

    /// The origin saw what the client sent: the cell stands. Each way the
    /// path can change it is its own detail, and `corrupt`.
    #[test]
    fn what_the_origin_saw_is_held_against_what_the_client_sent() {
        let configured =
            Configured::parse("ws+subprotocol=mqtt+fragment=4096+close=4000").expect("parses");
        let sent = frames(3, 250);
        let intact = WebSocketSeen {
            subprotocols: Some("mqtt".to_string()),
            extensions: None,
            frames: sent.clone(),
            close: closed(4000, CLOSE_REASON),
        };
        assert_eq!(
            confirm(&configured, Some(&sent), &origin_saw(intact.clone())),
            Ok(())
        );
        let cases = [
            (
                WebSocketSeen {
                    subprotocols: None,
                    ..intact.clone()
                },
                "the client offered the subprotocol `mqtt`, and the origin was offered none"
                    .to_string(),
            ),
            (
                WebSocketSeen {
                    frames: frames(253, 0),
                    ..intact.clone()
                },
                format!(
                    "{FRAMES_CHANGED}: the client sent 3 binary and 0 text messages, 250 \
                     continuation frames, the largest frame 4096 bytes, 253 frames with 16-bit \
                     and 0 with 64-bit lengths; the origin received 253 binary and 0 text \
                     messages, 0 continuation frames, the largest frame 4096 bytes, 253 frames \
                     with 16-bit and 0 with 64-bit lengths"
                ),
            ),
            (
                WebSocketSeen {
                    close: closed(1000, "bye"),
                    ..intact.clone()
                },
                format!(
                    "{CLOSE_CHANGED}: the client closed with 4000 ({CLOSE_REASON}), and the \
                     origin received 1000 (bye)"
                ),
            ),
            (
                WebSocketSeen {
                    close: None,
                    ..intact.clone()
                },
                format!(
                    "{CLOSE_CHANGED}: the client closed with 4000 ({CLOSE_REASON}), and the \
                     origin received no close frame"
                ),
            ),
        ];
        for (seen, detail) in cases {
            assert_eq!(
                confirm(&configured, Some(&sent), &origin_saw(seen)),
                Err(Observation::new(Category::Corrupt, detail))
            );
        }
    }

    #[test]
    fn tunnels_without_websocket_features_are_not_checked() {
        let configured = Configured::parse("long-poll").expect("parses");
        assert_eq!(confirm(&configured, None, &[]), Ok(()));
        let ws = Configured::parse("ws").expect("parses");
        assert_eq!(
            confirm(&ws, None, &[]),
            Err(Observation::new(
                Category::Corrupt,
                "the probe passed, but the origin recorded no WebSocket it accepted"
            ))
        );
    }
}
