#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Automatic ballooning demo: a Debian guest under TCG inside a memory
# cgroup (v1) with a limit, a host memory hog joins the same cgroup, the
# host starts reclaiming and swapping, and the balloon should inflate to
# give the guest's memory back to the host.  One table row per second
# shows the balloon target and actual size, the guest size, and what the
# cgroup holds in RAM and in swap.
#
# Usage (as root):  demo.sh [QEMU [FIRMWARE_DIR [GUEST_DIR]]]
# Defaults, relative to the repository: build/qemu-build/qemu-system-x86_64,
# build/qemu-build/pc-bios (bios-256k.bin, linuxboot_dma.bin; passed as -L),
# build/guest (vmlinuz, initramfs.cpio.gz from scripts/build-guest.sh).
# The same three can be given as QEMU, FIRMWARE_DIR and GUEST_DIR.
#
# Tunables (environment, sizes in MiB):
#   DEMO_SECONDS=60     rows of the table, one per second, from hog start
#   DEMO_MEM=1024       guest RAM
#   DEMO_FILL=600       guest workload: fill this much, hold, free, repeat
#   DEMO_LIMIT          memcg limit (default DEMO_MEM + 256)
#   DEMO_HOG=768        host hog size, allocated DEMO_HOG_STEP per second
#   DEMO_HOG_STEP=64
#   DEMO_SWAP=1024      size of the temporary swap file in /var/tmp
#   DEMO_MANUAL=1       no automatic properties (QEMU without the patches):
#                       the script itself sets `balloon`, DEMO_MANUAL_DELAY
#                       (15) s after the hog starts, to inflate by
#                       DEMO_MANUAL_BALLOON (512)
#   DEMO_AUTO_PROPS     device properties for automatic mode
#                       (default automatic=on,auto-source=<the memcg>)
#   DEMO_APPEND         more guest kernel parameters (e.g. init_on_alloc=0:
#                       Debian's default 1 zeroes each page the balloon
#                       takes, so inflating swaps in what the host had
#                       swapped out)
#   DEMO_LOGDIR         serial/QEMU logs and QMP sockets (build/demo)
#   DEMO_BOOT_TIMEOUT=120
#   PYTHON=/usr/bin/python3   (a pyenv shim would cost 0.5 s per start)

set -euo pipefail
# The state reader imports scripts/qmp.py: leave no __pycache__ behind.
export PYTHONDONTWRITEBYTECODE=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

QEMU=${1:-${QEMU:-$repo/build/qemu-build/qemu-system-x86_64}}
FIRMWARE_DIR=${2:-${FIRMWARE_DIR:-$repo/build/qemu-build/pc-bios}}
GUEST_DIR=${3:-${GUEST_DIR:-$repo/build/guest}}

SECONDS_TOTAL=${DEMO_SECONDS:-60}
MEM=${DEMO_MEM:-1024}
FILL=${DEMO_FILL:-600}
LIMIT=${DEMO_LIMIT:-$((MEM + 256))}
HOG=${DEMO_HOG:-768}
HOG_STEP=${DEMO_HOG_STEP:-64}
SWAP=${DEMO_SWAP:-1024}
MANUAL=${DEMO_MANUAL:-0}
MANUAL_BALLOON=${DEMO_MANUAL_BALLOON:-512}
MANUAL_DELAY=${DEMO_MANUAL_DELAY:-15}
LOGDIR=${DEMO_LOGDIR:-$repo/build/demo}
BOOT_TIMEOUT=${DEMO_BOOT_TIMEOUT:-120}
MEMCG_ROOT=/sys/fs/cgroup/memory
PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "demo: $*" >&2; exit 1; }
log() { echo "demo: $*"; }

# --- a. preconditions: say clearly what is missing, change nothing -----
[ "$(id -u)" = 0 ] ||
    die "must run as root (it creates a memory cgroup and a swap file)"
[ -f "$MEMCG_ROOT/cgroup.event_control" ] ||
    die "no cgroup v1 memory controller at $MEMCG_ROOT (vmpressure needs it)"
[ -x "$QEMU" ] || die "no QEMU binary at $QEMU (make build)"
for f in bios-256k.bin linuxboot_dma.bin; do
    [ -f "$FIRMWARE_DIR/$f" ] ||
        die "no $f in $FIRMWARE_DIR (scripts/install-firmware.sh)"
