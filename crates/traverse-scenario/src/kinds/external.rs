//! `kind = "external"`: a real proxy program in the chain (nginx, HAProxy,
//! Squid, or anything given a command line and a config template), behind
//! the harness's tap. Its options, their table and their reader; the
//! presets are in `presets.rs`, the behaviour is `traverse-middlebox`'s
//! `external.rs`.

use std::time::Duration;

use serde_json::json;

use crate::address::{PLAIN_PORT, PROXY_PORT};
use crate::error::ScenarioError;
use crate::fields::quoted;
use crate::kinds::{DefaultValue, Kind, KindInfo, OptionReader, OptionSpec, Settings, ValueType};
use crate::model::{DEFAULT_READY_TIMEOUT, EXTERNAL_PLACEHOLDERS};
use crate::presets::{PRESETS, preset_names};

/// A real proxy program in the chain: its command line and a config file
/// made from a template, both with placeholders the harness fills
/// (`{listen_80}`, `{upstream_443}`, `{config}`, `{dir}`, the PEM files).
#[derive(Debug, Clone, PartialEq)]
pub struct External {
    /// The preset it came from, if any, for messages.
    pub preset: Option<String>,
    pub command: Vec<String>,
    /// The config file's text, written to `{config}` before it starts.
    pub config: String,
    /// The logical ports it serves; the others refuse connections.
    pub ports: Vec<u16>,
    pub ready_timeout: Duration,
    /// An explicit proxy that clients are configured with (Squid), serving
    /// port 3128, rather than a hop on the way to the origin's name.
    pub explicit: bool,
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "preset",
        value: ValueType::Keyword(preset_names),
        default: DefaultValue::Absent("none"),
        summary: "a real product ready to run",
        applies: "",
        doc: "A product with a configuration that matters, ready to use: its command, config and ports (see below). A hop takes a `preset` or both `command` and `config`, not both.",
        example: "preset = \"haproxy-tcp\"",
    },
    OptionSpec {
        key: "command",
        value: ValueType::Command(&EXTERNAL_PLACEHOLDERS),
        default: DefaultValue::Absent("none"),
        summary: "its command line, with placeholders, instead of a preset",
        applies: "with config, not with preset",
        doc: "The program's command line, program first, with placeholders. It is run as it is, not through a shell, and must stay in the foreground.",
        example: "command = [\"nginx\", \"-p\", \"{dir}\", \"-c\", \"{config}\"]\nconfig = \"events {}\"",
    },
    OptionSpec {
        key: "config",
        value: ValueType::Text(&EXTERNAL_PLACEHOLDERS),
        default: DefaultValue::Absent("none"),
        summary: "its config file's text, with placeholders, written to {config}",
        applies: "with command, not with preset",
        doc: "The text of its config file, with placeholders, written to `{config}` before the program starts. Use a TOML multi-line string (`\"\"\"`).",
        example: "command = [\"nginx\", \"-p\", \"{dir}\", \"-c\", \"{config}\"]\nconfig = \"daemon off;\"",
    },
    OptionSpec {
        key: "ports",
        value: ValueType::LogicalPorts,
        default: DefaultValue::Depends("the preset's; `[80]` with `command`"),
        summary: "logical ports it serves; the others refuse connections",
        applies: "",
        doc: "The logical ports it serves. A port it does not serve refuses connections (unlike a `transparent` hop, which routes them on), so the tunnels on that port fail with `refused` and no status, blamed on the hop.",
        example: "preset = \"nginx\"\nports = [443, 80]",
    },
    OptionSpec {
        key: "ready_timeout",
        value: ValueType::Duration,
        default: DefaultValue::Written("\"10s\""),
        summary: "how long it may take to listen, in wall time",
        applies: "",
        doc: "How long the program may take to listen on every port it serves, in wall time.",
        example: "preset = \"nginx\"\nready_timeout = \"30s\"",
    },
    OptionSpec {
        key: "explicit",
        value: ValueType::Bool,
        default: DefaultValue::Depends("the preset's; `false` with `command`"),
        summary: "clients are configured with it (a forward proxy, port 3128)",
        applies: "",
        doc: "A forward proxy clients are configured with, listening on `{listen_3128}`; the default `ports` become `[3128]`.",
        example: "command = [\"squid\", \"-N\", \"-f\", \"{config}\"]\nconfig = \"http_port {listen_3128}\"\nexplicit = true",
    },
];

