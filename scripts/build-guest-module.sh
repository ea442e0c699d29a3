#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the companion virtio_balloon.ko for the test guest's kernel: take
# drivers/virtio/virtio_balloon.c from Debian's kernel source package of
# the same version (linux-source-6.1, /usr/src/linux-source-6.1.tar.xz),
# apply patches/linux/series, and build it out of tree against Debian's
# linux-headers for that kernel.  Both packages come from
# scripts/install-deps.sh; nothing of the kernel's source is kept in the
# repository.
#
# Usage: [KSYSROOT=DIR] build-guest-module.sh UNAME_R VERSION OUTDIR
#   UNAME_R   the guest kernel's release, e.g. 6.1.0-57-cloud-amd64
#   VERSION   its Debian package version, e.g. 6.1.192-3
#   KSYSROOT  a directory into which the caller unpacked the headers,
#             kbuild and source packages of VERSION (dpkg-deb -x) instead
#             of installing them; scripts/build-guest.sh does so for 6.12
# Produces OUTDIR/virtio_balloon.ko (debug info stripped),
# OUTDIR/virtio_balloon.c (the patched source, for reference) and
# OUTDIR/series-used (which series was applied).
#
# Costs on a fresh machine (2 cores, Debian 12): the two packages are
# 139 MB (source) + 14 MB (headers, kbuild) to download; taking the one
# file out of the 1.3 GB source tarball takes ~15 s, the build ~6 s.

set -euo pipefail

die() { echo "build-guest-module: $*" >&2; exit 1; }

[ $# -eq 3 ] || die "usage: $0 UNAME_R VERSION OUTDIR"
uname_r=$1
kver=$2
out=$3
top=$(cd "$(dirname "$0")/.." && pwd)
# The series for this kernel: a rebased variant (patches/linux/6.12/ for
# linux 6.12) where there is one, else the one made for 6.1.
series=$top/patches/linux/$(echo "$kver" | cut -d. -f1,2)/series
[ -f "$series" ] || series=$top/patches/linux/series
pdir=$(dirname "$series")

# installed_version PKG: the installed version of PKG, or nothing.
installed_version() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
        sed -n 's/^ii *//p'
}

hpkg=linux-headers-$uname_r
kdir=/usr/src/$hpkg
spkg=linux-source-$(echo "$kver" | cut -d. -f1,2)    # linux-source-6.1
tarball=/usr/src/$spkg.tar.xz

if [ -n "${KSYSROOT:-}" ]; then
    # The caller fetched exactly VERSION
    kdir=$KSYSROOT$kdir
    tarball=$KSYSROOT$tarball
    sv=$kver
    [ -f "$kdir/Makefile" ] || die "$kdir has no Makefile"
    # Debian's per-flavour Makefile includes the common one by its
    # absolute path; point it into KSYSROOT.
    sed -i "s|^include /usr/src/|include $KSYSROOT/usr/src/|" \
        "$kdir/Makefile"
else
    hv=$(installed_version "$hpkg")
    [ "$hv" = "$kver" ] ||
        die "$hpkg $kver is needed (installed: ${hv:-none});" \
            "run scripts/install-deps.sh as root"
    sv=$(installed_version "$spkg")
    [ "$sv" = "$kver" ] ||
        die "$spkg $kver is needed (installed: ${sv:-none});" \
            "run scripts/install-deps.sh as root"
fi
[ -f "$kdir/Makefile" ] || die "$kdir has no Makefile"
[ -f "$tarball" ] || die "$spkg has no $tarball"
[ -f "$series" ] || die "no $series"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.module.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tarball's one top directory is the package name; stop reading
# at the first (and only) copy of the file.
file=$spkg/drivers/virtio/virtio_balloon.c
echo "build-guest-module: $file from $spkg $sv"
tar -xJf "$tarball" -C "$work" --occurrence=1 "$file" ||
    die "$tarball has no $file"
mkdir -p "$work/src"
mv "$work/$file" "$work/src/virtio_balloon.c"

# patches/linux/series: one patch file a line, '#' comments.  Each patch
# is against drivers/virtio/virtio_balloon.c (git format-patch: a/drivers/
# virtio/virtio_balloon.c, hence -p3 here).
while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    echo "build-guest-module: applying ${pdir#"$top/"}/$p"
    patch -s -p3 -d "$work/src" -F0 -N --no-backup-if-mismatch \
          < "$pdir/$p" ||
        die "${pdir#"$top/"}/$p does not apply to $spkg $sv"
done < "$series"

echo 'obj-m := virtio_balloon.o' > "$work/src/Kbuild"
# No BTF for the module: 6.12's kbuild would need pahole for it (6.1's
# skips it without vmlinux anyway), and insmod does not need it.
make -s -C "$kdir" M="$work/src" CONFIG_DEBUG_INFO_BTF_MODULES= modules 2>&1 |
    grep -v 'Skipping BTF generation' >&2 || true
[ -f "$work/src/virtio_balloon.ko" ] || die "the module did not build"
# vermagic must be the guest kernel's, or insmod refuses it.
vermagic=$(tr '\0' '\n' < "$work/src/virtio_balloon.ko" |
           sed -n 's/^vermagic=//p')
case "$vermagic" in
"$uname_r "*) ;;
*) die "built for '$vermagic', not $uname_r" ;;
esac
strip --strip-debug -o "$out/virtio_balloon.ko" "$work/src/virtio_balloon.ko"
cp "$work/src/virtio_balloon.c" "$out/virtio_balloon.c"
echo "${series#"$top/"}" > "$out/series-used"
echo "build-guest-module: wrote $out/virtio_balloon.ko ($vermagic)"
