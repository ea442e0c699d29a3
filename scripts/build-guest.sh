#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the demo/test guest from Debian 12 packages: the cloud kernel (its
# virtio drivers are modules, so we also learn which ones the stock balloon
# needs) and busybox-static, packed into a small initramfs whose /init runs
# a memory workload chosen on the kernel command line.  The benchmark's
# workload, memload (bench/workload), is built here too, static, and goes
# into the initramfs as /bin/memload.  The companion virtio_balloon driver
# (patches/linux, built by scripts/build-guest-module.sh against Debian's
# linux-headers and linux-source of the same kernel) goes in beside the
# stock module; the kernel command line picks one.
#
# Usage: [GUEST_KERNEL=6.1|6.12] build-guest.sh OUTDIR
# GUEST_KERNEL picks the kernel series (default 6.1, what `make guest` and
# `make check` use): 6.1 is the 6.1 ABI package Debian 12's
# linux-image-cloud-amd64 depends on; 6.12 is the cloud kernel of the
# candidate linux-source-6.12 (bookworm-security, 6.12.117-1~deb12u1 when
# this was written), whose companion module is built from
# patches/linux/6.12.  For 6.12 the headers, kbuild and source packages
# are downloaded (checked like the others) and unpacked here, not
# installed: Debian's 6.12 headers depend on the kernel image package.
# Produces OUTDIR/vmlinuz, OUTDIR/initramfs.cpio.gz, OUTDIR/memload (the
# same binary, for the host's memory hog) and OUTDIR/guest-info (package
# versions and modules).  Downloads are cached in OUTDIR/debs and checked
# against apt's (signed) package index, so a re-run with the same package
# versions, the same memload and the same script only checks and exits.
#
# Guest kernel command line (see the /init below):
#   demo.work=idle | fill:MiB | memload     workload (default idle)
#   demo.hold=S demo.pause=S    fill: hold the memory S s (0, the default:
#                               for ever), free it, pause S s, repeat
#   demo.loops=N                fill: N rounds, 0 = for ever (default)
#   demo.phases=MiB:S,...       memload: its schedule (required)
#   demo.delay=S                memload: wait S s first (default 0)
#   demo.seed=N                 memload: its seed (default: time and pid)
#   demo.report=S               print guest free memory every S s
#   demo.memdump=S,...          at each of these seconds of uptime, print
#                               /proc/meminfo, /proc/vmstat, the
#                               watermarks and per-cpu page lists
#                               (cpu, count, high, batch) of
#                               /proc/zoneinfo,
#                               /proc/buddyinfo and vm.min_free_kbytes,
#                               each line prefixed
#                               "memdump: t=UPTIME FILE: " (UPTIME as
#                               /proc/uptime says; default: none)
#   demo.cache=MiB              before "GUEST READY", read MiB of
#                               demo.cachedev into the page cache (0, the
#                               default: nothing), as a guest that has
#                               read files holds them in memory
#   demo.cachedev=DEV           that disk (default /dev/vdb)
#   autoballoon.driver=stock | companion
#                               which virtio_balloon to load (default
#                               stock); the console's "GUEST READY" line
#                               says which one is bound (balloon-driver=)
# memload runs once, in the foreground; its lines ("memload: phase ...")
# and, without "quiet", the kernel's OOM-killer messages are on the
# console.

set -euo pipefail

