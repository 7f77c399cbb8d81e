#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-apps.sh BUILD_DIR [ROW...] — the application table: Debian's
# servers plain and under zio-run, side by side, with what the zIO
# paper's first table counts and what this machine allows.
#
# For each row (an application, an operation and its parameters):
#   - copy call sites and copies per operation, app and IO stack, from
#     zio-trace (a short load with the server started under it, forks
#     followed; copies of IO data of at least 1 KiB), with the paper's
#     numbers beside them where it has them;
#   - throughput and the server's CPU time per operation (all its
#     processes and threads, schedstat), plain and zio, interleaved
#     (plain, zio, then zio, plain...), BENCH_RUNS runs each (7) of
#     BENCH_DURATION seconds (3), a fresh server each run; the medians, and
#     each ratio with a 95% confidence interval bootstrapped from the
#     paired runs ("within noise" when it holds 1);
#   - the share of the plain server's CPU in user-space copies (perf
#     record, cpu-clock, symbols memcpy/memmove), the limit it implies
#     (1 / (1 - share): the same program with those copies gone), and
#     zio's gain in server CPU per operation as a fraction of it;
#   - on the echo rows and Redis GET, the same program with its large
#     copies really gone: the server under tools/libideal.so (copies
#     recorded, not made; outputs send their sources), interleaved with
#     the others, and zio's gain as a fraction of that measured limit.
# Rows: echo-k0 .. echo-k4 (the reference: tools/echo, pooled 512 KiB
# messages, k copies), redis-set, redis-get, redis-ycsb-a (16 KiB and
# 256 KiB, AOF appendfsync always), memcached-set, memcached-get,
# nginx-proxy, icecast-cast8.  ROW arguments pick some (prefixes work).
#
# Outputs build/bench/apps.tsv, apps.md, apps.png (absolute throughput,
# plain and zio, with the runs' range) and apps-echo.png (echo rate
# against copies per message, the k=0 rate as the limit line); a
# progress line per run on stderr.  BENCH_QUICK=1: 3 runs of 1 s, one
# size, a smoke run of a few minutes.  Needs root (perf, zio-trace).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BL_NAME=bench-apps
# shellcheck source=tools/bench-lib.sh
. "$HERE/bench-lib.sh"

[ $# -ge 1 ] || { sed -n '4,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
shift
bl_init "$BUILD"
RUNS=${BENCH_RUNS:-7} DUR=${BENCH_DURATION:-3}
if bl_quick; then RUNS=${BENCH_RUNS:-3} DUR=${BENCH_DURATION:-1}; fi
bl_num BENCH_RUNS "$RUNS"
OUT=$BUILD/bench
TSV=$OUT/apps.tsv
RAW=$OUT/apps-runs.tsv
ZT=$BUILD/zio-trace
for t in tools/echo tools/redisload tools/libideal.so tests/progs/mcload tests/progs/httpload; do
	[ -x "$BUILD/$t" ] || bl_die "$BUILD/$t is missing; run 'make' first"
done
for c in redis-server memcached nginx icecast2 perf gnuplot; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
		bl_die "$c is missing (make bench-deps installs what this needs)"
done
[ "$(id -u)" = 0 ] || bl_die "needs root (perf and zio-trace)"
WANT=("$@")

# ---------------------------------------------------------------- servers

SRV=           # the server's process group (setsid): its leader's pid
srv_start() {  # VARIANT PORT LOG CMD... — plain, zio or trace
	local v=$1 port=$2 log=$3
	shift 3
	case $v in
	plain) setsid "$@" >"$log" 2>&1 & ;;
	zio) setsid "$BL_RUN" --stats -- "$@" >"$log" 2>&1 & ;;
	ideal) setsid env LD_PRELOAD="$BUILD/tools/libideal.so" "$@" >"$log" 2>&1 & ;;
	esac
	SRV=$!
	BL_PID[srv]=$SRV
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$SRV" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" "$log.err" 2>/dev/null | tail -20 >&2
	bl_die "$*: the server did not listen on port $port"
}

srv_pids() { pgrep -g "$SRV" 2>/dev/null || true; }

# CPU time of every thread of every process of the server, in ns.
srv_cpu() {
	local p
	for p in $(srv_pids); do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
		awk '{ t += $1 } END { printf "%.0f", t }'
}

