#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check which companion series (patches/linux/series, patches/linux/6.12/
# series) applies to a Debian kernel source package: fetch it with apt
# (checked against the signed Sources index) through a private apt
# configuration that only knows the given suite's deb-src, so the
# system's apt state is not touched; take drivers/virtio/virtio_balloon.c
# out of it and try each series with patch -F0 --dry-run.
#
# Usage: check-guest-patches.sh SUITE VERSION WORKDIR
#   e.g.  check-guest-patches.sh trixie 6.12.107-1 /var/tmp/linux-check
# Downloads about 150 MB into WORKDIR (kept: a re-run reuses it).
# Exit status 0 if at least one series applies.

set -euo pipefail

die() { echo "check-guest-patches: $*" >&2; exit 2; }

[ $# -eq 3 ] || die "usage: $0 SUITE VERSION WORKDIR"
suite=$1
ver=$2
work=$3
top=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

mkdir -p "$work/apt/lists/partial" "$work/apt/cache" "$work/apt/etc" \
         "$work/src"
work=$(cd "$work" && pwd)
cat > "$work/apt/etc/src.sources" <<SRC
Types: deb-src
URIs: $mirror
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(-o Dir::Etc::SourceList=/dev/null
          -o "Dir::Etc::SourceParts=$work/apt/etc"
          -o "Dir::State::Lists=$work/apt/lists"
          -o "Dir::Cache=$work/apt/cache")
apt-get -q "${apt_opts[@]}" update >&2
orig=$(ls "$work/src/linux_${ver%-*}.orig.tar.xz" 2>/dev/null || true)
if [ -z "$orig" ]; then
    # apt drops root to _apt for downloads; let it write there.
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$work/src"
    fi
    (cd "$work/src" &&
     apt-get -q "${apt_opts[@]}" source --download-only "linux=$ver" >&2) ||
        die "linux=$ver is not available from $suite on $mirror"
    orig=$work/src/linux_${ver%-*}.orig.tar.xz
fi
rm -rf "$work/tree"
mkdir -p "$work/tree"
tar -xJf "$orig" -C "$work/tree" --occurrence --wildcards \
    '*/drivers/virtio/virtio_balloon.c'
file=$(find "$work/tree" -name virtio_balloon.c)
[ -n "$file" ] || die "$orig has no drivers/virtio/virtio_balloon.c"
# The orig tarball is upstream's; Debian's own patches come on top.
touched=$(tar -xJOf "$work/src/linux_$ver.debian.tar.xz" \
              --wildcards 'debian/patches/*.patch' 2>/dev/null |
          grep -c '^+++ .*drivers/virtio/virtio_balloon\.c' || true)
echo "check-guest-patches: Debian's patches of $ver touch" \
     "virtio_balloon.c: ${touched:-0} time(s)"

ok=0
for series in "$top/patches/linux/series" "$top/patches/linux/"*/series; do
    [ -f "$series" ] || continue
    dir=$(dirname "$series")
    name=${dir#"$top/"}
    cp "$file" "$work/virtio_balloon.c"
    applies=yes
    while read -r p _; do
        case "$p" in ''|'#'*) continue ;; esac
        if ! patch -s -p3 -F0 -N --no-backup-if-mismatch -r - \
                -d "$work" < "$dir/$p" > "$work/patch.log" 2>&1; then
            applies="no ($p: $(grep -m1 FAILED "$work/patch.log"))"
            break
        fi
    done < "$series"
    echo "check-guest-patches: $name on linux $ver ($suite): $applies"
    [ "$applies" = yes ] && ok=1
done
[ "$ok" = 1 ]
