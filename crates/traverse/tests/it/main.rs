//! The integration tests, one binary: real middleboxes and tunnels on
//! loopback, driven through the runner and the `traverse` command.

mod buffering;
mod bundled;
mod chains;
mod cli;
mod connect_proxy;
mod container;
mod deadlock;
mod diagnostics;
mod docs;
mod external;
mod fallback;
mod fallback_transports;
mod first_run;
mod hostile_names;
mod html_report;
mod http2_front;
mod http2_tunnels;
mod idle_counts;
mod keepalive;
mod kubernetes_job;
mod legacy_forwarder;
mod masking;
mod origin_failures;
mod orphans;
mod parity;
mod poisoning;
mod population;
mod results_files;
mod shards;
mod show;
mod starvation;
mod support;
mod tls_terminator;
mod transparent;
mod websocket_features;
