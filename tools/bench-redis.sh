#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-redis.sh BUILD_DIR — Debian's redis-server, plain and under
# zio-run, driven by redis-benchmark: SET and GET of 16 KiB - 1 MiB values,
# 50 clients, pipelining 1 and 16, without and with an append-only file
# (appendfsync always, on a tmpfs so the disk does not dominate).
#
# Per (AOF, value size) one plain and one zio server stay up side by side
# with the same generated config, and every repetition runs redis-benchmark
# against both in turn (plain first on even repetitions, zio first on odd
# ones).  The SET runs (keyspace of 64 MiB of values, -r) also fill the
# keys that the GET runs then read; missing keys are topped up first so a
# GET never returns nil.  With AOF the files are rewritten (BGREWRITEAOF)
# between SET repetitions, untimed, so they stay bounded (not after the
# last one, whose fork would materialise the values the GETs read).
#
# redis-benchmark checks no values, so each server is checked at the end:
# a random value of the size is SET and read back byte for byte, benchmark
# keys must hold SIZE bytes, and the zio server's AOF is
# loaded by a plain redis-server that must see the same keys and value.
# Any difference fails the benchmark.
#
# stdout: per configuration one line
#   redis op=set size=S pipeline=P aof=0|1 plain_rps=X zio_rps=Y ratio=Y/X
#         plain_cpu_us=A zio_cpu_us=B
# (A, B: medians of the server's CPU time per request, all its threads:
# steadier than rps, which moves with the client's share of the CPUs.)
# BUILD_DIR/bench/redis.tsv: result rows (see tools/bench-lib.sh); notes
# carry the CPU per request and the zio server's counters (one server
# serves SET and GET).
# stderr: a progress line per repetition.
#
# Env (defaults; BENCH_QUICK=1: 256 KiB only, 3 runs, 48 MiB):
#   BENCH_REDIS_SIZES="16384 65536 262144 1048576"
#   BENCH_REDIS_PIPELINES="1 16"  BENCH_REDIS_AOF="0 1"  BENCH_REDIS_OPS="set get"
#   BENCH_REDIS_CLIENTS=50  BENCH_RUNS=5
#   BENCH_REDIS_MB=160 (MiB of values per run; at least one pipeline per client)
#   BENCH_ZIO_ARGS="" (extra zio-run flags)
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BL_NAME=bench-redis
# shellcheck source=tools/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bl_init "$1"

for c in redis-server redis-benchmark redis-cli; do
	command -v "$c" >/dev/null ||
		bl_die "$c is missing; 'make bench-deps' installs redis-server and redis-tools"
done

if bl_quick; then
	SIZES=${BENCH_REDIS_SIZES:-262144}
	RUNS=${BENCH_RUNS:-3}
	MB=${BENCH_REDIS_MB:-48}
else
	SIZES=${BENCH_REDIS_SIZES:-16384 65536 262144 1048576}
	RUNS=${BENCH_RUNS:-5}
	MB=${BENCH_REDIS_MB:-160}
fi
PIPELINES=${BENCH_REDIS_PIPELINES:-1 16}
AOFS=${BENCH_REDIS_AOF:-0 1}
OPS=${BENCH_REDIS_OPS:-set get}
CLIENTS=${BENCH_REDIS_CLIENTS:-50}
read -r -a ZIO_ARGS <<<"${BENCH_ZIO_ARGS:-}"
for x in $SIZES $PIPELINES "$RUNS" "$MB" "$CLIENTS"; do
	bl_num "redis setting" "$x"
done
for x in $AOFS; do
	[ "$x" = 0 ] || [ "$x" = 1 ] || bl_die "bad BENCH_REDIS_AOF entry '$x'"
done
for x in $OPS; do
	[ "$x" = set ] || [ "$x" = get ] || bl_die "bad BENCH_REDIS_OPS entry '$x'"
