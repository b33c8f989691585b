#!/usr/bin/env bash
# What each transport costs on the direct path: the median cell time of
# every built-in tunnel over COPIES copies of scenarios/direct.toml, one
# cell at a time (--jobs 1), in one release run, with each median's ratio
# to ws's (and to wss's for the TLS ones). Long-polling costs a request
# per batch of messages, and the ratio shows it. TUNNELS, a list of tunnel
# names, runs those instead of every built-in one (ws and wss are added for
# the ratios): TUNNELS="ws+fragment=1000 ws+text" for the cost of features.
# Usage: [TUNNELS="..."] ci/bench-transports.sh [COPIES]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-20}
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq "$copies"); do
  sed "s/^description = .*/description = \"direct, copy $i\"/" scenarios/direct.toml > "$out/direct-$i.toml"
done
selected=()
if [ -n "${TUNNELS:-}" ]; then
  for tunnel in ws wss $TUNNELS; do selected+=(--tunnel "$tunnel"); done
fi
./target/release/traverse run --quiet --jobs 1 "${selected[@]}" --json "$out/results.json" "$out" \
  >/dev/null || [ $? -eq 1 ]
python3 - "$out/results.json" <<'PY'
import json, statistics, sys
cells = json.load(open(sys.argv[1]))["cells"]
times = {}
for cell in cells:
    if cell["verdict"] == "pass":
        times.setdefault(cell["tunnel"], []).append(cell["duration_ms"])
median = {tunnel: statistics.median(ms) for tunnel, ms in times.items()}
print(f"{'tunnel':24} {'cells':>5} {'median ms':>10} {'/ ws':>6} {'/ wss':>6}")
for tunnel, ms in times.items():
    print(f"{tunnel:24} {len(ms):5} {median[tunnel]:10.1f} "
          f"{median[tunnel] / median['ws']:6.2f} {median[tunnel] / median['wss']:6.2f}")
PY
