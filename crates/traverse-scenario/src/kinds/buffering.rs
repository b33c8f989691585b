//! `response_buffering`, `request_buffering` and `x_accel_buffering`: how an
//! L7 hop holds a message back before it passes it on, as nginx does by
//! default (`proxy_buffering on`, `proxy_request_buffering on`) and a secure
//! web gateway that scans downloads does. Every kind that proxies HTTP
//! through `traverse-middlebox`'s `http_proxy.rs` declares these options
//! with its own defaults and sources; the values, their parser and their
//! reader live here so the kinds cannot differ in what they mean.

use crate::error::ScenarioError;
use crate::kinds::{DefaultValue, OptionReader, OptionSpec, Settings, ValueType, keyword_names};
use crate::model::Keyword;

/// The most a buffering hop holds of one message: nginx's default
/// `client_max_body_size 1m` for a request body. A response beyond it is
/// streamed on, as nginx passes what does not fit its buffers through its
/// temporary file, and the cap keeps every buffered message bounded.
pub const BUFFER_CAP: usize = 1024 * 1024;

/// What a hop does with a response body before its client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseBuffering {
    /// Passes every byte on as it arrives.
    #[default]
    Off,
    /// Holds the response, head and body, until it ends (a gateway that
    /// scans a download before passing it), up to [`BUFFER_CAP`].
    Whole,
    /// Holds the body in buffers of this many bytes and sends each when it
    /// is full, the rest when the response ends (nginx's `proxy_buffers`):
    /// the head goes with the first buffer.
    Buffers(usize),
}

impl ResponseBuffering {
    /// As scenario files write it: `"off"`, `"whole"`, `"8k"`.
    pub fn written(self) -> String {
        match self {
            ResponseBuffering::Off => "off".to_string(),
            ResponseBuffering::Whole => "whole".to_string(),
            ResponseBuffering::Buffers(size) => format_size(size),
        }
    }
}

/// What a hop does with a request body before it sends the request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestBuffering {
    /// Streams the body to the next node as it arrives.
    #[default]
    Off,
    /// Reads the whole body before it connects to the next node (nginx's
    /// `proxy_request_buffering on`), up to [`BUFFER_CAP`], else `413`.
    Whole,
}

impl Keyword for RequestBuffering {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("off", RequestBuffering::Off),
        ("whole", RequestBuffering::Whole),
    ];
}

/// A hop's buffering, as its options say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Buffering {
    pub response: ResponseBuffering,
    pub request: RequestBuffering,
    /// Whether the next node's `X-Accel-Buffering: no` turns response
    /// buffering off for that response, as nginx lets it.
    pub x_accel: bool,
}

impl Buffering {
    /// nginx honours `X-Accel-Buffering` unless `proxy_ignore_headers`
    /// says not to; a scanning gateway holds what it scans whatever the
    /// origin asks.
    pub fn x_accel_default(response: ResponseBuffering) -> bool {
        matches!(response, ResponseBuffering::Buffers(_))
    }

    /// Writes the three options where they differ from `default`.
    pub(crate) fn write(&self, settings: &mut Settings, default: Buffering) {
        if self.response != default.response {
            settings.always(
                "response_buffering",
                format!("\"{}\"", self.response.written()),
            );
        }
        settings.differs(
            "request_buffering",
            self.request.keyword(),
            default.request.keyword(),
        );
        settings.differs(
            "x_accel_buffering",
            self.x_accel,
            Buffering::x_accel_default(self.response),
        );
    }
}

/// A size as nginx writes it, `"8k"`, `"64k"`, `"1m"` or a number of
/// bytes, as a number and its unit; `None` for anything else.
pub(crate) fn size_and_unit(text: &str) -> Option<(usize, usize)> {
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 1024),
        Some((at, 'm' | 'M')) => (&text[..at], 1024 * 1024),
        _ => (text, 1),
    };
    (!digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| digits.parse::<usize>().ok())
        .flatten()
        .map(|number| (number, unit))
}

