#!/usr/bin/env bash
# Installs what the tests drive besides the project's own code: the real
# tunnel programs of the example definitions in tunnels/ and the real
# proxies the mocks are judged against. Idempotent; on a machine that has
# them already it does nothing. Needs root (or sudo) and Debian's package
# registry.
set -euo pipefail

packages=()
command -v socat >/dev/null || packages+=(socat)
command -v stunnel4 >/dev/null || packages+=(stunnel4)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || packages+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || packages+=(haproxy)
command -v squid >/dev/null || [ -x /usr/sbin/squid ] || packages+=(squid)
# The HTML report's test opens it in a real browser; fonts so that text
# renders in the screenshot (without recommends, chromium brings none).
command -v chromium >/dev/null || packages+=(chromium fonts-dejavu-core)
# The runner image's shell (ci/images/runner), which works out a Kubernetes
# Job's shard from its index: a static /bin/busybox for an image FROM scratch.
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || packages+=(busybox-static)

# websocat is not in Debian's packages: built from crates.io, pinned, without
# its OpenSSL feature (no libssl-dev needed; the example tunnel is plain ws).
# About a minute on two cores, once per machine.
if ! command -v websocat >/dev/null; then
  echo "installing: websocat (cargo install)" >&2
  cargo install websocat --locked --quiet --version 1.14.1 --no-default-features
fi

# python-socketio for the socketio example tunnel (tunnels/socketio.toml):
# its own virtual environment under target/, pinned, from PyPI, and a
# `traverse-socketio` command in its bin folder that runs the adapter.
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/socketio"
# aiohttp for the client half (3.14: 3.12 sent Proxy-Authorization on the
# first request of a kept-alive proxy connection only); uvicorn and
# websockets serve the server half (see the adapter for why not aiohttp
# there). The list is kept in the environment, so a change to it reinstalls.
requirements="python-socketio==5.11.4 python-engineio==4.15.1 aiohttp==3.14.5 uvicorn==0.54.0 websockets==17.4"
if [ ! -x "$venv/bin/traverse-socketio" ] || [ "$(cat "$venv/requirements" 2>/dev/null)" != "$requirements" ]; then
  echo "installing: python-socketio into target/socketio (pip)" >&2
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # one word per requirement
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
  printf '#!/bin/sh\nexec "%s/bin/python" "%s/tunnels/socketio/traverse_socketio.py" "$@"\n' \
    "$venv" "$root" > "$venv/bin/traverse-socketio"
  chmod +x "$venv/bin/traverse-socketio"
  echo "$requirements" > "$venv/requirements"
fi

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "installing: ${packages[*]}" >&2
# The tests start these programs themselves, on loopback ports of their
# own; the packages' services must not start and take port 80.
policy=/usr/sbin/policy-rc.d
added_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod +x "$policy"
  added_policy=yes
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
[ "$added_policy" = no ] || "${as_root[@]}" rm -f "$policy"
