#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Replay every reproducer of tests/fuzz/pending/README.md and say which
# still fail.  Not part of `make test` (they fail until fixed).
#   tests/fuzz/pending/run.sh [BUILD]
set -u
B=${1:-build}
R=$B/zio-run Z=$B/tests/progs/zfuzz S=$B/tests/progs/zstress T=$B/tests/progs/zt
still=0

check() { # name expect-in-output command...
	local name=$1 ok=$2 out
	shift 2
	out=$(timeout -k 5 60 "$@" 2>&1)
	if grep -q -- "$ok" <<<"$out"; then
		echo "fixed:  $name"
	else
		echo "FAILS:  $name: $(grep -m1 -E 'FAIL|hang' <<<"$out" | cut -c1-160)"
		still=$((still + 1))
	fi
}

check "retire hang" " ok " $R -- $Z -s 1 -n 900 -K 327,386,417
check "retire sendmsg bytes" " ok " $R -- $Z -s 114 -n 300 -X remap -K 198,204,256,267,271,275
check "retire wrong byte" " ok " $R --policy always --threshold 8K -- $Z -s 11 -n 1500 -X remap -K 60,82,133,153,155
check "retire move=1 relay" "relay ok" env ZIO_FAULT_INJECT=move=1 $R -- $T relay
for i in 1 2 3; do
	check "threads zeros ($i)" "threads ok" $R --policy always -- $S threads
done
check "copy=1 zeros" "touch ok" env ZIO_FAULT_INJECT=copy=1 $R --policy always -- $T touch
check "mremap EFAULT" " ok " $R --policy always --threshold 8K -- $Z -s 5 -n 1500 -K 16-17,445
check "mremap EFAULT 2" " ok " $R -- $Z -s 2 -n 800 -K 142,145,197,226,789
check "raw mremap EFAULT" "rawremap ok" $R -- $S rawremap
for i in 1 2 3; do
	check "extents SIGSEGV ($i)" " ok " $R -- $Z -s 108 -n 10000 -X remap
done
check "unplanned copy skipped unmoved pages" " ok " $R --policy always --threshold 8K -- \
	$Z -s 1112 -n 10000 -K 6609,6646,6648,6820,6822,6837,6852,6860,6876,6883,6888-6889,6946-6947,6949,6954,6978
echo "$still reproducers still fail"