die() { echo "build-guest: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
workload=$(cd "$(dirname "$0")/../bench/workload" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
debs=$out/debs

# Virtio-pci transport plus the balloon driver, and virtio-blk for a data
# disk to fill the page cache from (demo.cache); their dependencies are
# found from the modules themselves.
WANTED_MODULES="virtio_pci virtio_balloon virtio_blk"

for tool in apt-cache apt-get dpkg-deb cpio gzip sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done

# field PKG FIELD: a field of the candidate version's index entry.
field() {
    apt-cache show --no-all-versions "$1" 2>/dev/null |
        sed -n "s/^$2: //p" | head -n 1
}

series=${GUEST_KERNEL:-6.1}
case "$series" in
6.1)
    # The meta package follows Debian 12's current cloud kernel; take the
    # 6.1 ABI package it depends on (not a backports kernel).
    kpkg=$(field linux-image-cloud-amd64 Depends | tr ',|' '\n' |
           sed 's/^ *//; s/ .*//' |
           grep -m1 '^linux-image-6\.1\..*-cloud-amd64$' || true)
    [ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 to a" \
        "linux-image-6.1.*-cloud-amd64 package (run apt-get update?)"
    ;;
6.12)
    # No meta package points at Debian 12's 6.12 kernels; the candidate
    # linux-source-6.12 names the version, the image of that version is
    # linux-image-UPSTREAM+deb12-cloud-amd64.
    sver=$(field linux-source-6.12 Version)
    [ -n "$sver" ] || die "no candidate for linux-source-6.12" \
        "(bookworm-security; run apt-get update?)"
    kpkg=linux-image-${sver%%-*}+deb12-cloud-amd64
    [ "$(field "$kpkg" Version)" = "$sver" ] ||
        die "no $kpkg $sver for linux-source-6.12 $sver"
    ;;
*) die "GUEST_KERNEL=$series: 6.1 or 6.12" ;;
esac
kver=$(field "$kpkg" Version)
bver=$(field busybox-static Version)
if [ -z "$kver" ] || [ -z "$bver" ]; then
    die "no candidate for $kpkg or busybox-static"
fi

# Everything that decides the output; equal stamp and outputs present
# means there is nothing to do.
stamp="series=$series kernel=$kpkg=$kver busybox-static=$bver"
stamp="$stamp modules=$WANTED_MODULES"
stamp="$stamp script=$(sha256sum "$0" | cut -d' ' -f1)"
memload_sum=$(cat "$workload/memload.c" "$workload/build-memload.sh" |
              sha256sum | cut -d' ' -f1)
