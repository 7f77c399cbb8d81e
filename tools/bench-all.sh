#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-all.sh BUILD_DIR [PART...] — run benchmark parts (default: redis
# relay sweep micro apps, i.e. tools/bench-PART.sh; --collect: none), then
# collect everything in
# BUILD_DIR/bench/ from every part that has results, whenever it ran:
#   results.tsv  one row per measurement:
#                bench params plain zio ratio unit notes
#                (ratio > 1: zio faster; notes: the zio process's counters)
#   *.png        gnuplot plots: ratio against copies, message size, touched
#                share, threads; Redis and relay ratios; small-copy and
#                copy-cost times
#   summary.md   the goals, each with its measured ratio and pass/miss, and
#                per part when and how (quick or full) it ran
# PART.meta records each part's run.  A part that fails (a wrong byte, a
# crash or hang under zio) is marked FAILED in summary.md with its reason,
# the other parts still run, and bench-all exits 1 at the end; a part's
# stale results are removed before it runs, so nothing old passes for new.
#
# Env: BENCH_QUICK=1 for the smoke version (each part shortens itself).
set -eu -o pipefail

usage() { echo "usage: $0 BUILD_DIR [redis|relay|sweep|micro]... | --collect" >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$1
shift
HERE=$(dirname "$0")
OUT=$BUILD/bench
ALL_PARTS=(redis relay sweep micro apps)
if [ "${1:-}" = --collect ]; then
	PARTS=()
elif [ $# -gt 0 ]; then
	PARTS=("$@")
else
	PARTS=("${ALL_PARTS[@]}")
fi
for p in "${PARTS[@]}"; do
	[ -x "$HERE/bench-$p.sh" ] || { echo "bench-all: unknown part '$p'" >&2; usage; }
done
mkdir -p "$OUT"

t_all=$SECONDS
quick=${BENCH_QUICK:-0}
rev=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
failed=()
for i in "${!PARTS[@]}"; do
	p=${PARTS[$i]}
	echo "bench-all: == $p ($((i + 1))/${#PARTS[@]})$([ "$quick" = 0 ] || echo ', quick')" >&2
	rm -f "$OUT/$p.tsv" "$OUT/$p.meta" "$OUT/$p.log" "$OUT/$p.err"
	t0=$SECONDS
	rc=0
	# The parts' fatal messages (bl_die) also land in BENCH_ERRFILE.
	BENCH_ERRFILE=$OUT/$p.err "$HERE/bench-$p.sh" "$BUILD" | tee "$OUT/$p.log" || rc=$?
	status=ok
	if [ "$rc" -ne 0 ]; then
		status=FAILED
		failed+=("$p")
		rm -f "$OUT/$p.tsv"
	fi
	printf 'part=%s quick=%s date=%s seconds=%s rev=%s host=%s cpus=%s status=%s\n' "$p" \
		"$quick" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" $((SECONDS - t0)) "$rev" "$(hostname)" \
		"$(nproc)" "$status" >"$OUT/$p.meta"
	if [ "$status" = ok ]; then
		echo "bench-all: $p took $((SECONDS - t0)) s" >&2
	else
		echo "bench-all: $p FAILED (status $rc) after $((SECONDS - t0)) s: $(tail -n 1 "$OUT/$p.err" 2>/dev/null)" >&2
	fi
done

# ------------------------------------------------------------ results.tsv
{
	printf 'bench\tparams\tplain\tzio\tratio\tunit\tnotes\n'
	for p in "${ALL_PARTS[@]}"; do
		# the application table has columns of its own (apps.md)
		[ "$p" = apps ] || [ ! -f "$OUT/$p.tsv" ] || cat "$OUT/$p.tsv"
	done
} >"$OUT/results.tsv.tmp"
mv "$OUT/results.tsv.tmp" "$OUT/results.tsv"
R=$OUT/results.tsv

# select BENCH FILTER COLUMNS... — rows of BENCH whose params contain every
# key=value of FILTER; prints the named columns (param keys or the fixed
# columns plain, zio, ratio), tab-separated.
select_rows() {
	local bench=$1 filter=$2
	shift 2
	awk -F'\t' -v b="$bench" -v f="$filter" -v cols="$*" '
	NR > 1 && $1 == b {
		delete kv
		n = split($2, ps, " ")
		for (i = 1; i <= n; i++) { split(ps[i], x, "="); kv[x[1]] = x[2] }
		kv["plain"] = $3; kv["zio"] = $4; kv["ratio"] = $5
		m = split(f, fs, " ")
		ok = 1
		for (i = 1; i <= m; i++) { split(fs[i], x, "="); if (kv[x[1]] != x[2]) ok = 0 }
		if (!ok) next
		c = split(cols, cs, " ")
		line = ""
		for (i = 1; i <= c; i++) line = line (i > 1 ? "\t" : "") kv[cs[i]]
		print line
	}' "$R"
}

# ------------------------------------------------------------ plots
PD=$OUT/plot
rm -rf "$PD"
mkdir -p "$PD"
find "$OUT" -maxdepth 1 -name '*.png' ! -name 'apps*.png' -delete
if command -v gnuplot >/dev/null; then
	term="pngcairo size 900,540 font 'sans,10'"
	gnuplot -e "set terminal pngcairo" 2>/dev/null || term="png size 900,540"
	plots=()

	# ratio_plot NAME TITLE XLABEL LOGX — series files PD/NAME.SERIES.dat
	# (x ratio), one line each, with the 1.0 and 0.95 marks.
	ratio_plot() {
		local name=$1 title=$2 xlabel=$3 logx=$4 f cmd="" s
		# A line needs two points (quick runs skip some sweeps).
		[ "$(cat "$PD/$name".*.dat | cut -f1 | sort -u | wc -l)" -ge 2 ] || return 0
		for f in "$PD/$name".*.dat; do
			[ -s "$f" ] || continue
			s=${f#"$PD/$name".}
			s=${s%.dat}
			cmd="$cmd${cmd:+, }'$f' using 1:2 with linespoints lw 2 pt 7 title '$s'"
		done
		[ -n "$cmd" ] || return 0
		gnuplot <<-EOF
		set terminal $term
		set output '$OUT/$name.png'
		set title "$title"
		set xlabel "$xlabel"
		set ylabel "throughput ratio zio / plain"
		set grid
		set key outside right top
		set yrange [0:*]
		$([ "$logx" = 1 ] && printf '%s\n' 'set logscale x 2' 'set format x "%.0b%B"')
		plot $cmd, 1 with lines lc rgb 'gray' dt 2 title '1.0', 0.95 with lines lc rgb 'red' dt 3 title '0.95'
		EOF
		plots+=("$name.png")
	}

	for m in pooled fresh; do
		select_rows echo "mode=$m size=524288 threads=1 touch=0" copies ratio | sort -n >"$PD/echo_copies.$m.dat"
		select_rows echo "mode=$m copies=4 threads=1 touch=0" size ratio | sort -n >"$PD/echo_size.$m.dat"
		select_rows echo "mode=$m size=524288 copies=4 threads=1" touch ratio | sort -n >"$PD/echo_touch.$m.dat"
		select_rows echo "mode=$m size=524288 copies=4 touch=0" threads ratio | sort -n >"$PD/echo_threads.$m.dat"
	done
	ratio_plot echo_copies "Echo, 512 KiB messages: ratio vs in-app copies" "copies per message" 0
	ratio_plot echo_size "Echo, 4 copies: ratio vs message size" "message size (bytes)" 1
	ratio_plot echo_touch "Echo, 512 KiB, 4 copies: ratio vs share of aliased pages touched" "pages touched after the copies (%)" 0
	ratio_plot echo_threads "Echo, 512 KiB, 4 copies: ratio vs server threads" "server threads" 0

	for q in per-consumer shared; do
		select_rows relay "queue=$q" consumers ratio | sort -n >"$PD/relay.$q.dat"
	done
	ratio_plot relay "Streaming relay, 1 MiB chunks: ratio vs consumers" "consumers" 1

	# Redis: one cluster per value size, a bar per (pipeline, AOF).
	for op in set get; do
		{
			printf 'size\tP1_aof0\tP16_aof0\tP1_aof1\tP16_aof1\n'
			for s in $(select_rows redis "op=$op" size | sort -un); do
				row="$((s / 1024))K"
				for c in "pipeline=1 aof=0" "pipeline=16 aof=0" "pipeline=1 aof=1" "pipeline=16 aof=1"; do
					v=$(select_rows redis "op=$op size=$s $c" ratio | head -n 1)
					row="$row	${v:-NaN}"
				done
				printf '%s\n' "$row"
			done
		} >"$PD/redis_$op.dat"
		# A bar series per column that has a value (a part run with
		# BENCH_REDIS_AOF=0, say, has none for the AOF columns, and
		# gnuplot refuses a series of NaN only).
		cmd=""
		for col in 2 3 4 5; do
			awk -F'\t' -v c="$col" 'NR > 1 && $c != "NaN" { found = 1 } END { exit !found }' \
				"$PD/redis_$op.dat" || continue
			case $col in
			2) t='pipeline 1' ;; 3) t='pipeline 16' ;;
			4) t='pipeline 1, AOF' ;; 5) t='pipeline 16, AOF' ;;
			esac
			cmd="$cmd${cmd:+, }'$PD/redis_$op.dat' using $col:xtic(1) title '$t'"
		done
		if [ -n "$cmd" ]; then
			gnuplot <<-EOF
			set terminal $term
			set output '$OUT/redis_$op.png'
			set title "Redis ${op^^}, 50 clients: ratio zio / plain (requests per second)"
			set xlabel "value size"
			set ylabel "ratio"
			set style data histograms
			set style histogram clustered gap 1
			set style fill solid 0.8 border -1
			set grid ytics
			set yrange [0:*]
			set key top left
			plot $cmd, \
				1 with lines lc rgb 'gray' dt 2 notitle, 0.95 with lines lc rgb 'red' dt 3 notitle
			EOF
			plots+=("redis_$op.png")
		fi
	done

	# Micro: times, plain and zio, against size.
	select_rows smallcopy "" size plain zio | sort -n >"$PD/smallcopy.dat"
	select_rows copycost "metric=copy" size plain zio | sort -n >"$PD/copycost.dat"
	select_rows copycost "metric=cycle" size plain zio | sort -n >"$PD/copycycle.dat"
	if [ -s "$PD/smallcopy.dat" ]; then
		gnuplot <<-EOF
		set terminal $term
		set output '$OUT/micro_smallcopy.png'
		set title "memcpy below the threshold: ns per call"
		set xlabel "copy size (bytes)"
		set ylabel "ns per call"
		set logscale x 2
		set logscale y
		set grid
		set key top left
		plot '$PD/smallcopy.dat' using 1:2 with linespoints lw 2 pt 7 title 'plain', \
			'' using 1:3 with linespoints lw 2 pt 5 title 'zio-run'
		EOF
		plots+=(micro_smallcopy.png)
	fi
	if [ -s "$PD/copycost.dat" ]; then
		gnuplot <<-EOF
		set terminal $term
		set output '$OUT/micro_copycost.png'
		set title "Copy of received data (cold pools), zio-run --policy always"
		set xlabel "copy size (bytes)"
		set ylabel "ns"
		set logscale x 2
		set format x "%.0b%B"
		set logscale y
		set grid
		set key top left
		plot '$PD/copycost.dat' using 1:2 with linespoints lw 2 pt 7 title 'memcpy, plain', \
			'' using 1:3 with linespoints lw 2 pt 5 title 'memcpy, zio', \
			'$PD/copycycle.dat' using 1:2 with linespoints lw 1 dt 2 pt 7 title 'recv+memcpy, plain', \
			'' using 1:3 with linespoints lw 1 dt 2 pt 5 title 'recv+memcpy, zio'
		EOF
		plots+=(micro_copycost.png)
	fi
