#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make check-deb (root; .ci/run runs it): the package installs with
# dpkg -i, /usr/bin/zio-run elides a copy of a test program run from
# another folder, man finds the pages, the systemd drop-in it ships
# passes `systemd-analyze verify` on Debian's redis-server unit, and
# dpkg -r, then (installed again) dpkg -P, leave none of its files.
#
#   pkg/check-deb.sh OUT DEB     (OUT: the build folder, DEB: the package)
set -eu
out=$(cd "$1" && pwd)
deb=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d /tmp/zio-check-deb.XXXXXX)
fail() { echo "check-deb: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' zio 2>/dev/null | grep -q 'ok installed'; then
	fail "a zio package is installed already: not touching it (dpkg -r zio first)"
fi
# whatever happens, the machine is left without the package
trap 'dpkg -P zio > /dev/null 2>&1 || true; rm -rf "$work"' EXIT

# Every file the package installed is gone (its folders too).
check_gone() {
	left=
	while read -r f; do
		[ -d "$f" ] && continue
		[ ! -e "$f" ] && [ ! -L "$f" ] || left="$left $f"
	done < "$work/files"
	[ -z "$left" ] || fail "left after dpkg $1:$left"
	for d in /usr/lib/zio /usr/share/doc/zio; do
		[ ! -e "$d" ] || fail "left after dpkg $1: $d"
	done
}

dpkg -i "$deb" > /dev/null
dpkg -L zio > "$work/list"
while read -r f; do [ -d "$f" ] || echo "$f"; done < "$work/list" > "$work/files"
echo "check-deb: installed $(basename "$deb"): $(wc -l < "$work/files") files, Depends: $(dpkg-query -W -f='${Depends}' zio)"
for f in /usr/bin/zio-run /usr/bin/zio-stat /usr/bin/zio-trace /usr/lib/zio/libzio.so \
	 /usr/share/doc/zio/copyright; do
	grep -qx "$f" "$work/files" || fail "the package has no $f"
done

# zio-run from /usr/bin, in another folder, finds its runtime and elides
cd "$work"
/usr/bin/zio-run --stats -- "$out/tests/progs/zt" relay > out 2> err ||
	fail "/usr/bin/zio-run zt relay failed: $(cat out err)"
grep -q 'zt: relay ok' out || fail "zt relay: $(cat out)"
n=$(sed -n 's/.* elided_copies=\([0-9]*\).*/\1/p' err | head -1)
[ "${n:-0}" -gt 0 ] || fail "/usr/bin/zio-run elided nothing: $(cat err)"
echo "check-deb: /usr/bin/zio-run elided $n copies of zt relay, run from $work"
for t in zio-run zio-stat zio-trace; do
	/usr/bin/$t --help > /dev/null || fail "/usr/bin/$t --help failed"
	p=$(man -w "$t") || fail "man finds no page for $t"
	w=$(MANWIDTH=80 man -l "$p" 2>&1 > /dev/null) || fail "man -l $p failed"
	[ -z "$w" ] || fail "man -l $p: $w"
done
echo "check-deb: man zio-run, zio-stat, zio-trace render"

# The shipped drop-in on Debian's unit: verify reads the unit's folder
# for NAME.service.d/, must accept it silently, and must refuse it with
# a zio-run that does not exist (so the drop-in was read).
unit=/lib/systemd/system/redis-server.service
[ -f "$unit" ] || fail "no $unit (make deps installs redis-server)"
command -v systemd-analyze > /dev/null || fail "no systemd-analyze (make deb-deps)"
mkdir -p "$work/units/redis-server.service.d"
cp "$unit" "$work/units/"
cp /usr/share/doc/zio/systemd/redis-server.service.d/zio.conf \
	"$work/units/redis-server.service.d/"
w=$(systemd-analyze verify "$work/units/redis-server.service" 2>&1) ||
	fail "systemd-analyze verify failed: $w"
[ -z "$w" ] || fail "systemd-analyze verify: $w"
sed -i 's|^ExecStart=/usr/bin/zio-run |ExecStart=/usr/bin/zio-run-absent |' \
	"$work/units/redis-server.service.d/zio.conf"
if systemd-analyze verify "$work/units/redis-server.service" > /dev/null 2>&1; then
	fail "systemd-analyze verify did not read the drop-in"
fi
echo "check-deb: systemd-analyze verify passes redis-server.service with the zio drop-in"

dpkg -r zio > /dev/null
check_gone "-r"
dpkg -i "$deb" > /dev/null
dpkg -P zio > /dev/null
check_gone "-P"
if dpkg-query -W zio > /dev/null 2>&1; then
	fail "dpkg still knows zio after dpkg -P: $(dpkg-query -W -f='${Status}' zio)"
fi
echo "check-deb: dpkg -r and dpkg -P left none of its $(wc -l < "$work/files") files"