srv_stop() {
	[ -n "$SRV" ] || return 0
	kill -TERM -- -"$SRV" 2>/dev/null || true
	bl_gone "$SRV" 20 || kill -KILL -- -"$SRV" 2>/dev/null || true
	wait "$SRV" 2>/dev/null || true
	kill -KILL -- -"$SRV" 2>/dev/null || true
	unset 'BL_PID[srv]'
	SRV=
}
bl_on_cleanup srv_stop

# ---------------------------------------------------------------- rows

# Each row: a start function (VARIANT PORT LOG), a load function
# (PORT SECONDS; prints "OPS SECS"; runs $LOAD_HOOK before it starts:
# zio-trace attaches there, and $LOAD_MARK between a fill and the timed
# part: the trace starts a new table there), a unit, and the paper's
# numbers.
LOAD_HOOK=: LOAD_MARK=:
declare -A ROW_START ROW_LOAD ROW_UNIT ROW_PARAMS ROW_SEED ROW_PREP ROW_IDEAL
ROWS=()
row() { # NAME START LOAD UNIT PARAMS SEED(app/io or -) [PREP]
	ROWS+=("$1")
	ROW_START[$1]=$2 ROW_LOAD[$1]=$3 ROW_UNIT[$1]=$4 ROW_PARAMS[$1]=$5 ROW_SEED[$1]=$6
	ROW_PREP[$1]=${7:-} ROW_IDEAL[$1]=
}
# Rows also run under tools/libideal.so (the program with its large
# copies gone, sent from their sources: the limit measured, not inferred
# from perf).  Only rows whose load checks every byte it gets back and
# whose server never reads a copy's destination nor writes its source
# itself (tools/ideal/ideal.c): the echo rows and Redis GET.
ideal_row() { ROW_IDEAL[$1]=1; }

# echo: pooled 512 KiB messages through k copies (the reference)
ECHO_K=0
echo_start() { srv_start "$1" "$2" "$3" "$BUILD/tools/echo" server --port "$2" --copies "$ECHO_K"; }
echo_load() {
	$LOAD_HOOK
	"$BUILD/tools/echo" client --port "$1" -d "$2" --verify sample 2>&1 |
		awk '/messages=/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == "messages") m = kv[2]; if (kv[1] == "seconds") s = kv[2] }
			print m, s }'
}

# redis: SET, GET (filled first), YCSB-A with AOF appendfsync always
REDIS_SIZE=16K REDIS_AOF=no REDIS_W=set REDIS_P=1
redis_start() {
	local d=$BL_TMP/redis.$2
	rm -rf "$d"
	mkdir -p "$d"
	srv_start "$1" "$2" "$3" redis-server --port "$2" --bind 127.0.0.1 --dir "$d" --save '' \
		--appendonly "$REDIS_AOF" --appendfsync always --auto-aof-rewrite-percentage 0 \
		--protected-mode no --daemonize no
}
redis_load() {
	local fill=() wf=$BL_TMP/go out=$BL_TMP/redisload.out p
	[ "$REDIS_W" = set ] || fill=(--fill)
	rm -f "$wf"
	$LOAD_HOOK
	# the fill is not part of what is timed or counted (but the tracer
	# sees its input: the values it marks are what GETs copy)
	"$BUILD/tools/redisload" -p "$1" -c 4 -P "$REDIS_P" -d "$2" -s "$REDIS_SIZE" -k 400 \
		-w "$REDIS_W" "${fill[@]}" --wait-file "$wf" >"$out" &
	p=$!
	until grep -q filled "$out" || ! kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	$LOAD_MARK
	touch "$wf"
	wait "$p" || return 1
	awk '/redisload: ok/ { for (i = 1; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == "ops") o = kv[2]; if (kv[1] == "secs") s = kv[2] }
		print o, s }' "$out"
}

# memcached: set, get of 64 KiB values, two worker threads
MC_P=set MC_SIZE=64K
mc_start() {
	srv_start "$1" "$2" "$3" memcached -u nobody -l 127.0.0.1 -p "$2" -U 0 -t 2 -m 1024 -I 8m
}
mc_load() {
	$LOAD_HOOK
	"$BUILD/tests/progs/mcload" -p "$1" -P "$MC_P" -c 4 -d "$2" --max "$MC_SIZE" |
		awk '/mcload: ok/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == "ops") o = kv[2]; if (kv[1] == "secs") s = kv[2] } print o, s }'
}

