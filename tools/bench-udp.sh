#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-udp.sh BUILD_DIR — UDP echo benchmark of zio's AF_XDP path.
# The echo server (tools/udpecho: plain sockets, K in-app copies between
# receive and reply) runs in one network namespace, the load generator
# (W datagrams in flight, replies verified) in the other, across the veth
# pair of tools/zio-netns.sh, two ways:
#   kernel  the server alone, kernel sockets, no XDP program attached
#   zio     zio-run --xdp IFACE --xdp-ports PORT (AF_XDP rings, elision)
# Each run starts a fresh server; the two variants alternate (who goes
# first rotates), so noise from a shared machine hits both alike; the
# table shows medians.
#
# Placement: by default the server runs on CPU 0 and the load generator
# on CPU 1 (taskset), for both variants alike, as a client on another
# machine would.  Left to the scheduler on a 2-CPU machine, some runs put
# both on one CPU and pps halves for reasons of scheduling, not IO (the
# server preempts the client at every wakeup and the two ping-pong one
# datagram at a time), which made the medians bimodal.  BENCH_PIN=none
# restores that; BENCH_PIN="S L" picks other CPUs.  On veth the receive
# side's XDP work (copy mode) runs in softirq on the *sender's* CPU, i.e.
# the load generator's: see docs/xdp.md.
#
# stdout: a table, then per case one line
#   udp size=S copies=K kernel_pps=X zio_pps=Y ratio=Y/X
# BUILD_DIR/bench/udp.tsv: the same as tab-separated columns.
#
# Env (defaults): BENCH_SIZES="1024 8192 32768 61440" BENCH_COPIES="0 2"
#   BENCH_RUNS=5 BENCH_DURATION=2 BENCH_WINDOW=8 BENCH_ZIO_ARGS="" (zio-run's
#   own defaults: a 16 KiB threshold under --xdp)
#   BENCH_NETNS_ID=250 BENCH_PIN="0 1" (1-CPU machines: none)
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BUILD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
UDPECHO=$BUILD/tools/udpecho
RUN=$BUILD/zio-run
SIZES=${BENCH_SIZES:-1024 8192 32768 61440}
COPIES=${BENCH_COPIES:-0 2}
RUNS=${BENCH_RUNS:-5}
DURATION=${BENCH_DURATION:-2}
WINDOW=${BENCH_WINDOW:-8}
read -r -a ZIO_ARGS <<<"${BENCH_ZIO_ARGS:-}"
ID=${BENCH_NETNS_ID:-250}
PORT=9000
NCPU=$(getconf _NPROCESSORS_ONLN)
PIN=${BENCH_PIN:-$([ "$NCPU" -ge 2 ] && echo "0 1" || echo none)}
SPIN=() LPIN=()
if [ "$PIN" != none ]; then
	read -r pin_s pin_l <<<"$PIN"
	[[ ${pin_s:-x} =~ ^[0-9]+$ && ${pin_l:-x} =~ ^[0-9]+$ ]] || { echo "bench-udp: BENCH_PIN='$PIN': want 'S L' or none" >&2; exit 1; }
	SPIN=(taskset -c "$pin_s") LPIN=(taskset -c "$pin_l")
fi

