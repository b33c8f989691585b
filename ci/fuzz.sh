#!/usr/bin/env bash
# Fuzzes every parser of fuzz/ (cargo-fuzz, libFuzzer) for a bounded time
# each, on the nightly toolchain, and prints per target the executions, the
# crashes and the corpus size. Not part of ci/test.sh: it is a measurement.
#
#   ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#
# Each target starts from its kept corpus (fuzz/corpus/TARGET, minimised
# inputs found before, also run by `cargo test`) plus the project's own
# files: scenarios/, tunnels/, the invalid-scenario corpus and the results
# snapshot. It runs on a scratch copy under fuzz/work/, so the kept corpus
# changes only when asked: FUZZ_KEEP=1 minimises what the run found
# (`cargo fuzz cmin`) and replaces fuzz/corpus/TARGET with it.
# A crash leaves its input in fuzz/work/TARGET/artifacts/; the exit status
# is 1 if any target crashed or failed to run.
set -euo pipefail

seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# The workspace forbids unsafe code, so AddressSanitizer has nothing of
# ours to find and would halve the executions; debug assertions stay on,
# so an arithmetic overflow is a crash.
flags=(--sanitizer none --debug-assertions)
cargo +nightly fuzz build "${flags[@]}"

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# seeds TARGET FOLDER: copies the project's own inputs for TARGET into FOLDER.
seeds() {
    local target=$1 folder=$2
    case $target in
        scenario)
            cp "$root"/scenarios/*.toml "$root"/crates/traverse-scenario/tests/invalid/*.toml "$folder"/
            ;;
        tunnel)
            cp "$root"/tunnels/*.toml "$folder"/
            ;;
        scenario_file)
            cp "$root"/scenarios/*.toml "$root"/tunnels/*.toml "$folder"/
            ;;
        results)
            # The snapshot of `run --json`, without insta's header, and the
            # same results as the stream a run writes as it goes.
            local snapshot=$root/crates/traverse-report/src/snapshots/traverse_report__json__tests__snapshot.snap
            awk 'seen >= 2 { print } /^---$/ { seen++ }' "$snapshot" >"$folder/snapshot.json"
            python3 - "$folder/snapshot.json" "$folder/snapshot.partial.jsonl" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    header = {"traverse_results_stream": report["version"], "time_scale": report["time_scale"],
              "scenarios": report.get("scenarios", []), "planned": len(report["cells"])}
    out.write(json.dumps(header) + "\n")
    for cell in report["cells"]:
        out.write(json.dumps(cell) + "\n")
EOF
            ;;
    esac
}

# keep TARGET WORK: replaces fuzz/corpus/TARGET with WORK's corpus,
# minimised, then cut to FUZZ_KEEP_MAX files (300) by name (libFuzzer names
# inputs by their SHA-1, so that is a random sample); inputs kept by name
# (a crash found and fixed, a seed) stay whatever the minimiser thinks.
keep() {
    local target=$1 work=$2 kept=$root/fuzz/corpus/$1
    cargo +nightly fuzz cmin "${flags[@]}" "$target" "$work/corpus" >>"$work/log" 2>&1
    mkdir -p "$work/named" "$kept"
    find "$kept" -maxdepth 1 -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$work/named/" \;
    rm -rf "$kept"
    mkdir -p "$kept"
    find "$work/corpus" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' | sort |
        head -n "${FUZZ_KEEP_MAX:-300}" | xargs -r cp -t "$kept"
    cp "$work/named"/. "$kept/" -r
}

# The scenario_file target writes each input to a file, as the loaders
# read them: in memory where the machine has it, removed at the end.
files=$(mktemp -d /dev/shm/traverse-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$files"' EXIT
export TRAVERSE_FUZZ_DIR=$files

status=0
summary=()
for target in "${targets[@]}"; do
    work=$root/fuzz/work/$target
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [[ -d $root/fuzz/corpus/$target ]]; then
        cp "$root/fuzz/corpus/$target"/. "$work/corpus/" -r
    fi
    seeds "$target" "$work/corpus"
    echo "== $target: ${seconds} s from $(find "$work/corpus" -type f | wc -l) inputs"
    # The outer timeout bounds a target that hangs before libFuzzer's own
    # clock starts; -timeout makes one slow input a crash, not a stall.
    rc=0
    timeout --kill-after=10 $((seconds + 300)) \
        cargo +nightly fuzz run "${flags[@]}" "$target" "$work/corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" >"$work/log" 2>&1 || rc=$?
    executions=$(awk '/stat::number_of_executed_units/ { print $2 }' "$work/log" | tail -n 1)
    crashes=$(find "$work/artifacts" -type f | wc -l)
    if ((rc != 0 || crashes > 0)); then
        status=1
        tail -n 30 "$work/log"
    fi
    if [[ ${FUZZ_KEEP:-0} == 1 && $rc == 0 ]]; then
        keep "$target" "$work"
    fi
    corpus=$(find "$work/corpus" -type f | wc -l)
    summary+=("$(printf '%-18s %12s executions %3d crashes %6d corpus (exit %d)' \
        "$target" "${executions:-?}" "$crashes" "$corpus" "$rc")")
done

echo
printf '%s\n' "${summary[@]}"
exit "$status"