# nginx: a buffering proxy in front of httpload's upstream, 256 KiB bodies
# (started by the row's PREP, in the main shell: trace_row runs in a
# command substitution, and an upstream started there would outlive the
# bench, unknown to its cleanup)
UP=
nginx_upstream() {
	[ -z "$UP" ] || return 0
	UP=$(bl_free_port)
	"$BUILD/tests/progs/httpload" upstream -p "$UP" >/dev/null 2>&1 &
	BL_PID[upstream]=$!
	sleep 0.3
}
nginx_start() {
	local d=$BL_TMP/nginx.$2
	mkdir -p "$d"
	[ -n "$UP" ] || bl_die "nginx: no upstream (the row's PREP starts it)"
	cat >"$d/nginx.conf" <<EOF
user root; worker_processes 2; daemon off; master_process on;
error_log $d/err; pid $d/pid;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $d/b; proxy_temp_path $d/p;
  fastcgi_temp_path $d/f; uwsgi_temp_path $d/u; scgi_temp_path $d/s;
  server { listen 127.0.0.1:$2;
    location /proxy/ { proxy_pass http://127.0.0.1:$UP/; proxy_buffering on;
      proxy_buffers 64 64k; proxy_buffer_size 64k; proxy_http_version 1.1;
      proxy_set_header Connection ""; } } }
EOF
	srv_start "$1" "$2" "$3" nginx -c "$d/nginx.conf"
}
nginx_load() {
	local t0 t1 n
	n=$(awk -v d="$2" 'BEGIN { printf "%d", d * 150 }')
	$LOAD_HOOK
	t0=$(date +%s.%N)
	"$BUILD/tests/progs/httpload" client -p "$1" -x /proxy/ -c 4 -n "$n" -m gen \
		--max 262144 >/dev/null || return 1
	t1=$(date +%s.%N)
	awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { print n * 4, b - a }'
}

# icecast: one source at 32 MB/s cast to 8 listeners (CPU per MB cast)
ic_start() {
	local d=$BL_TMP/icecast.$2
	mkdir -p "$d/log" "$d/web"
	chmod 755 "$BL_TMP" "$d"
	chmod 777 "$d/log"
	cat >"$d/icecast.xml" <<EOF
<icecast><hostname>localhost</hostname><location>bench</location><admin>root@localhost</admin>
<limits><clients>100</clients><sources>2</sources><queue-size>4194304</queue-size>
<burst-size>65536</burst-size><source-timeout>10</source-timeout></limits>
<authentication><source-password>hackme</source-password><admin-user>admin</admin-user>
<admin-password>hackme</admin-password></authentication>
<listen-socket><port>$2</port><bind-address>127.0.0.1</bind-address></listen-socket>
<paths><basedir>/usr/share/icecast2</basedir><logdir>$d/log</logdir><webroot>$d/web</webroot>
<adminroot>/usr/share/icecast2/admin</adminroot></paths>
<logging><loglevel>1</loglevel></logging>
<security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>
EOF
	srv_start "$1" "$2" "$3" icecast2 -c "$d/icecast.xml"
}
ic_load() {
	local bytes n
	bytes=$(awk -v d="$2" 'BEGIN { printf "%d", d * 32 * 1048576 }')
	n=$((bytes / 2))
	$LOAD_HOOK
	"$BUILD/tests/progs/httpload" source -p "$1" -u /cast --bytes "$((bytes + 8388608))" \
		--rate 33554432 >/dev/null 2>&1 &
	local src=$! t0 t1
	t0=$(date +%s.%N)
	"$BUILD/tests/progs/httpload" listen -p "$1" -u /cast -c 8 --bytes "$n" >/dev/null || return 1
	t1=$(date +%s.%N)
	kill "$src" 2>/dev/null || true
	wait "$src" 2>/dev/null || true
	# operations: MB delivered to the listeners
	awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { print n * 8 / 1048576, b - a }'
}

for k in 0 1 2 3 4; do
	row "echo-k$k" echo_start echo_load msgs/s "size=512K copies=$k mode=pooled conns=4" - \
		"ECHO_K=$k"
	[ "$k" = 0 ] || ideal_row "echo-k$k"
