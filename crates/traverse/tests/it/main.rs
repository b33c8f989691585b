//! The integration tests, one binary: real middleboxes and tunnels on
//! loopback, driven through the runner and the `traverse` command.

mod bundled;
mod cli;
mod support;
mod tls_terminator;
