#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-micro.sh BUILD_DIR — microbenchmarks of the mechanism:
#   mech       tools/microbench: UFFDIO_MOVE, UFFDIO_COPY, register, write
#              protect, a bare userfaultfd fault round trip (no runtime)
#   smallcopy  memcpy of 8 B - 4 KiB, ns per call, plain and under zio-run:
#              the fast path every copy below the threshold takes
#   copycost   per copy size 4 KiB - 4 MiB, the copy of received data and
#              recv+copy, plain and under zio-run --policy always (the
#              mechanism, not the policy's choice): the cost of elision
#   fault      first touch of a copied page by a load, a store and the
#              kernel (write to a pipe), plain (a cold access) and under
#              zio-run --policy always: mean ns per page (one fault
#              materialises a window of pages) and the round trip (median
#              of the touches that faulted)
# Plain and zio processes alternate within each repetition (plain first on
# even ones); each figure is the median over repetitions.  copycost checks
# every copied byte and fails the benchmark on a difference.
#
# stdout: one line per figure, e.g.
#   smallcopy size=8 plain_ns=X zio_ns=Y overhead_pct=Z
# BUILD_DIR/bench/micro.tsv: result rows (see tools/bench-lib.sh); ratio is
# plain/zio (time), mech rows have the value in the zio column only.
# stderr: a progress line per repetition.
#
# Env (defaults): BENCH_RUNS=5 (quick 3)
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BL_NAME=bench-micro
# shellcheck source=tools/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bl_init "$1"
T=$BL_BUILD/tools
for f in microbench smallcopy copycost; do
	[ -x "$T/$f" ] || bl_die "$T/$f is missing; run 'make' first"
done
if bl_quick; then
	RUNS=${BENCH_RUNS:-3}
else
	RUNS=${BENCH_RUNS:-5}
fi
bl_num BENCH_RUNS "$RUNS"
[ "$RUNS" -ge 1 ] || bl_die "BENCH_RUNS must be at least 1"

out=$BL_BUILD/bench/micro.tsv
tsv=$BL_TMP/micro.tsv
: >"$tsv"

# run_one TOOL VARIANT OUTFILE ZIO_ARGS... -- ARGS... — run a tool to the
# end plain or under zio-run --stats; its output lines are appended to
# OUTFILE prefixed with the variant, its zio stats line kept apart.
run_one() {
	local tool=$1 v=$2 of=$3 zargs=() rc=0
	shift 3
	while [ "$1" != -- ]; do
		zargs+=("$1")
		shift
	done
	shift
	if [ "$v" = plain ]; then
		timeout 300 "$T/$tool" "$@" >"$BL_TMP/one.out" 2>"$BL_TMP/one.err" || rc=$?
	else
		timeout 300 "$BL_RUN" --stats "${zargs[@]}" -- "$T/$tool" "$@" \
			>"$BL_TMP/one.out" 2>"$BL_TMP/one.err" || rc=$?
		grep '^zio: ' "$BL_TMP/one.err" | tail -n 1 >>"$of.stats" || true
	fi
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  | /' "$BL_TMP/one.err" >&2
		bl_die "$tool $* failed under $v (status $rc)$(grep -q MISMATCH "$BL_TMP/one.err" && echo ': VERIFICATION FAILED')"
	fi
	sed "s/^/$v /" "$BL_TMP/one.out" >>"$of"
}