done
SIZES="16K 256K"
bl_quick && SIZES=256K
for sz in $SIZES; do
	row "redis-set-$sz" redis_start redis_load ops/s "size=$sz pipeline=1 conns=4" 4/2 \
		"REDIS_SIZE=$sz REDIS_W=set REDIS_AOF=no REDIS_P=1"
	row "redis-get-$sz" redis_start redis_load ops/s "size=$sz pipeline=1 conns=4" 2/1 \
		"REDIS_SIZE=$sz REDIS_W=get REDIS_AOF=no REDIS_P=1"
	ideal_row "redis-get-$sz"
	row "redis-ycsb-a-$sz" redis_start redis_load ops/s \
		"size=$sz zipf=0.99 aof=always pipeline=1 conns=4" - \
		"REDIS_SIZE=$sz REDIS_W=a REDIS_AOF=yes REDIS_P=1"
done
row memcached-set mc_start mc_load ops/s "size=64K threads=2 conns=4" - "MC_P=set"
row memcached-get mc_start mc_load ops/s "size=64K threads=2 conns=4" - "MC_P=get"
row nginx-proxy nginx_start nginx_load req/s "body<=256K proxy_buffering conns=4" - \
	nginx_upstream
row icecast-cast8 ic_start ic_load MB/s "listeners=8 source=32MB/s" 0/9

