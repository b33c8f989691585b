#!/usr/bin/env bash
# Wall time of the bundled run on the defaults and with one job per cell
# (median of N runs each), its slowest cells, the slowest cell with no
# deliberate wait (its scenario has no [probe] idle) and the slowest
# hixie-76 cell decided as a deadlock: the figures issue notes report.
# Usage: ci/bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cells=$(./target/release/traverse run --quiet --json "$out/plan.json" >/dev/null; python3 -c \
  'import json, sys; print(len(json.load(open(sys.argv[1]))["cells"]))' "$out/plan.json")
# The two settings alternate, so load from elsewhere falls on both alike.
for i in $(seq "$runs"); do
  for setting in defaults all; do
    flags=()
    [ "$setting" = all ] && flags=(--jobs "$cells")
    start=$(date +%s%N)
    ./target/release/traverse run --quiet "${flags[@]}" --json "$out/$setting$i.json" >/dev/null
    echo $(( ($(date +%s%N) - start) / 1000000 )) >>"$out/$setting.wall_ms"
  done
done
median() { sort -n "$1" | sed -n "$(( (runs + 1) / 2 ))p"; }
echo "bundled run ($cells cells), $runs runs each:"
echo "  defaults:        median $(median "$out/defaults.wall_ms") ms (all: $(sort -n "$out/defaults.wall_ms" | paste -sd' '))"
echo "  --jobs $cells:     median $(median "$out/all.wall_ms") ms (all: $(sort -n "$out/all.wall_ms" | paste -sd' '))"
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
folder, runs = sys.argv[1], int(sys.argv[2])
documents = [json.load(open(f"{folder}/defaults{i}.json")) for i in range(1, runs + 1)]
cells = [c for d in documents for c in d["cells"]]
# A deliberate wait is the probe's idle pause; the results show it with the
# scenario's client-side settings.
waits = {s["name"] for d in documents for s in d["scenarios"]
         if any(setting.startswith("idle") for setting in s["client"])}
print(f"  median cell: {statistics.median(c['duration_ms'] for c in cells)} ms")
for c in sorted(cells, key=lambda c: -c["duration_ms"])[:3]:
    print(f"  slowest: {c['scenario']} x {c['tunnel']}: {c['duration_ms']} ms")
no_wait = max((c for c in cells if c["scenario"] not in waits), key=lambda c: c["duration_ms"])
print(f"  slowest with no deliberate wait: {no_wait['scenario']} x {no_wait['tunnel']}: "
      f"{no_wait['duration_ms']} ms ({no_wait['category'] or 'pass'})")
deadlocks = [c for c in cells if c["tunnel"] == "hixie76"
             and c["detail"].startswith("no byte moved anywhere")]
if deadlocks:
    worst = max(deadlocks, key=lambda c: c["duration_ms"])
    print(f"  slowest hixie-76 deadlock: {worst['scenario']}: {worst['duration_ms']} ms "
          f"(median {statistics.median(c['duration_ms'] for c in deadlocks)} ms, {len(deadlocks)} cells)")
PY
