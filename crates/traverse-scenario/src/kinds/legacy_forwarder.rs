//! `kind = "legacy-forwarder"`: a plain HTTP reverse proxy of the hixie-76
//! era on port 80 (nginx, Apache or HAProxy in 2010) that forwards what
//! HTTP framing declares. Its options, their table and their reader; the
//! behaviour is `traverse-middlebox`'s `legacy_forwarder.rs`.

use std::time::Duration;

use crate::address::PLAIN_PORT;
use crate::error::ScenarioError;
use crate::kinds::{
    Buffering, BufferingLimits, X_ACCEL_BUFFERING, idle_counts_option, response_buffering_option,
    DefaultValue, Kind, KindInfo, OptionReader, OptionSpec, Settings, ValueType, keyword_names,
    WebSocketRules, websocket_rule_options,
};
use crate::model::{Keyword, Masking, IdleCounts};

/// A plain HTTP reverse proxy of the hixie-76 era, on port 80.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyForwarder {
    /// What it does with bytes after the request headers.
    pub body: BodyPolicy,
    pub masking: Masking,
    /// What it does to the WebSocket features it relays.
    pub websocket_rules: WebSocketRules,
    pub idle_timeout: Option<Duration>,
    /// Which bytes reset the idle timer.
    pub idle_counts: IdleCounts,
    /// How long it waits for the upstream's answer before `504` (nginx's
    /// `proxy_read_timeout`, 60 s by default).
    pub read_timeout: Duration,
    /// How it holds responses; request bodies it always reads whole (up to
    /// 1 MiB) before it connects, as nginx did before 1.7.11.
    pub buffering: Buffering,
}

impl Default for LegacyForwarder {
    fn default() -> Self {
        LegacyForwarder {
            body: BodyPolicy::DeclaredOnly,
            masking: Masking::Ignore,
            websocket_rules: WebSocketRules::default(),
            idle_timeout: None,
            idle_counts: IdleCounts::Upstream,
            read_timeout: Duration::from_secs(60),
            buffering: Buffering::default(),
        }
    }
}

/// What a forwarder does with bytes that follow a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyPolicy {
    /// Forward only what `Content-Length` or chunking declares; anything
    /// else is lost (nginx, Apache: hixie-76's key3 never arrives).
    #[default]
    DeclaredOnly,
    /// Hold bytes after the headers until the upstream answers (HAProxy
    /// 2010): a server that waits for them never answers.
    HoldUntilResponse,
    /// Pass everything on (a compliant forwarder).
    Forward,
}

impl Keyword for BodyPolicy {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("declared-only", BodyPolicy::DeclaredOnly),
        ("hold-until-response", BodyPolicy::HoldUntilResponse),
        ("forward", BodyPolicy::Forward),
    ];
}

