//! What a cell comes to: pass, or a failure with a category, the side to
//! blame and a line a person can act on. The client's observation gives the
//! category; the transaction logs give the culprit: the node nearest the
//! client that changed or stopped the traffic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use traverse_net::{Action, ConnRecord};
pub use traverse_scenario::Verdict;
use traverse_tunnel::TunnelError;

/// Why a cell failed, as a class a matrix can show in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Refused: an HTTP status instead of the tunnel, or connection refused.
    Refused,
    Tls,
    Reset,
    Timeout,
    /// Bytes came back different, or the peer spoke another protocol.
    Corrupt,
    IdleCut,
    Blocked,
    /// The harness itself failed; the cell says nothing about the tunnel.
    Harness,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Refused => "refused",
            Category::Tls => "tls",
            Category::Reset => "reset",
            Category::Timeout => "timeout",
            Category::Corrupt => "corrupt",
            Category::IdleCut => "idle-cut",
            Category::Blocked => "blocked",
            Category::Harness => "harness",
        }
    }
}

/// A failure before blame: what the tunnel client or the probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub category: Category,
    pub status: Option<u16>,
    pub detail: String,
}

impl Observation {
    pub fn new(category: Category, detail: impl Into<String>) -> Observation {
        Observation {
            category,
            status: None,
            detail: detail.into(),
        }
    }
}

impl From<&TunnelError> for Observation {
    fn from(error: &TunnelError) -> Observation {
        let category = match error {
            // A gateway's own timeout (504; Cloudflare's 524 after
            // connecting and 522 while connecting) is a timeout on the
            // path, whoever reports it.
            TunnelError::Refused {
                status: 504 | 522 | 524,
                ..
            } => Category::Timeout,
            TunnelError::ConnectRefused { .. }
            | TunnelError::Refused { .. }
            | TunnelError::Declined { .. } => Category::Refused,
            TunnelError::Tls { .. } => Category::Tls,
            TunnelError::Reset { .. } | TunnelError::Closed { .. } => Category::Reset,
            // A deadlock seen early is the timeout the step would have come to.
            TunnelError::Timeout { .. } | TunnelError::Deadlock { .. } => Category::Timeout,
            TunnelError::Protocol(_) => Category::Corrupt,
        };
        let status = match error {
            TunnelError::Refused { status, .. } => Some(*status),
            _ => None,
        };
        Observation {
            category,
            status,
            detail: error.to_string(),
        }
    }
}

/// A failure with its culprit.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub category: Category,
    pub status: Option<u16>,
    /// `client`, a hop's name, `origin` or `harness`.
    pub blame: String,
    pub detail: String,
}

impl Failure {
    /// The harness's own failure: the cell says nothing about the path.
    pub fn harness(detail: String) -> Failure {
        Failure {
            category: Category::Harness,
            status: None,
            blame: "harness".to_string(),
            detail,
        }
    }
}

/// The logs of one node, from the client side inward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeLog {
    /// The node's name: a hop's name, or `origin`.
    pub node: String,
    /// One record per connection it handled, in arrival order.
    pub records: Vec<ConnRecord>,
}

