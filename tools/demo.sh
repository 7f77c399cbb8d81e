#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh BUILD_DIR — what zio does, in under a minute, on this machine:
#   1. the echo relay (tools/echo: 512 KiB messages copied three times in
#      the server before the reply), buffers fresh and pooled, plain and
#      under zio-run, every reply checked by the client;
#   2. Debian's redis-server, unmodified, plain and under zio-run, driven by
#      tools/redisload (GETs of 256 KiB values, every reply checked
#      against the value SET), with zio-trace's table of the copies
#      redis makes (root only: zio-trace uses uprobes).
# Each figure is the mean of two runs interleaved plain, zio, zio, plain,
# with the server's CPU time per request beside throughput.  This is a
# first look, not a measurement: `make bench-apps` runs the same servers
# seven times each with confidence intervals.
#
# Env: DEMO_DURATION (seconds a run, default 3), DEMO_CONNS (default 4).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BL_NAME=demo
# shellcheck source=tools/bench-lib.sh
. "$HERE/bench-lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
bl_init "$BUILD"
ECHO=$BUILD/tools/echo
LOAD=$BUILD/tools/redisload
TRACE=$BUILD/zio-trace
DUR=${DEMO_DURATION:-3}
CONNS=${DEMO_CONNS:-4}
bl_num DEMO_DURATION "$DUR"
bl_num DEMO_CONNS "$CONNS"
for f in "$ECHO" "$LOAD"; do
	[ -x "$f" ] || bl_die "$f is missing; run 'make' first"
done

# field FILE KEY — the value of KEY=... on FILE's first line that has it.
field() {
	sed -n "s/.*[ :]$2=\([^ ]*\).*/\1/p" "$1" | head -n1
}

# mean A B — the mean of two numbers, as printed.
mean() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) / 2 }'
}

# The results of one run: RATE[variant] and CPU[variant] collect the
# rate and the server's CPU us per request of each run.
declare -A RATE=() CPU=() ELIDED=()

# ---------------------------------------------------------------- echo

# echo_run VARIANT MODE — one run of the relay, fresh server each time.
echo_run() {
	local v=$1 mode=$2 name=echo-$1 pid c0 c1 msgs secs
	: >"$BL_TMP/$name.out"    # (the server's shell creates it a moment later)
	bl_start "$name" "$v" -- "$ECHO" server --port 0 --size 512K --copies 3 --mode "$mode"
	bl_wait_listening "$name"
	pid=${BL_PID[$name]}
	c0=$(bl_cpu_ns "$pid")
	if ! "$ECHO" client --port "${BL_PORT[$name]}" --size 512K --conns "$CONNS" \
		--duration "$DUR" --verify full >"$BL_TMP/$name.client" 2>"$BL_TMP/$name.cerr"; then
		sed 's/^/  | /' "$BL_TMP/$name.cerr" >&2
		bl_die "echo $mode ($v): the client found wrong bytes or failed"
	fi
	c1=$(bl_cpu_ns "$pid")
	bl_stop "$name"
	msgs=$(field "$BL_TMP/$name.client" messages)
	secs=$(field "$BL_TMP/$name.client" seconds)
	[ -n "$msgs" ] && [ "$msgs" -gt 0 ] || bl_die "echo $mode ($v): no messages"
	RATE[$v]+="$(awk -v m="$msgs" -v s="$secs" 'BEGIN { printf "%.1f", m / s }') "
	CPU[$v]+="$(awk -v c="$((c1 - c0))" -v m="$msgs" 'BEGIN { printf "%.1f", c / 1000 / m }') "
	if [ "$v" = zio ]; then
		ELIDED[$v]+="$(awk -v e="$(field "$BL_TMP/$name.err" elided_copies)" -v m="$msgs" \
			'BEGIN { printf "%.2f", e / m }') "
	fi
}

# show LABEL UNIT — one table row from RATE/CPU/ELIDED (two runs each).
show() {
	local rp rz cp cz
	read -r -a a <<<"${RATE[plain]}"; rp=$(mean "${a[0]}" "${a[1]}")
	read -r -a a <<<"${RATE[zio]}"; rz=$(mean "${a[0]}" "${a[1]}")
	read -r -a a <<<"${CPU[plain]}"; cp=$(mean "${a[0]}" "${a[1]}")
	read -r -a a <<<"${CPU[zio]}"; cz=$(mean "${a[0]}" "${a[1]}")
	read -r -a a <<<"${ELIDED[zio]}"
	printf '  %-8s %9s %9s %6s   %8s %8s %6s   %s\n' "$1" "$rp" "$rz" "$(bl_ratio "$rz" "$rp")" \
		"$cp" "$cz" "$(bl_ratio "$cp" "$cz")" "$(mean "${a[0]}" "${a[1]}")"
	RATE=() CPU=() ELIDED=()
}

header() { # UNIT
	printf '  %-8s %9s %9s %6s   %8s %8s %6s   %s\n' "" "plain" "zio" "ratio" \
		"plain" "zio" "ratio" "elided"
	printf '  %-8s %9s %9s %6s   %8s %8s %6s   %s\n' "" "$1" "$1" "" "CPU us" "CPU us" "" \
		"copies/op"
}

echo "zio demo: the same programs plain and under zio-run, every reply checked byte for byte"
echo "(mean of 2 runs of ${DUR} s each, interleaved; ratio > 1: zio is faster / uses less CPU)"
echo
echo "1. echo relay: 512 KiB messages, 3 memcpy in the server per message, $CONNS connections"
header msg/s
for mode in fresh pooled; do
	for v in plain zio zio plain; do
		bl_progress "echo $mode: $v run"
		echo_run "$v" "$mode"
	done
	show "$mode"
