//! `websocket_offers`, `max_frame_size`, `max_message_size` and
//! `reserved_bits`: what a hop that reads WebSocket does to the protocol's
//! features once it passes a handshake on. Every kind that relays RFC 6455
//! through `traverse-middlebox`'s `http_proxy.rs` or `legacy_forwarder.rs`
//! declares these options; the values, their reader and their table rows
//! live here so the kinds cannot differ in what they mean. The rules act
//! on the client's side of the WebSocket: its handshake and its frames.

use std::ops::Range;

use crate::error::ScenarioError;
use crate::kinds::{
    DefaultValue, OptionReader, OptionSpec, Settings, ValueType, format_size, keyword_names,
};
use crate::model::Keyword;

/// The largest frame or message size an option may name: tungstenite's own
/// limit on a frame, 16 MiB.
pub const MOST_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Which of the client's WebSocket offers a hop passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebSocketOffers {
    /// Both headers pass as they came.
    #[default]
    Pass,
    /// Removes `Sec-WebSocket-Protocol`.
    StripSubprotocol,
    /// Removes `Sec-WebSocket-Extensions`.
    StripExtensions,
    /// Removes both.
    StripBoth,
}

impl Keyword for WebSocketOffers {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("pass", WebSocketOffers::Pass),
        ("strip-subprotocol", WebSocketOffers::StripSubprotocol),
        ("strip-extensions", WebSocketOffers::StripExtensions),
        ("strip-both", WebSocketOffers::StripBoth),
    ];
}

impl WebSocketOffers {
    /// The handshake headers this setting removes.
    pub fn stripped(self) -> &'static [&'static str] {
        match self {
            WebSocketOffers::Pass => &[],
            WebSocketOffers::StripSubprotocol => &["sec-websocket-protocol"],
            WebSocketOffers::StripExtensions => &["sec-websocket-extensions"],
            WebSocketOffers::StripBoth => &["sec-websocket-protocol", "sec-websocket-extensions"],
        }
    }
}

/// What a hop does with a client frame that has RSV1–3 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReservedBits {
    /// Relays it.
    #[default]
    Pass,
    /// Closes the WebSocket with 1002.
    Reject,
}

impl Keyword for ReservedBits {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("pass", ReservedBits::Pass),
        ("reject", ReservedBits::Reject),
    ];
}

/// A hop's rules for the WebSockets it relays; the default changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebSocketRules {
    pub offers: WebSocketOffers,
    /// The largest client frame payload it relays; a larger one closes the
    /// WebSocket with 1009.
    pub max_frame_size: Option<usize>,
    /// The largest client message (its frames together) it relays.
    pub max_message_size: Option<usize>,
    pub reserved_bits: ReservedBits,
}

impl WebSocketRules {
    /// Whether any rule reads frames (the ones a hop must parse them for).
    pub fn reads_frames(&self) -> bool {
        self.max_frame_size.is_some()
            || self.max_message_size.is_some()
            || self.reserved_bits == ReservedBits::Reject
    }

    pub fn write(&self, settings: &mut Settings) {
        let default = WebSocketRules::default();
        settings.differs(
            "websocket_offers",
            self.offers.keyword(),
            default.offers.keyword(),
        );
        if let Some(size) = self.max_frame_size {
            settings.always("max_frame_size", format_size(size));
        }
        if let Some(size) = self.max_message_size {
            settings.always("max_message_size", format_size(size));
        }
        settings.differs(
            "reserved_bits",
            self.reserved_bits.keyword(),
            default.reserved_bits.keyword(),
        );
    }
}

/// Reads a frame or message size: bytes, or with k or m, from 1 byte to
/// [`MOST_FRAME_BYTES`].
pub(crate) fn parse_frame_size(text: &str) -> Result<usize, String> {
    let (number, unit) = super::buffering::size_and_unit(text).ok_or_else(|| {
        format!("`{text}` is not a size like \"64k\", \"1m\" or \"4096\" (bytes, k or m)")
    })?;
    match number.checked_mul(unit) {
        Some(0) => Err("a limit of 0 bytes lets no frame through".to_string()),
        Some(size) if size <= MOST_FRAME_BYTES => Ok(size),
        _ => Err(format!(
            "`{text}` is larger than 16m, the largest frame traverse sends"
        )),
    }
}

