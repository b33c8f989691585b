#!/usr/bin/env bash
# Installs what the tests drive besides the project's own code: the real
# tunnel programs of the example definitions in tunnels/. Idempotent; on a
# machine that has them already it does nothing. Needs root (or sudo) and
# Debian's package registry.
set -euo pipefail

packages=()
command -v socat >/dev/null || packages+=(socat)

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "installing: ${packages[*]}" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
