//! Fallback tunnels, as products that fall back use them: Socket.IO moves
//! between long-polling and WebSocket, SignalR tries WebSockets, then
//! server-sent events, then long-polling. `fallback(ws,long-poll)` is a
//! matrix column like any tunnel: its cell tries each transport in the
//! order written, each a whole attempt through a fresh topology of the
//! same scenario, and passes over the first that passes. Its result names
//! the transport that got through (`transport`), and its detail what the
//! ones before it met. When every transport fails, the last attempt's
//! verdict is the cell's, as a client reports the error of its last try.
//! A transport is any tunnel the run knows, with its parameters.

use std::sync::Arc;

use crate::{Category, CellResult, CellSpec, TunnelSpec, Verdict};

/// How a fallback's name opens and closes: `fallback(ws,long-poll)`.
const OPEN: &str = "fallback(";
const CLOSE: &str = ")";

/// A tunnel that tries `transports` in order.
#[derive(Debug, Clone)]
pub struct Fallback {
    pub name: String,
    pub transports: Vec<TunnelSpec>,
}

impl Fallback {
    /// Whether `name` is written as a fallback, right or wrong.
    pub(crate) fn is_written(name: &str) -> bool {
        name.starts_with("fallback(")
    }

    /// Reads `fallback(A,B,...)`, each transport a tunnel `resolve_one`
    /// knows. The error says what is wrong and how to write it.
    pub(crate) fn parse(
        name: &str,
        resolve_one: impl Fn(&str) -> Result<TunnelSpec, String>,
    ) -> Result<Fallback, String> {
        let Some(list) = name
            .strip_prefix(OPEN)
            .and_then(|rest| rest.strip_suffix(CLOSE))
        else {
            return Err(format!(
                "\"{name}\": a fallback is written fallback(TUNNEL,TUNNEL,...), like \"fallback(ws,long-poll)\""
            ));
        };
        let written: Vec<&str> = list.split(',').collect();
        if written
            .iter()
            .any(|transport| transport.trim() != *transport)
        {
            let canonical: Vec<&str> = written.iter().map(|transport| transport.trim()).collect();
            return Err(format!(
                "\"{name}\": write it without spaces, as \"{OPEN}{}{CLOSE}\"",
                canonical.join(",")
            ));
        }
        if written.len() < 2 {
            return Err(format!(
                "\"{name}\": a fallback needs two transports or more; one alone is the tunnel \"{list}\""
            ));
        }
        let mut transports: Vec<TunnelSpec> = Vec::new();
        for transport in written {
            if Fallback::is_written(transport) || transport.contains('(') {
                return Err(format!(
                    "\"{name}\": a fallback's transports are tunnels, not fallbacks"
                ));
            }
            if transports.iter().any(|known| known.name() == transport) {
                return Err(format!("\"{name}\": \"{transport}\" is listed twice"));
            }
            let tunnel = resolve_one(transport).map_err(|why| format!("\"{name}\": {why}"))?;
            transports.push(tunnel);
        }
        Ok(Fallback {
            name: name.to_string(),
            transports,
        })
    }

    /// The same cell with one of its transports as the tunnel.
    pub(crate) fn attempt(spec: &CellSpec, transport: &TunnelSpec) -> CellSpec {
        CellSpec {
            index: spec.index,
            scenario: Arc::clone(&spec.scenario),
            tunnel: transport.clone(),
        }
    }

