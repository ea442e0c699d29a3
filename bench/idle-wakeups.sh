#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Wake-ups per second of an idle QEMU with automatic ballooning on a real
# (empty, so quiet) memcg, against the same QEMU with automatic=off.  The
# VM is stopped (-S) so that only the main loop and its timers and fd
# handlers can wake QEMU: the host pressure monitor must add none.
#
# Usage: idle-wakeups.sh QEMU [SECONDS]

set -euo pipefail
qemu=$1
secs=${2:-10}
memcg_root=/sys/fs/cgroup/memory

if [ "$(id -u)" != 0 ] || [ ! -e "$memcg_root/cgroup.event_control" ]; then
    echo "bench: idle-wakeups: SKIP: needs root and the cgroup v1 memory" \
         "controller (for a real pressure source)"
    exit 0
fi
memcg=$memcg_root/qemu-autoballoon-bench-$$
mkdir "$memcg"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rmdir "$memcg" 2>/dev/null || true
}
trap cleanup EXIT

# Sum of context switches over all threads of a process.
switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

measure() {
    local props=$1 a b
    "$qemu" -S -accel tcg -m 512 -nodefaults -display none \
        -device "virtio-balloon-pci$props" &
    pid=$!
    sleep 2
    a=$(switches "$pid")
    sleep "$secs"
    b=$(switches "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    awk -v a="$a" -v b="$b" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / s }'
}

off=$(measure "")
on=$(measure ",automatic=on,auto-source=$memcg")
echo "bench: idle wake-ups/s, automatic=off: $off"
echo "bench: idle wake-ups/s, automatic=on (vmpressure source): $on"
