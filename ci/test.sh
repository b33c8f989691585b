#!/usr/bin/env bash
# Every check a change must pass, in the order that fails fastest: format,
# lints, then the whole test suite (unit, integration, snapshots, CLI).
# Needs a Rust toolchain with rustfmt and clippy, and a Docker engine; the
# real programs the tests drive are installed by ci/install.sh, and the
# container image they run is built from this repository by
# ci/build-image.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh
bash ci/build-image.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