stamp="$stamp memload=$memload_sum"
companion_sum=$(cd "$(dirname "$0")/.." &&
                cat scripts/build-guest-module.sh patches/linux/series \
                    patches/linux/*.patch patches/linux/*/series \
                    patches/linux/*/*.patch | sha256sum | cut -d' ' -f1)
stamp="$stamp companion=$companion_sum"
if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] &&
   [ -f "$out/memload" ] &&
   [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "build-guest: $out is up to date ($kpkg $kver, busybox $bver)"
    exit 0
fi

# fetch PKG VERSION: print the path of the verified .deb in the cache.
# apt-get download checks the hash against the signed index; a cached
# file is checked against the same index entry.
fetch() {
    local pkg=$1 ver=$2 sum deb tmp
    sum=$(apt-cache show "$pkg=$ver" | sed -n 's/^SHA256: //p' | head -n 1)
    [ -n "$sum" ] || die "no SHA256 for $pkg=$ver in the apt index"
    for deb in "$debs/${pkg}_"*.deb; do
        [ -f "$deb" ] || continue
        if [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sum" ]; then
            echo "$deb"
            return
        fi
    done
    mkdir -p "$debs"
    tmp=$(mktemp -d "$debs/.dl.XXXXXX")
    # apt drops root to _apt for downloads; let it write there.
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$tmp"
    fi
    (cd "$tmp" && apt-get -q download "$pkg=$ver" >&2) ||
        { rm -rf "$tmp"; die "apt-get download $pkg=$ver failed"; }
    rm -f "$debs/${pkg}_"*.deb      # older versions
    mv "$tmp"/*.deb "$debs/"
    rmdir "$tmp"
    deb=$(ls "$debs/${pkg}_"*.deb)
    [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sum" ] ||
        die "$deb does not match the apt index"
    echo "$deb"
}

echo "build-guest: $kpkg $kver, busybox-static $bver"
kdeb=$(fetch "$kpkg" "$kver")
bdeb=$(fetch busybox-static "$bver")

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bdeb" "$work/busybox"

uname_r=${kpkg#linux-image-}
kmods=$work/kernel/lib/modules/$uname_r
[ -f "$work/kernel/boot/vmlinuz-$uname_r" ] || die "$kpkg has no vmlinuz"
[ -d "$kmods" ] || die "$kpkg has no lib/modules/$uname_r"
bb=$work/busybox/bin/busybox
[ -x "$bb" ] || die "busybox-static has no bin/busybox"

root=$work/root
mkdir -p "$root/bin" "$root/lib/modules/$uname_r" "$root/etc"
cp "$bb" "$root/bin/busybox"
"$workload/build-memload.sh" "$work/memload"
cp "$work/memload" "$root/bin/memload"

# Copy a module and, first, the modules it depends on (its modinfo
# "depends=" field).  A wanted name that is not a module file must be
# built into this kernel (modules.builtin), else we cannot go on.
copied=" "
add_module() {
    local name=$1 ko dst deps dep
    case "$copied" in *" $name "*) return ;; esac
    # Debian 12 ships plain .ko; later kernels compress them (.ko.xz,
    # .ko.zst).  Busybox insmod may not read those, so decompress here.
    ko=$(find "$kmods/kernel" \( -name "$name.ko" -o -name "$name.ko.*" -o \
            -name "$(echo "$name" | tr _ -).ko" -o \
            -name "$(echo "$name" | tr _ -).ko.*" \) | head -n 1)
    if [ -z "$ko" ]; then
        grep -q "/$name\.ko" "$kmods/modules.builtin" 2>/dev/null ||
            die "$name is neither a module nor built into $uname_r"
        echo "build-guest: $name is built into the kernel"
        copied="$copied$name "
        return
    fi
    copied="$copied$name "
    dst=$root/lib/modules/$uname_r/${ko#"$kmods/"}
    dst=${dst%.ko*}.ko
    mkdir -p "$(dirname "$dst")"
    case "$ko" in
    *.ko)     cp "$ko" "$dst" ;;
    *.ko.xz)  xz -dc "$ko" > "$dst" ;;
    *.ko.zst) zstd -qdc "$ko" > "$dst" ;;
    *.ko.gz)  gzip -dc "$ko" > "$dst" ;;
    *) die "$ko: unknown module compression" ;;
    esac
    # modinfo's "depends=" field, straight from the module: no depmod
    # run on the host, no host kmod tools needed.
    deps=$(tr '\0' '\n' < "$dst" | sed -n 's/^depends=//p' | head -n 1)
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
}
for m in $WANTED_MODULES; do
    add_module "$m"
done
cp "$kmods/modules.builtin" "$kmods/modules.order" \
   "$root/lib/modules/$uname_r/" 2>/dev/null || true
# modules.dep for the modules we ship (Debian's package has none: its
# postinst runs depmod); busybox's depmod is enough.
"$bb" depmod -b "$root" "$uname_r"
dep=$root/lib/modules/$uname_r/modules.dep
[ -s "$dep" ] || die "depmod made no modules.dep"
# The companion driver, beside the stock one (init picks either), with
# the stock one's dependencies; after depmod, which keeps one module of
# a name.
if [ "$series" = 6.1 ]; then
    # Installed by scripts/install-deps.sh
    "$(dirname "$0")/build-guest-module.sh" "$uname_r" "$kver" \
        "$work/companion"
else
    # Unpacked into a private root (KSYSROOT of build-guest-module.sh)
    kbase=${uname_r%-cloud-amd64}
    for p in "linux-headers-$uname_r" "linux-headers-$kbase-common" \
             "linux-kbuild-$kbase" "linux-source-$series"; do
        deb=$(fetch "$p" "$kver")
        if [ "$p" = "linux-source-$series" ]; then
            # Only the tarball; its files are taken out one by one
            mkdir -p "$work/ksysroot"
            dpkg-deb --fsys-tarfile "$deb" |
                tar -x -C "$work/ksysroot" "./usr/src/$p.tar.xz"
        else
            dpkg-deb -x "$deb" "$work/ksysroot"
        fi
    done
    KSYSROOT=$work/ksysroot \
        "$(dirname "$0")/build-guest-module.sh" "$uname_r" "$kver" \
        "$work/companion"
    rm -rf "$work/ksysroot"
fi
mkdir -p "$root/lib/modules/$uname_r/companion"
cp "$work/companion/virtio_balloon.ko" "$root/lib/modules/$uname_r/companion/"
cdep=$(sed -n 's|^kernel/.*/virtio_balloon\.ko:|companion/virtio_balloon.ko:|p' \
       "$dep")
echo "$cdep" >> "$dep"
grep -q '^companion/virtio_balloon\.ko:' "$dep" ||
    die "no stock virtio_balloon.ko in modules.dep"
echo "$WANTED_MODULES" > "$root/etc/demo-modules"

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Test guest init: mount the pseudo file systems, load the virtio-pci and
# balloon modules, say "GUEST READY" on the console, run the workload from
# the kernel command line.  PID 1 must never exit (that would panic).

/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

# Functions with ( ) bodies run in a subshell: POSIX sh has no "local",
# and load_mod recurses.
param() (   # param NAME DEFAULT: demo.NAME=value from the command line
    v=$(tr ' ' '\n' < /proc/cmdline | sed -n "s/^demo\.$1=//p" | tail -n 1)
    echo "${v:-$2}"
)

# Load a module after the modules it depends on, as modules.dep lists
# them; insmod (not modprobe) so that the log shows each step.
moddir=/lib/modules/$(uname -r)
load_mod() (   # load_mod PATH-RELATIVE-TO-MODDIR
    ko=$1
    name=$(basename "$ko" .ko | tr - _)
    [ -d "/sys/module/$name" ] && return 0
    # shellcheck disable=SC2013 # the deps are words on one line
    for dep in $(sed -n "s|^$ko:||p" "$moddir/modules.dep"); do
        load_mod "$dep" || return 1
    done
    echo "init: insmod $name"
    insmod "$moddir/$ko"
)
# autoballoon.driver=stock|companion: which virtio_balloon to load.
driver=$(tr ' ' '\n' < /proc/cmdline |
         sed -n 's/^autoballoon\.driver=//p' | tail -n 1)
case "${driver:=stock}" in
stock|companion) ;;
*) echo "init: unknown autoballoon.driver=$driver, loading the stock one"
   driver=stock ;;
