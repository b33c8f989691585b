//! The span-keeping reader every table of a scenario or tunnel file is read
//! through. The TOML is parsed once into a tree that keeps each value's
//! span; [`Fields`] then takes a table's keys one by one, so every message
//! names its key, lists the allowed values and points at the exact place in
//! the file, and whatever is left at the end is an unknown key with a
//! suggestion. The explainers turn toml's and serde's grammar messages into
//! what a scenario author wrote wrong.
//!
//! A mistake in a value does not stop the reading: it is recorded in the
//! [`File`], the key reads as if it were not there, and the next key is
//! read, so one pass finds every mistake of a file. The checks across keys
//! ([`Fields::no_effect`]) are left out for a table with an unreadable
//! value, since they would judge a default the author never chose.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::address::PORTS;
use crate::duration::parse_duration;
use crate::error::ScenarioError;
use crate::model::Credentials;

/// The file being read, for turning spans into locations, and the
/// mistakes found in it so far.
pub(crate) struct File<'a> {
    pub(crate) path: &'a Path,
    pub(crate) source: &'a str,
    found: RefCell<Vec<ScenarioError>>,
}

impl<'a> File<'a> {
    pub(crate) fn new(path: &'a Path, source: &'a str) -> Self {
        File {
            path,
            source,
            found: RefCell::new(Vec::new()),
        }
    }

    /// Keeps `error` for the file's report and goes on reading.
    pub(crate) fn record(&self, error: ScenarioError) {
        self.found.borrow_mut().push(error);
    }

    /// Every mistake recorded, in the order they were found.
    pub(crate) fn into_errors(self) -> Vec<ScenarioError> {
        self.found.into_inner()
    }

    /// The text at `span`, as written.
    pub(crate) fn text(&self, span: Range<usize>) -> &str {
        self.source.get(span).unwrap_or_default().trim()
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.path, self.source, span, message)
    }

    /// A mistake of the file as a whole, such as a key it must have.
    pub(crate) fn whole_file_error(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            location: crate::error::Location::start_of(self.path),
            message: message.into(),
        }
    }

    /// A TOML error carries its own span when it has one; `fallback` otherwise.
    pub(crate) fn toml_error(
        &self,
        error: toml::de::Error,
        fallback: Range<usize>,
    ) -> ScenarioError {
        let span = error.span().unwrap_or(fallback);
        let message = explain_toml_error(self.source, span.clone(), error.message().trim());
        self.error(span, message)
    }
}

/// The keys of one table, taken one by one; what is left at the end is an
/// unknown key and an error that lists the keys this table does accept.
///
/// The `take_*` methods return `Err` for no mistake of a value: those are
/// recorded in the file, and the key reads as absent (see the module's
/// doc). Their `Result` lets a kind's reader stop at a mistake of its own.
pub(crate) struct Fields<'f, 'i> {
    pub(crate) file: &'f File<'f>,
    what: &'static str,
    pub(crate) table: DeTable<'i>,
    /// A value of this table could not be read.
    unreadable: Cell<bool>,
}

impl<'f, 'i> Fields<'f, 'i> {
    pub(crate) fn new(file: &'f File<'f>, what: &'static str, table: DeTable<'i>) -> Self {
        Fields {
            file,
            what,
            table,
            unreadable: Cell::new(false),
        }
    }

    /// Whether every value taken so far could be read, so that checks
    /// across keys judge what the author wrote.
    pub(crate) fn read_cleanly(&self) -> bool {
        !self.unreadable.get()
    }

    /// Records a mistake in a value of this table.
    pub(crate) fn reject(&self, error: ScenarioError) {
        self.unreadable.set(true);
        self.file.record(error);
    }

    /// Records `error` for `key`, which then reads as absent.
    fn unreadable_key<T>(
        &mut self,
        key: &str,
        error: ScenarioError,
    ) -> Result<Option<T>, ScenarioError> {
        self.table.remove(key);
        self.reject(error);
        Ok(None)
    }