/// `"8k"`, `"64k"`, `"1m"` or a number of bytes, as nginx writes sizes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let (number, unit) = size_and_unit(text).ok_or_else(|| {
        format!(
            "`{text}` is not \"off\", \"whole\" or a size like \"8k\", \"64k\" or \"4096\" \
             (bytes, k or m)"
        )
    })?;
    match number.checked_mul(unit) {
        Some(0) => Err("a buffer of 0 bytes holds nothing: write \"off\"".to_string()),
        Some(size) if size <= BUFFER_CAP => Ok(size),
        _ => Err(format!(
            "`{text}` is larger than 1m, the most a buffering hop holds of one message"
        )),
    }
}

/// A size as nginx would write it: `8k` where it is whole kilobytes.
pub fn format_size(size: usize) -> String {
    if size % (1024 * 1024) == 0 {
        format!("{}m", size / (1024 * 1024))
    } else if size % 1024 == 0 {
        format!("{}k", size / 1024)
    } else {
        size.to_string()
    }
}

/// Where a kind's buffering cannot act, so setting it is a mistake.
#[derive(Debug, Clone, Copy, Default)]
pub struct BufferingLimits<'a> {
    /// Why it reads no HTTP messages at all (`tcp` mode), if it does not.
    pub no_http: Option<&'a str>,
}

impl OptionReader<'_, '_, '_> {
    /// The three buffering options, each an error where `limits` says it
    /// cannot act, and `x_accel_buffering` an error without a response
    /// buffer for it to turn off.
    pub fn buffering(
        &mut self,
        default: Buffering,
        limits: BufferingLimits<'_>,
    ) -> Result<Buffering, ScenarioError> {
        let request_at = self.span_of("request_buffering");
        let request = self
            .keyword("request_buffering")?
            .unwrap_or(default.request);
        if request != RequestBuffering::Off {
            self.no_effect(request_at, "request_buffering", limits.no_http)?;
        }
        let (response, x_accel) = self.response_buffering(default.response, limits)?;
        Ok(Buffering {
            response,
            request,
            x_accel,
        })
    }

    /// `response_buffering` and `x_accel_buffering` alone, for a kind that
    /// has no choice about request bodies.
    pub fn response_buffering(
        &mut self,
        default: ResponseBuffering,
        limits: BufferingLimits<'_>,
    ) -> Result<(ResponseBuffering, bool), ScenarioError> {
        let response_at = self.span_of("response_buffering");
        let accel_at = self.span_of("x_accel_buffering");
        let response = self.buffer_size("response_buffering")?.unwrap_or(default);
        let x_accel = self
            .flag("x_accel_buffering")?
            .unwrap_or_else(|| Buffering::x_accel_default(response));
        if response != ResponseBuffering::Off {
            self.no_effect(response_at, "response_buffering", limits.no_http)?;
        }
        let accel_why_not = if response == ResponseBuffering::Off {
            Some(
                "the hop buffers no responses (`response_buffering = \"off\"`) for the header to turn off",
            )
        } else {
            limits.no_http
        };
        self.no_effect(accel_at, "x_accel_buffering", accel_why_not)?;
        Ok((response, x_accel))
    }

    /// `"off"`, `"whole"` or a size.
    fn buffer_size(&mut self, key: &str) -> Result<Option<ResponseBuffering>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::BufferSize));
        self.fields.take_buffer_size(key)
    }
}

/// Reads a `response_buffering` value the way [`OptionReader::buffering`]
/// does, for the fields reader.
pub(crate) fn parse_response_buffering(text: &str) -> Result<ResponseBuffering, String> {
    match text {
        "off" => Ok(ResponseBuffering::Off),
        "whole" => Ok(ResponseBuffering::Whole),
        size => parse_size(size).map(ResponseBuffering::Buffers),
    }
}

/// `response_buffering`, as every kind that proxies HTTP declares it: its
/// default, the product that default follows, where it acts and the example
/// differ.
pub const fn response_buffering_option(
    default: &'static str,
    applies: &'static str,
    doc: &'static str,
    example: &'static str,
) -> OptionSpec {
    OptionSpec {
        key: "response_buffering",
        value: ValueType::BufferSize,
        default: DefaultValue::Written(default),
        summary: "hold responses: \"off\", \"whole\" (until they end) or in buffers of a size (\"8k\")",
        applies,
        doc,
        example,
    }
}

