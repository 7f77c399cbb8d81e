# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# bench-lib.sh — what every bench-*.sh shares; sourced, never run.
#
# Servers are started in the background and remembered by name and PID
# (bl_start), so the EXIT trap stops exactly the processes this script
# started and nothing else.  Results go out as rows of
#   bench <TAB> params <TAB> plain <TAB> zio <TAB> ratio <TAB> unit <TAB> notes
# where params is "key=value ..." and ratio is zio/plain for rates and
# plain/zio for times, so above 1 always means zio is faster.
#
# The caller sets BL_NAME (for messages) and calls bl_init BUILD_DIR.

BL_NAME=${BL_NAME:-bench}
# shellcheck disable=SC2034 # BL_PORT is for the sourcing scripts
declare -A BL_PID=() BL_PORT=()
BL_TMP=
BL_CLEANUPS=()

# bl_die MESSAGE — say why and exit 1; the message also goes to
# $BENCH_ERRFILE when set (bench-all.sh puts it in summary.md).
bl_die() {
	echo "$BL_NAME: $*" >&2
	[ -z "${BENCH_ERRFILE:-}" ] || echo "$BL_NAME: $*" >>"$BENCH_ERRFILE"
	exit 1
}

bl_progress() {
	echo "$BL_NAME: $*" >&2
}

# bl_init BUILD_DIR — check the runtime is built; make a temp dir; set the
# traps that stop our servers and remove what we made.
bl_init() {
	BL_BUILD=$1
	BL_RUN=$BL_BUILD/zio-run
	[ -x "$BL_RUN" ] || bl_die "$BL_RUN is missing; run 'make' first"
	[ -f "$BL_BUILD/libzio.so" ] || bl_die "$BL_BUILD/libzio.so is missing; run 'make' first"
	BL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zio-$BL_NAME.XXXXXX")
	mkdir -p "$BL_BUILD/bench"
	trap bl_cleanup EXIT
	# Turn signals into a normal exit so the EXIT trap runs.
	trap 'exit 130' INT TERM HUP
}

# bl_on_cleanup CMD — run CMD (a string, eval'd) at exit, last added first.
bl_on_cleanup() {
	BL_CLEANUPS+=("$1")
}