impl OptionReader<'_, '_, '_> {
    /// The WebSocket rules of a kind that declares them. `cannot_act` says
    /// why the hop relays no RFC 6455 frames where it is so configured
    /// (a TLS terminator in `tcp` mode), which makes setting any an error.
    pub fn websocket_rules(
        &mut self,
        cannot_act: Option<&str>,
    ) -> Result<WebSocketRules, ScenarioError> {
        let spans: Vec<(&str, Option<Range<usize>>)> = WEBSOCKET_RULE_KEYS
            .iter()
            .map(|key| (*key, self.span_of(key)))
            .collect();
        let rules = WebSocketRules {
            offers: self.keyword("websocket_offers")?.unwrap_or_default(),
            max_frame_size: self.frame_size("max_frame_size")?,
            max_message_size: self.frame_size("max_message_size")?,
            reserved_bits: self.keyword("reserved_bits")?.unwrap_or_default(),
        };
        // Written as their defaults they change nothing, wherever they are.
        let default = WebSocketRules::default();
        let set = [
            rules.offers != default.offers,
            rules.max_frame_size.is_some(),
            rules.max_message_size.is_some(),
            rules.reserved_bits != default.reserved_bits,
        ];
        for ((key, at), set) in spans.into_iter().zip(set) {
            self.no_effect(at.filter(|_| set), key, cannot_act)?;
        }
        Ok(rules)
    }

    fn frame_size(&mut self, key: &str) -> Result<Option<usize>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::FrameSize));
        self.fields.take_frame_size(key)
    }
}

const WEBSOCKET_RULE_KEYS: [&str; 4] = [
    "websocket_offers",
    "max_frame_size",
    "max_message_size",
    "reserved_bits",
];

/// The four options as a kind's table lists them; `applies` says where
/// the kind relays RFC 6455 frames, and `examples` set each option there.
pub const fn websocket_rule_options(
    applies: &'static str,
    examples: [&'static str; 4],
) -> [OptionSpec; 4] {
    [
        OptionSpec {
            key: "websocket_offers",
            value: ValueType::Keyword(keyword_names::<WebSocketOffers>),
            default: DefaultValue::Written("\"pass\""),
            summary: "remove the client's Sec-WebSocket-Protocol, Sec-WebSocket-Extensions or both from the handshake",
            applies,
            doc: "Which of the client's WebSocket offers it passes on. `\"strip-subprotocol\"` removes `Sec-WebSocket-Protocol`, `\"strip-extensions\"` removes `Sec-WebSocket-Extensions` and `\"strip-both\"` removes both, recorded as `stripped-headers` when the client sent one: the origin is offered nothing, so it selects no subprotocol and no extension, and a client that requires a subprotocol (`ws+subprotocol=NAME`) fails as `refused`. Web application firewalls and inspecting gateways that normalise a handshake to the headers they know do this; which products do is not documented, so this is a generic fault. See [WebSocket features](#websocket-features).",
            example: examples[0],
        },
        OptionSpec {
            key: "max_frame_size",
            value: ValueType::FrameSize,
            default: DefaultValue::Absent("no limit"),
            summary: "close the WebSocket with 1009 on a client frame larger than this",
            applies,
            doc: "The largest client frame payload it relays. A larger frame closes the WebSocket with 1009 (message too big) toward the client, recorded as `blocked`. A client that sends its messages in smaller fragments (`ws+fragment=BYTES`) still passes. This models a gateway that inspects frames with a fixed buffer per frame; which products cap frames, and at what size, is not documented, so this is a generic fault. See [WebSocket features](#websocket-features).",
            example: examples[1],
        },
        OptionSpec {
            key: "max_message_size",
            value: ValueType::FrameSize,
            default: DefaultValue::Absent("no limit"),
            summary: "close the WebSocket with 1009 on a client message (its fragments together) larger than this",
            applies,
            doc: "The largest client message it relays, its fragments added up. A larger one closes the WebSocket with 1009 toward the client, recorded as `blocked`, however it is fragmented. A generic fault. See [WebSocket features](#websocket-features).",
            example: examples[2],
        },
        OptionSpec {
            key: "reserved_bits",
            value: ValueType::Keyword(keyword_names::<ReservedBits>),
            default: DefaultValue::Written("\"pass\""),
            summary: "relay client frames with RSV1-3 set, or close with 1002",
            applies,
            doc: "What it does with a client frame that has RSV1, RSV2 or RSV3 set. `\"reject\"` closes the WebSocket with 1002 (protocol error) toward the client, recorded as `blocked`: an intermediary that validates frames as an endpoint would, without knowing the extensions the endpoints negotiated (RSV1 is permessage-deflate's). `\"pass\"` relays them. A generic fault. See [WebSocket features](#websocket-features).",
            example: examples[3],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_k_or_m_within_a_frame() {
        assert_eq!(parse_frame_size("64k"), Ok(65536));
        assert_eq!(parse_frame_size("4096"), Ok(4096));
        assert_eq!(parse_frame_size("16m"), Ok(MOST_FRAME_BYTES));
        assert_eq!(
            parse_frame_size("0"),
            Err("a limit of 0 bytes lets no frame through".to_string())
        );
        assert!(
            parse_frame_size("17m")
                .unwrap_err()
                .contains("larger than 16m")
        );
        assert!(
            parse_frame_size("64 KiB")
                .unwrap_err()
                .contains("not a size")
        );
    }
}