esac
read -r modules < /etc/demo-modules
for m in $modules; do
    ko=
    if [ "$m" = virtio_balloon ] && [ "$driver" = companion ]; then
        ko=$(sed -n "s|^\(companion/$m\.ko\):.*|\1|p" "$moddir/modules.dep")
        if [ -z "$ko" ]; then
            echo "init: no companion $m in this image, loading the stock one"
            driver=stock
        fi
    fi
    if [ -z "$ko" ]; then
        ko=$(sed -n "s|^\(kernel/.*/$m\.ko\):.*|\1|p" "$moddir/modules.dep")
    fi
    if [ -z "$ko" ]; then
        echo "init: $m is built in"
    else
        load_mod "$ko" || echo "init: loading $m FAILED"
    fi
done
# Which driver is bound: the companion module is out of tree, so the
# kernel taints it 'O'.
bdriver=none
if ls -d /sys/bus/virtio/drivers/virtio_balloon/virtio* >/dev/null 2>&1; then
    balloon=bound
    case "$(cat /sys/module/virtio_balloon/taint 2>/dev/null)" in
    *O*) bdriver=companion ;;
    *) bdriver=stock ;;
    esac
    # The negotiated feature bits, bit 0 first
    for f in /sys/bus/virtio/drivers/virtio_balloon/virtio*/features; do
        echo "init: balloon-features=$(cat "$f")"
        break
    done
else
    balloon=missing
fi

mib() { awk -v k="$1" '$1 == k":" { print int($2 / 1024) }' /proc/meminfo; }
up() { cut -d' ' -f1 /proc/uptime; }