die() { echo "bench-udp: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, XDP)"
for f in "$UDPECHO" "$RUN"; do
	[ -x "$f" ] || die "$f is missing; run 'make' first"
done
for v in $SIZES $COPIES "$RUNS" "$WINDOW"; do
	[[ $v =~ ^[0-9]+$ ]] || die "bad numeric setting '$v'"
done

eval "$("$HERE/zio-netns.sh" env "$ID")"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zio-bench-udp.XXXXXX")
spid=
cleanup() {
	if [ -n "$spid" ]; then kill -KILL "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
	"$HERE/zio-netns.sh" down "$ID"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
"$HERE/zio-netns.sh" up "$ID" || die "cannot create the test topology"

# server VARIANT COPIES — start one server in namespace A, wait until it listens.
server() {
	local cmd=("$UDPECHO" server --port "$PORT" --copies "$2") _
	[ "$1" = zio ] && cmd=("$RUN" --stats "${ZIO_ARGS[@]}" --xdp "$IF_A" --xdp-ports "$PORT" -- "${cmd[@]}")
	ip netns exec "$NS_A" ${SPIN[@]+"${SPIN[@]}"} "${cmd[@]}" >"$tmp/srv.out" 2>"$tmp/srv.err" &
	spid=$!
	for _ in $(seq 100); do
		grep -q '^listening' "$tmp/srv.out" 2>/dev/null && return 0
		kill -0 "$spid" 2>/dev/null || { sed 's/^/  | /' "$tmp/srv.err" >&2; die "$1 server exited"; }
		sleep 0.05
	done
	die "$1 server did not start"
}

stop() {
	kill -TERM "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	spid=
}

# load SIZE — one verified load run against the server; prints its pps.
load() {
	local rc=0 pps
	ip netns exec "$NS_B" ${LPIN[@]+"${LPIN[@]}"} "$UDPECHO" load --addr "$IP4_A" --port "$PORT" --size "$1" \
		--duration "$DURATION" --window "$WINDOW" >"$tmp/load.out" 2>"$tmp/load.err" || rc=$?
	[ "$rc" -eq 0 ] || { sed 's/^/  | /' "$tmp/load.err" >&2; die "VERIFICATION FAILED or load error (size $1)"; }
	pps=$(sed -n 's/^udpecho-load: .* pps=\([0-9.]*\) .*/\1/p' "$tmp/load.out")
	[ -n "$pps" ] || die "no result from the load generator: $(cat "$tmp/load.out")"
	echo "$pps"
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR % 2) printf "%.0f", a[(NR + 1) / 2];
		      else printf "%.0f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

stat_field() { sed -n "s/^zio: pid=.* $2=\([^ ]*\).*/\1/p" "$1" | tail -n1; }

mkdir -p "$BUILD/bench"
printf 'size\tcopies\truns\tduration\twindow\tkernel_pps\tzio_pps\tratio\txdp_mode\telided_copies\txdp_copied_bytes\txdp_fallback\n' >"$tmp/udp.tsv"
rows=() lines=() mode=
echo "bench-udp: sizes=[$SIZES] copies=[$COPIES] runs=$RUNS duration=${DURATION}s window=$WINDOW zio=[${ZIO_ARGS[*]}] pin=[$PIN]" >&2
for size in $SIZES; do
	for k in $COPIES; do
		kern=() zio=()
		for ((r = 0; r < RUNS; r++)); do
			order=(kernel zio)
			((r % 2)) && order=(zio kernel)
			progress="bench-udp: size=$size copies=$k run $((r + 1))/$RUNS:"
			for v in "${order[@]}"; do
				server "$v" "$k"
				pps=$(load "$size")
				stop
				if [ "$v" = zio ]; then
					zio+=("$pps")
					mode=$(stat_field "$tmp/srv.err" xdp_mode)
					elided=$(stat_field "$tmp/srv.err" elided_copies)
					copied=$(stat_field "$tmp/srv.err" xdp_copied_bytes)
					fb=$(stat_field "$tmp/srv.err" xdp_fallback)
				else
					kern+=("$pps")
				fi
				progress="$progress $v=$pps"
			done
			echo "$progress" >&2
		done
		kp=$(median "${kern[@]}")
		zp=$(median "${zio[@]}")
		ratio=$(awk -v y="$zp" -v x="$kp" 'BEGIN { printf "%.2f", (x > 0 ? y / x : 0) }')
		rows+=("$(printf '%6s %6s %12s %12s %6s' "$size" "$k" "$kp" "$zp" "$ratio")")
		lines+=("udp size=$size copies=$k kernel_pps=$kp zio_pps=$zp ratio=$ratio")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$k" "$RUNS" \
			"$DURATION" "$WINDOW" "$kp" "$zp" "$ratio" "${mode:-NA}" "${elided:-NA}" \
			"${copied:-NA}" "${fb:-NA}" >>"$tmp/udp.tsv"
	done
done
printf '%6s %6s %12s %12s %6s\n' size copies kernel_pps zio_pps ratio
printf '%s\n' "${rows[@]}"
printf '%s\n' "${lines[@]}"
echo "bench-udp: xdp_mode=${mode:-NA} (attach-bind)" >&2
mv "$tmp/udp.tsv" "$BUILD/bench/udp.tsv"
echo "bench-udp: wrote $BUILD/bench/udp.tsv" >&2
