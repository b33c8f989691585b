#!/usr/bin/env bash
# Every check a change must pass, in the order that fails fastest: format,
# lints, then the whole test suite (unit, integration, snapshots, CLI).
# Needs only a Rust toolchain with rustfmt and clippy; everything else the
# tests use is built from this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
