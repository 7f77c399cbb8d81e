#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make check-install: `make install` into a scratch DESTDIR, the installed
# zio-run runs a test program with elision from another folder, every
# tool and man page works from there, and `make uninstall` leaves no
# file and none of zio's folders behind.
#
#   pkg/check-install.sh OUT     (OUT: the build folder, built already)
set -eu
out=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
make=${MAKE:-make}
dest=$(mktemp -d /tmp/zio-destdir.XXXXXX)
work=$(mktemp -d /tmp/zio-elsewhere.XXXXXX)
trap 'rm -rf "$dest" "$work"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }

cd "$top"
$make --no-print-directory OUT="$out" install DESTDIR="$dest"
prefix=$dest/usr/local
find "$dest" -type f | sed "s|^$dest||" | sort > "$work/installed"
echo "check-install: $(wc -l < "$work/installed") files under $prefix"

# from another folder, found through zio-run's own path only
cd "$work"
for t in zio-run zio-stat zio-trace; do
	"$prefix/bin/$t" --help > /dev/null || fail "$t --help failed"
done
"$prefix/bin/zio-run" --stats -- "$out/tests/progs/zt" relay > out 2> err ||
	fail "zio-run zt relay failed: $(cat out err)"
grep -q 'zt: relay ok' out || fail "zt relay: $(cat out)"
if grep -q 'unavailable' err; then
	echo "check-install: no userfaultfd here, elision not checked: $(cat err)"
else
	n=$(sed -n 's/.* elided_copies=\([0-9]*\).*/\1/p' err | head -1)
	[ "${n:-0}" -gt 0 ] || fail "the installed zio-run elided nothing: $(cat err)"
	echo "check-install: $prefix/bin/zio-run elided $n copies, run from $work"
fi
for p in "$prefix"/share/man/man1/zio-run.1.gz "$prefix"/share/man/man8/zio-stat.8.gz \
	 "$prefix"/share/man/man8/zio-trace.8.gz; do
	w=$(MANWIDTH=80 man -l "$p" 2>&1 > /dev/null) || fail "man -l $p failed"
	[ -z "$w" ] || fail "man -l $p: $w"
done

cd "$top"
$make --no-print-directory OUT="$out" uninstall DESTDIR="$dest"
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "left after uninstall: $left"
for d in lib/zio share/doc/zio; do
	[ ! -e "$prefix/$d" ] || fail "left after uninstall: $prefix/$d"
done
echo "check-install: uninstall removed all $(wc -l < "$work/installed") files"
