//! Middlebox kinds as scenario files write them. Each kind is one file in
//! this folder: its options struct with its defaults, one declarative table
//! of its options ([`KindInfo`]), the reader that takes them from a hop's
//! table and the writer that puts them back in scenario-file syntax, and the
//! answers to what the rest of the harness asks of a hop (is it an explicit
//! proxy, does it cache, which port is its main one). The parser's allowed
//! keys and hints, the JSON Schema, `traverse list` and the README's option
//! tables are all made from the tables, and the readers can only take keys
//! their table declares, with the type it declares, so the two cannot drift.
//!
//! Adding a kind: a file here that implements [`Kind`], and one line in the
//! `kinds!` list below.

#[macro_use]
mod buffering;
mod options;
mod websocket_rules;

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::error::ScenarioError;
use crate::fields::Fields;
use crate::model::{Credentials, Keyword};

pub(crate) use buffering::parse_response_buffering;
pub use buffering::{
    BUFFER_CAP, Buffering, BufferingLimits, RequestBuffering, ResponseBuffering, X_ACCEL_BUFFERING,
    format_size, parse_size, request_buffering_option, response_buffering_option,
};
pub use options::{
    DefaultValue, KindInfo, OptionSpec, ValueType, idle_counts_option, keyword_names,
};
pub(crate) use websocket_rules::parse_frame_size;
pub use websocket_rules::{
    MOST_FRAME_BYTES, ReservedBits, WebSocketOffers, WebSocketRules, websocket_rule_options,
};

/// What every middlebox kind is: a table of options, a reader that follows
/// it, a writer for reports, and the answers the runner and the CLI need.
pub trait Kind: Clone + PartialEq + std::fmt::Debug + Sized + 'static {
    /// The kind's name, summary and option table.
    const INFO: KindInfo;

    /// Reads the kind's options from a hop's table (`kind` and `name` are
    /// taken already). Only keys of [`Kind::INFO`] can be taken.
    fn read(reader: &mut OptionReader<'_, '_, '_>) -> Result<Self, ScenarioError>;

    /// Writes the options as a scenario file would, for pictures of the
    /// path: the few that define the kind always, the rest where they
    /// differ from the default. Passwords are never written.
    fn write(&self, settings: &mut Settings);

    /// Whether clients are configured with this hop (an explicit proxy)
    /// rather than meeting it on the way to the origin's name.
    fn is_explicit_proxy(&self) -> bool {
        false
    }

    /// Whether it is a cache that may read bytes inside a tunnel as a
    /// request of its own, so the probe sends its poison step.
    fn caches(&self) -> bool {
        false
    }

    /// The credentials an explicit proxy requires, which correctly
    /// configured clients are given.
    fn proxy_credentials(&self) -> Option<&Credentials> {
        None
    }

    /// The logical port a person runs it on by hand (`traverse proxy`).
    fn main_port(&self) -> u16;

    /// Whether it runs a program of its own: such cells are the costly
    /// ones, and a run bounds how many of them run at once.
    fn runs_process(&self) -> bool {
        false
    }
}

/// The one list of kinds: each line is a kind's file and its options type.
/// It makes [`HopKind`] and its dispatch, so no other code matches on kinds.
macro_rules! kinds {
    ($($module:ident :: $kind:ident),+ $(,)?) => {
        $(
            mod $module;
            pub use $module::*;
        )+

        /// A hop's kind with its options.
        #[derive(Debug, Clone, PartialEq)]
        pub enum HopKind {
            $($kind($kind)),+
        }

        impl HopKind {
            /// Every kind's table, in the order references list them.
            pub const ALL: &'static [&'static KindInfo] = &[$(&<$kind as Kind>::INFO),+];

            /// Reads a hop of the kind called `name`; `None` for an unknown kind.
            pub(crate) fn read(
                name: &str,
                fields: &mut Fields<'_, '_>,
                hop_span: Range<usize>,
            ) -> Option<Result<HopKind, ScenarioError>> {
                $(
                    if name == <$kind as Kind>::INFO.name {
                        let mut reader = OptionReader::new(fields, &<$kind as Kind>::INFO, hop_span);
                        return Some(<$kind as Kind>::read(&mut reader).map(HopKind::$kind));
                    }
                )+
                None
            }

            /// The kind's name, summary and option table.
            pub fn info(&self) -> &'static KindInfo {
                match self {
                    $(HopKind::$kind(_) => &<$kind as Kind>::INFO),+
                }
            }

            /// The hop's options as a scenario file writes them; see [`Kind::write`].
            pub fn settings(&self) -> Vec<String> {
                let mut settings = Settings::for_kind(self.info());
                match self {
                    $(HopKind::$kind(options) => options.write(&mut settings)),+
                }
                settings.lines
            }

            /// See [`Kind::is_explicit_proxy`].
            pub fn is_explicit_proxy(&self) -> bool {
                match self {
                    $(HopKind::$kind(options) => options.is_explicit_proxy()),+
                }
            }

            /// See [`Kind::caches`].
            pub fn caches(&self) -> bool {
                match self {
                    $(HopKind::$kind(options) => options.caches()),+
                }
            }

            /// See [`Kind::proxy_credentials`].
            pub fn proxy_credentials(&self) -> Option<&Credentials> {
                match self {
                    $(HopKind::$kind(options) => options.proxy_credentials()),+
                }
            }

            /// See [`Kind::main_port`].
            pub fn main_port(&self) -> u16 {
                match self {
                    $(HopKind::$kind(options) => options.main_port()),+
                }
            }

            /// See [`Kind::runs_process`].
            pub fn runs_process(&self) -> bool {
                match self {
                    $(HopKind::$kind(options) => options.runs_process()),+
                }
            }
        }
    };
}