const WEBSOCKET_RULES: [OptionSpec; 4] = websocket_rule_options(
    "RFC 6455 WebSockets after a 101",
    [
        "websocket_offers = \"strip-subprotocol\"",
        "max_frame_size = \"64k\"",
        "max_message_size = \"1m\"",
        "reserved_bits = \"reject\"",
    ],
);

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "body",
        value: ValueType::Keyword(keyword_names::<BodyPolicy>),
        default: DefaultValue::Written("\"declared-only\""),
        summary: "bytes after the request headers: drop them, hold them until the answer, or pass them on",
        applies: "",
        doc: "What it does with bytes that follow the request headers with no `Content-Length` to declare them. `\"declared-only\"` forwards only what HTTP framing declares and drops the rest, recorded as `dropped-bytes`: the origin waits for hixie-76's key bytes, which never come. This is nginx 1.22 and Apache httpd 2.4 as measured (key bytes not forwarded, backend timed out). `\"hold-until-response\"` keeps those bytes until the next node answers the headers and sends them after that, recorded as `holding`: a hixie-76 origin never answers, so the handshake deadlocks. This is HAProxy as it handled draft-76 in 2010. `\"forward\"` passes every byte on as it came: a compliant forwarder, as varnish with `return (pipe)` for Upgrade requests and the headers copied in `vcl_pipe`, which passed hixie-76 when measured.",
        example: "body = \"forward\"",
    },
    OptionSpec {
        key: "masking",
        value: ValueType::Keyword(keyword_names::<Masking>),
        default: DefaultValue::Written("\"ignore\""),
        summary: "client frames: relay, close with 1002 when unmasked, or mask again",
        applies: "RFC 6455 WebSockets after a 101",
        doc: "What it does with client frames after a `101`, as for `tls-terminator`. See [Frame masking](#frame-masking).",
        example: "masking = \"require\"",
    },
    WEBSOCKET_RULES[0],
    WEBSOCKET_RULES[1],
    WEBSOCKET_RULES[2],
    WEBSOCKET_RULES[3],
    OptionSpec {
        key: "idle_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Absent("none"),
        summary: "cut an upgraded connection idle this long",
        applies: "",
        doc: "Cuts an upgraded connection after no byte that `idle_counts` counts has moved for this long, recorded as `idle-cut`.",
        example: "idle_timeout = \"60s\"",
    },
    idle_counts_option(
        "\"upstream\"",
        "Which bytes reset `idle_timeout`, as for `transparent`: `\"both\"`, `\"upstream\"` or `\"client\"`. Set without `idle_timeout` it is an error. The default is `\"upstream\"`: nginx's `proxy_read_timeout` counts only reads from the proxied server.",
        "idle_timeout = \"60s\"\nidle_counts = \"both\"",
    ),
    OptionSpec {
        key: "read_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Written("\"60s\""),
        summary: "answer 504 when the next node is silent this long",
        applies: "",
        doc: "How long it waits for the next node's answer to a request before answering `504 Gateway Timeout`, as nginx does when `proxy_read_timeout` (60 s by default) runs out. A gateway's `504` counts as category `timeout`.",
        example: "read_timeout = \"1s\"",
    },
    response_buffering_option(
        "\"off\"",
        "responses other than a 101",
        response_buffering_doc!("It holds the body as HTTP framing bounds it: a `Content-Length`, a chunked body up to its last chunk, or the origin's close. The default is `\"off\"`, today's behaviour: the kind stands for nginx, Apache and HAProxy of 2010 alike, and only nginx buffered; write `\"4k\"` or `\"8k\"` for that nginx. Request bodies need no option here: the forwarder always reads a declared body whole (up to 1 MiB) before it connects upstream, as nginx did before `proxy_request_buffering` (1.7.11) made that optional."),
        "response_buffering = \"8k\"",
    ),
    X_ACCEL_BUFFERING,
];

impl Kind for LegacyForwarder {
    const INFO: KindInfo = KindInfo {
        name: "legacy-forwarder",
        summary: "plain HTTP reverse proxy of the hixie-76 era that forwards what HTTP framing declares (nginx, HAProxy 2010)",
        placement: "",
        options: OPTIONS,
        schema_rules: None,
    };

    fn read(reader: &mut OptionReader<'_, '_, '_>) -> Result<Self, ScenarioError> {
        let defaults = LegacyForwarder::default();
        let idle_counts = reader.idle_counts(defaults.idle_counts)?;
        Ok(LegacyForwarder {
            body: reader.keyword("body")?.unwrap_or_default(),
            masking: reader.keyword("masking")?.unwrap_or_default(),
            websocket_rules: reader.websocket_rules(None)?,
            idle_timeout: reader.duration("idle_timeout")?,
            idle_counts,
            read_timeout: reader
                .duration("read_timeout")?
                .unwrap_or(defaults.read_timeout),
            buffering: {
                let (response, x_accel) = reader
                    .response_buffering(defaults.buffering.response, BufferingLimits::default())?;
                Buffering {
                    response,
                    x_accel,
                    ..defaults.buffering
                }
            },
        })
    }

    fn write(&self, settings: &mut Settings) {
        let default = LegacyForwarder::default();
        settings.always("body", self.body.keyword());
        settings.differs("masking", self.masking.keyword(), default.masking.keyword());
        self.websocket_rules.write(settings);
        settings.duration("idle_timeout", self.idle_timeout);
        settings.differs(
            "idle_counts",
            self.idle_counts.keyword(),
            default.idle_counts.keyword(),
        );
        if self.read_timeout != default.read_timeout {
            settings.duration("read_timeout", Some(self.read_timeout));
        }
        self.buffering.write(settings, default.buffering);
    }

    fn main_port(&self) -> u16 {
        PLAIN_PORT
    }
}