done
[ "$RUNS" -ge 1 ] || bl_die "BENCH_RUNS must be at least 1"
# A run normally takes seconds; this bounds one against a hung server.
RB_TIMEOUT=${BENCH_REDIS_TIMEOUT:-180}
# A keyspace of 64 MiB of values: twice the LLC, so GETs read cold memory.
KEYSPACE_BYTES=$((64 << 20))

# The AOF lives on a tmpfs of our own (unmounted at exit); /dev/shm if
# mounting is not allowed here.
AOFROOT=$BL_TMP/aof
mkdir -p "$AOFROOT"
if mount -t tmpfs -o size=8g,mode=0700 zio-bench "$AOFROOT" 2>/dev/null; then
	bl_on_cleanup "umount '$AOFROOT'"
else
	AOFROOT=$(mktemp -d /dev/shm/zio-bench-redis.XXXXXX)
	bl_on_cleanup "rm -rf '$AOFROOT'"
	bl_progress "cannot mount a tmpfs here; AOF files go to $AOFROOT"
fi

out=$BL_BUILD/bench/redis.tsv
: >"$BL_TMP/redis.tsv"

cli() {
	local port=$1
	shift
	timeout 60 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# write_conf FILE PORT DIR AOF — the generated server config.
write_conf() {
	cat >"$1" <<-EOF
	port $2
	bind 127.0.0.1
	daemonize no
	logfile ""
	save ""
	dir $3
	appendonly $([ "$4" = 1 ] && echo yes || echo no)
	appendfsync always
	auto-aof-rewrite-percentage 0
	EOF
}

# start_redis NAME VARIANT AOF — a server with a fresh data dir; sets
# BL_PORT[NAME] and waits until it answers PING.
start_redis() {
	local name=$1 v=$2 aof=$3 port dir _
	port=$(bl_free_port)
	dir=$AOFROOT/$name
	rm -rf "$dir"
	mkdir -p "$dir"
	write_conf "$BL_TMP/$name.conf" "$port" "$dir" "$aof"
	bl_start "$name" "$v" "${ZIO_ARGS[@]}" -- redis-server "$BL_TMP/$name.conf"
	BL_PORT[$name]=$port
	wait_ping "$name"
}

# wait_ping NAME — until the server answers PONG (it may be loading an AOF).
wait_ping() {
	local _
	for _ in $(seq 600); do
		[ "$(cli "${BL_PORT[$1]}" PING 2>/dev/null)" = PONG ] && return 0
		bl_alive "$1"
		sleep 0.1
	done
	bl_die "$1 redis-server did not answer PING within 60 s"
}

# requests SIZE PIPELINE — values of MB MiB, at least one pipeline per client.
requests() {
	local n=$(((MB << 20) / $1)) min=$((CLIENTS * $2))
	[ "$n" -ge "$min" ] || n=$min
	echo "$n"
}

# keyspace SIZE — keys of the -r keyspace.
keyspace() {
	local k=$((KEYSPACE_BYTES / $1))
	[ "$k" -ge 16 ] || k=16
	echo "$k"
}

# bench_once NAME OP SIZE PIPELINE — one redis-benchmark run; prints rps,
# and appends the server's CPU us per request to BL_TMP/cpu.NAME.
bench_once() {
	local name=$1 op=$2 size=$3 p=$4 rc=0 rps c0 n
	n=$(requests "$size" "$p")
	c0=$(bl_cpu_ns "${BL_PID[$name]}")
	timeout "$RB_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${BL_PORT[$name]}" -t "$op" \
		-d "$size" -c "$CLIENTS" -P "$p" -n "$n" \
		-r "$(keyspace "$size")" --csv >"$BL_TMP/rb.out" 2>"$BL_TMP/rb.err" || rc=$?
	awk -v a="$c0" -v b="$(bl_cpu_ns "${BL_PID[$name]}")" -v n="$n" \
		'BEGIN { printf "%.2f\n", (b - a) / 1000 / n }' >>"$BL_TMP/cpu.$name"
	bl_alive "$name"
	[ "$rc" -ne 124 ] ||
		bl_die "redis-benchmark took over $RB_TIMEOUT s: server=$name op=$op size=$size pipeline=$p (hung?)"
	if [ "$rc" -ne 0 ] || grep -qi error "$BL_TMP/rb.out" "$BL_TMP/rb.err"; then
		sed 's/^/  | /' "$BL_TMP/rb.out" "$BL_TMP/rb.err" >&2
		bl_die "redis-benchmark failed: server=$name op=$op size=$size pipeline=$p (status $rc)"
	fi
	rps=$(awk -F'"' -v t="${op^^}" '$2 == t { print $4; exit }' "$BL_TMP/rb.out")
	[ -n "$rps" ] || bl_die "no $op result from redis-benchmark: $(cat "$BL_TMP/rb.out")"
	echo "$rps"
}

# rewrite_aof NAME — BGREWRITEAOF and wait until it is done.
rewrite_aof() {
	local port=${BL_PORT[$1]} info _
	cli "$port" BGREWRITEAOF >/dev/null
	for _ in $(seq 1200); do
		info=$(cli "$port" INFO persistence | tr -d '\r')
		if grep -q '^aof_rewrite_in_progress:0' <<<"$info" &&
			grep -q '^aof_rewrite_scheduled:0' <<<"$info"; then
			grep -q '^aof_last_bgrewrite_status:ok' <<<"$info" ||
				bl_die "$1: AOF rewrite failed"
			return 0
		fi
		bl_alive "$1"
		sleep 0.05
	done
	bl_die "$1: AOF rewrite did not finish within 60 s"
}

# fill_keys NAME SIZE — make sure every key of the keyspace exists.
fill_keys() {
	local name=$1 size=$2 want have _
	want=$(keyspace "$size")
	for _ in 1 2 3 4 5 6; do
		have=$(cli "${BL_PORT[$name]}" DBSIZE)
		[ "$have" -ge "$want" ] && return 0
		timeout "$RB_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${BL_PORT[$name]}" \
			-t set -d "$size" -c "$CLIENTS" -n $((want * 4)) -r "$want" -q \
			>/dev/null 2>&1 || bl_die "$name: failed to fill the keyspace (hung?)"
	done
	bl_die "$name: only $have of $want keys exist after filling"
}

# check_value NAME SIZE — a random value must come back byte for byte, and
# the first and last benchmark keys must hold SIZE bytes (redis-benchmark's
# values are random per run, so their bytes cannot be known here).
check_value() {
	local name=$1 size=$2 port=${BL_PORT[$1]} got k
	head -c "$size" /dev/urandom >"$BL_TMP/value"
	cli "$port" -x SET zio:verify <"$BL_TMP/value" >/dev/null
	get_equal "$name" "$port" zio:verify "$BL_TMP/value"
	for k in key:000000000000 "key:$(printf %012d $(($(keyspace "$size") - 1)))"; do
		got=$(cli "$port" STRLEN "$k")
		[ "$got" = "$size" ] ||
			bl_die "VERIFICATION FAILED: $name holds $got bytes for $k, not $size"
	done
	got=$(cli "$port" DBSIZE)
	echo "$got"
}

# get_equal NAME PORT KEY FILE — GET KEY must return FILE's bytes.
get_equal() {
	# redis-cli prints the raw value and a newline when not on a terminal.
	cli "$2" GET "$3" >"$BL_TMP/got"
	if ! head -c -1 "$BL_TMP/got" | cmp -s - "$4"; then
		cmp <(head -c -1 "$BL_TMP/got") "$4" >&2 || true
		bl_die "VERIFICATION FAILED: $1 returned wrong bytes for $3 ($(stat -c %s "$4") bytes expected)"
	fi
}

# check_aof NAME DBSIZE — a plain redis-server loading NAME's AOF must see
# DBSIZE keys and the random value.
check_aof() {
	local name=$1 want=$2 port dir=$AOFROOT/$1 have
	port=$(bl_free_port)
	write_conf "$BL_TMP/reload.conf" "$port" "$dir" 1
	bl_start reload plain -- redis-server "$BL_TMP/reload.conf"
	BL_PORT[reload]=$port
	wait_ping reload
	have=$(cli "$port" DBSIZE)
	[ "$have" = "$want" ] ||
		bl_die "VERIFICATION FAILED: the AOF of $name reloads with $have keys, not $want"
	get_equal "$name AOF" "$port" zio:verify "$BL_TMP/value"
	bl_stop reload
}

bl_progress "sizes=[$SIZES] ops=[$OPS] pipelines=[$PIPELINES] aof=[$AOFS] clients=$CLIENTS runs=$RUNS ${MB}MiB/run"
for aof in $AOFS; do
	for size in $SIZES; do
		start_redis plain plain "$aof"
		start_redis zio zio "$aof"
		zpid=${BL_PID[zio]}
		lines=()
		set_runs=0
		for op in $OPS; do
			if [ "$op" = get ]; then
				fill_keys plain "$size"
				fill_keys zio "$size"
			fi
			for p in $PIPELINES; do
				declare -A res=([plain]="" [zio]="")
				: >"$BL_TMP/cpu.plain"
				: >"$BL_TMP/cpu.zio"
				for ((r = 0; r < RUNS; r++)); do
					# Bound the AOF between SET runs (untimed).
					# Not after the last: the rewrite's fork
					# materialises aliases under zio, which the
					# GETs should not inherit from us.
					if [ "$aof" = 1 ] && [ "$op" = set ] && [ "$set_runs" -gt 0 ]; then
						rewrite_aof plain
						rewrite_aof zio
					fi
					[ "$op" = get ] || set_runs=$((set_runs + 1))
					line="op=$op size=$size pipeline=$p aof=$aof run $((r + 1))/$RUNS:"
					for v in $(bl_interleave "$r"); do
						rps=$(bench_once "$v" "$op" "$size" "$p")
						res[$v]="${res[$v]} $rps"
						line="$line ${v}_rps=$rps"
					done
					bl_progress "$line"
				done
				# shellcheck disable=SC2086 # word splitting wanted
				plain=$(bl_median ${res[plain]})
				# shellcheck disable=SC2086
				zio=$(bl_median ${res[zio]})
				ratio=$(bl_ratio "$zio" "$plain")
				# shellcheck disable=SC2046 # one number a line
				cpu="plain_cpu_us=$(bl_median $(cat "$BL_TMP/cpu.plain")) zio_cpu_us=$(bl_median $(cat "$BL_TMP/cpu.zio"))"
				lines+=("$op|$p|$plain|$zio|$ratio|$cpu")
				echo "redis op=$op size=$size pipeline=$p aof=$aof plain_rps=$plain zio_rps=$zio ratio=$ratio $cpu"
			done
		done

		pkeys=$(check_value plain "$size")
		zkeys=$(check_value zio "$size")
		[ "$pkeys" = "$zkeys" ] ||
			bl_die "VERIFICATION FAILED: plain has $pkeys keys, zio $zkeys"
		bl_stop plain
		bl_stop zio
		[ "$aof" = 0 ] || check_aof zio "$zkeys"
		notes=$(bl_stats "$BL_TMP/zio.err" "$zpid")
		bl_progress "size=$size aof=$aof zio server (set+get): $notes"
		for l in "${lines[@]}"; do
			IFS='|' read -r op p plain zio ratio cpu <<<"$l"
			bl_row "$BL_TMP/redis.tsv" redis \
				"op=$op size=$size pipeline=$p aof=$aof clients=$CLIENTS runs=$RUNS" \
				"$plain" "$zio" "$ratio" rps "$cpu $notes"
		done
	done
done
mv "$BL_TMP/redis.tsv" "$out"
bl_progress "wrote $out"