impl Kind for External {
    const INFO: KindInfo = KindInfo {
        name: "external",
        summary: "a real proxy program (nginx, HAProxy, ...) run from a config template or a preset",
        placement: "An `explicit` one must be the first hop.",
        options: OPTIONS,
        schema_rules: Some(preset_or_command),
    };

    fn read(reader: &mut OptionReader<'_, '_, '_>) -> Result<Self, ScenarioError> {
        let choices: Vec<(&'static str, usize)> = PRESETS
            .iter()
            .enumerate()
            .map(|(index, preset)| (preset.name, index))
            .collect();
        let preset = reader.choice("preset", &choices)?;
        let command_at = reader.span_of("command");
        let command = reader.command("command")?;
        let config_at = reader.span_of("config");
        let config = reader.text("config")?;
        let ports = reader.logical_ports("ports")?;
        let ready_timeout = reader
            .duration("ready_timeout")?
            .unwrap_or(DEFAULT_READY_TIMEOUT);
        let explicit = reader.flag("explicit")?;
        let (preset, command, config, ports, explicit) = match (preset, command, config) {
            (Some(index), None, None) => {
                let preset = &PRESETS[index];
                let command = preset.command.iter().map(|word| word.to_string()).collect();
                let ports = ports.unwrap_or_else(|| preset.ports.to_vec());
                let explicit = explicit.unwrap_or(preset.explicit);
                (
                    Some(preset.name.to_string()),
                    command,
                    preset.config.to_string(),
                    ports,
                    explicit,
                )
            }
            (None, Some(command), Some(config)) => {
                let explicit = explicit.unwrap_or(false);
                let default_port = if explicit { PROXY_PORT } else { PLAIN_PORT };
                let ports = ports.unwrap_or(vec![default_port]);
                (None, command, config, ports, explicit)
            }
            (Some(_), _, _) => {
                return Err(reader.error(
                    command_at.or(config_at).unwrap_or(reader.hop_span()),
                    "an external hop takes a `preset` or its own `command` and `config`, not both",
                ));
            }
            (None, _, _) => {
                return Err(reader.error(
                    reader.hop_span(),
                    format!(
                        "an external hop needs a `preset` (one of {}) or both `command` and `config`",
                        quoted(preset_names())
                    ),
                ));
            }
        };
        Ok(External {
            preset,
            command,
            config,
            ports,
            ready_timeout,
            explicit,
        })
    }

    fn write(&self, settings: &mut Settings) {
        match &self.preset {
            Some(preset) => settings.always("preset", preset.as_str()),
            None => settings.always(
                "command",
                format!("\"{}\"", self.command.first().map_or("", String::as_str)),
            ),
        }
        settings.differs("explicit", self.explicit, false);
    }

    fn is_explicit_proxy(&self) -> bool {
        self.explicit
    }

    fn main_port(&self) -> u16 {
        self.ports.first().copied().unwrap_or(PLAIN_PORT)
    }

    fn runs_process(&self) -> bool {
        true
    }
}

/// The parser takes a preset, or a command and a config, never a mix.
fn preset_or_command() -> serde_json::Value {
    json!({
        "oneOf": [
            {
                "required": ["preset"],
                "not": { "anyOf": [{ "required": ["command"] }, { "required": ["config"] }] },
            },
            {
                "required": ["command", "config"],
                "not": { "required": ["preset"] },
            },
        ]
    })
}
