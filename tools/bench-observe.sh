#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-observe.sh BUILD_DIR — what zio-run --observe costs: the echo
# server (tools/echo) run under zio-run and under zio-run --observe side by
# side, each client run driving one then the other (alternating who goes
# first, so machine noise hits both alike), medians of the runs.
#
# stdout: one line
#   observe overhead=P% zio_rps=X observe_rps=Y paired=Q% runs=N size=S copies=K
# where P = (X - Y) / X * 100 of the medians (negative: within noise) and
# Q the median of the per-run overheads (each pair ran back to back, so
# slow drifts of the machine's load cancel).  stderr: progress.
#
# Env (defaults): BENCH_RUNS=5 BENCH_DURATION=2 (seconds per client run)
#   BENCH_SIZE=524288 BENCH_COPIES=2 BENCH_CONNS=4 BENCH_MODE=pooled
#   BENCH_ZIO_ARGS="" (extra zio-run flags for both, e.g. "--policy always"
#   to elide every copy, the most probe hits)
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BUILD=$1
ECHO=$BUILD/tools/echo
RUN=$BUILD/zio-run
RUNS=${BENCH_RUNS:-5}
DURATION=${BENCH_DURATION:-2}
SIZE=${BENCH_SIZE:-524288}
COPIES=${BENCH_COPIES:-2}
CONNS=${BENCH_CONNS:-4}
MODE=${BENCH_MODE:-pooled}
read -r -a ZIO_ARGS <<<"${BENCH_ZIO_ARGS:-}"
VARIANTS=(zio observe)

die() { echo "bench-observe: $*" >&2; exit 1; }

for f in "$ECHO" "$RUN"; do
	[ -x "$f" ] || die "$f is missing; run 'make' first"
done
for v in "$RUNS" "$DURATION" "$SIZE" "$COPIES" "$CONNS"; do
	[[ $v =~ ^[0-9]+$ ]] || die "bad numeric setting '$v'"
done
[ "$RUNS" -ge 1 ] || die "BENCH_RUNS must be at least 1"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zio-bench-observe.XXXXXX")
declare -A pid port

# terminate PID — SIGTERM, then SIGKILL after 10 s; 1 if it had to kill.
terminate() {
	local p=$1 _
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	return 1
}

cleanup() {
	local v
	for v in "${!pid[@]}"; do
		terminate "${pid[$v]}" || true
		wait "${pid[$v]}" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

start_server() {
	local v=$1 cmd=("$ECHO" server --port 0 --size "$SIZE" --copies "$COPIES" --mode "$MODE")
	case $v in
	zio) cmd=("$RUN" --stats "${ZIO_ARGS[@]}" -- "${cmd[@]}") ;;
	observe) cmd=("$RUN" --stats --observe "${ZIO_ARGS[@]}" -- "${cmd[@]}") ;;
	esac
	"${cmd[@]}" >"$tmp/$v.out" 2>"$tmp/$v.err" &
	pid[$v]=$!
}

wait_listening() {
	local v=$1 _ p
	for _ in $(seq 300); do
		p=$(awk '/^listening on /{print $3; exit}' "$tmp/$v.out")
		if [ -n "$p" ]; then
			port[$v]=$p
			return 0
		fi
		kill -0 "${pid[$v]}" 2>/dev/null || {
			sed 's/^/  | /' "$tmp/$v.err" >&2
			die "$v server exited before listening"
		}
		sleep 0.1
	done
	die "$v server did not start listening within 30 s"
}

run_client() {
	local v=$1 rc=0 rps
	"$ECHO" client --port "${port[$v]}" --size "$SIZE" --conns "$CONNS" \
		--duration "$DURATION" --verify sample \
		>"$tmp/client.out" 2>"$tmp/client.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  | /' "$tmp/client.err" >&2
		die "VERIFICATION FAILED or client error: variant=$v (status $rc)"
	fi
	rps=$(sed -n 's/^echo-client: .* rps=\([0-9.]*\) .*/\1/p' "$tmp/client.out")
	[ -n "$rps" ] || die "no result line from the client: $(cat "$tmp/client.out")"
	echo "$rps"
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR % 2) printf "%.1f", a[(NR + 1) / 2];
		      else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

stat_field() {
	sed -n "s/^zio: pid=.* $2=\([^ ]*\).*/\1/p" "$1" | tail -n1
}

echo "bench-observe: size=$SIZE copies=$COPIES mode=$MODE conns=$CONNS runs=$RUNS duration=${DURATION}s zio-run args=[${ZIO_ARGS[*]}]" >&2
for v in "${VARIANTS[@]}"; do
	start_server "$v"
done
for v in "${VARIANTS[@]}"; do
	wait_listening "$v"
done
if grep -q -- '--observe unavailable' "$tmp/observe.err"; then
	die "$(grep -- '--observe unavailable' "$tmp/observe.err")"
fi
# The observed server is zio-run's child; its maps must be pinned.
child=$(pgrep -P "${pid[observe]}" | head -n1 || true)
if [ -z "$child" ] || [ ! -e "/sys/fs/bpf/zio/$child/aliases" ]; then
	die "observed server has no pinned maps (/sys/fs/bpf/zio/${child:-?}/)"
fi

declare -A res=([zio]="" [observe]="") last
pairs=""
for ((r = 0; r < RUNS; r++)); do
	progress="bench-observe: run $((r + 1))/$RUNS:"
	for ((i = 0; i < 2; i++)); do
		v=${VARIANTS[$(((r + i) % 2))]}
		rps=$(run_client "$v")
		res[$v]="${res[$v]} $rps"
		progress="$progress $v=$rps"
		last[$v]=$rps
	done
	pairs="$pairs $(awk -v x="${last[zio]}" -v y="${last[observe]}" \
		'BEGIN { printf "%.2f", (x > 0 ? (x - y) / x * 100 : 0) }')"
	echo "$progress" >&2
done
for v in "${VARIANTS[@]}"; do
	terminate "${pid[$v]}" || die "$v server ignored SIGTERM for 10 s; killed it"
	wait "${pid[$v]}" || true
	unset "pid[$v]"
	echo "bench-observe: $v server: elided_copies=$(stat_field "$tmp/$v.err" elided_copies)" \
		"materialized_pages=$(stat_field "$tmp/$v.err" materialized_pages)" >&2
done
[ ! -e "/sys/fs/bpf/zio/$child" ] || die "pins of $child left behind"

# shellcheck disable=SC2086 # word splitting wanted
zio=$(median ${res[zio]})
# shellcheck disable=SC2086
obs=$(median ${res[observe]})
pct=$(awk -v x="$zio" -v y="$obs" 'BEGIN { printf "%.1f", (x > 0 ? (x - y) / x * 100 : 0) }')
# shellcheck disable=SC2086
paired=$(median $pairs)
echo "observe overhead=${pct}% zio_rps=$zio observe_rps=$obs paired=${paired}% runs=$RUNS" \
	"size=$SIZE copies=$COPIES"
