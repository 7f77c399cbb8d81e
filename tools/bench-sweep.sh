#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-sweep.sh BUILD_DIR — sweeps of the echo benchmark (tools/echo through
# tools/bench-echo.sh, which runs plain, zio-run --off and zio side by side,
# verifies every reply by sample, and takes medians).  One dimension moves
# at a time around the base point (512 KiB messages, 4 in-app copies,
# 1 server thread, no pages touched), for pooled and fresh buffers:
#   copies   0 1 2 4 8
#   size     4K 16K 64K 256K 1M 4M (copies 4)
#   threads  2 (copies 4)
#   touch    10 50 100 % of the aliased pages read after the copies: the
#            mis-speculation case (copies 4)
#
# bench-echo.sh writes BUILD_DIR/bench/echo.tsv; to leave `make
# bench-echo`'s file alone it is pointed at a private build dir of links.
#
# stdout: bench-echo's lines "echo mode=M size=S copies=K ... ratio=R"
# BUILD_DIR/bench/sweep.tsv: result rows (see tools/bench-lib.sh).
# stderr: bench-echo's progress line per repetition.
#
# Env (defaults; BENCH_QUICK=1 sweeps fewer points, 3 runs of 0.5 s):
#   BENCH_SWEEP_COPIES="0 1 2 4 8"  BENCH_SWEEP_SIZES="4096 16384 65536
#   262144 1048576 4194304"  BENCH_SWEEP_THREADS="2"  BENCH_SWEEP_TOUCH="10 50 100"
#   (set one empty to skip that sweep)
#   BENCH_MODES="pooled fresh"  BENCH_RUNS=5  BENCH_DURATION=1
#   BENCH_ZIO_ARGS (passed on to bench-echo.sh)
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BL_NAME=bench-sweep
# shellcheck source=tools/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bl_init "$1"
ECHO_SH=$(dirname "$0")/bench-echo.sh
[ -x "$BL_BUILD/tools/echo" ] || bl_die "$BL_BUILD/tools/echo is missing; run 'make' first"

BASE_SIZE=524288
BASE_COPIES=4
if bl_quick; then
	COPIES=${BENCH_SWEEP_COPIES-0 4}
	SIZES=${BENCH_SWEEP_SIZES-65536 4194304}
	THREADS=${BENCH_SWEEP_THREADS-}
	TOUCH=${BENCH_SWEEP_TOUCH-100}
	RUNS=${BENCH_RUNS:-3}
	DURATION=${BENCH_DURATION:-0.5}
else
	COPIES=${BENCH_SWEEP_COPIES-0 1 2 4 8}
	SIZES=${BENCH_SWEEP_SIZES-4096 16384 65536 262144 1048576 4194304}
	THREADS=${BENCH_SWEEP_THREADS-2}
	TOUCH=${BENCH_SWEEP_TOUCH-10 50 100}
	RUNS=${BENCH_RUNS:-5}
	DURATION=${BENCH_DURATION:-1}
fi
MODES=${BENCH_MODES:-pooled fresh}

# bench-echo.sh takes BUILD_DIR/tools/echo and BUILD_DIR/zio-run (which
# finds libzio.so next to its real path) and writes BUILD_DIR/bench/.
abs=$(cd "$BL_BUILD" && pwd)
priv=$BL_TMP/build
mkdir -p "$priv/bench"
ln -s "$abs/tools" "$priv/tools"
ln -s "$abs/zio-run" "$priv/zio-run"
ln -s "$abs/libzio.so" "$priv/libzio.so"

out=$BL_BUILD/bench/sweep.tsv
: >"$BL_TMP/sweep.tsv"

# one SWEEP SIZE MODE COPIES THREADS TOUCH — one bench-echo.sh invocation
# for one configuration; its row is appended with the sweep it belongs to.
# One configuration per invocation because bench-echo.sh reads a server's
# "listening on" line from a file it reuses across configurations, and on a
# busy machine it can read the previous server's port before the new
# server's redirection truncates the file; a fresh invocation has a fresh
# temp dir.
one() {
	local sweep=$1 size=$2 mode=$3 copies=$4 threads=$5 touch=$6 limit rc=0
	bl_progress "sweep=$sweep mode=$mode size=$size copies=$copies threads=$threads touch=$touch"
	# bench-echo.sh waits for its servers without a bound; timeout signals
	# its whole process group (servers included), then SIGKILLs it, so a
	# server hung under zio cannot hang the sweep.
	limit=$(awk -v r="$RUNS" -v d="$DURATION" 'BEGIN { printf "%d", r * 3 * (d + 10) + 60 }')
	rm -f "$priv/bench/echo.tsv"
	BENCH_MODES=$mode BENCH_COPIES=$copies BENCH_SIZE=$size BENCH_THREADS=$threads \
		BENCH_TOUCH=$touch BENCH_RUNS=$RUNS BENCH_DURATION=$DURATION \
		timeout -k 30 "$limit" "$ECHO_SH" "$priv" >"$BL_TMP/echo.out" || rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		bl_die "bench-echo.sh did not finish within $limit s (a hung server?)"
	fi
	[ "$rc" -eq 0 ] || bl_die "bench-echo.sh failed (status $rc): sweep=$sweep mode=$mode size=$size copies=$copies threads=$threads touch=$touch"
	grep '^echo ' "$BL_TMP/echo.out" || true
	# mode size copies threads touch conns runs duration plain off zio ratio elided fallbacks
	awk -F'\t' -v sweep="$sweep" 'NR > 1 {
		printf "echo\tsweep=%s mode=%s size=%s copies=%s threads=%s touch=%s conns=%s runs=%s\t%s\t%s\t%s\trps\toff_rps=%s elided_copies=%s fallbacks=%s\n",
			sweep, $1, $2, $3, $4, $5, $6, $7, $9, $11, $12, $10, $13, $14 }' \
		"$priv/bench/echo.tsv" >>"$BL_TMP/sweep.tsv"
}

# point SWEEP SIZE "COPIES" THREADS TOUCH — every mode and copies value.
point() {
	local m k
	for m in $MODES; do
		for k in $3; do
			one "$1" "$2" "$m" "$k" "$4" "$5"
		done
	done
}

[ -z "$COPIES" ] || point copies "$BASE_SIZE" "$COPIES" 1 0
for s in $SIZES; do
	[ "$s" = "$BASE_SIZE" ] || point size "$s" "$BASE_COPIES" 1 0
done
for t in $THREADS; do
	[ "$t" = 1 ] || point threads "$BASE_SIZE" "$BASE_COPIES" "$t" 0
done
for p in $TOUCH; do
	[ "$p" = 0 ] || point touch "$BASE_SIZE" "$BASE_COPIES" 1 "$p"
done
mv "$BL_TMP/sweep.tsv" "$out"
bl_progress "wrote $out"
