#!/usr/bin/env bash
# Memory of a long-running `traverse proxy`: drives N complete HTTP
# requests, each on its own connection, a few in parallel, through
# `transparent` and `legacy-forwarder` on loopback, and through HAProxy
# (mode http) as a peer measured in the same run, all in front of one
# origin (a second HAProxy answering 200 itself, keeping connections alive
# as real servers do). Prints each proxy's resident memory (VmRSS) and open
# descriptors at start, after 10% of the connections and at the end, and
# how many lines the live log printed. Not part of ci/test.sh.
# Usage: ci/bench-proxy-memory.sh [CONNECTIONS]   (default 100000)
# TRAVERSE=path/to/traverse skips the release build; PARALLEL (default 4)
# is how many connections are in flight at once.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-100000}
parallel=${PARALLEL:-4}
if [ -z "${TRAVERSE:-}" ]; then
  cargo build --release --quiet -p traverse
  TRAVERSE=./target/release/traverse
fi
command -v haproxy >/dev/null || { echo "haproxy is needed (ci/install.sh)" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port for HAProxy's configs (traverse binds port 0 itself).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
origin_port=$(free_port)
peer_port=$(free_port)
defaults="defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s"
cat >"$work/origin.cfg" <<EOF
$defaults
frontend origin
  bind 127.0.0.1:$origin_port
  http-request return status 200 content-type text/plain string "ok"
EOF
cat >"$work/peer.cfg" <<EOF
$defaults
frontend peer
  bind 127.0.0.1:$peer_port
  default_backend origin
backend origin
  server origin 127.0.0.1:$origin_port
EOF
haproxy -db -f "$work/origin.cfg" >"$work/origin.log" 2>&1 &
pids+=($!)

# The driver: N connections, PARALLEL at a time, each a GET read to the end
# of its declared body and closed by the client; every connection and the whole run have
# a deadline. It reads the proxy's memory itself at the three points.
cat >"$work/drive.py" <<'PY'
import asyncio, sys, time

host, port, pid, total, parallel = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
# What curl sends: no `Connection: close`, so the origin keeps its side
# open after answering, as it would for a browser.
REQUEST = b"GET / HTTP/1.1\r\nHost: origin.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"

def usage():
    rss = "?"
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = line.split()[1]
    import os
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return f"{int(rss) / 1024:7.1f} MB, {fds:6d} fds"

async def one():
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
            raise RuntimeError(head.split(b"\r\n")[0])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
    finally:
        writer.close()

async def main():
    print(f"  start        {usage()}", flush=True)
    done = failed = 0
    first_error = None
    tenth = max(1, total // 10)
    next_index = 0
    lock = asyncio.Lock()
    async def worker():
        nonlocal done, failed, next_index, first_error
        while True:
            async with lock:
                if next_index >= total:
                    return
                next_index += 1
            try:
                await asyncio.wait_for(one(), 10)
            except Exception as error:
                failed += 1
                first_error = first_error or repr(error)
            done += 1
            if done == tenth:
                print(f"  after {done:>6} {usage()}", flush=True)
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(parallel))), 1800)
    elapsed = time.monotonic() - started
    print(f"  after {done:>6} {usage()}  ({elapsed:.0f} s, {done / elapsed:.0f} conn/s, {failed} failed{': ' + first_error if first_error else ''})", flush=True)

asyncio.run(main())
PY

# Waits, at most 10 s, for a line matching $2 in file $1.
wait_for_line() {
  for _ in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no \"$2\" in $1:" >&2
  cat "$1" >&2
  exit 1
}

for kind in transparent legacy-forwarder; do
  log="$work/$kind.log"
  "$TRAVERSE" proxy "$kind" --listen 80=127.0.0.1:0 --upstream "127.0.0.1:$origin_port" \
    --certs "$work/certs-$kind" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_for_line "$log" "logical port 80 listens on"
  addr=$(sed -n 's/.*logical port 80 listens on \(.*\)$/\1/p' "$log")
  echo "traverse proxy $kind ($addr), $connections connections, $parallel in parallel:"
  python3 "$work/drive.py" "${addr%:*}" "${addr##*:}" "$pid" "$connections" "$parallel"
  echo "  live log: $(grep -c ' conn ' "$log") lines, the highest conn $(grep -o 'conn [0-9]*' "$log" | cut -d' ' -f2 | sort -n | tail -1)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done

haproxy -db -f "$work/peer.cfg" >"$work/peer.log" 2>&1 &
pid=$!
pids+=("$pid")
wait_for_line /proc/net/tcp "$(printf ':%04X' "$peer_port")"
echo "haproxy $(haproxy -v | head -1 | cut -d' ' -f3) (127.0.0.1:$peer_port), $connections connections, $parallel in parallel:"
python3 "$work/drive.py" 127.0.0.1 "$peer_port" "$pid" "$connections" "$parallel"
