//! The presets of `kind = "external"`: real products (nginx, HAProxy,
//! Squid) with a configuration that matters, ready to put in a chain. A
//! preset is a command line and a config template with placeholders; the
//! templates are the files in `presets/`, which the parity tests judge the
//! mocks against.

/// The presets an external hop can name.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|preset| preset.name).collect()
}

/// A real product with a configuration that matters, ready to use.
pub(crate) struct Preset {
    pub(crate) name: &'static str,
    pub(crate) command: &'static [&'static str],
    pub(crate) config: &'static str,
    pub(crate) ports: &'static [u16],
    /// Clients are configured with it (a forward proxy).
    pub(crate) explicit: bool,
}

const NGINX: &[&str] = &["nginx", "-p", "{dir}", "-c", "{config}", "-e", "stderr"];
const HAPROXY: &[&str] = &["haproxy", "-db", "-f", "{config}"];
const SQUID: &[&str] = &["squid", "-N", "-f", "{config}"];

pub(crate) const PRESETS: [Preset; 5] = [
    Preset {
        name: "nginx",
        command: NGINX,
        config: include_str!("presets/nginx.conf"),
        ports: &[80],
        explicit: false,
    },
    Preset {
        name: "nginx-websocket",
        command: NGINX,
        config: include_str!("presets/nginx-websocket.conf"),
        ports: &[80],
        explicit: false,
    },
    Preset {
        name: "haproxy-http",
        command: HAPROXY,
        config: include_str!("presets/haproxy-http.cfg"),
        ports: &[443, 80],
        explicit: false,
    },
    Preset {
        name: "haproxy-tcp",
        command: HAPROXY,
        config: include_str!("presets/haproxy-tcp.cfg"),
        ports: &[443, 80],
        explicit: false,
    },
    Preset {
        name: "squid",
        command: SQUID,
        config: include_str!("presets/squid.conf"),
        ports: &[crate::address::PROXY_PORT],
        explicit: true,
    },
];