wanted() {
	local w
	[ ${#WANT[@]} = 0 ] && return 0
	for w in "${WANT[@]}"; do [[ $1 == "$w"* ]] && return 0; done
	return 1
}

# ---------------------------------------------------------------- statistics

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "nan"; exit }
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# "MEDIAN LO HI" of the ratios on stdin: 2000 bootstrap resamples of the
# median, the 2.5 and 97.5 percentiles.
bootstrap() {
	awk 'BEGIN { srand(12345) } { r[NR] = $1 + 0 } END {
		n = NR; B = 2000
		for (b = 1; b <= B; b++) {
			for (i = 1; i <= n; i++) s[i] = r[int(rand() * n) + 1]
			m[b] = med(s, n)
		}
		isort(m, B); for (i = 1; i <= n; i++) t[i] = r[i]
		printf "%.3f %.3f %.3f\n", med(t, n), m[int(B * 0.025) + 1], m[int(B * 0.975)]
	}
	function isort(a, k,    i, j, x) { for (i = 2; i <= k; i++) { x = a[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
	function med(a, k,    c, i) { for (i = 1; i <= k; i++) c[i] = a[i]; isort(c, k)
		return (k % 2) ? c[(k + 1) / 2] : (c[k / 2] + c[k / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------- one row

measure_run() { # ROW VARIANT RUN — appends to $RAW
	local r=$1 v=$2 i=$3 port log c0 c1 res ops secs
	port=$(bl_free_port)
	log=$BL_TMP/$r.$v.$i.log
	"${ROW_START[$r]}" "$v" "$port" "$log"
	sleep 0.3
	c0=$(srv_cpu)
	res=$("${ROW_LOAD[$r]}" "$port" "$DUR") || { srv_stop; bl_die "$r ($v): the load failed"; }
	c1=$(srv_cpu)
	srv_stop
	read -r ops secs <<<"$res"
	[ -n "${secs:-}" ] || bl_die "$r ($v): no result from the load"
	awk -v r="$r" -v v="$v" -v i="$i" -v o="$ops" -v s="$secs" -v c="$((c1 - c0))" \
		'BEGIN { printf "%s\t%s\t%d\t%.3f\t%.3f\n", r, v, i, o / s, c / 1000 / o }' >>"$RAW"
	bl_progress "$r run $i $v: $(tail -1 "$RAW" | cut -f4) ${ROW_UNIT[$r]}, $(tail -1 "$RAW" |
		cut -f5) us server CPU/op"
}

# zio-trace attached to the running plain server (and its workers)
TRACER= TRACE_LOG=
tracer_attach() {
	"$ZT" -j --min-copy 1024 -p "$SRV" >"$TRACE_LOG" 2>"$TRACE_LOG.err" &
	TRACER=$!
	echo "$TRACER" >"$TRACE_LOG.pid"   # (the load runs in a subshell)
	for _ in $(seq 300); do
		grep -q "Tracing PID" "$TRACE_LOG.err" 2>/dev/null && break
		kill -0 "$TRACER" 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.5
}

# a new table from here on (zio-trace's SIGUSR1): the IO data marked so
# far stays marked
tracer_mark() {
	local t
	t=$(cat "$TRACE_LOG.pid")
	kill -USR1 "$t" 2>/dev/null || return 0
	for _ in $(seq 100); do grep -q summary "$TRACE_LOG" 2>/dev/null && break; sleep 0.1; done
}

trace_row() { # ROW — "app_sites io_sites app_per_op io_per_op"
	local r=$1 port log res ops
	port=$(bl_free_port)
	log=$BL_TMP/$r.trace.log
	TRACE_LOG=$BL_TMP/$r.trace.json
	"${ROW_START[$r]}" plain "$port" "$log"
	sleep 0.3
	LOAD_HOOK=tracer_attach LOAD_MARK=tracer_mark
	res=$("${ROW_LOAD[$r]}" "$port" 1) || true
	LOAD_HOOK=: LOAD_MARK=:
	TRACER=$(cat "$TRACE_LOG.pid" 2>/dev/null || true)
	if [ -n "$TRACER" ]; then
		kill -INT "$TRACER" 2>/dev/null || true
		# not our child (a subshell started it): wait for its report
		for _ in $(seq 300); do kill -0 "$TRACER" 2>/dev/null || break; sleep 0.1; done
	fi
	TRACER=
	srv_stop
	read -r ops _ <<<"$res"
	# the last table: the timed part
	tail -n 1 "$TRACE_LOG" >"$TRACE_LOG.last"
	# the summary's own counts: the report's head also has an "io_copies"
	# (every copy whose source held IO data), which is not the IO stack's
	awk -v ops="${ops:-0}" '{
		$0 = substr($0, index($0, "\"summary\":"))
		if (match($0, /"app_sites":[0-9]+/)) as = substr($0, RSTART + 12, RLENGTH - 12)
		if (match($0, /"iostack_sites":[0-9]+/)) is = substr($0, RSTART + 16, RLENGTH - 16)
		if (match($0, /"app_copies":[0-9]+/)) ac = substr($0, RSTART + 13, RLENGTH - 13)
		if (match($0, /"io_copies":[0-9]+/)) ic = substr($0, RSTART + 12, RLENGTH - 12) }
		END { if (as == "" || ops <= 0) { print "- - - -"; exit }
		      printf "%d %d %.2f %.2f\n", as, is, ac / ops, ic / ops }' "$TRACE_LOG.last"
}

perf_share() { # ROW — share of the plain server's CPU in memcpy/memmove
	local r=$1 port log pids data
	port=$(bl_free_port)
	log=$BL_TMP/$r.perf.log
	data=$BL_TMP/$r.perf.data
	"${ROW_START[$r]}" plain "$port" "$log"
	sleep 0.3
	"${ROW_LOAD[$r]}" "$port" "$((DUR + 2))" >/dev/null &
	local load=$!
	sleep 1
	pids=$(srv_pids | paste -sd,)
	perf record -q -e cpu-clock -F 999 -p "$pids" -o "$data" -- sleep "$DUR" >/dev/null 2>&1 || true
	wait "$load" 2>/dev/null || true
	srv_stop
	perf report -i "$data" --stdio --sort sym 2>/dev/null |
		awk '/^ +[0-9.]+%/ && /\[\.\]/ && /mem(cpy|move)/ { sub(/%/, "", $1); s += $1 }
		     END { printf "%.3f\n", s / 100 }'
}

do_row() {
	local r=$1 i ratio cpur pm zm pc zc share limit gain note
	eval "${ROW_PREP[$r]}"
	bl_progress "$r: ${ROW_PARAMS[$r]}"
	read -r tas tis tap tip <<<"$(trace_row "$r")"
	for ((i = 1; i <= RUNS; i++)); do
		if ((i % 2)); then measure_run "$r" plain "$i"; measure_run "$r" zio "$i"
		else measure_run "$r" zio "$i"; measure_run "$r" plain "$i"; fi
		[ -z "${ROW_IDEAL[$r]}" ] || measure_run "$r" ideal "$i"
	done
	share=$(perf_share "$r")
	pm=$(awk -v r="$r" '$1 == r && $2 == "plain" { print $4 }' "$RAW" | median)
	zm=$(awk -v r="$r" '$1 == r && $2 == "zio" { print $4 }' "$RAW" | median)
	pc=$(awk -v r="$r" '$1 == r && $2 == "plain" { print $5 }' "$RAW" | median)
	zc=$(awk -v r="$r" '$1 == r && $2 == "zio" { print $5 }' "$RAW" | median)
	read -r ratio rlo rhi <<<"$(awk -v r="$r" '$1 == r { v[$2 "," $3] = $4 } END {
		for (k in v) { split(k, p, ","); if (p[1] == "zio") print v[k] / v["plain," p[2]] } }' \
		"$RAW" | bootstrap)"
	read -r cpur clo chi <<<"$(awk -v r="$r" '$1 == r { v[$2 "," $3] = $5 } END {
		for (k in v) { split(k, p, ","); if (p[1] == "zio") print v["plain," p[2]] / v[k] } }' \
		"$RAW" | bootstrap)"
	limit=$(awk -v s="$share" 'BEGIN { printf "%.3f", s < 1 ? 1 / (1 - s) : 99 }')
	gain=$(awk -v c="$cpur" -v l="$limit" 'BEGIN { if (l > 1.005) printf "%.2f", (c - 1) / (l - 1);
		else print "-" }')
	ic=- ilimit=- ici=- igain=-
	if [ -n "${ROW_IDEAL[$r]}" ]; then
		ic=$(awk -v r="$r" '$1 == r && $2 == "ideal" { print $5 }' "$RAW" | median)
		read -r ilimit ilo ihi <<<"$(awk -v r="$r" '$1 == r { v[$2 "," $3] = $5 } END {
			for (k in v) { split(k, p, ","); if (p[1] == "ideal") print v["plain," p[2]] / v[k] } }' \
			"$RAW" | bootstrap)"
		ici="[$ilo,$ihi]"
		igain=$(awk -v c="$cpur" -v l="$ilimit" 'BEGIN { if (l > 1.005) printf "%.2f", (c - 1) / (l - 1);
			else print "-" }')
	fi
	note=""
	awk -v a="$rlo" -v b="$rhi" 'BEGIN { exit !(a <= 1 && b >= 1) }' && note="rate within noise"
	awk -v a="$clo" -v b="$chi" 'BEGIN { exit !(a <= 1 && b >= 1) }' &&
		note="${note:+$note, }cpu within noise"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"${r%%-*}" "${r#*-}" "${ROW_PARAMS[$r]// /,}" "$tas" "$tis" "$tap" "$tip" "$pm" "$zm" \
		"$ratio" "${ROW_UNIT[$r]}" "$pc" "$zc" "$cpur" "$share" "$limit" "$gain" \
		"[$rlo,$rhi]" "[$clo,$chi]" "${ROW_SEED[$r]}" "$RUNS" "${note:--}" \
		"$ic" "$ilimit" "$ici" "$igain" >>"$TSV"
}

# ---------------------------------------------------------------- table

mkdir -p "$OUT"
printf 'app\top\tparams\tapp_sites\tio_sites\tapp_copies_per_op\tio_copies_per_op\tplain\tzio\tratio\tunit\tplain_cpu_us\tzio_cpu_us\tcpu_ratio\tcopy_share\tlimit\tgain_of_limit\tratio_ci95\tcpu_ratio_ci95\tseed_app_io\truns\tnote\tideal_cpu_us\tideal_limit\tideal_limit_ci95\tgain_of_ideal\n' >"$TSV"
printf 'row\tvariant\trun\trate\tcpu_us_per_op\n' >"$RAW"
for r in "${ROWS[@]}"; do
	wanted "$r" || continue
	do_row "$r"
done

{
	echo "# The application table (tools/bench-apps.sh, $(date -u +%F), $RUNS runs of ${DUR}s a variant)"
	echo
	echo "Copy sites and copies per operation from zio-trace (app / IO stack, copies of IO data"
	echo "of 1 KiB and more; the zIO paper's numbers in brackets).  Medians of interleaved runs;"
	echo "ratios with 95% bootstrap intervals; CPU is the server's, all its threads, per operation;"
	echo "copy share: the plain server's CPU in memcpy/memmove (perf), limit = 1/(1-share),"
	echo "gain = (cpu ratio - 1) / (limit - 1).  Ideal: the server under tools/libideal.so, its"
	echo "large copies gone and their sources sent (the limit measured: plain CPU over ideal CPU),"
	echo "on the rows where that preload is exact; gain of ideal = (cpu ratio - 1) / (ideal limit - 1)."
	echo
	echo "| app | op | params | sites app/io [paper] | copies/op app/io | plain | zio | ratio (95% CI) | CPU us/op plain | zio | CPU ratio (95% CI) | copy share | limit | gain of limit | CPU us/op ideal | ideal limit (95% CI) | gain of ideal | note |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	tail -n +2 "$TSV" | awk -F'\t' '{ printf "| %s | %s | %s | %s/%s [%s] | %s/%s | %s | %s %s | %s %s | %s | %s | %s %s | %s | %s | %s | %s | %s %s | %s | %s |\n",
		$1, $2, $3, $4, $5, $20, $6, $7, $8, $9, $11, $10, $18, $12, $13, $14, $19, $15, $16, $17,
		$23, $24, ($25 == "-" ? "" : $25), $26, $22 }'
} >"$OUT/apps.md"

# absolute throughput, plain and zio, with the runs' range; echo against k
awk -F'\t' 'NR > 1 { key = $1; v = $2
	n[key, v]++; s[key, v, n[key, v]] = $4
	if (!(key in seen)) { seen[key] = 1; order[++nk] = key } }
	END { for (i = 1; i <= nk; i++) { k = order[i]; line = k
		for (j = 1; j <= 2; j++) { v = j == 1 ? "plain" : "zio"; c = n[k, v]
			for (x = 1; x <= c; x++) a[x] = s[k, v, x] + 0; isort(a, c)
			line = line " " ((c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2) " " a[1] " " a[c]
			delete a }
		print line } }
	function isort(a, k,    i, j, x) { for (i = 2; i <= k; i++) { x = a[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }' \
	"$RAW" >"$BL_TMP/plot.dat"
{
	echo "set terminal pngcairo size 1400,900; set output '$OUT/apps.png'"
	echo "set multiplot layout 3,5 title 'zio vs plain: throughput per application (median, runs min-max)'"
	echo "set style data histogram; set style histogram errorbars gap 1 lw 1; set style fill solid 0.6"
	echo "set yrange [0:*]; unset xtics; set key off"
	i=0
	while read -r name _; do
		i=$((i + 1))
		echo "set title '$name' noenhanced; plot '$BL_TMP/plot.dat' every ::$((i - 1))::$((i - 1)) using 2:3:4 title 'plain', '' every ::$((i - 1))::$((i - 1)) using 5:6:7 title 'zio'"
	done <"$BL_TMP/plot.dat"
	echo "unset multiplot"
} >"$BL_TMP/apps.gp"
gnuplot "$BL_TMP/apps.gp" 2>/dev/null || bl_progress "gnuplot failed: no apps.png"
if grep -q '^echo-k' "$BL_TMP/plot.dat"; then
	grep '^echo-k' "$BL_TMP/plot.dat" | sed 's/^echo-k//' >"$BL_TMP/echo.dat"
	k0=$(awk '$1 == 0 { print $2 }' "$BL_TMP/echo.dat")
	cat >"$BL_TMP/echo.gp" <<EOF
set terminal pngcairo size 900,600; set output '$OUT/apps-echo.png'
set title 'echo, pooled 512 KiB messages: rate against in-app copies'
set xlabel 'copies per message (k)'; set ylabel 'messages/s'; set yrange [0:*]; set key top right
plot '$BL_TMP/echo.dat' using 1:2:3:4 with yerrorlines title 'plain', \
     '' using 1:5:6:7 with yerrorlines title 'zio', ${k0:-0} with lines dt 2 title 'limit: k=0 rate'
EOF
	gnuplot "$BL_TMP/echo.gp" 2>/dev/null || bl_progress "gnuplot failed: no apps-echo.png"
fi
bl_progress "wrote $TSV, $OUT/apps.md, $OUT/apps.png"
cat "$OUT/apps.md"