    /// One result for the fallback cell from its attempts, in the order
    /// they ran; the last one decided (it passed, or it was the last).
    pub(crate) fn result(&self, spec: &CellSpec, attempts: Vec<CellResult>) -> CellResult {
        let duration_ms = attempts.iter().map(|attempt| attempt.duration_ms).sum();
        // A cache that read one attempt's bytes as a request is poisonable
        // whatever the attempt after it did.
        let poisonable = attempts
            .iter()
            .filter_map(|attempt| attempt.poisonable)
            .reduce(|one, other| one || other);
        let mut output = std::collections::BTreeMap::new();
        for attempt in &attempts {
            for (half, printed) in &attempt.output {
                output.insert(format!("{}: {half}", attempt.tunnel), printed.clone());
            }
        }
        let (tried, decided) = match attempts.split_last() {
            Some((decided, tried)) => (tried, decided.clone()),
            None => unreachable!("a fallback has two transports or more"),
        };
        let failed_first: Vec<String> = tried
            .iter()
            .map(|attempt| format!("{} failed: {}", attempt.tunnel, attempt.detail))
            .collect();
        let detail = match decided.verdict {
            Verdict::Pass if failed_first.is_empty() => decided.detail.clone(),
            // A harness that could not judge one transport cannot judge the
            // fallback; its detail stays the harness's own.
            Verdict::Fail if decided.category == Some(Category::Harness) => {
                format!("{} (trying {})", decided.detail, decided.tunnel)
            }
            Verdict::Pass => {
                let notes = if decided.detail.is_empty() {
                    String::new()
                } else {
                    format!("; {}", decided.detail)
                };
                format!(
                    "passed over {} after {}{notes}",
                    decided.tunnel,
                    failed_first.join("; ")
                )
            }
            Verdict::Fail => {
                let mut every = failed_first;
                every.push(format!("{} failed: {}", decided.tunnel, decided.detail));
                format!("every transport failed: {}", every.join("; "))
            }
        };
        CellResult {
            cell: spec.index,
            tunnel: self.name.clone(),
            expected: spec.scenario.expectation(&self.name),
            transport: (decided.verdict == Verdict::Pass).then(|| decided.tunnel.clone()),
            detail,
            duration_ms,
            poisonable,
            output,
            ..decided
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traverse_tunnel::Configured;

    fn builtin(name: &str) -> Result<TunnelSpec, String> {
        Configured::parse(name).map(TunnelSpec::Builtin)
    }

    fn parsed(name: &str) -> Result<Vec<String>, String> {
        Fallback::parse(name, builtin).map(|fallback| {
            fallback
                .transports
                .iter()
                .map(|transport| transport.name().to_string())
                .collect()
        })
    }

    #[test]
    fn a_fallback_lists_two_or_more_known_tunnels_in_order() {
        assert_eq!(
            parsed("fallback(ws,hixie76)"),
            Ok(vec!["ws".to_string(), "hixie76".to_string()])
        );
        assert_eq!(
            parsed("fallback(wss+ping=30s,ws,tcp)"),
            Ok(vec![
                "wss+ping=30s".to_string(),
                "ws".to_string(),
                "tcp".to_string()
            ])
        );
    }

    /// A transport the harness could not judge ends the fallback with the
    /// harness's own detail, which `was_starved` and the run's warning
    /// read; a cache poisoned by any attempt leaves the cell poisonable.
    #[test]
    fn the_harness_s_trouble_and_a_poisoned_cache_survive_the_fallback() {
        let scenario = traverse_scenario::parse(
            std::path::Path::new("inline.toml"),
            "[expect]\n\"fallback(ws,wss)\" = \"pass\"\n",
        )
        .expect("scenario");
        let fallback = Fallback::parse("fallback(ws,wss)", builtin).expect("fallback");
        let spec = CellSpec {
            index: 3,
            scenario: Arc::new(scenario),
            tunnel: TunnelSpec::Fallback(Arc::new(fallback.clone())),
        };
        let attempt = |transport: &TunnelSpec, why: &str| {
            let mut result =
                crate::cell::harness_failure(&Fallback::attempt(&spec, transport), why);
            result.duration_ms = 10;
            result
        };
        let mut poisoned = attempt(&fallback.transports[0], "x");
        poisoned.category = Some(Category::Refused);
        poisoned.poisonable = Some(true);
        let mut starved = attempt(&fallback.transports[1], "y");
        starved.detail = format!(
            "{}: its timers fired up to 1s late",
            crate::starvation::STARVED
        );
        let result = fallback.result(&spec, vec![poisoned, starved]);
        assert_eq!(result.tunnel, "fallback(ws,wss)");
        assert_eq!(result.cell, 3);
        assert_eq!(result.expected, Some(Verdict::Pass));
        assert!(crate::was_starved(&result), "{}", result.detail);
        assert_eq!(
            result.detail,
            "the harness was starved: its timers fired up to 1s late (trying wss)"
        );
        assert_eq!(result.poisonable, Some(true));
        assert_eq!(result.duration_ms, 20);
        assert_eq!(result.transport, None);
    }

    #[test]
    fn a_wrong_fallback_says_what_is_wrong() {
        let error = |name| parsed(name).expect_err(name);
        assert_eq!(
            error("fallback(ws)"),
            "\"fallback(ws)\": a fallback needs two transports or more; one alone is the tunnel \"ws\""
        );
        assert!(error("fallback(ws,quic)").starts_with(
            "\"fallback(ws,quic)\": unknown tunnel \"quic\"; built-in tunnels: tcp, tls, ws"
        ));
        assert_eq!(
            error("fallback(ws, tcp)"),
            "\"fallback(ws, tcp)\": write it without spaces, as \"fallback(ws,tcp)\""
        );
        assert_eq!(
            error("fallback(ws,ws)"),
            "\"fallback(ws,ws)\": \"ws\" is listed twice"
        );
        assert_eq!(
            error("fallback(ws,fallback(tcp,tls))"),
            "\"fallback(ws,fallback(tcp,tls))\": a fallback's transports are tunnels, not fallbacks"
        );
        assert!(error("fallback(ws,tcp").contains("is written fallback(TUNNEL,TUNNEL,...)"));
        assert!(error("fallback(ws,ws+pong=1s)").contains("unknown tunnel parameter `pong`"));
    }
}