done
for f in vmlinuz initramfs.cpio.gz; do
    [ -f "$GUEST_DIR/$f" ] ||
        die "no $f in $GUEST_DIR (scripts/build-guest.sh $GUEST_DIR)"
done
for tool in "$PYTHON" mkswap swapon swapoff fallocate flock; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done

memcg=$MEMCG_ROOT/qemu-autoballoon-demo-$$
swapfile=/var/tmp/qemu-autoballoon-demo-$$.swap
mkdir -p "$LOGDIR"
# Two demos sharing LOGDIR would share the QMP sockets and the serial log
# (the second QEMU takes over the socket paths): one at a time per dir.
exec 9>"$LOGDIR/lock"
flock -n 9 || die "another demo is running with DEMO_LOGDIR=$LOGDIR" \
    "(wait for it, or give this one another DEMO_LOGDIR)"
# Two QMP monitors: one held open by the state reader, one for commands
# (a QMP socket serves one client at a time).
sock=$LOGDIR/qmp.sock
ctl_sock=$LOGDIR/qmp-ctl.sock
serial=$LOGDIR/serial.log
qemu_log=$LOGDIR/qemu.log
events_file=$LOGDIR/pressure-events
hog_file=$LOGDIR/hog-mib
rm -f "$sock" "$ctl_sock" "$serial" "$qemu_log" "$events_file" "$hog_file"

qemu_pid='' hog_pid='' watch_pid='' swap_on='' state_pid=''

