//! Built-in tunnels as a matrix names them, with their parameters:
//! `ws+ping=30s`, `wss+subprotocol=mqtt+fragment=4096`, `ws+text+close=4000`.
//! [`PARAMETERS`] is the one table of them, which `traverse list` and the
//! docs print and the parser reads. A keepalive parameter (at most one per
//! tunnel) says how the tunnel keeps itself alive (see `keepalive.rs`);
//! the WebSocket parameters say which RFC 6455 features the client uses, so
//! that a matrix can show which of them survive the path. Parameters are
//! written in the table's order, each once, and values as traverse writes
//! them: names are compared as text everywhere.

use std::time::Duration;

use traverse_scenario::{format_duration, parse_duration};

use crate::{BUILTIN, Keepalive, KeepaliveKind, Tunnel};

/// What a parameter's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A duration, in scenario time (`30s`).
    Duration,
    /// A size in bytes, a plain number (`4096`).
    Bytes,
    /// An HTTP token (`mqtt`, `v2.chat`).
    Token,
    /// A WebSocket close code a client may send (1000, 3000–4999, ...).
    Code,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// No value: the parameter's presence is the setting.
    Flag,
}

impl Value {
    /// How the listing writes the value.
    fn placeholder(self) -> String {
        match self {
            Value::Duration => "=DURATION".to_string(),
            Value::Bytes => "=BYTES".to_string(),
            Value::Token => "=NAME".to_string(),
            Value::Code => "=CODE".to_string(),
            Value::Choice(words) => format!("={}", words.join("|")),
            Value::Flag => String::new(),
        }
    }
}

/// Which tunnels take a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// Tunnels that have this keepalive (see [`keepalives`]).
    Keepalive(KeepaliveKind),
    /// RFC 6455 tunnels over HTTP/1.1: `ws`, `wss` and their unmasked twins.
    WebSocket,
    /// The RFC 6455 tunnels whose client masks its frames: `ws`, `wss`.
    MaskedWebSocket,
}

/// One parameter a tunnel name can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    pub name: &'static str,
    pub value: Value,
    pub takes: Takes,
    pub meaning: &'static str,
}

impl Parameter {
    /// The parameter as the listing writes it: `ping=DURATION`, `text`.
    pub fn usage(&self) -> String {
        format!("{}{}", self.name, self.value.placeholder())
    }

    fn taken_by(&self, tunnel: Tunnel) -> bool {
        match self.takes {
            Takes::Keepalive(kind) => keepalives(tunnel).contains(&kind),
            Takes::WebSocket => tunnel.protocol.websocket_features(),
            Takes::MaskedWebSocket => {
                tunnel.protocol.websocket_features() && tunnel.protocol.masks_frames()
            }
        }
    }
}

/// The largest message or fragment a parameter may ask for: tungstenite's
/// own limit on a frame.
pub const MOST_BYTES: u64 = 16 * 1024 * 1024;

/// How many bytes of the stream go into one message when `message` does
/// not say: the bridge's read size.
pub const DEFAULT_MESSAGE: u64 = crate::bridge::CHUNK as u64;

/// The close code a client sends when `close` does not say.
pub const DEFAULT_CLOSE: u16 = 1000;

