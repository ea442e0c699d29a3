#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Developer helper: print a -p1 unified diff of FILE between the pristine
# tree and an edited tree, in the form patches/ uses.  Write the patch
# header yourself above it.
#
# Usage: diff-upstream.sh PRISTINE_DIR EDITED_DIR FILE...

set -euo pipefail
pristine=$1
edited=$2
shift 2
for f in "$@"; do
    diff -u --label "a/$f" --label "b/$f" "$pristine/$f" "$edited/$f" || \
        [ $? -eq 1 ]
done
