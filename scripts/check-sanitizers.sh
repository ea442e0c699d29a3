#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run a test manifest (scripts/run-tests.sh) against a QEMU build
# configured with --enable-asan --enable-ubsan, with every sanitizer
# finding fatal: AddressSanitizer and UndefinedBehaviorSanitizer stop the
# process at the first report (halt_on_error, abort_on_error; the build
# also has -fno-sanitize-recover=undefined), LeakSanitizer checks every
# process at exit.
#
# Every instrumented process that gets this environment (the test
# programs, the QEMUs they start, the QEMUs of the functional tests)
# writes its reports to REPORTS/report.PID instead of stderr.  A finding
# fails the test it happened in; the reports are also collected here, so
# that one in a process whose exit status nobody checks (a QEMU a
# functional test shuts down, LeakSanitizer at exit) fails the run too.
# They are printed at the end.
#
# Settings, next to QEMU upstream's: its CI job for the fuzzers (ASan)
# sets fast_unwind_on_malloc=0 and a LeakSanitizer suppression file,
# scripts/oss-fuzz/lsan_suppressions.txt; tests/docker/test-debug runs
# `make check` with detect_leaks=0.  Here leaks are checked, with
# our own suppression file, scripts/sanitizers/lsan.supp: each entry is
# a leak of upstream QEMU code, narrowly matched, with the reason.
# fast_unwind_on_malloc=0: GLib is built without frame pointers, so the
# fast unwinder stops at g_malloc and allocation stacks would name no
# caller.
#
# Host memory: the real-guest tests put each QEMU in a memory cgroup
# sized for a plain QEMU.  ASan's quarantine of freed heap (256 MiB by
# default) fills at about 0.5 MiB/s under TCG, so an ASan QEMU outgrows
# that and the cgroup sees pressure before a test's hog starts.  With
# quarantine_size_mb=16 it stays 36 MiB above a plain QEMU (1 GiB guest,
# 70 s: 808 against 772 MiB charged); AUTOBALLOON_QEMU_EXTRA_MIB=128 makes
# that much more room in the cgroup for each QEMU a test starts
# (tests/functional/test_x86_64_virtio_balloon_auto.py).  64 was too
# little for two: with two 512 MiB guests the cgroup held 1178 of
# 1152 + 2 * 64 MiB before the test's hog started, above the 90 % high
# watermark, and the balloon inflated early; with 128, 1166 of 1408.
#
# Usage: check-sanitizers.sh QEMU_SANITIZER_BUILD_DIR MANIFEST
#   SANITIZER_REPORTS  the directory for the reports, emptied first
#                      (default: autoballoon-test-logs/sanitizers in the
#                      build directory); one per concurrent run

set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ne 2 ]; then
    echo "usage: $0 QEMU_SANITIZER_BUILD_DIR MANIFEST" >&2
    exit 2
fi
qbuild=$(cd "$1" && pwd) || exit 2

# Refuse a build without the sanitizers: it would pass for the wrong
# reason.
opts=$qbuild/meson-info/intro-buildoptions.json
if ! /usr/bin/python3 - "$opts" <<'EOF'
import json, sys
opts = {o['name']: o['value'] for o in json.load(open(sys.argv[1]))}
missing = [n for n in ('asan', 'ubsan') if opts.get(n) is not True]
if missing:
    sys.exit('check-sanitizers: %s not enabled in %s'
             % (', '.join(missing), sys.argv[1]))
EOF
then
    exit 2
fi

reports=${SANITIZER_REPORTS:-$qbuild/autoballoon-test-logs/sanitizers}
rm -rf "$reports"
mkdir -p "$reports"
# The QEMU that libvirtd runs as its own user writes its reports here too
chmod 1777 "$reports"

fatal="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="$fatal:detect_leaks=1:fast_unwind_on_malloc=0"
ASAN_OPTIONS+=":quarantine_size_mb=16"
ASAN_OPTIONS+=":log_path=$reports/report"
export LSAN_OPTIONS="suppressions=$repo/scripts/sanitizers/lsan.supp"
LSAN_OPTIONS+=":print_suppressions=0"
export UBSAN_OPTIONS="$fatal:log_path=$reports/report"
echo "ASAN_OPTIONS=$ASAN_OPTIONS"
echo "LSAN_OPTIONS=$LSAN_OPTIONS"
echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
export AUTOBALLOON_QEMU_EXTRA_MIB=128
echo "AUTOBALLOON_QEMU_EXTRA_MIB=$AUTOBALLOON_QEMU_EXTRA_MIB"
# The real-guest tests' growth phase, twice as long: with ASan a guest
# that grows while the host swaps sends its first pressure message about
# four times later (22 against 5 s)
# (tests/functional/test_x86_64_virtio_balloon_auto.py, TIME_FACTOR).
export AUTOBALLOON_TIME_FACTOR=2
echo "AUTOBALLOON_TIME_FACTOR=$AUTOBALLOON_TIME_FACTOR"
# Three times run-tests.sh's 900 s per program: with ASan a qtest case
# that fills 1 GiB of guest RAM takes about five times as long (14.3
# against 2.9 s for stats/full-healthy, mostly page faults and memset in
# qtest's memset buffers, which ASan maps afresh), and the 64 cases of
# virtio-balloon-auto-test outlasted 900 s.
export AUTOBALLOON_TEST_TIMEOUT=${AUTOBALLOON_TEST_TIMEOUT:-2700}
echo "AUTOBALLOON_TEST_TIMEOUT=$AUTOBALLOON_TEST_TIMEOUT"

start=$(date +%s)
"$repo/scripts/run-tests.sh" "$qbuild" "$2"
rc=$?
echo "Suite time: $(( $(date +%s) - start )) s"

# ASan says once per process that uses coroutines (ucontext) that it
# does not fully support swapcontext; QEMU tells it about every switch
# (CONFIG_ASAN_IFACE_FIBER), so that is no finding.  Anything else is.
swapcontext='WARNING: ASan doesn.t fully support makecontext/swapcontext'
mapfile -t found < <(find "$reports" -type f -exec \
                          grep -l -v -- "$swapcontext" {} + | sort)
if [ ${#found[@]} -gt 0 ]; then
    for f in "${found[@]}"; do
        echo "=== sanitizer report $f"
        cat "$f"
    done
    echo "${#found[@]} sanitizer report(s) in $reports"
    exit 1
fi
echo "No sanitizer report"
exit $rc
