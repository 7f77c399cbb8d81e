#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# redis-cpu-ab.sh [-s SIZE] [-a yes|no] [-n REQUESTS] [-r ROUNDS] [-p PORT]
#                 [-o "OP:PIPELINE ..."] VARIANT...
#
# Server CPU per request, side by side: for each round, each VARIANT in
# turn starts Debian's redis-server (VARIANT "plain", or a zio-run path:
# the server runs under it), runs redis-benchmark for each OP:PIPELINE in
# order against it, and prints the server's CPU time per request (us; all
# its threads, from schedstat) and the rate redis-benchmark reported.  CPU
# per request is steadier than throughput on a shared 2-CPU machine (the
# client's share and the host's slow phases move rps by +-10%), and it is
# what eliding copies saves.  The data dir and the AOF (-a yes,
# appendfsync always, no automatic rewrites) live on /dev/shm.
#
#   tools/redis-cpu-ab.sh -s 262144 -o "set:1 get:1 get:16" plain build/zio-run
#
# Output, one line per variant and round:
#   VARIANT set:1 cpu_us=63.3 rps=12345 get:1 cpu_us=... ...
set -eu

usage() {
	sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

SIZE=262144 AOF=no N=3000 ROUNDS=3 PORT=7390 OPS="set:1 get:1 get:16"
while getopts "s:a:n:r:p:o:h" o; do
	case $o in
	s) SIZE=$OPTARG ;;
	a) AOF=$OPTARG ;;
	n) N=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	p) PORT=$OPTARG ;;
	o) OPS=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
case $AOF in yes | no) ;; *) echo "redis-cpu-ab: -a takes yes or no, not '$AOF'" >&2; exit 2 ;; esac
for x in "$SIZE" "$N" "$ROUNDS" "$PORT"; do
	[[ $x =~ ^[0-9]+$ ]] || { echo "redis-cpu-ab: '$x' is not a number" >&2; exit 2; }
done
for c in redis-server redis-benchmark redis-cli; do
	command -v "$c" >/dev/null || { echo "redis-cpu-ab: $c is missing (make bench-deps)" >&2; exit 2; }
done
for v in "$@"; do
	[ "$v" = plain ] || [ -x "$v" ] || { echo "redis-cpu-ab: '$v' is neither plain nor an executable zio-run" >&2; exit 2; }
done
if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
	echo "redis-cpu-ab: something answers on port $PORT already (-p PORT)" >&2
	exit 2
fi

# The data dir (and the AOF) on a tmpfs, as in make bench-redis: with
# appendfsync always a disk would dominate the server's time.
DIR=$(mktemp -d /dev/shm/redis-cpu-ab.XXXXXX)
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

# CPU time of all the server's threads in ns (schedstat: exact, where
# utime+stime come in 10 ms ticks, a quarter of a us per request at 40,000).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%.0f", t }'; }

for ((round = 0; round < ROUNDS; round++)); do
	for v in "$@"; do
		rm -rf "${DIR:?}"/*
		args=(redis-server --port "$PORT" --save '' --appendonly "$AOF" --appendfsync always
		      --auto-aof-rewrite-percentage 0
		      --dir "$DIR")
		if [ "$v" = plain ]; then
			"${args[@]}" >"$DIR.log" 2>&1 &
		else
			"$v" -- "${args[@]}" >"$DIR.log" 2>&1 &
		fi
		PID=$!
		for _ in $(seq 100); do
			redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
			sleep 0.05
		done
		redis-cli -p "$PORT" ping >/dev/null 2>&1 ||
			{ echo "redis-cpu-ab: $v: the server did not start: $(cat "$DIR.log")" >&2; exit 1; }
		line=$v
		for op in $OPS; do
			t=${op%:*} p=${op#*:}
			t0=$(cpu_ns "$PID")
			rps=$(redis-benchmark -p "$PORT" -t "$t" -d "$SIZE" -P "$p" -c 50 -n "$N" \
				-r 256 -q 2>&1 | tr '\r' '\n' | awk '/requests per second/ { r = $2 } END { print r }')
			t1=$(cpu_ns "$PID")
			[ -n "$rps" ] || { echo "redis-cpu-ab: $v: no result for $op" >&2; exit 1; }
			line="$line $op cpu_us=$(awk -v d=$((t1 - t0)) -v n="$N" \
				'BEGIN { printf "%.2f", d / 1000 / n }') rps=$rps"
		done
		echo "$line"
		redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
		wait "$PID" 2>/dev/null || true
		PID=
	done
done
rm -f "$DIR.log"