# demo.cache: page cache, which free page reporting cannot return and
# the balloon can (the guest drops it to give the pages).  A block
# device's pages are reclaimable page cache ("Buffers") like a file's.
cache=$(param cache 0)
cachedev=$(param cachedev /dev/vdb)
case "$cache" in
''|*[!0-9]*)
    echo "init: demo.cache=$cache is not a number of MiB, reading nothing"
    cache=0 ;;
????????*)
    # more than the shell's arithmetic is sure to hold, and than any disk
    echo "init: demo.cache=$cache is more than 9999999 MiB, reading nothing"
    cache=0 ;;
esac
if [ "$cache" -gt 0 ] && [ ! -b "$cachedev" ]; then
    echo "init: page cache: $cachedev is not a block device, reading nothing"
    cache=0
fi
# A failed redirection of exec would end init (and panic the kernel): try
# the open in a subshell first
if [ "$cache" -gt 0 ] && ! (exec 3< "$cachedev") 2>/dev/null; then
    echo "init: page cache: cannot open $cachedev, reading nothing"
    cache=0
fi
if [ "$cache" -gt 0 ]; then
    # dd stops quietly at the end of the disk: read what there is, and
    # say so
    sectors=$(cat "/sys/class/block/${cachedev##*/}/size" 2>/dev/null)
    case "$sectors" in
    ''|*[!0-9]*) ;;
    *)
        if [ "$cache" -gt $((sectors / 2048)) ]; then
            echo "init: page cache: demo.cache=$cache is more than" \
                 "$cachedev's $((sectors / 2048)) MiB, reading that"
            cache=$((sectors / 2048))
        fi ;;
    esac
fi
if [ "$cache" -gt 0 ]; then
    # Linux drops a block device's page cache when its last opener
    # closes it (kill_bdev()): init keeps it open on fd 3 for as long as
    # it runs.
    exec 3< "$cachedev"
    if dd if="$cachedev" of=/dev/null bs=1M count="$cache" 2>/dev/null; then
        echo "init: page cache: read $cache MiB of $cachedev (t=$(up)s)" \
             "buffers=$(mib Buffers)MiB available=$(mib MemAvailable)MiB"
    else
        echo "init: page cache: reading $cachedev FAILED"
    fi
fi

work=$(param work idle)
hold=$(param hold 0)
pause=$(param pause 10)
loops=$(param loops 0)
phases=$(param phases '')
delay=$(param delay 0)
seed=$(param seed '')
report=$(param report 5)
echo "GUEST READY uptime=$(up)s kernel=$(uname -r) mem_total=$(mib MemTotal)MiB" \
     "balloon=$balloon balloon-driver=$bdriver work=$work"

# demo.memdump: where the guest's memory is, at chosen times (to find
# memory that is neither free nor the workload's).  Times that are not
# whole numbers are said and skipped; past ones print at once.
memdump=$(param memdump '')
if [ -n "$memdump" ]; then
    (
        set -f    # the list is split, never globbed
        for d in $(echo "$memdump" | tr ',' ' '); do
            case "$d" in
            ''|*[!0-9]*|??????*)
                echo "init: demo.memdump: '$d' is not a whole number of" \
                     "seconds of at most 5 digits, skipped"
                continue ;;
            esac
            while [ "$(cut -d. -f1 /proc/uptime)" -lt "$d" ]; do sleep 1; done
            t=$(up)
            for f in meminfo vmstat buddyinfo; do
                sed "s/^/memdump: t=$t $f: /" "/proc/$f"
            done
            # zoneinfo in full is some 150 lines a zone: its zone
            # headers, watermarks (min, low, high, managed, in pages)
            # and per-cpu lists (cpu, then count, high, batch in pages)
            zre='^Node|^ +(min|low|high|managed) '
            zre="$zre|^ +(cpu|count|high|batch):"
            grep -E "$zre" /proc/zoneinfo |
                sed "s/^/memdump: t=$t zoneinfo: /"
            echo "memdump: t=$t sysctl: vm.min_free_kbytes" \
                 "$(cat /proc/sys/vm/min_free_kbytes)"
        done
    ) &
