#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Put the firmware a QEMU build tree needs where QEMU looks when it runs
# from the build tree: the data directory inside <builddir>/qemu-bundle
# (found through its keymaps/).  <builddir>/pc-bios gets the same links,
# for use with -L.  Debian's source
# tarball ships no blobs, so SeaBIOS comes from the seabios package and the
# option ROMs (linuxboot_dma.bin for -kernel) are built from
# pc-bios/optionrom by QEMU's own makefile.
#
# Usage: install-firmware.sh [--no-optionrom] QEMU_BUILD_DIR
#
# --no-optionrom: the BIOS blobs only, for a build that boots no kernel
# (the fuzzer's clang build, whose configure sets up no option ROMs).

set -euo pipefail
optionrom=1
if [ "${1:-}" = --no-optionrom ]; then
    optionrom=
    shift
fi
qbuild=$1
pcbios=$qbuild/pc-bios
mkdir -p "$pcbios"

# Everything Debian's qemu-system-data links from these packages into
# /usr/share/qemu, so that ours finds what a stock Debian QEMU finds:
# from seabios every BIOS (bios.bin, bios-256k.bin, bios-microvm.bin for
# -M microvm) and VGA BIOS, from ipxe-qemu the NIC ROMs (pxe-*.rom,
# efi-*.rom; the default NIC of the PC machine needs one).
for f in /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom; do
    [ -f "$f" ] || continue
    ln -sf "$f" "$pcbios/$(basename "$f")"
done
for f in bios-256k.bin bios-microvm.bin; do
    [ -e "$pcbios/$f" ] || {
        echo "install-firmware: /usr/share/seabios/$f is missing;" \
             "install the seabios package (scripts/install-deps.sh)" >&2
        exit 1
    }
done

if [ -n "$optionrom" ]; then
    make -s -C "$qbuild" pc-bios/optionrom/all
    for rom in linuxboot_dma.bin linuxboot.bin multiboot_dma.bin pvh.bin \
               kvmvapic.bin; do
        if [ -f "$pcbios/optionrom/$rom" ]; then
            ln -sf "optionrom/$rom" "$pcbios/$rom"
        fi
    done
    [ -e "$pcbios/linuxboot_dma.bin" ] || {
        echo "install-firmware: pc-bios/optionrom did not produce" \
             "linuxboot_dma.bin (needed for -kernel)" >&2
        exit 1
    }
fi

keymaps=$(find "$qbuild/qemu-bundle" -type d -name keymaps | head -n 1)
[ -n "$keymaps" ] || {
    echo "install-firmware: no data directory in $qbuild/qemu-bundle" >&2
    exit 1
}
datadir=$(dirname "$keymaps")
for f in "$pcbios"/*.bin "$pcbios"/*.rom; do
    ln -sf "$(readlink -f "$f")" "$datadir/$(basename "$f")"
done
