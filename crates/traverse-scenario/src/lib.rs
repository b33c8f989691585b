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
mod fields;
/// The fuzz targets' properties, shared with the corpus regression test.
#[doc(hidden)]
pub mod fuzzing;
mod kinds;
mod load;
mod model;
mod presets;
mod reference;
mod render;
mod schema;
mod time_scale;

pub use duration::{format_duration, parse_duration};
pub use error::{Location, ScenarioError, in_file_order};
pub use fields::{NAME_MAX_LENGTH, NAME_PATTERN, NAME_RULE, name_problem};
pub use kinds::*;
pub use load::{
    Loaded, LoadedTunnels, check, check_tunnel, discover, load, load_all, load_checked, load_each,
    load_tunnel, load_tunnel_checked, load_tunnels, parse, parse_tunnel, tunnel_name_of,
};
pub use model::{
    BackendHttp, ClientSpec, Credentials, EXTERNAL_PLACEHOLDERS, Expectation, ExtendedConnect, Hop,
    IdleCounts, Keyword, Masking, Origin, OriginCertificate, PLACEHOLDERS, ProbeSpec, Scenario,
    Transport, TunnelDefinition, UndeclaredBytes, UpgradePolicy, Verdict,
};
pub use presets::preset_names;
pub use reference::{kinds_listing, options_markdown};
pub use render::{SourceLine, Style, harmless, printable, render, render_one};
pub use schema::{scenario_schema, tunnel_schema};
pub use time_scale::TimeScale;