# bl_gone PID SECS — wait up to SECS for PID to exit; false if it did not.
bl_gone() {
	local _
	for _ in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

bl_cleanup() {
	local n i
	for n in "${!BL_PID[@]}"; do
		kill -TERM "${BL_PID[$n]}" 2>/dev/null || true
	done
	# A server that hangs (say, spinning inside the runtime) ignores
	# SIGTERM; it gets SIGKILL rather than hang the benchmark.
	for n in "${!BL_PID[@]}"; do
		bl_gone "${BL_PID[$n]}" 10 || kill -KILL "${BL_PID[$n]}" 2>/dev/null || true
		wait "${BL_PID[$n]}" 2>/dev/null || true
	done
	for ((i = ${#BL_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${BL_CLEANUPS[$i]}" || true
	done
	[ -z "$BL_TMP" ] || rm -rf "$BL_TMP"
}

# bl_quick — true when BENCH_QUICK asks for the smoke version.
bl_quick() {
	[ "${BENCH_QUICK:-0}" != 0 ]
}

# bl_num NAME VALUE — insist on a non-negative integer setting.
bl_num() {
	[[ $2 =~ ^[0-9]+$ ]] || bl_die "bad numeric setting $1='$2'"
}

# bl_start NAME VARIANT [ZIO_ARGS...] -- CMD... — start CMD in the
# background plain, or under zio-run --stats (VARIANT zio) with ZIO_ARGS;
# stdout/stderr go to $BL_TMP/NAME.out/.err.
bl_start() {
	local name=$1 variant=$2 zargs=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		zargs+=("$1")
		shift
	done
	[ $# -gt 0 ] || bl_die "bl_start: missing -- before the command"
	shift
	case $variant in
	plain) "$@" >"$BL_TMP/$name.out" 2>"$BL_TMP/$name.err" & ;;
	zio) "$BL_RUN" --stats "${zargs[@]}" -- "$@" \
		>"$BL_TMP/$name.out" 2>"$BL_TMP/$name.err" & ;;
	*) bl_die "bl_start: unknown variant '$variant'" ;;
	esac
	BL_PID[$name]=$!
}

# bl_show_err NAME — the server's stderr (and stdout tail), indented.
bl_show_err() {
	sed 's/^/  | /' "$BL_TMP/$1.err" >&2 || true
	tail -n 20 "$BL_TMP/$1.out" 2>/dev/null | sed 's/^/  > /' >&2 || true
}

# bl_alive NAME — dies with the server's output if it has exited.
bl_alive() {
	local rc=0
	if ! kill -0 "${BL_PID[$1]}" 2>/dev/null; then
		# Only the shell that started it can collect its status.
		if [ "$BASHPID" = "$$" ]; then
			wait "${BL_PID[$1]}" || rc=$?
			unset "BL_PID[$1]"
		else
			rc=unknown
		fi
		bl_show_err "$1"
		bl_die "$1 server exited unexpectedly (status $rc)"
	fi
}

# bl_wait_listening NAME — for servers that print "listening on PORT":
# sets BL_PORT[NAME].  30 s bounds a server that hangs while starting.
bl_wait_listening() {
	local name=$1 p _
	for _ in $(seq 300); do
		p=$(awk '/^listening on /{print $3; exit}' "$BL_TMP/$name.out")
		if [ -n "$p" ]; then
			# shellcheck disable=SC2034 # read by the sourcing scripts
			BL_PORT[$name]=$p
			return 0
		fi
		bl_alive "$name"
		sleep 0.1
	done
	bl_die "$name server did not start listening within 30 s"
}

# bl_stop NAME — SIGTERM it and insist on exit status 0 within 30 s (a
# crash or a hang under zio must not pass for a result).
bl_stop() {
	local name=$1 rc=0
	[ -n "${BL_PID[$name]:-}" ] || return 0
	kill -TERM "${BL_PID[$name]}" 2>/dev/null || true
	if ! bl_gone "${BL_PID[$name]}" 30; then
		bl_show_err "$name"
		bl_die "$name server (pid ${BL_PID[$name]}) did not exit within 30 s of SIGTERM; hung?"
	fi
	wait "${BL_PID[$name]}" || rc=$?
	unset "BL_PID[$name]"
	if [ "$rc" -ne 0 ]; then
		bl_show_err "$name"
		bl_die "$name server exited with status $rc"
	fi
}

# bl_free_port — a TCP port on 127.0.0.1 nobody listens on, outside the
# ephemeral range so an outgoing connection cannot take it meanwhile.
bl_free_port() {
	local lo hi p _
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % 20000))
		if [ "$p" -ge "$lo" ] && [ "$p" -le "$hi" ]; then
			continue
		fi
		if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	bl_die "no free TCP port found"
}

# bl_median NUMBERS... — the middle value (mean of the middle two if even).
bl_median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR == 0) { print "NA"; exit }
		      if (NR % 2) printf "%.6g\n", a[(NR + 1) / 2];
		      else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# bl_ratio NUM DEN — NUM/DEN with two decimals, NA if either is missing.
bl_ratio() {
	awk -v n="$1" -v d="$2" 'BEGIN {
		if (n == "NA" || d == "NA" || d + 0 <= 0) print "NA";
		else printf "%.2f\n", n / d }'
}

# bl_stats FILE PID — the interesting counters of the zio stats line that
# process PID printed (its children print their own lines), as
# "elided_copies=N ..."; "zio_stats=missing" if there is none.
bl_stats() {
	local line
	line=$(grep "^zio: pid=$2 " "$1" 2>/dev/null | tail -n 1 || true)
	if [ -z "$line" ]; then
		echo "zio_stats=missing"
		return 0
	fi
	echo "$line" | tr ' ' '\n' | grep -E '^(elided_copies|elided_bytes|faults|fallbacks|policy_declined|outputs_substituted)=' | tr '\n' ' ' | sed 's/ $//'
}

# bl_cpu_ns PID — CPU time of all of process PID's threads so far, in ns
# (schedstat; 0 if PID is gone).  Server CPU per request is steadier than
# throughput on a shared machine: it does not move with the client's share.
bl_cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%.0f", t }'
}

# bl_interleave R — the variant order of repetition R: plain first on even
# repetitions, zio first on odd ones, so drift and noise hit both alike.
bl_interleave() {
	if [ $(($1 % 2)) -eq 0 ]; then
		echo "plain zio"
	else
		echo "zio plain"
	fi
}

# bl_row FILE BENCH PARAMS PLAIN ZIO RATIO UNIT NOTES — append one row.
bl_row() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$5" "$6" "$7" "$8" >>"$1"
}
