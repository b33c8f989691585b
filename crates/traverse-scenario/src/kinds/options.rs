//! The shape of a kind's declarative table: what each option is called,
//! what values it takes, its default, where it acts and what it models.
//! Everything that describes options to a person or an editor (the parser's
//! lists of allowed keys, the JSON Schema, `traverse list`, the README's
//! tables) is made from these, so none of them can say something else.

use crate::model::{IdleCounts, Keyword};

/// A middlebox kind, as references describe it.
#[derive(Debug)]
pub struct KindInfo {
    /// What scenario files write as `kind`.
    pub name: &'static str,
    /// One line on what it models.
    pub summary: &'static str,
    /// Where it stands in a chain, when that is a rule ("It must be the
    /// first hop."); empty otherwise.
    pub placement: &'static str,
    /// Its options besides `kind` and `name`, in the order references list them.
    pub options: &'static [OptionSpec],
    /// Rules across options that a JSON Schema can state, merged into the
    /// kind's schema (an external hop's preset or command, not both).
    pub schema_rules: Option<fn() -> serde_json::Value>,
}

impl KindInfo {
    pub fn option(&self, key: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|spec| spec.key == key)
    }

    /// Every key a hop of this kind may have.
    pub fn keys(&self) -> Vec<&'static str> {
        ["kind", "name"]
            .into_iter()
            .chain(self.options.iter().map(|spec| spec.key))
            .collect()
    }
}

/// One option of a kind.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub key: &'static str,
    pub value: ValueType,
    pub default: DefaultValue,
    /// One line for `traverse list`.
    pub summary: &'static str,
    /// Where it acts, when not everywhere ("http mode with websocket = true").
    pub applies: &'static str,
    /// What it does and the real behaviour it models, in Markdown: the
    /// README's table and the schema's description.
    pub doc: &'static str,
    /// Lines of a hop of this kind that set the option where it acts; the
    /// tests read every example and require the option to change the hop.
    pub example: &'static str,
}

/// The type of an option's value, with its allowed values.
#[derive(Debug, Clone, Copy)]
pub enum ValueType {
    /// One of a list of strings.
    Keyword(fn() -> Vec<&'static str>),
    Bool,
    /// A string with a unit: `"100s"`.
    Duration,
    /// `"off"`, `"whole"`, or a size in bytes, `k` or `m`: `"8k"`.
    BufferSize,
    /// A size in bytes, `k` or `m`, up to 16m: `"64k"`.
    FrameSize,
    /// An array of the topology's logical ports, 443 and/or 80.
    LogicalPorts,
    /// An array of port numbers from 1 to 65535.
    PortNumbers,
    /// An array of host names without a port.
    Hosts,
    /// `"user:password"`.
    Credentials,
    /// A command line (an array of strings) with these placeholders.
    Command(&'static [(&'static str, &'static str)]),
    /// A text with these placeholders.
    Text(&'static [(&'static str, &'static str)]),
}

/// The names of `K`'s keywords, for [`ValueType::Keyword`].
pub fn keyword_names<K: Keyword>() -> Vec<&'static str> {
    K::KEYWORDS.iter().map(|(name, _)| *name).collect()
}

/// What an option is when a hop leaves it out.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// A value, written as TOML (`"\"http\""`, `"false"`, `"[443, 80]"`).
    Written(&'static str),
    /// Not set: the option does nothing. The words say what that means.
    Absent(&'static str),
    /// Depends on other options; the words say how.
    Depends(&'static str),
}

/// `idle_counts`, as every kind with an idle timer declares it: only its
/// default, the product that default follows and the example differ.
pub const fn idle_counts_option(
    default: &'static str,
    doc: &'static str,
    example: &'static str,
) -> OptionSpec {
    OptionSpec {
        key: "idle_counts",
        value: ValueType::Keyword(keyword_names::<IdleCounts>),
        default: DefaultValue::Written(default),
        summary: "which bytes reset idle_timeout: both directions, only from upstream, only from the client",
        applies: "with idle_timeout",
        doc,
        example,
    }
}
