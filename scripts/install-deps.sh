#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing auto-balloon QEMU needs on Debian 12.
#
# What this changes on the system, and only when something is missing:
#   * adds /etc/apt/sources.list.d/qemu-autoballoon.sources with
#     bookworm-backports (binary: meson >= 1.5, python3-pycotap) and
#     trixie (deb-src only: the QEMU 10.0 source package);
#   * adds /etc/apt/preferences.d/qemu-autoballoon so that nothing is
#     upgraded from backports unless asked for by name;
#   * runs apt-get update and installs the packages listed below.
# When everything is present it prints so and changes nothing.
#
# With --fuzz: only what the fuzzer's separate build needs on top (make
# fuzz; make check never needs it): clang with libFuzzer and the
# sanitizer runtimes, and llvm-symbolizer for readable crash reports.

set -euo pipefail

SOURCES=/etc/apt/sources.list.d/qemu-autoballoon.sources
PREFS=/etc/apt/preferences.d/qemu-autoballoon
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Build: QEMU 10.0 with the system emulator, qtests and unit tests;
# gcc-multilib lets QEMU build its x86 option ROMs (linuxboot_dma.bin).
# Test/demo: seabios (bios-256k.bin, bios-microvm.bin for -M microvm),
# busybox-static and cpio (guest initramfs), procps (sysctl, free),
# util-linux (swapon, mkswap), ipxe-qemu (NIC option ROMs of the default
# PC machine that qos-test boots).
# Bench: python3-matplotlib (the over-commit benchmark's timelines);
# dosfstools, mtools and syslinux write the guest's boot disk image
# (guest.disk_image(), the benchmark's --boot disk).
# libvirt-daemon-system: the real-libvirtd test (started by the test).
PKGS="build-essential pkg-config python3 python3-venv python3-setuptools
      ninja-build libglib2.0-dev libpixman-1-dev libcap-ng-dev libfdt-dev
      zlib1g-dev flex bison dpkg-dev xz-utils bzip2 seabios busybox-static
      cpio procps util-linux patch perl ca-certificates gcc-multilib
      ipxe-qemu python3-matplotlib libvirt-daemon-system dosfstools mtools
      syslinux syslinux-common"
BACKPORT_PKGS="meson python3-pycotap"
FUZZ_PKGS="clang libclang-rt-14-dev llvm"

if [ "${1:-}" = --fuzz ]; then
    need=$(for p in $FUZZ_PKGS; do
               dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | \
                   grep -q '^ii' || echo "$p"
           done | tr '\n' ' ')
    if [ -z "$need" ]; then
        echo "install-deps: the fuzzer's dependencies are present"
        exit 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing for the fuzzer: $need" >&2
        echo "install-deps: run this script as root (it uses apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -q -y --no-install-recommends $need
    exit 0
fi

# The companion virtio_balloon module (scripts/build-guest-module.sh) is
# built against the headers of the kernel the test guest boots and from
# that kernel's source package, both of exactly its version: the 6.1
# cloud kernel that linux-image-cloud-amd64 resolves to, as in
# scripts/build-guest.sh.  linux-source-6.1 is a 139 MB download,
# the headers 14 MB.
guest_kernel_pkgs() {
    local kpkg kver
    kpkg=$(apt-cache show --no-all-versions linux-image-cloud-amd64 \
               2>/dev/null | sed -n 's/^Depends: //p' | head -n 1 |
           tr ',|' '\n' | sed 's/^ *//; s/ .*//' |
           grep -m1 '^linux-image-6\.1\..*-cloud-amd64$') || return 0
    kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null |
           sed -n 's/^Version: //p' | head -n 1)
    [ -n "$kver" ] || return 0
    echo "linux-headers-${kpkg#linux-image-}=$kver"
    echo "linux-source-$(echo "$kver" | cut -d. -f1,2)=$kver"
}
GUEST_KERNEL_PKGS=$(guest_kernel_pkgs | tr '\n' ' ')

# PKG or PKG=VERSION, installed (at that version)?
missing_pkgs() {
    local p v
    for p in $PKGS $BACKPORT_PKGS $GUEST_KERNEL_PKGS; do
        v='.*'
        case "$p" in *=*) v=${p#*=} ;; esac
        dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "${p%%=*}" \
            2>/dev/null | grep -q "^ii *$v$" || echo "$p"
    done
}

meson_ok() {
    command -v meson >/dev/null 2>&1 || return 1
    /usr/bin/python3 - "$(meson --version)" <<'PY'
import sys
v = tuple(int(x) for x in sys.argv[1].split('.')[:2])
sys.exit(0 if v >= (1, 5) else 1)
PY
}

need=$(missing_pkgs | tr '\n' ' ')
if [ -z "$need" ] && meson_ok && [ -f "$SOURCES" ]; then
    echo "install-deps: all build and test dependencies are present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing: ${need:-meson >= 1.5 / trixie deb-src}" >&2
    echo "install-deps: run this script as root (it uses apt-get)" >&2
    exit 1
fi

if [ ! -f "$SOURCES" ]; then
    echo "install-deps: adding $SOURCES (bookworm-backports, trixie deb-src)"
    cat > "$SOURCES" <<SRC
# Added by qemu-autoballoon scripts/install-deps.sh
Types: deb
URIs: $MIRROR
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

if [ ! -f "$PREFS" ]; then
    cat > "$PREFS" <<PIN
# Added by qemu-autoballoon scripts/install-deps.sh: backports only on request
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
PIN
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
apt-get update -q
echo "install-deps: installing $PKGS"
# shellcheck disable=SC2086
apt-get install -q -y --no-install-recommends $PKGS
GUEST_KERNEL_PKGS=$(guest_kernel_pkgs | tr '\n' ' ')
[ -n "$GUEST_KERNEL_PKGS" ] ||
    { echo "install-deps: cannot resolve the guest's 6.1 cloud kernel" >&2; exit 1; }
echo "install-deps: installing the guest kernel's $GUEST_KERNEL_PKGS"
# shellcheck disable=SC2086
apt-get install -q -y --no-install-recommends $GUEST_KERNEL_PKGS
echo "install-deps: installing from bookworm-backports: $BACKPORT_PKGS"
# shellcheck disable=SC2086
apt-get install -q -y --no-install-recommends -t bookworm-backports \
    $BACKPORT_PKGS
meson_ok || { echo "install-deps: meson >= 1.5 still missing" >&2; exit 1; }
echo "install-deps: done"