kinds! {
    tls_terminator::TlsTerminator,
    transparent::Transparent,
    connect_proxy::ConnectProxy,
    legacy_forwarder::LegacyForwarder,
    external::External,
}

impl HopKind {
    /// What scenario files write as `kind`.
    pub fn kind_name(&self) -> &'static str {
        self.info().name
    }
}

/// A hop's table, read through its kind's option table: each accessor
/// takes one key, which must be in the table with the type it reads.
pub struct OptionReader<'r, 'f, 'i> {
    fields: &'r mut Fields<'f, 'i>,
    info: &'static KindInfo,
    hop_span: Range<usize>,
}

impl std::fmt::Debug for OptionReader<'_, '_, '_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OptionReader")
            .field("kind", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl<'r, 'f, 'i> OptionReader<'r, 'f, 'i> {
    fn new(
        fields: &'r mut Fields<'f, 'i>,
        info: &'static KindInfo,
        hop_span: Range<usize>,
    ) -> Self {
        OptionReader {
            fields,
            info,
            hop_span,
        }
    }

    /// The table's entry for `key`. A reader taking a key its table lacks,
    /// or with another type, is a bug in the kind's file; the tests read
    /// every option of every kind, so it cannot ship.
    fn declared(&self, key: &str, reads: impl Fn(&ValueType) -> bool) {
        let spec = self.info.option(key);
        assert!(
            spec.is_some_and(|spec| reads(&spec.value)),
            "the {} reader takes `{key}` as its table does not declare it",
            self.info.name
        );
    }

    /// A keyword option whose values are `K`'s keywords.
    pub fn keyword<K: Keyword>(&mut self, key: &str) -> Result<Option<K>, ScenarioError> {
        self.choice(key, K::KEYWORDS)
    }

    /// A keyword option whose values are `choices`.
    pub fn choice<T: Copy>(
        &mut self,
        key: &str,
        choices: &[(&'static str, T)],
    ) -> Result<Option<T>, ScenarioError> {
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        self.declared(
            key,
            |value| matches!(value, ValueType::Keyword(declared) if declared() == names),
        );
        self.fields.take_keyword(key, choices)
    }

    pub fn flag(&mut self, key: &str) -> Result<Option<bool>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::Bool));
        Ok(self.fields.take::<bool>(key)?.map(Spanned::into_inner))
    }

    pub fn duration(&mut self, key: &str) -> Result<Option<Duration>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::Duration));
        self.fields.take_duration(key)
    }

    /// Logical ports of the topology (443, 80), each once.
    pub fn logical_ports(&mut self, key: &str) -> Result<Option<Vec<u16>>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::LogicalPorts));
        self.fields.take_ports(key)
    }

    /// Ports of any service, 1 to 65535, each once.
    pub fn port_numbers(&mut self, key: &str) -> Result<Option<Vec<u16>>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::PortNumbers));
        self.fields.take_port_numbers(key)
    }

    pub fn hosts(&mut self, key: &str) -> Result<Option<Vec<String>>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::Hosts));
        self.fields.take_hosts(key)
    }

    /// `"user:password"`; leaving the key out means none.
    pub fn credentials(&mut self, key: &str) -> Result<Option<Credentials>, ScenarioError> {
        self.declared(key, |value| matches!(value, ValueType::Credentials));
        Ok(self.fields.take_credentials(key, false)?.flatten())
    }

    /// A command line whose placeholders are all known.
    pub fn command(&mut self, key: &str) -> Result<Option<Vec<String>>, ScenarioError> {
        let placeholders = self.placeholders(key, |value| matches!(value, ValueType::Command(_)));
        match self.fields.span_of(key) {
            Some(_) => self.fields.take_command(key, placeholders).map(Some),
            None => Ok(None),
        }
    }

    /// A text whose placeholders are all known.
    pub fn text(&mut self, key: &str) -> Result<Option<String>, ScenarioError> {
        let placeholders = self.placeholders(key, |value| matches!(value, ValueType::Text(_)));
        let Some(text) = self.fields.take::<String>(key)? else {
            return Ok(None);
        };
        self.fields
            .check_placeholders(key, text.get_ref(), text.span(), placeholders)?;
        Ok(Some(text.into_inner()))
    }

    fn placeholders(
        &self,
        key: &str,
        reads: impl Fn(&ValueType) -> bool,
    ) -> &'static [(&'static str, &'static str)] {
        self.declared(key, reads);
        match self.info.option(key).map(|spec| &spec.value) {
            Some(ValueType::Command(known) | ValueType::Text(known)) => known,
            _ => &[],
        }
    }

    /// Where `key` is written, if it is.
    pub fn span_of(&self, key: &str) -> Option<Range<usize>> {
        self.fields.span_of(key)
    }

    /// `idle_counts`, which says which bytes reset the kind's
    /// `idle_timeout`: set to another than the kind's default without one,
    /// it could not act. Take it before `idle_timeout`.
    pub fn idle_counts(
        &mut self,
        default: crate::model::IdleCounts,
    ) -> Result<crate::model::IdleCounts, ScenarioError> {
        let at = self.span_of("idle_counts");
        let without_timeout = self.span_of("idle_timeout").is_none();
        let counts = self.keyword("idle_counts")?.unwrap_or(default);
        self.no_effect(
            at,
            "idle_counts",
            (without_timeout && counts != default)
                .then_some("there is no `idle_timeout` for it to reset"),
        )?;
        Ok(counts)
    }

    /// Where the hop's table is, for a mistake that belongs to no one key.
    pub fn hop_span(&self) -> Range<usize> {
        self.hop_span.clone()
    }

    /// An option that was set but cannot act: an error at the option,
    /// saying why, rather than a setting that silently does nothing.
    pub fn no_effect(
        &self,
        at: Option<Range<usize>>,
        key: &str,
        why_not: Option<&str>,
    ) -> Result<(), ScenarioError> {
        self.fields.no_effect(at, key, why_not)
    }

    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        self.fields.file.error(span, message)
    }
}