/// Every tunnel parameter, in the order a name writes them.
pub const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "subprotocol",
        value: Value::Token,
        takes: Takes::WebSocket,
        meaning: "offers this subprotocol (Sec-WebSocket-Protocol) and requires the server to \
                  select it",
    },
    Parameter {
        name: "deflate",
        value: Value::Choice(&["offer", "require"]),
        takes: Takes::MaskedWebSocket,
        meaning: "offers permessage-deflate (RFC 7692) and compresses once agreed; with `require` a \
                  server that does not agree fails the tunnel (ws, wss)",
    },
    Parameter {
        name: "message",
        value: Value::Bytes,
        takes: Takes::WebSocket,
        meaning: "puts up to BYTES of the stream in one message (16384 by default): above 125 a \
                  frame's length takes the 16-bit form, above 65535 the 64-bit form",
    },
    Parameter {
        name: "fragment",
        value: Value::Bytes,
        takes: Takes::WebSocket,
        meaning: "sends each message in frames of at most BYTES (a first frame, then \
                  continuations), smaller than the message size",
    },
    Parameter {
        name: "text",
        value: Value::Flag,
        takes: Takes::WebSocket,
        meaning: "sends text messages (the stream in base64) instead of binary ones",
    },
    Parameter {
        name: "close",
        value: Value::Code,
        takes: Takes::WebSocket,
        meaning: "closes with this code (1000 by default), which must arrive at the origin and \
                  come back in its answer",
    },
    Parameter {
        name: "ping",
        value: Value::Duration,
        takes: Takes::Keepalive(KeepaliveKind::Ping),
        meaning: "an RFC 6455 ping every DURATION, answered by a pong (WebSocket tunnels)",
    },
    Parameter {
        name: "heartbeat",
        value: Value::Duration,
        takes: Takes::Keepalive(KeepaliveKind::Heartbeat),
        meaning: "a heartbeat frame every DURATION, answered by the origin (tcp, tls)",
    },
    Parameter {
        name: "tcp-keepalive",
        value: Value::Duration,
        takes: Takes::Keepalive(KeepaliveKind::TcpKeepalive),
        meaning: "SO_KEEPALIVE probes every DURATION (at least 1s of wall time); no payload, \
                  so hops that relay bytes never see them (every tunnel)",
    },
];

/// The RFC 6455 features a WebSocket client uses, as its parameters set
/// them; the default is what `ws` has always sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebSocketOptions {
    /// The subprotocol offered and required.
    pub subprotocol: Option<String>,
    /// The most bytes of the stream in one message.
    pub message: Option<u64>,
    /// The most bytes in one frame of a message.
    pub fragment: Option<u64>,
    /// Text messages (base64) instead of binary ones.
    pub text: bool,
    /// The close code sent.
    pub close: Option<u16>,
    /// Whether permessage-deflate is offered, and whether it must be agreed.
    pub deflate: Option<Deflate>,
}

/// How a client asks for permessage-deflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deflate {
    /// Offers it, and goes on uncompressed when the server does not agree.
    Offer,
    /// Offers it, and fails the tunnel when the server does not agree.
    Require,
}

impl WebSocketOptions {
    /// The most bytes of the stream in one message.
    pub fn message_size(&self) -> usize {
        usize::try_from(self.message.unwrap_or(DEFAULT_MESSAGE)).unwrap_or(usize::MAX)
    }

    /// The close code the client sends.
    pub fn close_code(&self) -> u16 {
        self.close.unwrap_or(DEFAULT_CLOSE)
    }
}

/// A built-in tunnel as a run uses it: the tunnel with its parameters,
/// under the name matrices, `[expect]`, `--tunnel` and reports use.
#[derive(Debug, Clone)]
pub struct Configured {
    pub tunnel: Tunnel,
    pub keepalive: Option<Keepalive>,
    pub websocket: WebSocketOptions,
    name: String,
}

impl From<Tunnel> for Configured {
    fn from(tunnel: Tunnel) -> Configured {
        Configured {
            tunnel,
            keepalive: None,
            websocket: WebSocketOptions::default(),
            name: tunnel.name.to_string(),
        }
    }
}

