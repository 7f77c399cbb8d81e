#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-echo.sh BUILD_DIR — echo benchmark: the echo server run three ways,
#   plain  no preload
#   off    zio-run --off (interposers loaded, nothing elided)
#   zio    zio-run (elision on)
# for every buffer mode and number of in-app copies.  The three servers of
# one configuration stay up side by side and each run drives all three in
# turn (rotating who goes first), so machine noise hits them alike; the
# table shows medians over the runs.  Every client run verifies a sample
# of every reply; any mismatch fails the benchmark.
#
# stdout: a table, then per mode and copies one line
#   echo mode=M size=S copies=K plain_rps=X off_rps=Z zio_rps=Y ratio=Y/X
# BUILD_DIR/bench/echo.tsv: the same numbers as tab-separated columns.
# stderr: progress.
#
# Env (defaults):
#   BENCH_MODES="pooled fresh"  BENCH_COPIES="0 1 2 3 4"  BENCH_SIZE=524288
#   BENCH_THREADS=1  BENCH_TOUCH=0  BENCH_CONNS=4  BENCH_RUNS=5
#   BENCH_DURATION=2 (seconds per client run)
#   BENCH_PIN="0 1" (server CPU, client CPU; none: unpinned; default none
#   with 1 CPU or BENCH_THREADS > 1)
#   BENCH_ZIO_ARGS="" (extra zio-run flags for the zio variant, e.g.
#   "--threshold 128K")
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BUILD=$1
ECHO=$BUILD/tools/echo
RUN=$BUILD/zio-run

MODES=${BENCH_MODES:-pooled fresh}
COPIES=${BENCH_COPIES:-0 1 2 3 4}
SIZE=${BENCH_SIZE:-524288}
THREADS=${BENCH_THREADS:-1}
TOUCH=${BENCH_TOUCH:-0}
CONNS=${BENCH_CONNS:-4}
RUNS=${BENCH_RUNS:-5}
DURATION=${BENCH_DURATION:-2}
read -r -a ZIO_ARGS <<<"${BENCH_ZIO_ARGS:-}"
# Server on one CPU, client on another, for every variant alike: left to
# the scheduler, runs that put both on one CPU made medians bimodal.
# BENCH_PIN=none leaves placement to the scheduler; "S C" picks CPUs.
NCPU=$(nproc)
# (A multi-threaded server is left unpinned unless asked: one CPU for
# its threads would make the threads sweep meaningless.)
PIN=${BENCH_PIN:-$([ "$NCPU" -ge 2 ] && [ "${BENCH_THREADS:-1}" = 1 ] && echo "0 1" || echo none)}
SPIN=() CPIN=()
if [ "$PIN" != none ]; then
	read -r pin_s pin_c <<<"$PIN"
	[[ ${pin_s:-x} =~ ^[0-9]+$ && ${pin_c:-x} =~ ^[0-9]+$ ]] ||
		{ echo "bench-echo: BENCH_PIN='$PIN': want 'S C' or none" >&2; exit 1; }
	SPIN=(taskset -c "$pin_s") CPIN=(taskset -c "$pin_c")
fi
VARIANTS=(plain off zio)

die() { echo "bench-echo: $*" >&2; exit 1; }

for f in "$ECHO" "$RUN"; do
	[ -x "$f" ] || die "$f is missing; run 'make' first"
done
for v in "$SIZE" "$THREADS" "$TOUCH" "$CONNS" "$RUNS"; do
	[[ $v =~ ^[0-9]+$ ]] || die "bad numeric setting '$v'"
done
[ "$RUNS" -ge 1 ] || die "BENCH_RUNS must be at least 1"
for k in $COPIES; do
	[[ $k =~ ^[0-9]+$ ]] || die "bad BENCH_COPIES entry '$k'"
done
for m in $MODES; do
	[ "$m" = pooled ] || [ "$m" = fresh ] || die "bad BENCH_MODES entry '$m'"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zio-bench.XXXXXX")
declare -A pid port

# alive PID — true while PID runs (a zombie counts as gone).
alive() {
	local state
	state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# terminate PID — SIGTERM PID and give it 10 s, then SIGKILL it.  Returns
# 1 if it had to be killed, else 0; the caller collects its status (wait).
terminate() {
	local p=$1 _
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 100); do
		alive "$p" || return 0
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

# start_server VARIANT ARGS... — start one variant on a kernel-chosen port.
start_server() {
	local v=$1
	shift
	local cmd=("$ECHO" server --port 0 "$@")
	case $v in
	plain) ;;
	off) cmd=("$RUN" --stats --off -- "${cmd[@]}") ;;
	zio) cmd=("$RUN" --stats "${ZIO_ARGS[@]}" -- "${cmd[@]}") ;;
	esac
	# Empty the files before the server starts: the background shell
	# truncates them only once it runs, and wait_listening must not read
	# the previous server's port meanwhile.
	: >"$tmp/$v.out"
	: >"$tmp/$v.err"
	"${SPIN[@]}" "${cmd[@]}" >"$tmp/$v.out" 2>"$tmp/$v.err" &
	pid[$v]=$!
}