/// `request_buffering`, as every kind that proxies HTTP declares it.
pub const fn request_buffering_option(
    default: &'static str,
    applies: &'static str,
    doc: &'static str,
    example: &'static str,
) -> OptionSpec {
    OptionSpec {
        key: "request_buffering",
        value: ValueType::Keyword(keyword_names::<RequestBuffering>),
        default: DefaultValue::Written(default),
        summary: "hold a request body until it ends before sending the request on (\"whole\")",
        applies,
        doc,
        example,
    }
}

/// `x_accel_buffering`, the same for every kind: nginx's reading of the
/// upstream's `X-Accel-Buffering` header.
pub const X_ACCEL_BUFFERING: OptionSpec = OptionSpec {
    key: "x_accel_buffering",
    value: ValueType::Bool,
    default: DefaultValue::Depends(
        "`true` when `response_buffering` is a size (nginx), `false` for `\"whole\"` (a scanning gateway)",
    ),
    summary: "let the next node's X-Accel-Buffering: no turn response buffering off",
    applies: "with response_buffering",
    doc: "Whether a response whose head carries `X-Accel-Buffering: no` from the next node is passed on unbuffered, as nginx does: its documentation of `proxy_buffering` says buffering can be turned off for a response by that header, unless `proxy_ignore_headers X-Accel-Buffering` is set, and nginx does not pass the header on to the client, so neither does the hop when it honours it. The default follows the product each value models: `true` with a size (nginx), `false` with `\"whole\"` (a gateway that scans what it holds does not let the origin opt out). Set with `response_buffering = \"off\"` it is an error. `X-Accel-Buffering: yes`, which turns buffering on in nginx with `proxy_buffering off`, is not modelled.",
    example: "response_buffering = \"whole\"\nx_accel_buffering = true",
};

/// The doc text every kind shares after its own words on its default.
macro_rules! response_buffering_doc {
    ($default:literal) => {
        concat!(
            "How it holds a response's body before its client sees it. `\"off\"` passes every byte on as it arrives. `\"whole\"` holds the response, head and body, until it ends, as a secure web gateway that scans downloads does; a complete response (a long-poll answer) arrives late but whole, and a response that never ends (server-sent events) never arrives. A size such as `\"4k\"`, `\"8k\"` or `\"64k\"` (bytes, `k` or `m`, at most `1m`) is nginx's `proxy_buffering on` with buffers of that size (`proxy_buffers`, default `8 4k` or `8 8k`, one memory page each): nginx's documentation says that with buffering on it reads the response into those buffers as fast as the upstream sends it, and only with buffering off passes it on synchronously, as it arrives; a buffer goes to the client once it is full (`proxy_busy_buffers_size` bounds the buffers busy sending while the response is still being read) and the rest when the response ends, so small events stall in a partly filled buffer. The head goes with the first buffer, as nginx's `postpone_output` (1460 bytes) holds a short head back. While bytes are held the record is `buffered`, a fault naming the setting and how many bytes it holds; released, it recovers to `forwarded`, noting the buffering. A hop holds at most 1 MiB of one response: beyond that `\"whole\"` sends what it holds and streams the rest, as nginx passes what outgrows its buffers through a temporary file. ",
            $default
        )
    };
}

/// The doc text every kind shares on request buffering.
macro_rules! request_buffering_doc {
    ($default:literal) => {
        concat!(
            "Whether it holds a request's body until it ends before it sends the request on. `\"whole\"` is nginx's `proxy_request_buffering on`: its documentation says the entire request body is read from the client before the request is sent to the proxied server. A body whose end is known (a `Content-Length`, a chunked body that finishes) is then sent on whole; a body that never ends (a full-duplex streaming POST) is never sent, and the record stays `buffered`. A body over 1 MiB is answered `413 Request Entity Too Large`, as nginx's default `client_max_body_size 1m` does. `\"off\"` streams the body on as it arrives. ",
            $default
        )
    };
}