impl Configured {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads `NAME`, or `NAME+PARAMETER[=VALUE]...` with parameters from
    /// [`PARAMETERS`].
    pub fn parse(text: &str) -> Result<Configured, String> {
        let mut parts = text.split('+');
        let base = parts.next().unwrap_or_default();
        let Some(tunnel) = BUILTIN.iter().copied().find(|tunnel| tunnel.name == base) else {
            let names: Vec<&str> = BUILTIN.iter().map(|tunnel| tunnel.name).collect();
            return Err(format!(
                "unknown tunnel \"{base}\"; built-in tunnels: {}",
                names.join(", ")
            ));
        };
        let mut configured = Configured::from(tunnel);
        // Each parameter given, by its place in the table, with its value
        // as traverse writes it.
        let mut given: Vec<(usize, String)> = Vec::new();
        for part in parts {
            let (key, value) = match part.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (part, None),
            };
            let Some(place) = PARAMETERS
                .iter()
                .position(|parameter| parameter.name == key)
            else {
                return Err(format!(
                    "\"{text}\": unknown tunnel parameter `{key}`; {} takes {}",
                    tunnel.name,
                    listed(tunnel)
                ));
            };
            let parameter = PARAMETERS[place];
            if !parameter.taken_by(tunnel) {
                return Err(format!(
                    "\"{text}\": `{key}` is not a parameter of {}, which takes {}",
                    tunnel.name,
                    listed(tunnel)
                ));
            }
            if given.iter().any(|(earlier, _)| *earlier == place) {
                return Err(format!("\"{text}\": `{key}` is given twice"));
            }
            let written = configured
                .set(parameter, value)
                .map_err(|why| format!("\"{text}\": {why}"))?;
            given.push((place, written));
        }
        let keepalives = given
            .iter()
            .filter(|(place, _)| matches!(PARAMETERS[*place].takes, Takes::Keepalive(_)))
            .count();
        if keepalives > 1 {
            return Err(format!(
                "\"{text}\": a tunnel takes one keepalive parameter, not several"
            ));
        }
        let options = &configured.websocket;
        if let Some(fragment) = options.fragment
            && fragment >= options.message_size() as u64
        {
            return Err(format!(
                "\"{text}\": fragment={fragment} does not fragment messages of {} bytes; make it \
                 smaller than the message size (message=BYTES, {DEFAULT_MESSAGE} by default)",
                options.message_size()
            ));
        }
        given.sort_by_key(|(place, _)| *place);
        let canonical = std::iter::once(tunnel.name.to_string())
            .chain(given.into_iter().map(|(_, written)| written))
            .collect::<Vec<_>>()
            .join("+");
        if canonical != text {
            return Err(format!("\"{text}\": write it as \"{canonical}\""));
        }
        configured.name = canonical;
        Ok(configured)
    }

    /// Sets one parameter from its value as written, and returns it as
    /// traverse writes it.
    fn set(&mut self, parameter: Parameter, value: Option<&str>) -> Result<String, String> {
        let key = parameter.name;
        let value = match (parameter.value, value) {
            (Value::Flag, None) => return self.set_flag(key).map(|()| key.to_string()),
            (Value::Flag, Some(_)) => return Err(format!("`{key}` takes no value")),
            (_, None) => {
                return Err(format!(
                    "`{key}` takes a value: write {}, like {}",
                    parameter.usage(),
                    example(parameter)
                ));
            }
            (_, Some(value)) => value,
        };
        let written = match parameter.value {
            Value::Duration => {
                let every = parse_duration(value)?;
                if every.is_zero() {
                    return Err("the interval must be above 0".to_string());
                }
                self.set_keepalive(parameter, every);
                format_duration(every)
            }
            Value::Bytes => {
                let bytes = bytes(key, value)?;
                match key {
                    "message" => self.websocket.message = Some(bytes),
                    _ => self.websocket.fragment = Some(bytes),
                }
                bytes.to_string()
            }
            Value::Token => {
                if value.is_empty() || !value.bytes().all(is_token_byte) {
                    return Err(format!(
                        "`{key}` must be an HTTP token (letters, digits and !#$%&'*.^_`|~-), \
                         not \"{}\"",
                        value.escape_debug()
                    ));
                }
                self.websocket.subprotocol = Some(value.to_string());
                value.to_string()
            }
            Value::Code => {
                let code = value
                    .parse::<u16>()
                    .ok()
                    .filter(|code| may_send(*code))
                    .ok_or_else(|| {
                        format!(
                            "`{key}` must be a close code a client may send (1000–1003, \
                             1007–1014 or 3000–4999), not \"{}\"",
                            value.escape_debug()
                        )
                    })?;
                self.websocket.close = Some(code);
                code.to_string()
            }
            Value::Choice(words) => {
                let word = words.iter().find(|word| **word == value).ok_or_else(|| {
                    format!(
                        "`{key}` is one of {}, not \"{}\"",
                        words.join(", "),
                        value.escape_debug()
                    )
                })?;
                self.websocket.deflate = Some(match *word {
                    "require" => Deflate::Require,
                    _ => Deflate::Offer,
                });
                word.to_string()
            }
            Value::Flag => unreachable!("flags return above"),
        };
        Ok(format!("{key}={written}"))
    }

    fn set_flag(&mut self, key: &str) -> Result<(), String> {
        match key {
            "text" => {
                self.websocket.text = true;
                Ok(())
            }
            _ => Err(format!("`{key}` is not a flag")),
        }
    }

    fn set_keepalive(&mut self, parameter: Parameter, every: Duration) {
        if let Takes::Keepalive(kind) = parameter.takes {
            self.keepalive = Some(Keepalive { kind, every });
        }
    }
}