done
echo "  fresh: a new buffer per copy (page faults: the copies zio removes cost most);"
echo "  pooled: buffers reused (copies into memory that is there: less to take)"

# ---------------------------------------------------------------- redis

REDIS=$(command -v redis-server || true)
[ -n "$REDIS" ] || [ ! -x /usr/bin/redis-server ] || REDIS=/usr/bin/redis-server
echo
if [ -z "$REDIS" ]; then
	echo "2. redis-server: not installed, skipped ('make deps DEB_PKGS=redis-server' installs it)"
	exit 0
fi
echo "2. redis-server ($("$REDIS" --version | awk '{ print $3 }' | tr -d v=)): GETs of 256 KiB values (400 keys, zipfian),"
echo "   $CONNS clients, every reply checked against the value SET (tools/redisload)"

# redis_start VARIANT PORT — a fresh, empty server (no persistence).
redis_start() {
	local d=$BL_TMP/redis.$2 _
	rm -rf "$d"
	mkdir -p "$d"
	bl_start "redis-$1" "$1" -- "$REDIS" --port "$2" --bind 127.0.0.1 --dir "$d" --save '' \
		--appendonly no --protected-mode no --daemonize no
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		bl_alive "redis-$1"
		sleep 0.05
	done
	bl_die "redis-server did not listen on port $2"
}

# redis_load PORT SECS OUT [HOOK] — fill the keys (not timed), run HOOK,
# then GETs for SECS seconds; the result line goes to OUT.
redis_load() {
	local go=$BL_TMP/go lp
	rm -f "$go"
	"$LOAD" -p "$1" -c "$CONNS" -P 1 -d "$2" -s 256K -k 400 -w get --fill \
		--wait-file "$go" >"$3" 2>"$3.err" &
	lp=$!
	until grep -q filled "$3" 2>/dev/null || ! kill -0 "$lp" 2>/dev/null; do sleep 0.05; done
	"${4:-:}"
	touch "$go"
	if ! wait "$lp"; then
		sed 's/^/  | /' "$3.err" >&2
		bl_die "redisload failed (a wrong byte, or the server went away)"
	fi
}

# the server's CPU time when the timed part starts (redis_load's hook)
REDIS_PID= C0=0
cpu_mark() { C0=$(bl_cpu_ns "$REDIS_PID"); }

redis_run() { # VARIANT
	local v=$1 port c1 ops secs out=$BL_TMP/redisload.$1
	port=$(bl_free_port)
	redis_start "$v" "$port"
	REDIS_PID=${BL_PID[redis-$v]}
	redis_load "$port" "$DUR" "$out" cpu_mark
	c1=$(bl_cpu_ns "$REDIS_PID")
	bl_stop "redis-$v"
	ops=$(field "$out" ops)
	secs=$(field "$out" secs)
	RATE[$v]+="$(awk -v o="$ops" -v s="$secs" 'BEGIN { printf "%.1f", o / s }') "
	CPU[$v]+="$(awk -v c="$((c1 - C0))" -v o="$ops" 'BEGIN { printf "%.1f", c / 1000 / o }') "
	if [ "$v" = zio ]; then
		ELIDED[$v]+="$(awk -v e="$(field "$BL_TMP/redis-$v.err" elided_copies)" -v o="$ops" \
			'BEGIN { printf "%.2f", e / o }') "
	fi
}

if [ "$(id -u)" = 0 ] && [ -x "$TRACE" ]; then
	bl_progress "redis: zio-trace"
	port=$(bl_free_port)
	redis_start plain "$port"
	# traced from the start: the values' input (the fill) marks them as IO data
	"$TRACE" --min-copy 1024 -p "${BL_PID[redis-plain]}" >"$BL_TMP/trace.out" \
		2>"$BL_TMP/trace.err" &
	tp=$!
	for _ in $(seq 100); do
		grep -q "Tracing PID" "$BL_TMP/trace.err" 2>/dev/null && break
		sleep 0.1
	done
	tracer() {
		# a new table from here: the fill's copies are not the load's
		kill -USR1 "$tp"
		sleep 0.2
	}
	redis_load "$port" 2 "$BL_TMP/trace.load" tracer
	kill -INT "$tp" 2>/dev/null || true
	wait "$tp" 2>/dev/null || true
	bl_stop redis-plain
	ops=$(field "$BL_TMP/trace.load" ops)
	echo
	echo "   zio-trace -p \$(pidof redis-server): redis's copies of IO data (1 KiB and more) during"
	echo "   ${ops} operations; app: memcpy in redis, iostack: IO data handed to write/writev;"
	echo "   IO-SHARE: bytes over the bytes received meanwhile (a GET resends a value received before)"
	# the last table printed (the one after USR1 restarted it)
	awk '/^KIND|^kind|SITE/ { buf = "" } { buf = buf "     " $0 "\n" } END { printf "%s", buf }' \
		"$BL_TMP/trace.out" | grep -v '^ *$' | head -n 16
fi

echo
header ops/s
for v in plain zio zio plain; do
	bl_progress "redis: $v run"
	redis_run "$v"
done
show redis
echo "  elided copies/op: redis copies each value into its reply buffer; zio sends the value"
echo "  from where it lies instead (the kernel's copy into the socket stays, and reads the"
echo "  value from memory rather than from the cache that copy warmed).  On a shared host this"
echo "  ratio moves by ±30% between runs: 'make bench-apps' runs each application 7 times,"
echo "  interleaved, with confidence intervals."
