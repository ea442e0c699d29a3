#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of memload on the host, as TAP: bad command lines are refused, a
# short schedule prints the lines the benchmark parses, a child killed with
# SIGKILL is reported and replaced, SIGTERM stops parent and child.
#
# Usage: test-memload.sh [MEMLOAD]
#   MEMLOAD  the binary (default: $MEMLOAD, else build/memload)

set -u
memload=${1:-${MEMLOAD:-build/memload}}
tmp=$(mktemp -d)
bg_pid=''
cleanup() {
    [ -n "$bg_pid" ] && kill -KILL "$bg_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
# result OK DESCRIPTION [DIAGNOSTIC FILE]: one TAP line (and the file as
# "# " lines on failure).
result() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
        [ -n "${3:-}" ] && sed 's/^/# /' "$3"
    fi
}
# field LINE-REGEX NAME FILE: the NAME=value of the line matching LINE-REGEX
field() {
    grep -E "$1" "$3" | head -n 1 | sed -n "s/.* $2=\([0-9.]*\).*/\1/p"
}

# The child of PID (one at a time), waiting up to 5 s for one to exist.
child_of() {
    local tries=50 c

    while [ $tries -gt 0 ]; do
        c=$(pgrep -P "$1" | head -n 1)
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

if [ ! -x "$memload" ]; then
    echo "1..1"
    echo "not ok 1 - $memload is not built"
    exit 1
fi

# --- Bad command lines: exit 2 and a message -------------------------------
# Each entry is a command line in shell quoting.
bad_args=(
    ""                          # no PHASES at all
    "''"                        # empty phase list
    "10"                        # no SECONDS
    "10:0"                      # zero seconds
    "10:"                       # missing SECONDS
    ":5"                        # missing MiB
    "10:5,"                     # empty phase at the end
    "10:5,,20:5"                # empty phase in the middle
    "10:5x"                     # trailing garbage
    "'10:5 '"
    "10:5:1"                    # a third field
    "-5:1"                      # sign
    "+5:1"
    "0x10:1"                    # only decimal
    "1.5:1"
    "18446744073709551616:1"    # 2^64
    "1048577:1"                 # over 1 TiB
    "10:604801"                 # a phase over a week
    "-d x 1:1"
    "-d -1 1:1"
    "-d 604801 1:1"
    "-s 18446744073709551616 1:1"
    "-s '' 1:1"
    "-t '' 1:1"
    "-t 'a b' 1:1"
    "-t a-b 1:1"                # not one \w+ word
    "-q 1:1"                    # unknown option
    "-d"                        # option without its value
    "1:1 2:2"                   # two PHASES
)
args=()
for spec in "${bad_args[@]}"; do
    eval "args=($spec)"
    timeout 10 "$memload" "${args[@]}" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    { echo "exit status $rc"; cat "$tmp/out" "$tmp/err"; } > "$tmp/diag"
    [ $rc -eq 2 ] && grep -q '^memload: ' "$tmp/err" && [ ! -s "$tmp/out" ]
    result $? "refuses \"$spec\" (exit 2, message)" "$tmp/diag"
done
timeout 10 "$memload" -h > "$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^usage: memload" "$tmp/out"
result $? "-h prints the usage, exit 0" "$tmp/out"

# --- A short schedule ------------------------------------------------------
out=$tmp/schedule
timeout 30 "$memload" -t t -s 7 8:1,16:1,0:1 > "$out" 2>&1
rc=$?
r1=$(field '^t: phase 1/' records "$out")
r2=$(field '^t: phase 2/' records "$out")
r3=$(field '^t: phase 3/' records "$out")

schedule_lines() {
    local rec='records=[0-9]+ rate=[0-9]+ oom_kills=0'

    [ "$(wc -l < "$out")" = 5 ] &&
    grep -qx 't: start phases=3 delay=0s max=16 seed=7' "$out" &&
    grep -Eq "^t: phase 1/3 ws=8 secs=1 $rec\$" "$out" &&
    grep -Eq "^t: phase 2/3 ws=16 secs=1 $rec\$" "$out" &&
    grep -Eq "^t: phase 3/3 ws=0 secs=1 $rec\$" "$out" &&
    tail -n 1 "$out" |
        grep -Eq '^t: done records=[0-9]+ oom_kills=0 elapsed=[0-9]+\.[0-9]$'
}
schedule_records() {
    [ "${r1:-0}" -gt 0 ] && [ "${r2:-0}" -gt 0 ] && [ "$r3" = 0 ] &&
    [ "$(field '^t: phase 2/' rate "$out")" = "$r2" ] &&
    [ "$(field '^t: done' records "$out")" = $((r1 + r2 + r3)) ]
}
schedule_time() {
    awk -v e="$(field '^t: done' elapsed "$out")" \
        'BEGIN { exit !(e >= 3 && e < 4.5) }'
}
[ $rc -eq 0 ]
result $? "8:1,16:1,0:1 exits 0" "$out"
schedule_lines
result $? "start line, three phase lines, done line" "$out"
schedule_records
result $? "records > 0 with a working set, 0 without; rate; total" "$out"
schedule_time
result $? "the schedule takes 3 s" "$out"

# --- The child killed with SIGKILL in phase 1 ------------------------------
out=$tmp/kill
"$memload" -t k 16:4,8:2 > "$out" 2>&1 &
bg_pid=$!
child=$(child_of "$bg_pid")
sleep 1
[ -n "$child" ] && kill -KILL "$child"
sleep 1.5
child2=$(child_of "$bg_pid")
timeout 20 tail --pid="$bg_pid" -f /dev/null
wait "$bg_pid"
rc=$?
bg_pid=''

kill_lines() {
    local rec='records=[1-9][0-9]* rate=[0-9]+'

    grep -qx 'k: oom-killed phase=1' "$out" &&
    grep -Eq "^k: phase 1/2 ws=16 secs=4 $rec oom_kills=1\$" "$out" &&
    grep -Eq "^k: phase 2/2 ws=8 secs=2 $rec oom_kills=0\$" "$out" &&
    grep -Eq '^k: done records=[0-9]+ oom_kills=1 elapsed=' "$out"
}
[ -n "$child" ] && [ -n "$child2" ] && [ "$child" != "$child2" ]
result $? "a killed child is replaced" "$out"
[ $rc -eq 0 ] && kill_lines
result $? "oom-killed line, then the schedule goes on, exit 0" "$out"

# --- SIGTERM to the parent -------------------------------------------------
out=$tmp/term
"$memload" -t s 16:30 > "$out" 2>&1 &
bg_pid=$!
child=$(child_of "$bg_pid")
kill -TERM "$bg_pid" 2>/dev/null
timeout 10 tail --pid="$bg_pid" -f /dev/null
wait "$bg_pid"
rc=$?
bg_pid=''
[ $rc -eq 0 ] && [ "$(tail -n 1 "$out")" = "s: stopped" ] &&
    [ -n "$child" ] && [ ! -e "/proc/$child" ]
result $? "SIGTERM: stopped, exit 0, no child left" "$out"

echo "1..$n"
[ $failed -eq 0 ]