/// Decides who is to blame for `observation` from the nodes' logs, ordered
/// from the client inward with the origin last.
pub fn judge(observation: Observation, logs: &[NodeLog]) -> Failure {
    let culprit = logs.iter().find_map(|log| {
        log.records
            .iter()
            .find(|record| record.action.is_fault())
            .map(|fault| (log.node.as_str(), fault))
    });
    let Some((node, fault)) = culprit else {
        // A refused connection leaves no record anywhere: the node the
        // client dials has no listener for that port.
        let refused_connect =
            observation.category == Category::Refused && observation.status.is_none();
        let blame = match logs.first() {
            Some(first) if refused_connect => first.node.clone(),
            _ => "client".to_string(),
        };
        return Failure {
            category: observation.category,
            status: observation.status,
            blame,
            detail: observation.detail,
        };
    };
    let category = match fault.action {
        Action::IdleCut => Category::IdleCut,
        Action::Blocked => Category::Blocked,
        _ => observation.category,
    };
    Failure {
        category,
        status: observation.status,
        blame: node.to_string(),
        detail: format!("{}; {node}: {}", observation.detail, fault.detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traverse_net::Protocol;

    fn record(action: Action, detail: &str) -> ConnRecord {
        ConnRecord {
            conn: 1,
            at_ms: 0,
            peer: "127.0.0.1:1".to_string(),
            port: 443,
            target: None,
            protocol: Protocol::Websocket,
            action,
            status: None,
            detail: detail.to_string(),
            bytes_up: 0,
            bytes_down: 0,
            first_bytes: String::new(),
            cache_poisoned: None,
            idle_timer: None,
            timer_wall_ms: None,
            websocket: None,
        }
    }

    fn log(node: &str, records: Vec<ConnRecord>) -> NodeLog {
        NodeLog {
            node: node.to_string(),
            records,
        }
    }

    #[test]
    fn blames_the_faulty_node_nearest_the_client() {
        let logs = [
            log("corp", vec![record(Action::Forwarded, "ok")]),
            log(
                "f5",
                vec![record(Action::StrippedUpgrade, "removed Upgrade")],
            ),
            log("origin", vec![record(Action::Responded, "answered 426")]),
        ];
        let failure = judge(
            Observation {
                category: Category::Refused,
                status: Some(426),
                detail: "answered HTTP 426".to_string(),
            },
            &logs,
        );
        assert_eq!(failure.blame, "f5");
        assert_eq!(failure.category, Category::Refused);
        assert_eq!(failure.status, Some(426));
        assert_eq!(failure.detail, "answered HTTP 426; f5: removed Upgrade");
    }

    #[test]
    fn an_idle_cut_in_a_log_explains_a_closed_connection() {
        let logs = [log(
            "cloudflare",
            vec![record(Action::IdleCut, "cut after 100s")],
        )];
        let failure = judge(Observation::new(Category::Reset, "closed"), &logs);
        assert_eq!(
            (failure.category, failure.blame.as_str()),
            (Category::IdleCut, "cloudflare")
        );
    }

    #[test]
    fn a_stream_a_hop_holds_times_out_on_that_hop_with_its_buffering_named() {
        let held = "holding the 200 response from origin.test:80 until it ends \
                    (response_buffering = \"whole\"); 11 bytes of its body held";
        let logs = [
            log("corp", vec![record(Action::Forwarded, "ok")]),
            log("gateway", vec![record(Action::Buffered, held)]),
            log(
                "origin",
                vec![record(Action::Forwarded, "streaming events")],
            ),
        ];
        let failure = judge(
            Observation::new(Category::Timeout, "no event within 10s"),
            &logs,
        );
        assert_eq!(
            (failure.category, failure.blame.as_str()),
            (Category::Timeout, "gateway")
        );
        assert_eq!(
            failure.detail,
            format!("no event within 10s; gateway: {held}")
        );
    }

    #[test]
    fn a_refused_connection_blames_the_node_the_client_dials() {
        let logs = [log("f5", vec![]), log("origin", vec![])];
        let failure = judge(
            Observation::new(Category::Refused, "connection refused"),
            &logs,
        );
        assert_eq!(failure.blame, "f5");
    }

    #[test]
    fn with_no_fault_on_the_path_the_client_is_blamed() {
        let failure = judge(Observation::new(Category::Corrupt, "garbage"), &[]);
        assert_eq!(failure.blame, "client");
    }

    /// An HTTP/2 server without RFC 8441's extended CONNECT refuses a
    /// WebSocket over it with no status; the server the client met first
    /// is the one that said so.
    #[test]
    fn a_declined_tunnel_is_a_refusal_without_status_blamed_on_the_first_node() {
        let observation = Observation::from(&TunnelError::Declined {
            reason: "no extended CONNECT".to_string(),
        });
        assert_eq!(
            (observation.category, observation.status),
            (Category::Refused, None)
        );
        let logs = [log("alb", vec![]), log("origin", vec![])];
        assert_eq!(judge(observation, &logs).blame, "alb");
    }

    #[test]
    fn a_gateway_timeout_status_is_a_timeout_and_other_gateway_answers_refusals() {
        let category = |status| {
            Observation::from(&TunnelError::Refused {
                status,
                reason: String::new(),
                handshake: "the WebSocket handshake",
            })
            .category
        };
        let table = [
            (502, Category::Refused),
            (504, Category::Timeout),
            (520, Category::Refused),
            (521, Category::Refused),
            (522, Category::Timeout),
            (523, Category::Refused),
            (524, Category::Timeout),
            (525, Category::Refused),
            (526, Category::Refused),
        ];
        for (status, expected) in table {
            assert_eq!(category(status), expected, "status {status}");
        }
    }
}
