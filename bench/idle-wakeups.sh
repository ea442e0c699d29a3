#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Wake-ups per second of an idle QEMU with automatic ballooning on a real
# (empty, so quiet) memcg, against the same QEMU with automatic=off.  The
# VM is stopped (-S) so that only the main loop and its timers and fd
# handlers can wake QEMU: the host pressure monitor must add none, with
# either backend.
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
cg2_root=/sys/fs/cgroup/unified
cg2=
if [ -e "$cg2_root/memory.pressure" ]; then
    cg2=$cg2_root/qemu-autoballoon-bench-$$
    mkdir "$cg2"
fi
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rmdir "$memcg" 2>/dev/null || true
    [ -z "$cg2" ] || rmdir "$cg2" 2>/dev/null || true
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
if [ -n "$cg2" ]; then
    psi=$(measure ",automatic=on,auto-source=$cg2")
    echo "bench: idle wake-ups/s, automatic=on (PSI source): $psi"
else
    echo "bench: idle-wakeups: PSI: SKIP: no cgroup v2 with PSI at $cg2_root"
fi
# With the VM running, automatic mode also polls the guest's stats every
# auto-stats-interval seconds (5): one timer wake-up per interval.