# med FILE VARIANT MATCH FIELD — median of FIELD=value over the lines of
# VARIANT that contain MATCH (a literal " key=value" string).
med() {
	local vals
	vals=$(awk -v v="$2" -v m="$3 " -v f="$4" '$1 == v && index($0 " ", m) {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$1")
	# shellcheck disable=SC2086 # one number per word
	bl_median $vals
}

# last zio stats line's counters of a tool's zio runs
stats_of() {
	local f=$1.stats
	[ -s "$f" ] || { echo "zio_stats=missing"; return 0; }
	tail -n 1 "$f" | tr ' ' '\n' |
		grep -E '^(elided_copies|faults|fallbacks|policy_declined)=' | tr '\n' ' ' | sed 's/ $//'
}

bl_progress "runs=$RUNS"

# ---- mechanism (no runtime involved): medians over runs
: >"$BL_TMP/mech"
for ((r = 0; r < RUNS; r++)); do
	run_one microbench plain "$BL_TMP/mech" --
	bl_progress "mech run $((r + 1))/$RUNS"
done
for k in uffdio_move_ns_per_page uffdio_copy_us register_us unregister_us wp_on_us wp_off_us \
	fault_roundtrip_us_per_page populate_ns_per_page memcpy_cold_us memcpy_fresh_us; do
	vals=$(sed -n "s/^plain micro $k=\([0-9.]*\)$/\1/p" "$BL_TMP/mech")
	[ -n "$vals" ] || continue
	# shellcheck disable=SC2086
	m=$(bl_median $vals)
	case $k in
	*_ns_per_page) unit=ns/page ;;
	*_us_per_page) unit=us/page ;;
	*) unit=us/512KiB ;;
	esac
	echo "micro mech=$k value=$m $unit"
	bl_row "$tsv" micro "mech=${k} size=524288" NA "$m" NA "$unit" "tools/microbench, no runtime"
done

# ---- small copies
: >"$BL_TMP/small"
for ((r = 0; r < RUNS; r++)); do
	for v in $(bl_interleave "$r"); do
		run_one smallcopy "$v" "$BL_TMP/small" --
	done
	bl_progress "smallcopy run $((r + 1))/$RUNS"
done
mapfile -t sizes < <(awk '$1 == "plain" { sub("size=", "", $3); print $3 }' "$BL_TMP/small" | sort -un)
for s in "${sizes[@]}"; do
	p=$(med "$BL_TMP/small" plain " size=$s" ns_per_call)
	z=$(med "$BL_TMP/small" zio " size=$s" ns_per_call)
	ratio=$(bl_ratio "$p" "$z")
	pct=$(awk -v p="$p" -v z="$z" 'BEGIN { printf "%.1f", (z / p - 1) * 100 }')
	echo "smallcopy size=$s plain_ns=$p zio_ns=$z overhead_pct=$pct"
	bl_row "$tsv" smallcopy "size=$s runs=$RUNS" "$p" "$z" "$ratio" ns/call \
		"overhead_pct=$pct $(stats_of "$BL_TMP/small")"
done

# ---- cost of elision per copy size, and first touches
: >"$BL_TMP/copy"
: >"$BL_TMP/fault"
for ((r = 0; r < RUNS; r++)); do
	for v in $(bl_interleave "$r"); do
		run_one copycost "$v" "$BL_TMP/copy" --policy always -- copy
		run_one copycost "$v" "$BL_TMP/fault" --policy always -- fault
	done
	bl_progress "copycost run $((r + 1))/$RUNS"
done
mapfile -t sizes < <(awk '$1 == "plain" { sub("size=", "", $4); print $4 }' "$BL_TMP/copy" | sort -un)
for s in "${sizes[@]}"; do
	line="copycost size=$s"
	for m in copy_ns cycle_ns; do
		p=$(med "$BL_TMP/copy" plain " size=$s" "$m")
		z=$(med "$BL_TMP/copy" zio " size=$s" "$m")
		ratio=$(bl_ratio "$p" "$z")
		line="$line plain_$m=$p zio_$m=$z ratio_$m=$ratio"
		bl_row "$tsv" copycost "metric=${m%_ns} size=$s runs=$RUNS policy=always" \
			"$p" "$z" "$ratio" ns "$(stats_of "$BL_TMP/copy")"
	done
	echo "$line"
done
for k in load store kernel; do
	p=$(med "$BL_TMP/fault" plain " kind=$k" ns_per_page)
	z=$(med "$BL_TMP/fault" zio " kind=$k" ns_per_page)
	ratio=$(bl_ratio "$p" "$z")
	# ns_per_page is the mean first touch (a fault materialises a
	# window of pages); the faulting touches themselves are the round
	# trip.
	rt=$(med "$BL_TMP/fault" zio " kind=$k" slow_median_ns)
	echo "fault touch=$k plain_ns_per_page=$p zio_ns_per_page=$z round_trip_ns=$rt"
	bl_row "$tsv" fault "touch=$k runs=$RUNS policy=always" "$p" "$z" "$ratio" ns/page \
		"round_trip_ns=$rt $(stats_of "$BL_TMP/fault")"
done
mv "$tsv" "$out"
bl_progress "wrote $out"
