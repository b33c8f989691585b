//! Scenario files are where a run begins: one TOML file describes one
//! customer-style topology (the hops between a tunnel client and the origin,
//! what the origin looks like, how the probe behaves) and the verdict each
//! tunnel is expected to get. This crate turns such files into validated
//! [`Scenario`] values that the runner expands into matrix cells, and reports
//! every mistake as `path:line:col: message`. It knows nothing of sockets or
//! async: the logical network it describes ([`address`]) is made real by the
//! runner.

pub mod address;
mod duration;
mod error;
mod model;
mod parse;
mod schema;
mod time_scale;

pub use duration::{format_duration, parse_duration};
pub use error::{Location, ScenarioError};
pub use model::{
    Backend, BodyPolicy, ClientSpec, ConnectProxy, Credentials, EXTERNAL_PLACEHOLDERS, Expectation,
    External, Hop, HopKind, HttpVersion, Keyword, LegacyForwarder, Masking, Origin,
    OriginCertificate, Outcome, PLACEHOLDERS, ProbeSpec, Scenario, TerminatorMode, TlsPolicy,
    TlsTerminator, Transparent, Transport, TunnelDefinition, UndeclaredBytes, UpgradePolicy,
};
pub use parse::{discover, load, load_all, load_tunnel, parse, parse_tunnel, preset_names};
pub use schema::{scenario_schema, tunnel_schema};
pub use time_scale::TimeScale;
