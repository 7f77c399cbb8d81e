#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Differential fuzzer driver.  For each seed it runs the op program of
# build/tests/progs/zfuzz plain and under zio-run (which checks itself
# against its shadow model after every op), compares the two digests,
# and on a failure minimises the op list by dropping ops while the run
# still fails (ddmin; each op is generated from (seed, index) alone, so
# any subset is a valid program), then prints the reproducer: the
# command that replays it and its op trace.
#
#   run.sh [-b BUILD] [-m MODE] [-s SEED] [-c SEEDS] [-n OPS] [-K LIST]
#          [-f FLAGS] [-x KINDS] [-t WORKERS] [-M SECONDS] [-q]
#     -m MODE    ops (default): zfuzz, one thread's op program over every
#                kind of buffer; slab: zslab, WORKERS threads (default 3)
#                sharing a slab allocator the way memcached's workers do
#                (OPS per worker; threaded runs are not minimised: the
#                failing op and the command that replays the seed are
#                printed, -v there traces each op)
#     -s SEED    first seed (default 1)          -c SEEDS  how many (1)
#     -n OPS     ops per seed (default 10000)    -K LIST   replay only these ops
#     -f FLAGS   zio-run flags for every run; by default seeds cycle through
#                "", "--policy always" and "--policy always --threshold 8K"
#     -x KINDS   op kinds zfuzz leaves out (remap,madvise,free,writev,fork)
#     -M SECONDS budget for minimising one failure (default 300; 0: none)
#
# EXAMPLES
#   tests/fuzz/run.sh -s 1 -c 100 -n 10000        # 10^6 ops
#   tests/fuzz/run.sh -s 42 -n 5000 -K 3-17,4020  # replay a reproducer
#
# Exit status 0 when every seed passed, 1 otherwise.
set -u

BUILD=build SEED=1 COUNT=1 OPS=10000 KEEP= FLAGS= FLAGS_SET=0 MIN_SECS=300 QUIET=0
MODE=ops WORKERS=3 OPS_SET=0
XARGS=()
while getopts "b:m:s:c:n:K:f:x:t:M:q" o; do
	case $o in
	b) BUILD=$OPTARG ;;
	m) MODE=$OPTARG ;;
	t) WORKERS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	c) COUNT=$OPTARG ;;
	n) OPS=$OPTARG OPS_SET=1 ;;
	K) KEEP=$OPTARG ;;
	f) FLAGS=$OPTARG FLAGS_SET=1 ;;
	x) XARGS=(-X "$OPTARG") ;;
	M) MIN_SECS=$OPTARG ;;
	q) QUIET=1 ;;
	*) sed -n '/^#   run.sh/,/^# Exit/p' "$0"; exit 2 ;;
	esac
done
case $MODE in
ops) P=zfuzz ;;
slab)
	P=zslab
	[ "$OPS_SET" = 1 ] || OPS=1500
	[ -z "$KEEP" ] && [ ${#XARGS[@]} = 0 ] ||
		{ echo "run.sh: -K and -x are for -m ops" >&2; exit 2; }
	XARGS=(-t "$WORKERS") MIN_SECS=0 ;;
*) echo "run.sh: -m ops or -m slab" >&2; exit 2 ;;
esac
ZT=$BUILD/tests/progs/$P
RUN=$BUILD/zio-run
[ -x "$ZT" ] && [ -x "$RUN" ] || { echo "run.sh: build $ZT and $RUN first (make)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/zio-fuzz.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

flags_for() {
	if [ "$FLAGS_SET" = 1 ]; then echo "$FLAGS"; return; fi
	case $(($1 % 3)) in
	0) echo "" ;;
	1) echo "--policy always" ;;
	2) echo "--policy always --threshold 8K" ;;
	esac
}

# One run under zio: prints its verdict line; status 0 ok, 1 failed.
zio_once() { # seed keep flags outfile
	local keep=()
	[ -n "$2" ] && keep=(-K "$2")
	# shellcheck disable=SC2086
	timeout -k 5 100 "$RUN" --stats $3 -- "$ZT" -s "$1" -n "$OPS" "${XARGS[@]}" "${keep[@]}" >"$4" 2>&1
	local st=$?
	grep -q "^$P: seed=.* ok " "$4" && [ $st = 0 ] && return 0
	return 1
}

# "1 2 3 7 8" -> "1-3,7-8"
to_ranges() {
	awk '{ out = ""; a = $1; b = $1
	       for (i = 2; i <= NF; i++) {
	           if ($i == b + 1) { b = $i; continue }
	           out = out (out ? "," : "") (a == b ? a : a "-" b); a = $i; b = $i }
	       if (NF) out = out (out ? "," : "") (a == b ? a : a "-" b); print out }'
}

