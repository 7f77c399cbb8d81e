#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-relay.sh BUILD_DIR — streaming relay benchmark: tools/relay relays a
# stream of 1 MiB chunks from one producer to N consumers (a copy into each
# consumer's ring, then send), plain and under zio-run side by side.  For
# each N both relays stay up; every repetition drives both in turn, plain
# first on even repetitions and zio first on odd ones, with a client that
# checks every consumer got every chunk and samples its bytes (a wrong
# byte fails the benchmark).  The relays' rings total 64 MiB (twice the
# LLC here) whatever N is.
#
# stdout: per N one line
#   relay consumers=N plain_MBps=X zio_MBps=Y ratio=Y/X
# BUILD_DIR/bench/relay.tsv: result rows (see tools/bench-lib.sh).
# stderr: a progress line per repetition.
#
# Env (defaults; BENCH_QUICK=1 shortens):
#   BENCH_CONSUMERS="1 4 16"  BENCH_RUNS=5 (quick 3)
#   BENCH_DURATION=2 (quick 1; seconds of producing per client run)
#   BENCH_RING_MB=64  BENCH_QUEUE=per-consumer (or shared)
#   BENCH_ZIO_ARGS="" (extra zio-run flags, e.g. "--policy always")
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BL_NAME=bench-relay
# shellcheck source=tools/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bl_init "$1"
RELAY=$BL_BUILD/tools/relay
[ -x "$RELAY" ] || bl_die "$RELAY is missing; run 'make' first"

if bl_quick; then
	RUNS=${BENCH_RUNS:-3}
	DURATION=${BENCH_DURATION:-1}
else
	RUNS=${BENCH_RUNS:-5}
	DURATION=${BENCH_DURATION:-2}
fi
CONSUMERS=${BENCH_CONSUMERS:-1 4 16}
RING_MB=${BENCH_RING_MB:-64}
QUEUE=${BENCH_QUEUE:-per-consumer}
read -r -a ZIO_ARGS <<<"${BENCH_ZIO_ARGS:-}"
bl_num BENCH_RUNS "$RUNS"
bl_num BENCH_RING_MB "$RING_MB"
for n in $CONSUMERS; do
	bl_num BENCH_CONSUMERS "$n"
done
[ "$RUNS" -ge 1 ] || bl_die "BENCH_RUNS must be at least 1"

out=$BL_BUILD/bench/relay.tsv
: >"$BL_TMP/relay.tsv"

# run_client VARIANT N — one verified client run; prints its stream MBps.
run_client() {
	local v=$1 n=$2 rc=0 mbps
	timeout $((DURATION * 4 + 60)) "$RELAY" client --port "${BL_PORT[$v]}" \
		--consumers "$n" --duration "$DURATION" --verify sample \
		>"$BL_TMP/client.out" 2>"$BL_TMP/client.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  | /' "$BL_TMP/client.err" >&2
		bl_alive "$v"
		bl_die "VERIFICATION FAILED or client error: variant=$v consumers=$n (status $rc)"
	fi
	mbps=$(sed -n 's/^relay-client: .* MBps=\([0-9.]*\) .*/\1/p' "$BL_TMP/client.out")
	[ -n "$mbps" ] || bl_die "no result line from the client: $(cat "$BL_TMP/client.out")"
	echo "$mbps"
}

bl_progress "consumers=[$CONSUMERS] runs=$RUNS duration=${DURATION}s ring=${RING_MB}MiB queue=$QUEUE"
for n in $CONSUMERS; do
	# Per-consumer rings share the budget, so the copies always land in
	# 64 MiB of cache-cold memory; at least 4 MiB (4 slots) each.
	ring=$RING_MB
	[ "$QUEUE" = shared ] || ring=$((RING_MB / n))
	[ "$ring" -ge 4 ] || ring=4
	args=(server --port 0 --ring "${ring}M" --queue "$QUEUE")
	bl_start plain plain -- "$RELAY" "${args[@]}"
	bl_start zio zio "${ZIO_ARGS[@]}" -- "$RELAY" "${args[@]}"
	bl_wait_listening plain
	bl_wait_listening zio
	zpid=${BL_PID[zio]}
	declare -A res=([plain]="" [zio]="")
	for ((r = 0; r < RUNS; r++)); do
		line="consumers=$n run $((r + 1))/$RUNS:"
		for v in $(bl_interleave "$r"); do
			mbps=$(run_client "$v" "$n")
			res[$v]="${res[$v]} $mbps"
			line="$line ${v}_MBps=$mbps"
		done
		bl_progress "$line"
	done
	bl_stop plain
	bl_stop zio
	# shellcheck disable=SC2086 # word splitting wanted
	plain=$(bl_median ${res[plain]})
	# shellcheck disable=SC2086
	zio=$(bl_median ${res[zio]})
	ratio=$(bl_ratio "$zio" "$plain")
	notes=$(bl_stats "$BL_TMP/zio.err" "$zpid")
	bl_progress "consumers=$n zio relay: $notes"
	echo "relay consumers=$n plain_MBps=$plain zio_MBps=$zio ratio=$ratio"
	bl_row "$BL_TMP/relay.tsv" relay "consumers=$n chunk=1048576 ring_mb=$RING_MB queue=$QUEUE runs=$RUNS" \
		"$plain" "$zio" "$ratio" MBps "$notes"
done
mv "$BL_TMP/relay.tsv" "$out"
bl_progress "wrote $out"