# --- f. cleanup, whatever happened -----------------------------------------
# Stop every process we started and wait for it, so that the memcg is
# empty and nothing uses the swap file any more; then remove both.
stop() {   # stop PID: TERM, then KILL after 5 s
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    # Best effort from here on: one failing step must not skip the rest.
    set +eu
    stop "$hog_pid"
    stop "$qemu_pid"
    stop "$watch_pid"
    stop "$state_pid"
    if [ -d "$memcg" ]; then
        # Anything still inside (there should be nothing) goes back to
        # the root group, or rmdir would fail with EBUSY.
        while read -r pid; do
            echo "$pid" > "$MEMCG_ROOT/cgroup.procs" 2>/dev/null || true
        done < "$memcg/cgroup.procs"
        for i in $(seq 50); do
            rmdir "$memcg" 2>/dev/null && break
            sleep 0.1
        done
        [ -d "$memcg" ] && echo "demo: could not remove $memcg" >&2
    fi
    if [ -n "$swap_on" ]; then
        swapoff "$swapfile" || echo "demo: swapoff $swapfile failed" >&2
    fi
    rm -f "$swapfile" "$sock" "$ctl_sock"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A dead state reader must show as '-', not kill the script (and skip the
# cleanup) with SIGPIPE.
trap '' PIPE

# --- b. memcg with a limit, and swap so that the host swaps ------------
mkdir "$memcg"
echo $((LIMIT << 20)) > "$memcg/memory.limit_in_bytes"
log "memcg $memcg, limit $LIMIT MiB"

# fallocate is instant; some file systems refuse such swap files, then
# write the file out.
if ! { fallocate -l $((SWAP << 20)) "$swapfile" && chmod 600 "$swapfile" &&
       mkswap -q "$swapfile" && swapon "$swapfile"; } 2>/dev/null; then
    rm -f "$swapfile"
    dd if=/dev/zero of="$swapfile" bs=1M count="$SWAP" status=none
    chmod 600 "$swapfile"
    mkswap -q "$swapfile"
    swapon "$swapfile"
fi
swap_on=1
log "swap file $swapfile, $SWAP MiB"

# --- host pressure events, as an independent observer --------------------
# Outside the memcg, one eventfd per vmpressure level on the memcg; the
# kernel signals every level up to the current one, so "low" counts all
# events.  Counts go to a file that read_state reads.
"$PYTHON" - "$memcg" "$events_file" <<'PY' &
import os, select, sys
memcg, out = sys.argv[1], sys.argv[2]
levels = ("low", "medium", "critical")
plfd = os.open(os.path.join(memcg, "memory.pressure_level"), os.O_RDONLY)
efds = {}
for lvl in levels:
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    with open(os.path.join(memcg, "cgroup.event_control"), "w") as f:
        f.write(f"{efd} {plfd} {lvl}")
    efds[efd] = lvl
count = dict.fromkeys(levels, 0)
def dump():
    with open(out + ".tmp", "w") as f:
        f.write(" ".join(str(count[l]) for l in levels) + "\n")
    os.replace(out + ".tmp", out)
dump()
while True:
    for efd in select.select(list(efds), [], [])[0]:
        count[efds[efd]] += int.from_bytes(os.read(efd, 8), "little")
    dump()
PY
watch_pid=$!

# --- c. QEMU inside the memcg ---------------------------------------------
balloon_dev=virtio-balloon-pci,id=balloon0
if [ "$MANUAL" = 1 ]; then
    log "DEMO_MANUAL=1: no automatic mode, the script drives 'balloon'"
else
    balloon_dev=$balloon_dev,${DEMO_AUTO_PROPS:-automatic=on,auto-source=$memcg}
fi
append="console=ttyS0 panic=-1 demo.work=fill:$FILL demo.hold=20 demo.pause=10"
append="$append ${DEMO_APPEND:-}"
qemu_args=(
    -machine q35 -accel tcg -m "$MEM" -nodefaults -nographic -no-reboot
    -L "$FIRMWARE_DIR"
    -serial "file:$serial"
    -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initramfs.cpio.gz"
    -append "$append"
    -qmp "unix:$sock,server=on,wait=off"
    -qmp "unix:$ctl_sock,server=on,wait=off"
    -device "$balloon_dev"
)
# The subshell joins the memcg and then becomes QEMU, so every page QEMU
# touches is charged there from the start.
t_start=$EPOCHREALTIME
( echo "$BASHPID" > "$memcg/cgroup.procs"
  exec "$QEMU" "${qemu_args[@]}" ) </dev/null >"$qemu_log" 2>&1 &
qemu_pid=$!
log "QEMU pid $qemu_pid: -m $MEM, $balloon_dev"

qmp() { "$PYTHON" "$here/qmp.py" -w 10 "$ctl_sock" "$@"; }
mib_of() { echo $(($1 >> 20)); }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# --- d. wait for the guest, let it fill memory ---------------------------
wait_serial() {   # wait_serial PATTERN TIMEOUT
    local i
    for i in $(seq $(($2 * 10))); do
        grep -q "$1" "$serial" 2>/dev/null && return 0
        kill -0 "$qemu_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$qemu_pid" 2>/dev/null; then
        echo "demo: no '$1' from the guest after $2 s; QEMU log:" >&2
    else
        echo "demo: QEMU exited before '$1'; QEMU log:" >&2
    fi
    tail -n 20 "$qemu_log" >&2 || true
    echo "demo: serial log ($serial):" >&2
    tail -n 20 "$serial" >&2 || true
    return 1
}
wait_serial "GUEST READY" "$BOOT_TIMEOUT" || die "guest did not boot"
boot_time=$(elapsed "$t_start")
grep -a "GUEST READY" "$serial" | sed 's/^/guest: /'
log "guest ready ${boot_time}s after QEMU start"
grep -q "balloon=bound" "$serial" || die "the guest's balloon driver is not bound"

# One round of the guest workload touches FILL MiB of guest RAM; QEMU's
# resident memory (charged to the memcg) keeps it after the guest frees it.
wait_serial "fill: round 1: released" 120 || die "guest workload did not run"
ram_bytes=$((MEM << 20))

# --- e. state and table --------------------------------------------------
# The state reader: one long-lived process with one QMP connection, so a
# row costs a round trip, not a Python start.  Each input line asks for
# one reply line "TARGET GUEST" (bytes; '-' when unknown).
# TARGET is the balloon size automatic mode asks for, from
# query-auto-balloon (absent without the patches or in manual mode),
# GUEST is query-balloon's "actual" (the guest's memory size) and EVENTS
# the host pressure events QEMU counted, low/medium/critical.
# (The program goes in with -c: its stdin is the request pipe.)
state_reader=$(cat <<'PY'
import sys
sys.dont_write_bytecode = True      # no __pycache__ in scripts/
sys.path.insert(0, sys.argv[2])
from qmp import QMP, QMPError
q = QMP(sys.argv[1], wait=10, timeout=5)
for _ in sys.stdin:
    target = events = guest = "-"
    try:
        info = q.cmd("query-auto-balloon")
        ram = int(sys.argv[3])
        target = ram - info["target"]
        c = info["counters"]
        events = "%d/%d/%d" % (c["host-events-low"], c["host-events-medium"],
                               c["host-events-critical"])
        guest = "stats:%d,messages:%d,own-deflates:%d,deflates:%d" % (
            c["guest-stats"], c["guest-messages"], c["guest-deflates"],
            c["deflates"] + c["cancels"])
    except QMPError:
        pass
    print(target, q.cmd("query-balloon")["actual"], events, guest,
          flush=True)
PY
)
coproc STATE { "$PYTHON" -c "$state_reader" "$sock" "$here" "$ram_bytes" \
                   2>"$LOGDIR/state-reader.log"; }
# bash forgets these when the coprocess ends; the cleanup needs the pid
# shellcheck disable=SC2153 # STATE_PID is set by coproc
state_in=${STATE[1]} state_out=${STATE[0]} state_pid=$STATE_PID

# read_state: the one place that reads the balloon and the counters.
# Sets S_TARGET S_ACTUAL S_GUEST (MiB; target and actual are balloon
# sizes, guest = RAM - actual; '-' when unknown), S_USAGE S_SWAP (MiB,
# the memcg in RAM and in swap), S_HOG (MiB the hog has allocated) and
# S_EVENTS (host pressure events, low/medium/critical, as QEMU counted
# them; in manual mode as the script's own observer saw them) and
# S_GUEST_PRESSURE (what guest pressure QEMU saw and did, or -).
read_state() {
    local target=- guest=- events=- gp=- usage memsw
    if echo 2>/dev/null 1>&"$state_in"; then
        read -r -t 5 target guest events gp <&"$state_out" ||
            target=- guest=- events=- gp=-
    fi
    S_GUEST_PRESSURE=$gp
    if [ "$target" = - ] && [ "$MANUAL" = 1 ]; then
        target=$((manual_target << 20))
    fi
    if [ "$target" = - ]; then S_TARGET=-; else S_TARGET=$(mib_of "$target"); fi
    if [ -z "$guest" ] || [ "$guest" = - ]; then
        S_GUEST=- S_ACTUAL=-
    else
        S_GUEST=$(mib_of "$guest")
        S_ACTUAL=$(mib_of $((ram_bytes - guest)))
    fi
    usage=$(cat "$memcg/memory.usage_in_bytes")
    S_USAGE=$(mib_of "$usage")
    # memsw is RAM + swap; both are read separately, hence the clamp.
    if memsw=$(cat "$memcg/memory.memsw.usage_in_bytes" 2>/dev/null); then
        S_SWAP=$(mib_of $((memsw > usage ? memsw - usage : 0)))
    else
        S_SWAP=-
    fi
    S_HOG=$(cat "$hog_file" 2>/dev/null || echo -)
    if [ -n "$events" ] && [ "$events" != - ]; then
        S_EVENTS=$events
    else
        S_EVENTS=$(tr ' ' / < "$events_file" 2>/dev/null || echo -)
    fi
}

manual_target=0
read_state
log "guest filled once: memcg usage $S_USAGE MiB of $LIMIT MiB," \
    "guest size $S_GUEST MiB"

# The hog: anonymous memory, touched page by page, grown a step per
# second, then touched again every second so that it stays hot and the
# memcg has to reclaim (swap) QEMU's memory rather than the hog's.
( echo "$BASHPID" > "$memcg/cgroup.procs"
  exec "$PYTHON" - "$HOG" "$HOG_STEP" "$hog_file" <<'PY'
import os, sys, time
total, step, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
chunks = []
while True:
    have = sum(len(c) for c in chunks) >> 20
    if have < total:
        chunks.append(bytearray(min(step, total - have) << 20))
    for c in chunks:
        c[::4096] = b"\1" * len(range(0, len(c), 4096))
    # allocated (and touched) size, for the table
    with open(out + ".tmp", "w") as f:
        f.write(f"{sum(len(c) for c in chunks) >> 20}\n")
    os.replace(out + ".tmp", out)
    time.sleep(1)
PY
) &
hog_pid=$!
t0=$EPOCHREALTIME
log "host hog pid $hog_pid: $HOG MiB in $HOG_STEP MiB steps, in the memcg"

# Stand-in for the automatic mode: inflate once, by hand, after the
# pressure has had time to show.
manual_inflate() {
    manual_target=$MANUAL_BALLOON
    qmp balloon "{\"value\": $(((MEM - MANUAL_BALLOON) << 20))}" >/dev/null
    log "balloon: guest size set to $((MEM - MANUAL_BALLOON)) MiB" \
        "(balloon $MANUAL_BALLOON MiB) at t=$(elapsed "$t0")s"
}

printf '%6s %8s %8s %8s %8s %8s %8s  %s\n' time target actual guest memcg \
    swap hog "host events"
printf '%6s %8s %8s %8s %8s %8s %8s  %s\n' '(s)' '(MiB)' '(MiB)' '(MiB)' \
    '(MiB)' '(MiB)' '(MiB)' "(low/med/crit)"

# The target before the hog: "rose" means above this.
base_target=$S_TARGET
[ "$base_target" = - ] && base_target=0
max_target=$base_target t_target='' t_followed='' max_swap=0 max_usage=0
for ((i = 0; i < SECONDS_TOTAL; i++)); do
    # one row per second, on the second
    sleep "$(awk -v t="$t0" -v i="$i" -v now="$EPOCHREALTIME" \
        'BEGIN { d = t + i - now; printf "%.3f", (d > 0 ? d : 0) }')"
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        log "QEMU exited (see $qemu_log)"
        break
    fi
    if [ "$MANUAL" = 1 ] && [ "$i" = "$MANUAL_DELAY" ]; then
        manual_inflate
    fi
    read_state
    now=$(elapsed "$t0")
    printf '%6s %8s %8s %8s %8s %8s %8s  %s\n' "$now" "$S_TARGET" \
        "$S_ACTUAL" "$S_GUEST" "$S_USAGE" "$S_SWAP" "$S_HOG" "$S_EVENTS"

    # for the summary
    [ "$S_USAGE" -gt "$max_usage" ] && max_usage=$S_USAGE
    [ "$S_SWAP" != - ] && [ "$S_SWAP" -gt "$max_swap" ] && max_swap=$S_SWAP
    if [ "$S_TARGET" != - ]; then
        if [ "$S_TARGET" -gt "$max_target" ]; then
            max_target=$S_TARGET
            [ -z "$t_target" ] && t_target=$now
        fi
        # "followed": the guest first caught up with a raised target
        # (within 1 MiB); the target may also come down again when the
        # guest itself runs short of memory (guest pressure)
        if [ -z "$t_followed" ] && [ -n "$t_target" ] &&
           [ "$S_ACTUAL" != - ] && [ "$S_TARGET" -gt "$base_target" ] &&
           [ "$S_ACTUAL" -ge $((S_TARGET - 1)) ]; then
            t_followed=$now followed_size=$S_ACTUAL
        fi
    fi
done

# --- summary --------------------------------------------------------------
echo
log "summary ($([ "$MANUAL" = 1 ] && echo manual || echo automatic) mode):"
echo "  guest boot (QEMU start to GUEST READY): ${boot_time}s"
echo "  memcg: limit $LIMIT MiB, peak usage $max_usage MiB, peak swap $max_swap MiB"
echo "  host pressure events (low/medium/critical): $S_EVENTS"
if [ -n "$t_target" ]; then
    echo "  target rose: yes, from $base_target to $max_target MiB" \
         "(first rise seen at t=${t_target}s)"
else
    echo "  target rose: NO (stayed at $base_target MiB)"
fi
if [ -n "$t_followed" ]; then
    echo "  actual followed: yes, caught up at $followed_size MiB at" \
         "t=${t_followed}s ($(awk -v a="$t_followed" -v b="${t_target:-0}" \
              'BEGIN { printf "%.1f", a - b }')s after the first rise)"
else
    echo "  actual followed: NO (actual $S_ACTUAL MiB, target $S_TARGET MiB)"
fi
echo "  at the end: target $S_TARGET MiB, actual $S_ACTUAL MiB" \
     "(guest pressure: $S_GUEST_PRESSURE)"
echo "  logs: $serial $qemu_log"
