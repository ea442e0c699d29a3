#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fetch Debian's qemu source package (trixie, QEMU 10.0.x) with apt, which
# checks it against the signed Sources index, and unpack the upstream
# tarball into a pristine tree.  The download is cached: a second run does
# not touch the network.
#
# Usage: fetch-qemu.sh CACHE_DIR
# Prints the path of the pristine tree on stdout.

set -euo pipefail

cache=$1
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

pristine_of() {
    local orig=$1 ver
    ver=$(basename "$orig" | sed -E 's/^qemu_([0-9.]+)(\+ds)?\.orig\.tar\.xz$/\1/')
    echo "$cache/qemu-$ver"
}

orig=$(ls "$cache"/qemu_*.orig.tar.xz 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$orig" ]; then
    if ! command -v apt-get >/dev/null; then
        echo "fetch-qemu: apt-get not found; pass --qemu-src=DIR to" \
             "./configure instead" >&2
        exit 1
    fi
    known=$(apt-cache showsrc qemu 2>/dev/null | grep '^Version:' || true)
    if ! grep -q '^Version: 1:10\.0\.' <<< "$known"; then
        echo "fetch-qemu: no qemu 10.0.x source package is known to apt;" \
             "run scripts/install-deps.sh as root (it adds the trixie" \
             "deb-src entry)" >&2
        exit 1
    fi
    echo "fetch-qemu: downloading Debian's qemu source package (trixie)" >&2
    # apt verifies the files against the hashes of the signed index.
    (cd "$cache" && apt-get source --download-only -q qemu/trixie >&2)
    orig=$(ls "$cache"/qemu_*.orig.tar.xz 2>/dev/null | sort -V | tail -n 1)
fi

tree=$(pristine_of "$orig")
ver=${tree##*/qemu-}
"$here/check-qemu-version.sh" "$ver"

if [ ! -f "$tree/VERSION" ]; then
    echo "fetch-qemu: unpacking $(basename "$orig")" >&2
    rm -rf "$tree.tmp"
    mkdir -p "$tree.tmp"
    tar -xJf "$orig" -C "$tree.tmp" --strip-components=1
    mv "$tree.tmp" "$tree"
fi
if [ "$(cat "$tree/VERSION")" != "$ver" ]; then
    echo "fetch-qemu: $tree/VERSION says $(cat "$tree/VERSION")," \
         "expected $ver" >&2
    exit 1
fi
echo "$tree"
