#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Our patches are written against QEMU 10.0.x; refuse anything else early
# rather than fail in the middle of patching or building.
case "$1" in
10.0.*) exit 0 ;;
*)
    echo "error: QEMU $1 is not supported: this series applies to" \
         "QEMU 10.0.x only" >&2
    exit 1
    ;;
esac