    pub(crate) fn take_value(&mut self, key: &str) -> Option<Spanned<DeValue<'i>>> {
        self.table.remove(key)
    }

    pub(crate) fn take<T: DeserializeOwned>(
        &mut self,
        key: &str,
    ) -> Result<Option<Spanned<T>>, ScenarioError> {
        let Some(value) = self.take_value(key) else {
            return Ok(None);
        };
        let span = value.span();
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(parsed) => Ok(Some(Spanned::new(span, parsed))),
            Err(error) => {
                let at = error.span().unwrap_or(span.clone());
                self.reject(self.file.error(
                    at,
                    format!("`{key}`: {}", humanize_serde(error.message().trim())),
                ));
                Ok(None)
            }
        }
    }

    pub(crate) fn take_table(
        &mut self,
        key: &'static str,
    ) -> Result<Option<Fields<'f, 'i>>, ScenarioError> {
        let Some(value) = self.take_value(key) else {
            return Ok(None);
        };
        let span = value.span();
        match value.into_inner() {
            DeValue::Table(table) => Ok(Some(Fields::new(self.file, key, table))),
            other => {
                self.reject(self.file.error(
                    span,
                    format!(
                        "`{key}` must be a table ([{key}]), found {}",
                        other.type_str()
                    ),
                ));
                Ok(None)
            }
        }
    }

    pub(crate) fn take_keyword<K: Copy>(
        &mut self,
        key: &str,
        choices: &[(&str, K)],
    ) -> Result<Option<K>, ScenarioError> {
        let Some(value) = self.take_value(key) else {
            return Ok(None);
        };
        match keyword(self.file, key, value, choices) {
            Ok(choice) => Ok(Some(choice)),
            Err(error) => {
                self.reject(error);
                Ok(None)
            }
        }
    }

    pub(crate) fn take_duration(&mut self, key: &str) -> Result<Option<Duration>, ScenarioError> {
        if let Some(value) = self.table.get(key)
            && !matches!(value.get_ref(), DeValue::String(_))
        {
            let error = self.file.error(
                value.span(),
                format!(
                    "`{key}` must be a duration in quotes with a unit (ms, s, m, h), \
                     like \"100s\" or \"250ms\"; found {} `{}`",
                    value.get_ref().type_str(),
                    self.file.text(value.span())
                ),
            );
            return self.unreadable_key(key, error);
        }
        let Some(text) = self.take::<String>(key)? else {
            return Ok(None);
        };
        match parse_duration(text.get_ref()) {
            Ok(duration) => Ok(Some(duration)),
            Err(message) => {
                self.reject(self.file.error(text.span(), format!("`{key}`: {message}")));
                Ok(None)
            }
        }
    }

    /// `"off"`, `"whole"` or a size (`response_buffering`).
    pub(crate) fn take_buffer_size(
        &mut self,
        key: &str,
    ) -> Result<Option<crate::kinds::ResponseBuffering>, ScenarioError> {
        self.take_size(
            key,
            "\"off\", \"whole\" or a size in quotes, like \"8k\"",
            crate::kinds::parse_response_buffering,
        )
    }

    /// A WebSocket frame or message size: `"64k"`.
    pub(crate) fn take_frame_size(&mut self, key: &str) -> Result<Option<usize>, ScenarioError> {
        self.take_size(
            key,
            "a size in quotes, like \"64k\"",
            crate::kinds::parse_frame_size,
        )
    }

    /// A size written as a string, read by `parse`; `expected` says what
    /// the string must be when the value is of another type.
    fn take_size<T>(
        &mut self,
        key: &str,
        expected: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ScenarioError> {
        if let Some(value) = self.table.get(key)
            && !matches!(value.get_ref(), DeValue::String(_))
        {
            let error = self.file.error(
                value.span(),
                format!(
                    "`{key}` must be {expected}; found {} `{}`",
                    value.get_ref().type_str(),
                    self.file.text(value.span())
                ),
            );
            return self.unreadable_key(key, error);
        }
        let Some(text) = self.take::<String>(key)? else {
            return Ok(None);
        };
        match parse(text.get_ref()) {
            Ok(size) => Ok(Some(size)),
            Err(message) => {
                self.reject(self.file.error(text.span(), format!("`{key}`: {message}")));
                Ok(None)
            }
        }
    }

    /// Takes `key` as an array, recording a mistake when it is given but
    /// not one; `what` names the items and shows an example, like "ports,
    /// like [443]".
    fn take_array<T: DeserializeOwned>(
        &mut self,
        key: &str,
        what: &str,
    ) -> Result<Option<Spanned<Vec<T>>>, ScenarioError> {
        match self.table.get(key) {
            Some(value) if !matches!(value.get_ref(), DeValue::Array(_)) => {
                let error = self.file.error(
                    value.span(),
                    format!(
                        "`{key}` must be an array of {what}; found {}",
                        value.get_ref().type_str()
                    ),
                );
                self.unreadable_key(key, error)
            }
            _ => self.take::<Vec<T>>(key),
        }
    }

    /// `Some(items)` when no item was recorded as a mistake.
    fn all_read<T>(&self, items: Vec<Result<T, ScenarioError>>) -> Option<Vec<T>> {
        let mut read = Vec::new();
        let mut clean = true;
        for item in items {
            match item {
                Ok(item) => read.push(item),
                Err(error) => {
                    clean = false;
                    self.reject(error);
                }
            }
        }
        clean.then_some(read)
    }

    pub(crate) fn take_ports(&mut self, key: &str) -> Result<Option<Vec<u16>>, ScenarioError> {
        let Some(ports) = self.take_array::<Spanned<i64>>(key, "ports, like [443] or [443, 80]")?
        else {
            return Ok(None);
        };
        if ports.get_ref().is_empty() {
            self.reject(self.file.error(
                ports.span(),
                format!("`{key}` must list at least one of {PORTS:?}"),
            ));
            return Ok(None);
        }
        let mut seen = Vec::new();
        let mut read = Vec::new();
        for port in ports.get_ref() {
            let number = *port.get_ref();
            let known = PORTS.iter().find(|known| i64::from(**known) == number);
            read.push(match known {
                Some(known) if !seen.contains(known) => {
                    seen.push(*known);
                    Ok(*known)
                }
                Some(_) => Err(self
                    .file
                    .error(port.span(), format!("`{key}` lists port {number} twice"))),
                None => Err(self.file.error(
                    port.span(),
                    format!(
                        "`{key}`: port {number} is not a logical port of the topology; \
                         use 443 (TLS) or 80 (plain)"
                    ),
                )),
            });
        }
        Ok(self.all_read(read))
    }

    /// A command line: a non-empty array of strings whose `{placeholders}`
    /// are all ones the harness fills in.
    pub(crate) fn take_command(
        &mut self,
        key: &str,
        known: &[(&str, &str)],
    ) -> Result<Vec<String>, ScenarioError> {
        let span = self.span_of(key);
        let Some(argv) = self.take::<Vec<Spanned<String>>>(key)? else {
            // Written but unreadable is recorded already.
            if span.is_none() {
                self.reject(self.file.whole_file_error(format!(
                    "a tunnel needs `{key}`, its command line as an array of strings"
                )));
            }
            return Ok(Vec::new());
        };
        if argv.get_ref().is_empty() {
            self.reject(self.file.error(
                span.unwrap_or(0..0),
                format!("`{key}` must name a program to run"),
            ));
        }
        for word in argv.get_ref() {
            self.check_placeholders(key, word.get_ref(), word.span(), known)?;
        }
        Ok(argv
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect())
    }

    /// Records each `{name}` that is not one of `known`. Only `{` + a word
    /// + `}` is a placeholder, so config syntax with braces stays literal.
    pub(crate) fn check_placeholders(
        &self,
        key: &str,
        text: &str,
        span: Range<usize>,
        known: &[(&str, &str)],
    ) -> Result<(), ScenarioError> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let word_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if word_len > 0 && after[word_len..].starts_with('}') {
                let placeholder = &after[..word_len];
                if !known.iter().any(|(name, _)| *name == placeholder) {
                    let names: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
                    self.reject(self.file.error(
                        span.clone(),
                        format!(
                            "`{key}`: unknown placeholder {{{placeholder}}}; placeholders: {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
            rest = after;
        }
        Ok(())
    }

    /// Where `key` is written, if it is.
    pub(crate) fn span_of(&self, key: &str) -> Option<Range<usize>> {
        self.table.get(key).map(Spanned::span)
    }

    /// An option that was set but cannot act: an error at the option,
    /// saying why, rather than a setting that silently does nothing. Left
    /// out when a value of the table was unreadable: `why_not` was then
    /// worked out from a default the author did not write.
    pub(crate) fn no_effect(
        &self,
        at: Option<Range<usize>>,
        key: &str,
        why_not: Option<&str>,
    ) -> Result<(), ScenarioError> {
        if let (Some(at), Some(why), true) = (at, why_not, self.read_cleanly()) {
            self.file.record(
                self.file
                    .error(at, format!("`{key}` has no effect here: {why}")),
            );
        }
        Ok(())
    }

    /// Ports of any service, 1 to 65535, each once.
    pub(crate) fn take_port_numbers(
        &mut self,
        key: &str,
    ) -> Result<Option<Vec<u16>>, ScenarioError> {
        let Some(ports) =
            self.take_array::<Spanned<i64>>(key, "ports, like [443] or [443, 8443]")?
        else {
            return Ok(None);
        };
        let mut seen = Vec::new();
        let mut read = Vec::new();
        for port in ports.get_ref() {
            let number = *port.get_ref();
            read.push(match u16::try_from(number).ok().filter(|port| *port > 0) {
                None => Err(self.file.error(
                    port.span(),
                    format!("`{key}`: {number} is not a port; ports are 1 to 65535"),
                )),
                Some(valid) if seen.contains(&valid) => Err(self
                    .file
                    .error(port.span(), format!("`{key}` lists port {number} twice"))),
                Some(valid) => {
                    seen.push(valid);
                    Ok(valid)
                }
            });
        }
        Ok(self.all_read(read))
    }

    /// Host names, as Host headers carry them (no port).
    pub(crate) fn take_hosts(&mut self, key: &str) -> Result<Option<Vec<String>>, ScenarioError> {
        let Some(hosts) =
            self.take_array::<Spanned<String>>(key, "host names, like [\"origin.test\"]")?
        else {
            return Ok(None);
        };
        let read = hosts
            .into_inner()
            .into_iter()
            .map(|host| {
                let text = host.get_ref().trim().to_ascii_lowercase();
                if text.is_empty() || text.contains([':', '/', ' ']) {
                    Err(self.file.error(
                        host.span(),
                        format!(
                            "`{key}`: \"{}\" is not a host name; write names like \"origin.test\"",
                            host.get_ref()
                        ),
                    ))
                } else {
                    Ok(text)
                }
            })
            .collect();
        Ok(self.all_read(read))
    }

    /// `"user:password"`; with `allow_empty`, `""` means no credentials.
    pub(crate) fn take_credentials(
        &mut self,
        key: &str,
        allow_empty: bool,
    ) -> Result<Option<Option<Credentials>>, ScenarioError> {
        // How to say "no credentials" differs: `""` for a client, leaving the
        // key out for a proxy.
        let form = if allow_empty {
            format!("`{key}` must be \"user:password\", or \"\" for none")
        } else {
            format!("`{key}` must be \"user:password\", or left out for none")
        };
        if let Some(value) = self.table.get(key)
            && !matches!(value.get_ref(), DeValue::String(_))
        {
            let error = self.file.error(
                value.span(),
                format!("{form}; found {}", value.get_ref().type_str()),
            );
            return self.unreadable_key(key, error);
        }
        let Some(text) = self.take::<String>(key)? else {
            return Ok(None);
        };
        if allow_empty && text.get_ref().is_empty() {
            return Ok(Some(None));
        }
        match text.get_ref().split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Some(Some(Credentials {
                user: user.to_string(),
                password: password.to_string(),
            }))),
            _ => {
                self.reject(self.file.error(text.span(), form));
                Ok(None)
            }
        }
    }

    /// Records each key nobody took, naming the keys that are allowed.
    pub(crate) fn finish(self, allowed: &[&str]) -> Result<(), ScenarioError> {
        self.finish_with(allowed, |_| None)
    }

    /// [`Fields::finish`], with `explain` saying more about a key that is not
    /// a typo (for a hop: which kinds do take it).
    pub(crate) fn finish_with(
        self,
        allowed: &[&str],
        explain: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ScenarioError> {
        // An allowed key left over was not reached: a kind's reader stopped
        // at a mistake of its own before it. That key is not unknown.
        let mut unknown: Vec<_> = self
            .table
            .keys()
            .filter(|key| !allowed.contains(&key.get_ref().as_ref()))
            .collect();
        unknown.sort_by_key(|key| key.span().start);
        for key in unknown {
            let hint = suggestion(key.get_ref(), allowed)
                .map(|close| format!("did you mean `{close}`?"))
                .or_else(|| explain(key.get_ref()))
                .map(|hint| format!(" ({hint})"))
                .unwrap_or_default();
            self.file.record(self.file.error(
                key.span(),
                format!(
                    "unknown key `{}` in {}{hint}; allowed keys: {}",
                    key.get_ref(),
                    self.what_for_humans(),
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn what_for_humans(&self) -> String {
        match self.what {
            "scenario" => "the scenario".to_string(),
            "tunnel" => "the tunnel definition".to_string(),
            "hop" => "this hop".to_string(),
            table => format!("[{table}]"),
        }
    }
}

pub(crate) fn keyword<K: Copy>(
    file: &File<'_>,
    key: &str,
    value: Spanned<DeValue<'_>>,
    choices: &[(&str, K)],
) -> Result<K, ScenarioError> {
    let allowed = quoted(choices.iter().map(|(name, _)| *name));
    let span = value.span();
    let DeValue::String(text) = value.get_ref() else {
        // `http_version = 1.0`: the right word, written as a number.
        let written = file.text(span.clone());
        if choices.iter().any(|(name, _)| *name == written) {
            return Err(file.error(
                span,
                format!("`{key}` = {written} must be a string: write \"{written}\""),
            ));
        }
        return Err(file.error(
            span,
            format!(
                "`{key}` must be a string, one of {allowed}; found {}",
                value.get_ref().type_str()
            ),
        ));
    };
    choices
        .iter()
        .find(|(name, _)| *name == text.as_ref())
        .map(|(_, choice)| *choice)
        .ok_or_else(|| {
            file.error(
                span,
                format!("`{key}` = \"{text}\" is not allowed; expected one of {allowed}"),
            )
        })
}

/// The longest name a scenario or tunnel may have: it becomes part of file
/// names and a column of the matrix.
pub const NAME_MAX_LENGTH: usize = 64;

/// The names a scenario or an external tunnel may have, as a person reads
/// the rule; every name error ends with it.
pub const NAME_RULE: &str = "a name is 1 to 64 characters of ASCII letters, digits, \
     `-`, `_`, `.`, `+` and `=`, and does not start with `.` or `-`";

/// [`name_problem`]'s rule as a JSON-schema pattern, for editors; the
/// corpus in `tests/invalid` holds the two to the same answers.
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9_+=][A-Za-z0-9_.+=-]{0,63}$";

/// Why `name` cannot name a scenario or a tunnel, if it cannot. Names
/// become file names (`--logs`), matrix rows and command-line words, so
/// anything that could leave a folder (`/`, `..`), hide a file, pass for
/// an option or drive a terminal is refused here rather than escaped at
/// each place a name is used.
pub fn name_problem(name: &str) -> Option<String> {
    let reason = if name.is_empty() {
        "is empty".to_string()
    } else if name.chars().count() > NAME_MAX_LENGTH {
        format!("is {} characters long", name.chars().count())
    } else if name.contains(['/', '\\']) {
        "contains a path separator".to_string()
    } else if name.contains(char::is_control) {
        "contains a control character".to_string()
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.+=".contains(*c)))
    {
        format!("contains {bad:?}")
    } else if name.starts_with(['.', '-']) {
        format!("starts with `{}`", &name[..1])
    } else {
        return None;
    };
    Some(format!("{} {reason}; {NAME_RULE}", shown_name(name)))
}

/// A name as an error message quotes it: escaped, so a control character
/// reaches no terminal or log as itself, and cut short when it is long.
fn shown_name(name: &str) -> String {
    const SHOWN: usize = 24;
    if name.chars().count() > SHOWN {
        let start: String = name.chars().take(SHOWN).collect();
        format!("{:?}", start + "…")
    } else {
        format!("{name:?}")
    }
}

pub(crate) fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The allowed key a typo most likely meant: one edit away for short keys,
/// two for longer ones.
fn suggestion<'a>(typed: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(typed, candidate), *candidate))
        // Short keys are a letter or two from each other (`mode`, `name`).
        .filter(|(distance, candidate)| *distance <= if candidate.len() <= 5 { 1 } else { 2 })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// serde names Rust types ("expected i64"); scenario authors know TOML's.
fn humanize_serde(message: &str) -> String {
    [
        ("expected i64", "expected an integer"),
        ("expected u16", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
    ]
    .iter()
    .fold(message.to_string(), |message, (from, to)| {
        message.replace(from, to)
    })
}

/// toml's messages describe its grammar. For the slips people make most
/// (a value left out, a word not in quotes, a string not closed, a key
/// written twice) say what was written and name the key.
fn explain_toml_error(source: &str, span: Range<usize>, message: &str) -> String {
    let at = span.start.min(source.len());
    let (Some(head), Some(tail)) = (source.get(..at), source.get(at..)) else {
        return message.to_string();
    };
    let before = &head[head.rfind('\n').map_or(0, |newline| newline + 1)..];
    let after = tail[..tail.find('\n').unwrap_or(tail.len())].trim();
    if message == "duplicate key" {
        let key = source.get(span).unwrap_or_default().trim();
        return format!("duplicate key `{key}`: a key (or [table]) may be written only once");
    }
    // `key = <here>`: the mistake is the value of the key before the `=`.
    if let Some(key) = before.trim_end().strip_suffix('=') {
        let key = key.rsplit(['{', ',']).next().unwrap_or(key).trim();
        if key.is_empty() {
            return message.to_string();
        }
        if after.is_empty() || after.starts_with(['#', ',', '}', ']']) {
            return format!("`{key}` has no value after `=`");
        }
        let word = after
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
            .next()
            .unwrap_or_default();
        let unquoted = message.starts_with("invalid boolean")
            || message.starts_with("string values must be quoted");
        if unquoted && !word.eq_ignore_ascii_case("true") && !word.eq_ignore_ascii_case("false") {
            return format!("`{key}` = {word}: text values must be in quotes, like \"{word}\"");
        }
        return format!("`{key}`: {message}");
    }
    // `key = "text<end of line>`: a string left open.
    let quote = if message.starts_with("invalid basic string") {
        Some('"')
    } else if message.starts_with("invalid literal string") {
        Some('\'')
    } else {
        None
    };
    if let (Some(quote), true) = (quote, after.is_empty()) {
        let key = before
            .split_once('=')
            .map(|(key, _)| key.trim())
            .filter(|key| {
                !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        let what = key.map_or_else(String::new, |key| format!("`{key}`: "));
        return format!("{what}the string is not closed; end it with {quote} on the same line");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_key_a_typo_meant_but_not_a_different_short_key() {
        let keys = ["name", "mode", "websocket", "idle_timeout"];
        assert_eq!(suggestion("modee", &keys), Some("mode"));
        assert_eq!(suggestion("websockt", &keys), Some("websocket"));
        assert_eq!(suggestion("idle_timout", &keys), Some("idle_timeout"));
        assert_eq!(suggestion("mane", &keys), None);
    }
}
