#!/usr/bin/env bash
# Builds the container image the container tests run, traverse-tunnel:local,
# from this repository alone: a statically linked traverse binary (glibc,
# +crt-static) in an image FROM scratch. Rebuilt only when the binary changed.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --quiet --target "$target" -p traverse --target-dir target/static
binary="target/static/$target/release/traverse"

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" ci/images/tunnel/Dockerfile "$context/"
docker build --quiet --tag traverse-tunnel:local "$context" >/dev/null
echo "built traverse-tunnel:local" >&2
