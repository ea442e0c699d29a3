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
# Usage: install-firmware.sh QEMU_BUILD_DIR

set -euo pipefail
qbuild=$1
pcbios=$qbuild/pc-bios
mkdir -p "$pcbios"

# SeaBIOS and its VGA BIOSes (seabios), NIC ROMs (ipxe-qemu) for the
# default NIC of the PC machine.
for f in /usr/share/seabios/bios-256k.bin /usr/share/seabios/bios.bin \
         /usr/share/seabios/vgabios-*.bin /usr/lib/ipxe/qemu/*.rom; do
    [ -f "$f" ] || continue
    ln -sf "$f" "$pcbios/$(basename "$f")"
done
[ -e "$pcbios/bios-256k.bin" ] || {
    echo "install-firmware: /usr/share/seabios/bios-256k.bin is missing;" \
         "install the seabios package (scripts/install-deps.sh)" >&2
    exit 1
}

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

keymaps=$(find "$qbuild/qemu-bundle" -type d -name keymaps | head -n 1)
[ -n "$keymaps" ] || {
    echo "install-firmware: no data directory in $qbuild/qemu-bundle" >&2
    exit 1
}
datadir=$(dirname "$keymaps")
for f in "$pcbios"/*.bin "$pcbios"/*.rom; do
    ln -sf "$(readlink -f "$f")" "$datadir/$(basename "$f")"
done
