#!/usr/bin/env bash
# Wall time of `traverse merge` (4 shards) and `traverse compare` (old ×
# new) on generated results of N cells (scenarios × 10 tunnels), for each
# N given: the figures that show both stay linear in cells. Not part of
# ci/test.sh. Usage: ci/bench-merge.sh [N ...]   (default 10000 100000 1000000)
# TRAVERSE=path/to/traverse skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TRAVERSE:-}" ]; then
  cargo build --release --quiet -p traverse
  TRAVERSE=./target/release/traverse
fi
[ "$#" -gt 0 ] || set -- 10000 100000 1000000
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for cells in "$@"; do
  python3 - "$out" "$cells" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
tunnels = [f"t{i}" for i in range(10)]
scenarios = [f"s{i}" for i in range((n + len(tunnels) - 1) // len(tunnels))]
def path(name):
    return {"name": name, "weight": 1.0, "hops": [], "origin_certificate": "public"}
def cell(index, flip):
    scenario, tunnel = scenarios[index // len(tunnels)], tunnels[index % len(tunnels)]
    passed = (index % 7 != 0) != flip
    return {"cell": index, "scenario": scenario, "tunnel": tunnel,
            "verdict": "pass" if passed else "fail", "expected": None,
            "category": None if passed else "reset", "status": None,
            "blame": None if passed else "origin", "detail": "" if passed else "reset",
            "duration_ms": 1, "weight": 1.0, "poisonable": None, "logs": []}
def document(cells):
    names = sorted({c["scenario"] for c in cells}, key=lambda s: int(s[1:]))
    summary = {"cells": len(cells), "passed": 0, "failed": 0, "unexpected": 0, "tunnels": {}}
    return {"version": 1, "time_scale": 0.01, "scenarios": [path(s) for s in names],
            "cells": cells, "summary": summary}
old = [cell(i, False) for i in range(n)]
new = [cell(i, i % 1000 == 1) for i in range(n)]
json.dump(document(old), open(f"{out}/old.json", "w"))
json.dump(document(new), open(f"{out}/new.json", "w"))
for shard in range(4):
    json.dump(document(old[shard::4]), open(f"{out}/shard{shard}.json", "w"))
PY
  start=$(date +%s%N)
  "$TRAVERSE" merge "$out"/shard{0,1,2,3}.json --json "$out/merged.json" >/dev/null
  merge_ms=$(ms "$start")
  start=$(date +%s%N)
  # A regression is planted, so compare exits 1; 2 would be a refusal.
  status=0
  "$TRAVERSE" compare "$out/old.json" "$out/new.json" >/dev/null || status=$?
  compare_ms=$(ms "$start")
  [ "$status" = 1 ] || { echo "compare exited $status, not 1" >&2; exit 1; }
  echo "$cells cells: merge of 4 shards ${merge_ms} ms, compare ${compare_ms} ms"
  rm -f "$out"/*.json
done
