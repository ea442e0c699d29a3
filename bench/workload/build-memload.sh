#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build memload as one static binary, the same for the guest's initramfs
# (which has no C library) and for the host (the memory hog).  The one
# place that knows how: the Makefile and scripts/build-guest.sh call it.
#
# Usage: build-memload.sh OUTPUT

set -euo pipefail

die() { echo "build-memload: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTPUT"
src=$(dirname "$0")/memload.c
cc=${CC:-gcc}

command -v "$cc" >/dev/null || die "$cc is missing"
# -static needs the static C library (Debian: libc6-dev).
"$cc" -print-file-name=libc.a | grep -q / ||
    die "no static libc.a for $cc (install libc6-dev)"

"$cc" -O2 -static -Wall -Wextra -Werror -o "$1.tmp" "$src"
mv "$1.tmp" "$1"
