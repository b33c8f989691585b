#!/usr/bin/env bash
# Verdicts under load: the bundled matrix RUNS times (20) with --jobs 64
# while LOOPS busy loops (4) oversubscribe the cores. Counts the cells whose
# verdict, category or blame differ from a first run without the loops
# (the reference), and of those the
# ones that went to `harness` (the harness said it was starved) and the
# ones blamed on a node, and exits 1 unless every flip is the harness's:
# a starved harness may give up on a cell, never blame a hop for it. Also prints the longest gap between two moves
# within a probe step that succeeded (from TRAVERSE_LOG=traverse_runner=debug),
# which the deadlock detector's quiet period (QUIET in
# crates/traverse-runner/src/cell.rs) must stay well above.
# STEP_TIMEOUT (default 2s, the product's) is passed as --step-timeout: a
# longer one leaves out the cells whose 1 MiB echo outlasts it on a loaded
# machine, which no deadlock detection is involved in.
# Usage: [STEP_TIMEOUT=D] ci/oversubscribe.sh [RUNS] [LOOPS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
loops=${2:-4}
step_timeout=${STEP_TIMEOUT:-2s}
cargo build --release --quiet
out=$(mktemp -d)
busy=()
stop() {
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out"
}
trap stop EXIT
trap 'exit 130' INT TERM
run() {
  # Exit 1 (a cell not as expected) is a figure here, not a reason to stop.
  TRAVERSE_LOG=traverse_runner=debug ./target/release/traverse run --quiet --jobs "${2:-64}" \
    --step-timeout "$step_timeout" --json "$out/run$1.json" >/dev/null 2>"$out/log$1" || [ $? -eq 1 ]
}
# The reference: the same matrix before the loops, at a --jobs low enough
# (REF_JOBS, 4) that it holds on a machine that is not quite idle.
run 0 "${REF_JOBS:-4}"
for _ in $(seq "$loops"); do
  # Bounded on its own too: an hour, should the trap never run.
  timeout 3600 sh -c 'while :; do :; done' &
  busy+=($!)
done
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  run "$i"
  echo "run $i: $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
python3 - "$out" "$runs" <<'PY'
import json, re, sys
folder, runs = sys.argv[1], int(sys.argv[2])
def key(cell):
    return (cell["verdict"], cell["category"], cell["blame"])
first = {(c["scenario"], c["tunnel"]): c for c in json.load(open(f"{folder}/run0.json"))["cells"]}
# A cell the reference itself could not judge (the machine was busy) has no
# verdict to flip from: it is left out, and counted.
unjudged = sorted(k for k, c in first.items() if c["category"] == "harness")
flips, unexpected = [], 0
for i in range(1, runs + 1):
    for c in json.load(open(f"{folder}/run{i}.json"))["cells"]:
        unexpected += c["expected"] is not None and c["expected"] != c["verdict"]
        was = first[(c["scenario"], c["tunnel"])]
        if was["category"] == "harness":
            continue
        if key(c) != key(was):
            flips.append(f"run {i}: {c['scenario']} x {c['tunnel']}: {key(was)} -> {key(c)}: {c['detail']}")
gaps = []
step = re.compile(r'step=(.*?) longest_gap_us=(\d+) ok=true')
for i in range(1, runs + 1):
    for line in open(f"{folder}/log{i}", errors="replace"):
        match = step.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if match:
            gaps.append((int(match.group(2)), match.group(1)))
gaps.sort()
if gaps:
    top, where = gaps[-1]
    p99 = gaps[int(len(gaps) * 0.99)][0]
    print(f"longest gap within a successful step: {top / 1000:.1f} ms ({where}); "
          f"99th percentile {p99 / 1000:.1f} ms over {len(gaps)} steps")
# How late the harness ran in each cell (the runner's "cell lateness"
# debug line), to show beside a flip blamed on a node.
lateness = {}
late_line = re.compile(r'cell lateness scenario=(\S+) tunnel=(\S+) worst_ms=(\d+) total_ms=(\d+) waited_ms=(\d+) span_ms=(\d+)')
for i in range(1, runs + 1):
    for line in open(f"{folder}/log{i}", errors="replace"):
        match = late_line.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if match:
            scenario, tunnel, *figures = match.groups()
            lateness[(i, scenario, tunnel)] = figures
for line in flips:
    print(line)
    if " -> ('fail', 'harness', 'harness')" not in line:
        run, cell = line.split(": ", 2)[0:2]
        i = int(run.split()[1])
        name, _, tunnel = cell.partition(" x ")
        figures = lateness.get((i, name, tunnel))
        if figures:
            worst, total, waited, span = figures
            print(f"    the harness ran up to {worst} ms late, {total} ms in all, "
                  f"its threads waited {waited} ms for a CPU, over {span} ms")
# How the bundled deadlocks were decided under load: early (stillness) or
# by the step timeout, which the detector leaves to decide when the
# harness's runtime never goes idle.
early = late = 0
slowest = 0
for i in range(1, runs + 1):
    for c in json.load(open(f"{folder}/run{i}.json"))["cells"]:
        if c["tunnel"] == "hixie76" and c["category"] == "timeout" and c["status"] is None:
            if c["detail"].startswith("no byte moved anywhere"):
                early += 1
                slowest = max(slowest, c["duration_ms"])
            else:
                late += 1
print(f"hixie-76 deadlocks decided by stillness: {early} (slowest {slowest} ms); "
      f"by the step timeout: {late}")
print(f"cells the reference run could not judge (left out): {len(unjudged)} {unjudged}")
print(f"cells not as expected in runs 1..{runs}: {unexpected}")
print(f"cells whose verdict, category or blame differ from the unloaded run: {len(flips)}")
to_harness = sum(" -> ('fail', 'harness', 'harness')" in line for line in flips)
print(f"  of which the harness's (starved): {to_harness}; blamed on a node or passing: {len(flips) - to_harness}")
sys.exit(1 if len(flips) > to_harness else 0)
PY