fi

# Guest free memory every few seconds, in the background.
(
    while :; do
        echo "guest: t=$(up)s free=$(mib MemFree)MiB" \
             "available=$(mib MemAvailable)MiB total=$(mib MemTotal)MiB"
        sleep "$report"
    done
) &

case "$work" in
fill:*)
    size=${work#fill:}
    # Fill with non-zero bytes: a host kernel may free zero-filled guest
    # pages by itself (THP shrinker splitting underused huge pages), which
    # would hide the memory the demo is about.  A 4 MiB pattern file in
    # tmpfs, read over and over, is as fast as /dev/zero under TCG.
    yes "$(printf '%01023d' 0)" | head -c 4194304 > /run/fill.pattern
    n=0
    while [ "$loops" = 0 ] || [ "$n" -lt "$loops" ]; do
        n=$((n + 1))
        # Anonymous memory, not tmpfs: if the guest runs short (e.g. the
        # balloon holds the rest) the OOM killer kills dd and the memory
        # comes back; pinned tmpfs pages could leave PID 1 alone with an
        # unkillable guest.  dd reads SIZE MiB into one buffer (touching
        # every page), then blocks writing it into a pipe nobody reads
        # (beyond its first byte), until sleep exits and dd dies of SIGPIPE.
        echo "fill: round $n: $size MiB for ${hold}s (0: for ever) (t=$(up)s)"
        # 137: SIGKILL, i.e. the guest OOM killer (141, SIGPIPE, is normal)
        { while cat /run/fill.pattern 2>/dev/null; do :; done |
              dd bs="${size}M" count=1 iflag=fullblock 2>/dev/null
          [ $? -eq 137 ] && echo "fill: round $n: dd killed (guest OOM)" >&2
        } | {
            # dd writes only once its buffer is full: the first byte
            # means the guest now holds SIZE MiB.
            # (EOF instead: dd died before it filled its buffer)
            if [ -n "$(head -c 1)" ]; then
                echo "fill: round $n: filled (t=$(up)s)"
            fi
            if [ "$hold" = 0 ]; then
                while :; do sleep 3600; done
            else
                sleep "$hold"
            fi
        }
        echo "fill: round $n: released (t=$(up)s)"
        sleep "$pause"
    done
    ;;
memload)
    # memload checks its arguments itself (exit 2 and a message).  Its
    # parent keeps out of the OOM killer's way, the child that holds the
    # memory is killed first and replaced.
    if [ -z "$phases" ]; then
        echo "init: demo.work=memload needs demo.phases=MiB:S,..."
    else
        memload -d "$delay" ${seed:+-s "$seed"} "$phases"
        echo "init: memload exited with status $?"
    fi
    ;;
idle) ;;
*) echo "init: unknown demo.work=$work, staying idle" ;;
esac

echo "init: workload done, idle"
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
    gzip -9 > "$work/initramfs.cpio.gz"
cp "$work/kernel/boot/vmlinuz-$uname_r" "$work/vmlinuz"
mv "$work/vmlinuz" "$work/initramfs.cpio.gz" "$work/memload" "$out/"
{
    echo "kernel: $kpkg $kver ($uname_r)"
    echo "busybox-static: $bver"
    echo "memload: /bin/memload, $out/memload"
    echo "companion: /lib/modules/$uname_r/companion/virtio_balloon.ko" \
         "($(cat "$work/companion/series-used") on $uname_r's" \
         "virtio_balloon.c)"
    echo "modules:"
    sed 's/^/  /' "$root/lib/modules/$uname_r/modules.dep"
} > "$out/guest-info"
echo "$stamp" > "$out/.stamp"
cat "$out/guest-info"
echo "build-guest: wrote $out/vmlinuz, $out/initramfs.cpio.gz," \
     "$out/memload"
