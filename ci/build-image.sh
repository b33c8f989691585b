#!/usr/bin/env bash
# Builds the container images the container tests run, from this repository
# alone, each FROM scratch around a statically linked traverse binary
# (glibc, +crt-static):
#   traverse-tunnel:local  the binary and nothing else (ci/images/tunnel);
#   traverse:local         the runner of the Kubernetes Indexed Job in
#                          ci/kubernetes/ (ci/images/runner): the binary, the
#                          bundled scenarios/ and Debian's static busybox as
#                          /bin/sh (ci/install.sh installs busybox-static).
# Each is rebuilt only when its inputs changed: docker's build cache keeps
# every layer whose files are the same, so an unchanged build is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --quiet --target "$target" -p traverse --target-dir target/static
binary="target/static/$target/release/traverse"

busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "error: the image traverse:local needs a static $busybox: \`bash ci/install.sh\` installs busybox-static" >&2
  exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

# Builds the image tagged $1 from the folder $2, then removes the image the
# tag named before if nothing else uses it, so that rebuilds leave no
# untagged images behind.
build() {
  local previous
  previous=$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)
  docker build --quiet --tag "$1" "$2" >/dev/null
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$1")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  echo "built $1" >&2
}

mkdir "$context/tunnel"
cp "$binary" ci/images/tunnel/Dockerfile "$context/tunnel/"
build traverse-tunnel:local "$context/tunnel"

mkdir "$context/runner"
cp "$binary" "$busybox" ci/images/runner/Dockerfile "$context/runner/"
cp -R scenarios "$context/runner/scenarios"
build traverse:local "$context/runner"
