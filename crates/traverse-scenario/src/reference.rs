//! The references a person reads, made from the kinds' option tables: the
//! text `traverse list` prints and the Markdown option tables of the
//! README's scenario reference (which a test holds to this output). They
//! say only what the tables say, so a new option or value reaches them
//! without an edit.

use crate::address::RESERVED_NAMES;
use crate::kinds::{DefaultValue, HopKind, KindInfo, OptionSpec, ValueType};

/// The middlebox kinds with their options, for `traverse list`.
pub fn kinds_listing() -> String {
    let mut out = String::from("Middlebox kinds (`kind` in [[hops]]):\n");
    let width = HopKind::ALL
        .iter()
        .map(|info| info.name.len())
        .max()
        .unwrap_or(0);
    for info in HopKind::ALL {
        out += &format!("  {:<width$}  {}\n", info.name, info.summary);
    }
    for info in HopKind::ALL {
        out += &format!("\n{} options:", info.name);
        if !info.placement.is_empty() {
            out += &format!(" {}", plain(info.placement));
        }
        out += "\n";
        let width = info
            .options
            .iter()
            .map(|spec| spec.key.len())
            .chain(["name".len()])
            .max()
            .unwrap_or(0);
        out += &format!(
            "  {:<width$}  string; default \"{}-<n>\", n the hop's position from 1\n  {:<width$}  the label blame uses\n",
            "name", info.name, ""
        );
        for spec in info.options {
            out += &format!(
                "  {:<width$}  {}; default {}\n",
                spec.key,
                plain_values(&spec.value),
                plain_default(spec.default)
            );
            let applies = if spec.applies.is_empty() {
                String::new()
            } else {
                format!(" ({})", spec.applies)
            };
            out += &format!("  {:<width$}  {}{applies}\n", "", spec.summary);
        }
        if let Some(placeholders) = placeholders_of(info) {
            let names: Vec<String> = placeholders
                .iter()
                .map(|(name, _)| format!("{{{name}}}"))
                .collect();
            out += &format!("  placeholders: {}\n", names.join(" "));
        }
    }
    out
}

/// The README's option table of one kind, `kind` and `name` first.
pub fn options_markdown(info: &KindInfo) -> String {
    let placement = if info.placement.is_empty() {
        String::new()
    } else {
        format!(" {}", info.placement)
    };
    let reserved: Vec<String> = RESERVED_NAMES
        .iter()
        .map(|name| format!("`{name}`"))
        .collect();
    let (last, rest) = reserved.split_last().expect("reserved names");
    let mut out = String::from(
        "| option | values | default | meaning and the real behaviour it models |\n|---|---|---|---|\n",
    );
    out += &format!(
        "| `kind` | `\"{}\"` | required | The middlebox kind.{placement} |\n",
        info.name
    );
    out += &format!(
        "| `name` | string | `{}-<n>`, where n is the hop's position from 1 | The label blame \
         uses. Must be unique, follow the [name rule](#names) and not be {} or {last}. It may \
         not be another unnamed hop's default name. |\n",
        info.name,
        rest.join(", ")
    );
    for spec in info.options {
        out += &format!(
            "| `{}` | {} | {} | {} |\n",
            spec.key,
            markdown_values(&spec.value),
            markdown_default(spec.default),
            spec.doc
        );
    }
    out
}

/// An option's meaning for an editor's tooltip: the README's text without
/// its links into the README.
pub(crate) fn description(spec: &OptionSpec) -> String {
    let mut out = String::new();
    let mut rest = spec.doc;
    while let Some(open) = rest.find('[') {
        out += &rest[..open];
        let after = &rest[open + 1..];
        match link_at(after) {
            Some((text, end)) => {
                out += text;
                rest = &after[end..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out + rest
}

/// For the text after a `[`: the link's text and where the link ends, if
/// it is a link into the README (`text](#anchor)`). The text may hold
/// brackets of its own (`` [`[client]`](#client) ``).
fn link_at(after: &str) -> Option<(&str, usize)> {
    let mut depth = 0_usize;
    for (at, character) in after.char_indices() {
        match character {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            ']' => {
                let anchor = after[at..].strip_prefix("](#")?;
                let close = anchor.find(')')?;
                return Some((&after[..at], at + 3 + close + 1));
            }
            _ => {}
        }
    }
    None
}

fn placeholders_of(info: &KindInfo) -> Option<&'static [(&'static str, &'static str)]> {
    info.options.iter().find_map(|spec| match spec.value {
        ValueType::Command(known) | ValueType::Text(known) => Some(known),
        _ => None,
    })
}

fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// The README's words, as a terminal shows them.
fn plain_values(value: &ValueType) -> String {
    plain(&markdown_values(value)).replace("\\|", "|")
}

fn plain_default(default: DefaultValue) -> String {
    plain(&markdown_default(default))
}

fn markdown_values(value: &ValueType) -> String {
    match value {
        ValueType::Keyword(names) => names()
            .iter()
            .map(|name| format!("`\"{name}\"`"))
            .collect::<Vec<_>>()
            .join(" \\| "),
        ValueType::Bool => "`true` \\| `false`".to_string(),
        ValueType::Duration => "duration string, for example `\"60s\"`".to_string(),
        ValueType::BufferSize => {
            "`\"off\"` \\| `\"whole\"` \\| a size up to `\"1m\"`, for example `\"8k\"`".to_string()
        }
        ValueType::FrameSize => "a size up to `\"16m\"`, for example `\"64k\"`".to_string(),
        ValueType::LogicalPorts => "array of `443` and/or `80`".to_string(),
        ValueType::PortNumbers => {
            "array of port numbers from 1 to 65535, each listed once".to_string()
        }
        ValueType::Hosts => "array of host names, for example `[\"origin.test\"]`".to_string(),
        ValueType::Credentials => "`\"user:password\"`".to_string(),
        ValueType::Command(_) => "array of strings".to_string(),
        ValueType::Text(_) => "string".to_string(),
    }
}

fn markdown_default(default: DefaultValue) -> String {
    match default {
        DefaultValue::Written(text) => format!("`{text}`"),
        DefaultValue::Absent(words) | DefaultValue::Depends(words) => words.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(doc: &'static str) -> OptionSpec {
        OptionSpec {
            key: "key",
            value: ValueType::Bool,
            default: DefaultValue::Written("false"),
            summary: "",
            applies: "",
            doc,
            example: "",
        }
    }

    #[test]
    fn a_description_keeps_a_links_text_and_drops_its_anchor() {
        assert_eq!(
            description(&spec("See [Frame masking](#frame-masking).")),
            "See Frame masking."
        );
        assert_eq!(
            description(&spec("unless [`[client]`](#client) `proxy_auth` says")),
            "unless `[client]` `proxy_auth` says"
        );
        assert_eq!(
            description(&spec("arrays [443, 80] and [x] stay")),
            "arrays [443, 80] and [x] stay"
        );
        assert_eq!(
            description(&spec("[443] then [a link](#anchor)")),
            "[443] then a link"
        );
    }
}
