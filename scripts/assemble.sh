#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Assemble the patched QEMU tree: pristine upstream + our overlay of new
# files + the edits in patches/series.  Only files whose content changed
# are rewritten, so ninja rebuilds only what an edit really touched.
#
# Usage: assemble.sh PRISTINE_DIR TREE_DIR

set -euo pipefail

pristine=$(cd "$1" && pwd)
tree=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
overlay_dirs="hw include util tests docs qapi"

die() {
    echo "assemble: $*" >&2
    exit 1
}

stamp=$tree/.autoballoon-pristine
manifest=$tree/.autoballoon-manifest
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$pristine" ]; then
    echo "assemble: copying pristine QEMU $(cat "$pristine/VERSION")" >&2
    rm -rf "$tree"
    mkdir -p "$(dirname "$tree")"
    cp -a "$pristine" "$tree"
    echo "$pristine" > "$stamp"
    : > "$manifest"
fi

staging=$(mktemp -d "${TMPDIR:-/tmp}/autoballoon-assemble.XXXXXX")
trap 'rm -rf "$staging"' EXIT

# New files: they must not shadow upstream files (edits go in patches/).
cd "$repo"
for d in $overlay_dirs; do
    [ -d "$d" ] || continue
    find "$d" -type f ! -name '*~' ! -name '.*'
done | sort > "$staging/.overlay"
while read -r f; do
    if [ -e "$pristine/$f" ]; then
        die "overlay file '$f' replaces an upstream file; put the edit" \
            "in a patch under patches/ instead"
    fi
    mkdir -p "$staging/$(dirname "$f")"
    cp -p "$f" "$staging/$f"
done < "$staging/.overlay"

# Edits: copy the pristine files each patch touches, then apply in order,
# without fuzz: a patch whose context no longer matches the file fails
# here rather than landing where patch(1) guesses.
series=$repo/patches/series
if [ -f "$series" ]; then
    grep -v -e '^#' -e '^[[:space:]]*$' "$series" > "$staging/.series" || true
    while read -r p; do
        [ -f "$repo/patches/$p" ] || die "patches/series names '$p'," \
                                          "which does not exist"
        sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$repo/patches/$p"
    done < "$staging/.series" | sort -u > "$staging/.touched"
    while read -r f; do
        if grep -qxF "$f" "$staging/.overlay"; then
            die "a patch edits '$f', which is an overlay file: edit the" \
                "file itself"
        fi
        [ -f "$pristine/$f" ] || die "a patch edits '$f', which upstream" \
                                     "does not have: new files belong in" \
                                     "the overlay"
        mkdir -p "$staging/$(dirname "$f")"
        cp -p "$pristine/$f" "$staging/$f"
    done < "$staging/.touched"
    while read -r p; do
        if ! out=$(patch -p1 -d "$staging" --batch --forward --fuzz=0 \
                   --no-backup-if-mismatch -r - < "$repo/patches/$p" 2>&1)
        then
            printf '%s\n' "$out" >&2
            die "patch 'patches/$p' does not apply (see the file named above)"
        fi
    done < "$staging/.series"
fi

# Bring the tree in line with staging, touching only what changed.
(cd "$staging" && find . -type f ! -name '.overlay' ! -name '.series' \
     ! -name '.touched' | sed 's#^\./##' | sort) > "$staging/.files"
changed=0
while read -r f; do
    if ! grep -qxF "$f" "$staging/.files"; then
        if [ -f "$pristine/$f" ]; then
            cp -p "$pristine/$f" "$tree/$f"
        else
            rm -f "$tree/$f"
        fi
        changed=$((changed + 1))
    fi
done < "$manifest"
while read -r f; do
    if ! cmp -s "$staging/$f" "$tree/$f"; then
        mkdir -p "$tree/$(dirname "$f")"
        cp "$staging/$f" "$tree/$f"
        changed=$((changed + 1))
    fi
done < "$staging/.files"
cp "$staging/.files" "$manifest"
echo "assemble: $(wc -l < "$staging/.files") overlay/patched files," \
     "$changed updated" >&2