minimise() { # seed flags failing-op
	local seed=$1 flags=$2 last=$3 start=$SECONDS runs=0
	local -a ops
	mapfile -t ops < <(seq 0 "$last")
	local chunk=$(( (${#ops[@]} + 1) / 2 ))
	while [ "$chunk" -ge 1 ]; do
		local i=0
		while [ "$i" -lt "${#ops[@]}" ]; do
			if [ "$MIN_SECS" -gt 0 ] && [ $((SECONDS - start)) -ge "$MIN_SECS" ]; then
				echo "  (minimising stopped after ${MIN_SECS}s and $runs runs)"
				MIN_LIST=$(echo "${ops[*]}" | to_ranges)
				return
			fi
			local cand=("${ops[@]:0:i}" "${ops[@]:i+chunk}")
			[ ${#cand[@]} -eq 0 ] && { i=$((i + chunk)); continue; }
			runs=$((runs + 1))
			if ! zio_once "$seed" "$(echo "${cand[*]}" | to_ranges)" "$flags" "$TMP/min"; then
				ops=("${cand[@]}")
			else
				i=$((i + chunk))
			fi
		done
		[ "$chunk" -eq 1 ] && break
		chunk=$(( (chunk + 1) / 2 ))
	done
	echo "  (minimised to ${#ops[@]} ops in $runs runs)"
	MIN_LIST=$(echo "${ops[*]}" | to_ranges)
}

total_ops=0 zio_secs=0 failed=0
for ((k = 0; k < COUNT; k++)); do
	seed=$((SEED + k))
	flags=$(flags_for "$seed")
	keep=()
	[ -n "$KEEP" ] && keep=(-K "$KEEP")
	plain=$(timeout -k 5 120 "$ZT" -s "$seed" -n "$OPS" "${XARGS[@]}" "${keep[@]}" 2>&1)
	if ! grep -q ' ok ' <<<"$plain"; then
		echo "$P: seed $seed fails WITHOUT zio (the fuzzer's model is wrong): $plain"
		failed=1
		continue
	fi
	t0=$(date +%s.%N)
	if zio_once "$seed" "$KEEP" "$flags" "$TMP/out"; then
		t1=$(date +%s.%N)
		zio_secs=$(awk "BEGIN { print $zio_secs + $t1 - $t0 }")
		n=$(sed -n "s/^$P: seed=[0-9]* .*ops=\([0-9]*\) ok.*/\1/p" "$TMP/out")
		total_ops=$((total_ops + n))
		d1=$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' <<<"$plain")
		d2=$(sed -n "s/^$P:.*digest=\([0-9a-f]*\).*/\1/p" "$TMP/out")
		el=$(awk -F'elided_copies=' '/^zio: pid=/ { split($2, a, " "); s += a[1] } END { print s + 0 }' "$TMP/out")
		if [ "$d1" != "$d2" ]; then
			echo "$P: seed $seed digest differs: plain $d1, zio $d2 (flags '$flags')"
			failed=1
		elif [ "$QUIET" = 0 ]; then
			echo "seed $seed ok: $n ops, elided_copies=$el, flags '$flags'"
		fi
		echo "$el" >>"$TMP/elided"
		continue
	fi
	failed=1
	# the ops that ran before the failure count too
	t1=$(date +%s.%N)
	zio_secs=$(awk "BEGIN { print $zio_secs + $t1 - $t0 }")
	n=$(sed -n "s/^$P: FAIL .* op=\([0-9]*\) .*/\1/p" "$TMP/out" | head -1)
	total_ops=$((total_ops + ${n:-0}))
	echo "$P: seed $seed FAILED under zio-run $flags:"
	grep -v '^zio: pid=' "$TMP/out" | tail -5 | sed 's/^/  /'
	op=$(sed -n "s/^$P: FAIL .* op=\([0-9]*\) .*/\1/p" "$TMP/out" | head -1)
	if [ "$MODE" = slab ]; then
		echo "  replay: $RUN $flags -- $ZT -s $seed -n $OPS ${XARGS[*]} (timing decides whether it fails again)"
		continue
	fi
	if [ -n "$KEEP" ] || [ -z "$op" ] || [ "$MIN_SECS" = 0 ]; then
		continue
	fi
	minimise "$seed" "$flags" "$op"
	echo "  minimised reproducer: make fuzz SEED=$seed OPS=$OPS KEEP=$MIN_LIST FLAGS='$flags'${XARGS[1]:+ EXCLUDE=${XARGS[1]}}"
	echo "  ($RUN $flags -- $ZT -s $seed -n $OPS ${XARGS[*]} -K $MIN_LIST -v)"
	# shellcheck disable=SC2086
	timeout -k 5 120 "$RUN" $flags -- "$ZT" -s "$seed" -n "$OPS" "${XARGS[@]}" -K "$MIN_LIST" -v 2>&1 |
		grep -v '^zio: pid=' | tail -40 | sed 's/^/    /'
done
elided=$(awk '{ s += $1 } END { print s + 0 }' "$TMP/elided" 2>/dev/null || echo 0)
rate=$(awk "BEGIN { print ($zio_secs > 0) ? int($total_ops / $zio_secs) : 0 }")
echo "$P: $total_ops ops under zio in ${zio_secs%.*}s ($rate ops/s), elided_copies=$elided, $([ $failed = 0 ] && echo all seeds passed || echo FAILURES)"
exit $failed