# wait_listening VARIANT — sets port[VARIANT] once the server listens.
wait_listening() {
	local v=$1 _ p
	# Pools of up to 4 x 64 MiB are touched first; 30 s bounds a hang.
	for _ in $(seq 300); do
		p=$(awk '/^listening on /{print $3; exit}' "$tmp/$v.out")
		if [ -n "$p" ]; then
			port[$v]=$p
			return 0
		fi
		if ! kill -0 "${pid[$v]}" 2>/dev/null; then
			sed 's/^/  | /' "$tmp/$v.err" >&2
			unset "pid[$v]"
			die "$v server exited before listening"
		fi
		sleep 0.1
	done
	die "$v server did not start listening within 30 s"
}

# stop_server VARIANT — SIGTERM it, insist on a prompt exit with status 0.
stop_server() {
	local v=$1 rc=0 killed=0
	terminate "${pid[$v]}" || killed=1
	wait "${pid[$v]}" || rc=$?
	unset "pid[$v]"
	if [ "$killed" -eq 1 ]; then
		sed 's/^/  | /' "$tmp/$v.err" >&2
		die "$v server (mode=$mode copies=$k) ignored SIGTERM for 10 s; killed it"
	fi
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  | /' "$tmp/$v.err" >&2
		die "$v server exited with status $rc"
	fi
}

# run_client VARIANT — one verified client run; prints its rps.
run_client() {
	local v=$1 rc=0 rps
	"${CPIN[@]}" "$ECHO" client --port "${port[$v]}" --size "$SIZE" --conns "$CONNS" \
		--duration "$DURATION" --verify sample \
		>"$tmp/client.out" 2>"$tmp/client.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  | /' "$tmp/client.err" >&2
		die "VERIFICATION FAILED or client error: variant=$v mode=$mode copies=$k (status $rc)"
	fi
	rps=$(sed -n 's/^echo-client: .* rps=\([0-9.]*\) .*/\1/p' "$tmp/client.out")
	[ -n "$rps" ] || die "no result line from the client: $(cat "$tmp/client.out")"
	echo "$rps"
}

# median NUMBERS... — middle value (mean of the two middle ones if even).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR % 2) printf "%.1f", a[(NR + 1) / 2];
		      else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# stat_field FILE KEY — KEY=value from the zio stats line of the server.
stat_field() {
	sed -n "s/^zio: pid=.* $2=\([^ ]*\).*/\1/p" "$1" | tail -n1
}

mkdir -p "$BUILD/bench"
tsv=$BUILD/bench/echo.tsv
lines=()
rows=()
printf 'mode\tsize\tcopies\tthreads\ttouch\tconns\truns\tduration\tplain_rps\toff_rps\tzio_rps\tratio\telided_copies\tfallbacks\n' \
	>"$tmp/echo.tsv"

echo "bench-echo: modes=[$MODES] copies=[$COPIES] size=$SIZE threads=$THREADS touch=$TOUCH conns=$CONNS runs=$RUNS duration=${DURATION}s" >&2
for mode in $MODES; do
	for k in $COPIES; do
		args=(--size "$SIZE" --copies "$k" --mode "$mode" --threads "$THREADS" --touch "$TOUCH")
		for v in "${VARIANTS[@]}"; do
			start_server "$v" "${args[@]}"
		done
		for v in "${VARIANTS[@]}"; do
			wait_listening "$v"
		done
		declare -A res=([plain]="" [off]="" [zio]="")
		for ((r = 0; r < RUNS; r++)); do
			progress="bench-echo: mode=$mode copies=$k run $((r + 1))/$RUNS:"
			for ((i = 0; i < 3; i++)); do
				v=${VARIANTS[$(((r + i) % 3))]}
				rps=$(run_client "$v")
				res[$v]="${res[$v]} $rps"
				progress="$progress $v=$rps"
			done
			echo "$progress" >&2
		done
		for v in "${VARIANTS[@]}"; do
			stop_server "$v"
		done

		# shellcheck disable=SC2086 # word splitting wanted
		plain=$(median ${res[plain]})
		# shellcheck disable=SC2086
		off=$(median ${res[off]})
		# shellcheck disable=SC2086
		zio=$(median ${res[zio]})
		ratio=$(awk -v y="$zio" -v x="$plain" 'BEGIN { printf "%.2f", (x > 0 ? y / x : 0) }')
		elided=$(stat_field "$tmp/zio.err" elided_copies)
		fallbacks=$(stat_field "$tmp/zio.err" fallbacks)
		if [ -z "$elided" ]; then
			echo "bench-echo: warning: no zio stats line from the zio server" >&2
			elided=NA fallbacks=NA
		fi
		echo "bench-echo: mode=$mode copies=$k zio server: elided_copies=$elided fallbacks=$fallbacks" >&2
		rows+=("$(printf '%-7s %6s %12s %12s %12s %7s %14s' "$mode" "$k" "$plain" "$off" "$zio" "$ratio" "$elided")")
		lines+=("echo mode=$mode size=$SIZE copies=$k plain_rps=$plain off_rps=$off zio_rps=$zio ratio=$ratio")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
			"$mode" "$SIZE" "$k" "$THREADS" "$TOUCH" "$CONNS" "$RUNS" "$DURATION" \
			"$plain" "$off" "$zio" "$ratio" "$elided" "$fallbacks" >>"$tmp/echo.tsv"
	done
done

printf '%-7s %6s %12s %12s %12s %7s %14s\n' mode copies plain_rps off_rps zio_rps ratio elided_copies
printf '%s\n' "${rows[@]}"
printf '%s\n' "${lines[@]}"
mv "$tmp/echo.tsv" "$tsv"
echo "bench-echo: wrote $tsv" >&2