/// `key = value` lines in scenario-file syntax, for [`HopKind::settings`]
/// and the client's settings.
#[derive(Debug)]
pub struct Settings {
    /// The kind's table; a key outside it is a bug in the kind's writer.
    table: Option<&'static KindInfo>,
    lines: Vec<String>,
}

impl Settings {
    fn for_kind(info: &'static KindInfo) -> Settings {
        Settings {
            table: Some(info),
            lines: Vec::new(),
        }
    }

    /// Lines for tables that are no hop's (`[client]`, `[probe]`).
    pub(crate) fn untabled() -> Settings {
        Settings {
            table: None,
            lines: Vec::new(),
        }
    }

    pub(crate) fn into_lines(self) -> Vec<String> {
        self.lines
    }

    pub fn always(&mut self, key: &str, value: impl SettingValue) {
        if let Some(info) = self.table {
            assert!(
                info.option(key).is_some(),
                "the {} writer writes `{key}`, which its table does not declare",
                info.name
            );
        }
        self.lines.push(format!("{key} = {}", value.written()));
    }

    pub fn differs<T: SettingValue + PartialEq>(&mut self, key: &str, value: T, default: T) {
        if value != default {
            self.always(key, value);
        }
    }

    pub fn duration(&mut self, key: &str, duration: Option<Duration>) {
        if let Some(duration) = duration {
            self.always(key, format!("\"{}\"", crate::format_duration(duration)));
        }
    }

    pub fn ports(&mut self, key: &str, ports: &[u16], default: &[u16]) {
        if ports != default {
            self.always(key, format!("{ports:?}"));
        }
    }

    pub fn hosts(&mut self, key: &str, hosts: &[String]) {
        if !hosts.is_empty() {
            self.always(key, format!("{hosts:?}"));
        }
    }

    /// The user only: a password never reaches a report.
    pub fn credentials(&mut self, key: &str, credentials: Option<&Credentials>) {
        if let Some(credentials) = credentials {
            self.always(key, format!("\"{}:…\"", credentials.user));
        }
    }
}

/// How a value is written in a scenario file: strings quoted, the rest bare.
pub trait SettingValue {
    fn written(&self) -> String;
}

impl SettingValue for &str {
    fn written(&self) -> String {
        format!("\"{self}\"")
    }
}

impl SettingValue for bool {
    fn written(&self) -> String {
        self.to_string()
    }
}

/// Already written (a list, a quoted duration).
impl SettingValue for String {
    fn written(&self) -> String {
        self.clone()
    }
}