else
	echo "bench-all: gnuplot is missing ('make bench-deps' installs gnuplot-nox); no plots" >&2
	plots=()
fi

# ------------------------------------------------------------ summary.md
# goal_rows NAME TARGET FILTER-BENCH FILTER — a goal table row per matching
# measurement (ratio >= TARGET passes).
goal_rows() {
	local name=$1 target=$2 bench=$3 filter=$4 n=0 params ratio res
	while IFS=$'\t' read -r params ratio; do
		n=$((n + 1))
		res=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r != "NA" && r + 0 >= t) ? "**pass**" : "**miss**" }')
		# shellcheck disable=SC2016 # the backquotes are Markdown
		printf '| %s | `%s` | ≥ %.2fx | %sx | %s |\n' "$name" "$params" "$target" "$ratio" "$res"
	done < <(awk -F'\t' -v b="$bench" -v f="$filter" 'NR > 1 && $1 == b {
		m = split(f, fs, " "); ok = 1
		for (i = 1; i <= m; i++) if (index(" " $2 " ", " " fs[i] " ") == 0) ok = 0
		if (ok) print $2 "\t" $5 }' "$R")
	[ "$n" -gt 0 ] || printf '| %s | — | ≥ %.2fx | not measured | — |\n' "$name" "$target"
}

