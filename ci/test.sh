#!/usr/bin/env bash
# Every check a change must pass, in the order that fails fastest: format,
# lints, then the whole test suite (unit, integration, snapshots, CLI).
# Needs a Rust toolchain with rustfmt and clippy; the real tunnel programs
# the tests drive (socat) are installed by ci/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
