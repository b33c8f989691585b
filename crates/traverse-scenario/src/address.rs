//! The logical network every topology lives in. Clients dial names and ports
//! as they would in the customer's network; the runner maps each (node,
//! logical port) to an ephemeral loopback socket so that Host headers, SNI,
//! certificate names and port-based rules stay real.

/// The name the origin is known by, in certificates, SNI and Host headers.
pub const ORIGIN_HOST: &str = "origin.test";

/// Logical port of TLS transports (`https`, `wss`, TLS-pinned tunnels).
pub const TLS_PORT: u16 = 443;

/// Logical port of plain transports (`http`, `ws`, raw TCP tunnels).
pub const PLAIN_PORT: u16 = 80;

/// Where an explicit proxy listens (Squid's default); clients dial it
/// directly, since they are configured with it.
pub const PROXY_PORT: u16 = 3128;

/// Every logical port a node of a topology may serve, TLS first.
pub const PORTS: [u16; 2] = [TLS_PORT, PLAIN_PORT];

/// Names a hop may not take, because blame uses them for the other sides.
pub const RESERVED_NAMES: [&str; 3] = ["client", "origin", "harness"];