/// A size in bytes, written as a plain number, from 1 to [`MOST_BYTES`].
fn bytes(key: &str, value: &str) -> Result<u64, String> {
    let parsed = value
        .parse::<u64>()
        .ok()
        .filter(|_| value.bytes().all(|byte| byte.is_ascii_digit()));
    match parsed {
        Some(0) => Err(format!("`{key}` must be at least 1 byte, not 0")),
        Some(bytes) if bytes <= MOST_BYTES => Ok(bytes),
        Some(_) => Err(format!("`{key}` can be at most {MOST_BYTES} bytes")),
        None => Err(format!(
            "`{key}` is a number of bytes, like {key}=4096, not \"{}\"",
            value.escape_debug()
        )),
    }
}

/// RFC 9110's tchar, what a subprotocol name is made of (RFC 6455 §4.1),
/// but `+`, which separates parameters.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*-.^_`|~".contains(&byte)
}

/// Close codes an endpoint may put in a close frame (RFC 6455 §7.4):
/// 1004–1006 and 1015 are reserved for reporting, never sent.
fn may_send(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The keepalives `tunnel` can use: its protocol's own, and TCP's.
pub fn keepalives(tunnel: Tunnel) -> Vec<KeepaliveKind> {
    tunnel
        .protocol
        .keepalive()
        .into_iter()
        .chain([KeepaliveKind::TcpKeepalive])
        .collect()
}

/// The parameters `tunnel` takes, as the listing writes them.
fn listed(tunnel: Tunnel) -> String {
    PARAMETERS
        .iter()
        .filter(|parameter| parameter.taken_by(tunnel))
        .map(Parameter::usage)
        .collect::<Vec<_>>()
        .join(", ")
}

fn example(parameter: Parameter) -> String {
    let tunnel = BUILTIN
        .iter()
        .find(|tunnel| parameter.taken_by(**tunnel))
        .map_or("ws", |tunnel| tunnel.name);
    let value = match parameter.value {
        Value::Duration => "=30s",
        Value::Bytes => "=4096",
        Value::Token => "=mqtt",
        Value::Code => "=4000",
        Value::Choice(words) => return format!("\"{tunnel}+{}={}\"", parameter.name, words[0]),
        Value::Flag => "",
    };
    format!("\"{tunnel}+{}{value}\"", parameter.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<(String, Option<Keepalive>), String> {
        Configured::parse(text).map(|tunnel| (tunnel.name().to_string(), tunnel.keepalive))
    }

    fn every(seconds: u64, kind: KeepaliveKind) -> Option<Keepalive> {
        Some(Keepalive {
            kind,
            every: Duration::from_secs(seconds),
        })
    }

    #[test]
    fn names_carry_one_keepalive_that_the_protocol_takes() {
        assert_eq!(parsed("ws"), Ok(("ws".to_string(), None)));
        assert_eq!(
            parsed("wss+ping=30s"),
            Ok(("wss+ping=30s".to_string(), every(30, KeepaliveKind::Ping)))
        );
        assert_eq!(
            parsed("tcp+heartbeat=25s"),
            Ok((
                "tcp+heartbeat=25s".to_string(),
                every(25, KeepaliveKind::Heartbeat)
            ))
        );
        assert_eq!(
            parsed("hixie76+tcp-keepalive=60s"),
            Ok((
                "hixie76+tcp-keepalive=60s".to_string(),
                every(60, KeepaliveKind::TcpKeepalive)
            ))
        );
    }

    #[test]
    fn websocket_names_carry_the_features_the_client_uses() {
        let configured = Configured::parse(
            "wss+subprotocol=mqtt+deflate=require+message=70000+fragment=4096+text+close=4000+ping=30s",
        )
        .expect("parses");
        assert_eq!(
            configured.websocket,
            WebSocketOptions {
                subprotocol: Some("mqtt".to_string()),
                message: Some(70_000),
                fragment: Some(4096),
                text: true,
                close: Some(4000),
                deflate: Some(Deflate::Require),
            }
        );
        assert_eq!(configured.keepalive, every(30, KeepaliveKind::Ping));
        let plain = Configured::parse("ws-unmasked+text").expect("parses");
        assert!(plain.websocket.text);
        assert_eq!(plain.websocket.message_size(), 16384);
        assert_eq!(plain.websocket.close_code(), 1000);
    }

    #[test]
    fn a_wrong_parameter_says_what_the_tunnel_takes() {
        let error = |text| parsed(text).expect_err(text);
        assert_eq!(
            error("tcp+ping=30s"),
            "\"tcp+ping=30s\": `ping` is not a parameter of tcp, which takes \
             heartbeat=DURATION, tcp-keepalive=DURATION"
        );
        assert_eq!(
            error("ws+pong=30s"),
            "\"ws+pong=30s\": unknown tunnel parameter `pong`; ws takes subprotocol=NAME, \
             deflate=offer|require, message=BYTES, fragment=BYTES, text, close=CODE, \
             ping=DURATION, tcp-keepalive=DURATION"
        );
        assert_eq!(
            error("hixie76+ping=30s"),
            "\"hixie76+ping=30s\": `ping` is not a parameter of hixie76, which takes \
             tcp-keepalive=DURATION"
        );
        assert_eq!(
            error("ws+ping"),
            "\"ws+ping\": `ping` takes a value: write ping=DURATION, like \"ws+ping=30s\""
        );
        assert!(error("ws+ping=30").contains("has no unit"));
        assert_eq!(
            error("ws+ping=30000ms"),
            "\"ws+ping=30000ms\": write it as \"ws+ping=30s\""
        );
        assert!(error("ws+ping=0s").contains("above 0"));
        assert!(error("ws+ping=1s+tcp-keepalive=1s").contains("one keepalive"));
        assert!(error("wz+ping=1s").starts_with("unknown tunnel \"wz\""));
    }

    /// Each WebSocket parameter's bad values, as the user reads them.
    #[test]
    fn a_bad_websocket_parameter_says_what_is_wrong() {
        let cases = [
            ("ws+fragment=0", "`fragment` must be at least 1 byte, not 0"),
            (
                "ws+fragment=4KiB",
                "`fragment` is a number of bytes, like fragment=4096, not \"4KiB\"",
            ),
            (
                "ws+message=",
                "`message` is a number of bytes, like message=4096, not \"\"",
            ),
            (
                "ws+message",
                "`message` takes a value: write message=BYTES, like \"ws+message=4096\"",
            ),
            (
                "ws+message=99999999",
                "`message` can be at most 16777216 bytes",
            ),
            (
                "ws+fragment=16384",
                "fragment=16384 does not fragment messages of 16384 bytes; make it smaller \
                 than the message size (message=BYTES, 16384 by default)",
            ),
            (
                "ws+subprotocol=a b",
                "`subprotocol` must be an HTTP token (letters, digits and !#$%&'*.^_`|~-), \
                 not \"a b\"",
            ),
            (
                "ws+close=1006",
                "`close` must be a close code a client may send (1000–1003, 1007–1014 or \
                 3000–4999), not \"1006\"",
            ),
            ("ws+text=yes", "`text` takes no value"),
            (
                "ws+deflate=yes",
                "`deflate` is one of offer, require, not \"yes\"",
            ),
            (
                "ws+deflate",
                "`deflate` takes a value: write deflate=offer|require, like \"ws+deflate=offer\"",
            ),
            ("ws+text+text", "`text` is given twice"),
            (
                "ws+text+fragment=100",
                "write it as \"ws+fragment=100+text\"",
            ),
        ];
        for (text, why) in cases {
            assert_eq!(
                parsed(text).expect_err(text),
                format!("\"{text}\": {why}"),
                "{text}"
            );
        }
        assert_eq!(
            parsed("tcp+text").expect_err("tcp"),
            "\"tcp+text\": `text` is not a parameter of tcp, which takes heartbeat=DURATION, \
             tcp-keepalive=DURATION"
        );
    }
}
