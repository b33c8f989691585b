#!/usr/bin/env bash
# Wall time of the bundled run (median of N runs) and its slowest cells,
# the figures issue notes report. Usage: ci/bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  ./target/release/traverse run --quiet --json "$out/run$i.json" >/dev/null
  echo $(( ($(date +%s%N) - start) / 1000000 )) >>"$out/wall_ms"
done
echo "bundled run, $runs runs: median $(sort -n "$out/wall_ms" | sed -n "$(( (runs + 1) / 2 ))p") ms (all: $(sort -n "$out/wall_ms" | paste -sd' '))"
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
folder, runs = sys.argv[1], int(sys.argv[2])
cells = [c for i in range(1, runs + 1) for c in json.load(open(f"{folder}/run{i}.json"))["cells"]]
print(f"median cell: {statistics.median(c['duration_ms'] for c in cells)} ms")
for c in sorted(cells, key=lambda c: -c["duration_ms"])[:3]:
    print(f"slowest: {c['scenario']} x {c['tunnel']}: {c['duration_ms']} ms")
PY
