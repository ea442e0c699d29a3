#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run the tests listed in a manifest against a QEMU build directory and
# close with one line "N passed, N failed[, N skipped]".  Every skipped
# test is listed with the reason it gave; each program's line ends with
# the seconds it took, and the close with the total.
#
# Manifest lines: KIND BINARY [FILTER]
#   KIND    qtest (needs QTEST_QEMU_BINARY) or unit: a GLib test program,
#           BINARY relative to the QEMU build directory, run there;
#           script: BINARY relative to this repository, run from its top
#           directory without arguments, printing TAP itself
#   FILTER  optional, not for scripts: only run test paths containing
#           this string
# A test program that reports no test or exits with a non-zero status
# counts as failed, and so does a script that reports fewer tests than
# its plan ("1..N").
# or: functional SCRIPT
#   SCRIPT  a tests/functional test (QEMU's qemu_test framework, TAP from
#           pycotap), relative to the source tree the build directory was
#           configured from; run with $PYTHON (default /usr/bin/python3,
#           which has Debian's pycotap) and AUTOBALLOON_GUEST_DIR from the
#           environment
#
# Each program or script is stopped, and fails, after
# AUTOBALLOON_TEST_TIMEOUT seconds (default 900).
#
# Usage: run-tests.sh QEMU_BUILD_DIR MANIFEST

set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
qbuild=$(cd "$1" && pwd)
manifest=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
logdir=$qbuild/autoballoon-test-logs
mkdir -p "$logdir"
limit=${AUTOBALLOON_TEST_TIMEOUT:-900}
if ! [[ $limit =~ ^[1-9][0-9]*$ ]]; then
    echo "run-tests: AUTOBALLOON_TEST_TIMEOUT must be a number of seconds," \
         "not '$limit'" >&2
    exit 2
fi

export QTEST_QEMU_BINARY=$qbuild/qemu-system-x86_64
export QTEST_QEMU_IMG=$qbuild/qemu-img
export G_TEST_DBUS_DAEMON=/bin/true
export MALLOC_PERTURB_=$((RANDOM % 255 + 1))
tree=$(sed -n 's/^SRC_PATH=//p' "$qbuild/config-host.mak" 2>/dev/null)

passed=0
failed=0
skipped=0
failures=()
skips=()

# run_functional SCRIPT: with the environment QEMU's functional test
# framework needs (it writes its logs under tests/functional/ in the
# build directory).
run_functional() {
    (cd "$qbuild" &&
     QEMU_TEST_QEMU_BINARY=$qbuild/qemu-system-x86_64 \
     QEMU_BUILD_ROOT=$qbuild \
     PYTHONPATH=$tree/python:$tree/tests/functional \
     PYTHONDONTWRITEBYTECODE=1 \
     timeout "$limit" "${PYTHON:-/usr/bin/python3}" "$tree/$1" < /dev/null)
}

run_one() {
    local kind=$1 bin=$2 filter=${3:-} log paths=() args=() rc dir plan
    local start=$SECONDS
    log=$logdir/$(basename "$bin").tap
    dir=$qbuild
    [ "$kind" = script ] && dir=$repo
    if [ "$kind" = functional ]; then
        if [ ! -f "$tree/$bin" ]; then
            failed=$((failed + 1))
            failures+=("$bin: not in the source tree '$tree'")
            return
        fi
    elif [ ! -x "$dir/$bin" ]; then
        failed=$((failed + 1))
        if [ "$kind" = script ]; then
            failures+=("$bin: missing or not executable")
        else
            failures+=("$bin: not built")
        fi
        return
    fi
    if [ -n "$filter" ]; then
        mapfile -t paths < <("$qbuild/$bin" -l 2>/dev/null | grep -F -- "$filter")
        if [ ${#paths[@]} -eq 0 ]; then
            failed=$((failed + 1))
            failures+=("$bin: no test matches '$filter'")
            return
        fi
        for p in "${paths[@]}"; do
            args+=(-p "$p")
        done
    fi
    echo "=== $kind $bin ${filter:+(only '$filter')}"
    if [ "$kind" = functional ]; then
        run_functional "$bin" > "$log" 2>&1
    elif [ "$kind" = script ]; then
        # Debian's python3 first: pycotap (TAP for Python tests) is
        # installed for it, not for another python3 earlier in PATH.
        (cd "$repo" && PATH=/usr/bin:$PATH timeout "$limit" "./$bin") \
            > "$log" 2>&1
    else
        (cd "$qbuild" && timeout "$limit" "./$bin" --tap -k "${args[@]}") \
            > "$log" 2>&1
    fi
    rc=$?
    local p=0 f=0 s=0 line
    while IFS= read -r line; do
        case "$line" in
        "not ok "*)
            f=$((f + 1)); failures+=("$bin: ${line#not ok }") ;;
        "ok "*"# SKIP"*|"ok "*"# skip"*)
            s=$((s + 1)); skips+=("$bin: ${line#ok }") ;;
        "ok "*)
            p=$((p + 1)) ;;
        esac
    done < "$log"
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/    /'
    echo "    ($((SECONDS - start)) s)"
    if [ $rc -ne 0 ] && [ $f -eq 0 ]; then
        f=1
        failures+=("$bin: exited with status $rc (see $log)")
    fi
    if [ $((p + f + s)) -eq 0 ]; then
        f=1
        failures+=("$bin: ran no test (see $log)")
    fi
    # Plans are checked for scripts and functional tests only: GLib's
    # are its own business.
    plan=$(sed -n 's/^1\.\.\([0-9]\+\).*/\1/p' "$log" | tail -n 1)
    if [ "$kind" != qtest ] && [ "$kind" != unit ] && [ -n "$plan" ] &&
       [ $((p + f + s)) -lt "$plan" ]; then
        failures+=("$bin: $((p + f + s)) of $plan tests ran (see $log)")
        f=$((f + 1))
    fi
    # A failure is diagnosed from CI's output alone: show the end of the
    # log (a functional test's traceback; its base.log is under
    # tests/functional/ in the build directory).
    if [ $f -gt 0 ]; then
        echo "    --- the last 40 lines of $log:"
        tail -n 40 "$log" | sed 's/^/    | /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

while read -r kind bin filter; do
    case "$kind" in
    ''|'#'*) continue ;;
    qtest|unit) run_one "$kind" "$bin" "$filter" ;;
    script)
        if [ -n "$filter" ]; then
            echo "run-tests: a script takes no filter: $kind $bin $filter" >&2
            exit 2
        fi
        run_one "$kind" "$bin" ;;
    functional) run_one "$kind" "$bin" ;;
    *) echo "run-tests: bad manifest line: $kind $bin" >&2; exit 2 ;;
    esac
done < "$manifest"

if [ ${#skips[@]} -gt 0 ]; then
    echo "Skipped:"
    printf '  %s\n' "${skips[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
    echo "Failed:"
    printf '  %s\n' "${failures[@]}"
fi
summary="$passed passed, $failed failed"
[ $skipped -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary ($SECONDS s)"
[ $failed -eq 0 ]
