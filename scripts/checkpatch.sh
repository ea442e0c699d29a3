#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run QEMU's scripts/checkpatch.pl on our new C files and on every patch.
#
# Usage: checkpatch.sh ASSEMBLED_QEMU_TREE

set -uo pipefail
tree=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
cp=$tree/scripts/checkpatch.pl
cd "$repo"
rc=0
files=$(find hw include util tests bench -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
    perl "$cp" --no-tree --terse -f "$f" || rc=1
done
# patches/*.patch only: patches/linux/ holds patches for the guest's
# Linux driver, in the kernel's style (tabs), checked with the kernel's
# own scripts/checkpatch.pl --strict (patches/linux/README), which QEMU's
# checkpatch would reject line by line.
for p in patches/*.patch; do
    perl "$cp" --no-tree --terse "$p" || rc=1
done
exit $rc