{
	echo "# zio benchmark summary"
	echo
	echo "Plain vs \`zio-run\` (the same unmodified program, run side by side; medians of"
	echo "each part's repetitions; ratio > 1 means zio is faster). Parts and when they ran:"
	echo
	echo "| part | status | mode | date (UTC) | seconds | git | host | cpus |"
	echo "|---|---|---|---|---|---|---|---|"
	for p in "${ALL_PARTS[@]}"; do
		if [ -f "$OUT/$p.meta" ]; then
			awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", v["part"],
					(v["status"] == "FAILED" ? "**FAILED**" : "ok"),
					(v["quick"] != "0" ? "QUICK (smoke)" : "full"), v["date"],
					v["seconds"], v["rev"], v["host"], v["cpus"] }' "$OUT/$p.meta"
		else
			echo "| $p | not run | | | | | | |"
		fi
	done
	echo
	for p in "${ALL_PARTS[@]}"; do
		if grep -q 'status=FAILED' "$OUT/$p.meta" 2>/dev/null; then
			echo "**$p FAILED**, its results are missing: \`$(tail -n 1 "$OUT/$p.err" 2>/dev/null || echo 'see the log')\`"
			echo
		fi
	done
	echo "## Goals"
	echo
	echo "| goal | measurement | target | measured | result |"
	echo "|---|---|---|---|---|"
	goal_rows "Redis SET 256 KiB with AOF" 2.0 redis "op=set size=262144 aof=1"
	goal_rows "Redis GET 256 KiB" 1.3 redis "op=get size=262144"
	goal_rows "relay, 16 consumers" 2.0 relay "consumers=16"
	goal_rows "echo fresh, 4 copies" 4.0 echo "mode=fresh size=524288 copies=4 threads=1 touch=0"
	goal_rows "echo pooled, 4 copies" 1.5 echo "mode=pooled size=524288 copies=4 threads=1 touch=0"
	# Nothing below 0.95x: every workload row (Redis, relay, echo).
	awk -F'\t' 'NR > 1 && ($1 == "redis" || $1 == "relay" || $1 == "echo") && $5 != "NA" {
		n++; if (min == "" || $5 + 0 < min + 0) { min = $5; at = $1 " " $2 }
		if ($5 + 0 < 0.95) below++ }
		END {
			if (!n) { print "| nothing below 0.95x | — | ≥ 0.95x | not measured | — |"; exit }
			printf "| nothing below 0.95x | worst of %d workload rows: `%s` | ≥ 0.95x | %sx | %s |\n",
				n, at, min, (below ? "**miss** (" below " rows below)" : "**pass**") }' "$R"
	# Small-copy overhead: the worst size.
	awk -F'\t' 'NR > 1 && $1 == "smallcopy" && $3 + 0 > 0 {
		n++; o = ($4 / $3 - 1) * 100; sum += o
		if (n == 1 || o > worst) { worst = o; at = $2 } }
		END {
			if (!n) { print "| small-copy overhead | — | ≤ 2% | not measured | — |"; exit }
			printf "| small-copy overhead | worst of %d sizes (8 B - 4 KiB): `%s`; mean %.1f%% | ≤ 2%% | %.1f%% | %s |\n",
				n, at, sum / n, worst, (worst <= 2 ? "**pass**" : "**miss**") }' "$R"
	echo
	echo "## Workloads"
	echo
	echo "| bench | params | plain | zio | ratio | unit | notes: server CPU per request (redis), zio counters |"
	echo "|---|---|---|---|---|---|---|"
	awk -F'\t' 'NR > 1 && ($1 == "redis" || $1 == "relay" || $1 == "echo") {
		printf "| %s | %s | %s | %s | %s%s | %s | %s |\n", $1, $2, $3, $4, $5,
			($5 != "NA" && $5 + 0 < 0.95 ? " ⚠" : ""), $6, $7 }' "$R"
	echo
	# A zio run that elided nothing where copies were big enough is not a
	# measurement of zio; say so.
	awk -F'\t' 'NR > 1 && ($1 == "redis" || $1 == "relay" || $1 == "echo") {
		if ($7 ~ /zio_stats=missing/) { miss = miss "\n- `" $1 " " $2 "`: no zio stats line" ; next }
		if ($7 ~ /(^| )elided_copies=0( |$)/ && $2 !~ /copies=0/ && $2 !~ /size=(4096|16384) /)
			none = none "\n- `" $1 " " $2 "`"
	} END {
		if (miss != "" || none != "") {
			print "### zio processes that elided nothing"
			print miss none
			print ""
		}
	}' "$R"
	echo "## Mechanism"
	echo
	echo "| bench | params | plain | zio | ratio (plain/zio) | unit | notes |"
	echo "|---|---|---|---|---|---|---|"
	awk -F'\t' 'NR > 1 && ($1 == "micro" || $1 == "smallcopy" || $1 == "copycost" || $1 == "fault") {
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$R"
	echo
	echo "## Files"
	echo
	echo "- \`results.tsv\`: every row above (bench, params, plain, zio, ratio, unit, notes)"
	for f in "${plots[@]}"; do
		echo "- \`$f\`"
	done
	echo
	echo "Goals count every matching row (each pipeline depth and AOF setting). \"Nothing"
	echo "below 0.95x\" covers the workload rows (Redis, relay, echo including copies=0 and the"
	echo "touched-page sweeps); mechanism rows are costs, not workloads."
} >"$OUT/summary.md.tmp"
mv "$OUT/summary.md.tmp" "$OUT/summary.md"

echo "bench-all: wrote $OUT/results.tsv, $OUT/summary.md and ${#plots[@]} plots in $((SECONDS - t_all)) s" >&2
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench-all: FAILED: ${failed[*]} (see $OUT/summary.md and the messages above)" >&2
	exit 1
fi
