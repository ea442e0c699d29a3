#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run the virtio-balloon-auto-fuzz libFuzzer target (a qemu-fuzz-x86_64
# built with --enable-fuzzing, see `make fuzz`) on the committed corpus,
# or minimise the corpus.  The corpus is one text file (CORPUS, one input
# per line in base64, scripts/fuzz-corpus.py), unpacked for libFuzzer
# into WORK_DIR/seed.
#
# Usage: fuzz.sh run FUZZ_BINARY CORPUS WORK_DIR
#        fuzz.sh merge FUZZ_BINARY CORPUS WORK_DIR
#
# run    fuzzes with CORPUS (read only) and WORK_DIR/corpus (new inputs go
#        there) for FUZZ_SECONDS seconds (default 60) or FUZZ_RUNS inputs
#        (if set; the first limit reached stops it), in FUZZ_JOBS processes
#        (default 1).  FUZZ_ARGS adds libFuzzer options.  Crashes, leaks,
#        timeouts and out-of-memory inputs are written to
#        WORK_DIR/artifacts/; the exit status is non-zero if there is one.
#        The last lines are the figures: inputs run, inputs per second,
#        coverage (cov: edges, ft: features), corpus size and crashes.
# merge  rewrites CORPUS with the smallest set of inputs from CORPUS and
#        WORK_DIR/corpus that keeps their coverage (libFuzzer -merge=1),
#        keeping the inputs CORPUS pins with a comment (reproducers).

set -euo pipefail

[ $# -eq 4 ] || { sed -n '4,25p' "$0" >&2; exit 2; }
mode=$1 bin=$2 corpus=$3 work=$4
target=virtio-balloon-auto-fuzz
[ -x "$bin" ] || { echo "fuzz: no fuzzer binary '$bin'" >&2; exit 1; }
[ -f "$corpus" ] || { echo "fuzz: no corpus file '$corpus'" >&2; exit 1; }
mkdir -p "$work/corpus" "$work/artifacts"
packer=$(dirname "$0")/fuzz-corpus.py
python3 "$packer" unpack "$corpus" "$work/seed"

# Every input ends with QEMU's state put back, so inputs are independent;
# 4 KiB holds a few hundred operations.  Leak detection is per input, and
# QEMU keeps allocations across inputs (event rate limiting, timers) by
# design: leaks are checked once at exit instead (ASan's LeakSanitizer).
common=(--fuzz-target=$target -max_len=4096 -timeout=10 -detect_leaks=0
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")

case $mode in
run)
    args=("${common[@]}" -max_total_time="${FUZZ_SECONDS:-60}")
    [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
    jobs=${FUZZ_JOBS:-1}
    [ "$jobs" -gt 1 ] && args+=(-jobs="$jobs" -workers="$jobs")
    log=$work/fuzz.log
    echo "fuzz: $bin ${args[*]} ${FUZZ_ARGS:-} $work/corpus $work/seed"
    # shellcheck disable=SC2086
    (cd "$work" && nice "$bin" "${args[@]}" ${FUZZ_ARGS:-} "$work/corpus" \
        "$work/seed") 2>&1 | tee "$log" | grep --line-buffered -E '^(#[0-9]+|INFO: (seed|Loaded)|==[0-9]+==|stat::|SUMMARY|Done)' || true
    [ "$jobs" -gt 1 ] && cat "$work"/fuzz-*.log >> "$log" 2>/dev/null
    crashes=$(find "$work/artifacts" -type f | wc -l)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    echo "fuzz: last status: ${last:-none}"
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
        "$log" | sed 's/^/fuzz: /' || true
    echo "fuzz: $(find "$work/corpus" -type f | wc -l) new inputs in" \
         "$work/corpus, $crashes crash(es) in $work/artifacts"
    [ "$crashes" -eq 0 ]
    ;;
merge)
    merged=$(mktemp -d "$work/merged.XXXXXX")
    nice "$bin" "${common[@]}" -merge=1 "$merged" "$work/seed" \
        "$work/corpus"
    python3 "$packer" pack "$merged" "$corpus"
    rm -rf "$merged"
    ;;
*)
    sed -n '4,25p' "$0" >&2
    exit 2
    ;;
esac
