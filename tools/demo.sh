#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh BUILD_DIR — the zio relay demo: the same echo server, which
# copies every 512 KiB message three times before sending it back, run
# once plain and once under zio-run, each driven by a client that checks
# every byte of every reply.  Prints what zio elided and what it was worth.
#
# Env: DEMO_DURATION (seconds per run, default 4), DEMO_CONNS (default 4).
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BUILD=$1
ECHO=$BUILD/tools/echo
RUN=$BUILD/zio-run
SIZE=524288
COPIES=3
DURATION=${DEMO_DURATION:-4}
CONNS=${DEMO_CONNS:-4}

for f in "$ECHO" "$RUN"; do
	[ -x "$f" ] || { echo "demo: $f is missing; run 'make' first" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zio-demo.XXXXXX")
srv_pid=

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
	if [ -n "$srv_pid" ]; then
		terminate "$srv_pid" || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap reaps the server.
trap 'exit 130' INT TERM HUP

# start_server NAME CMD... — start a server on a kernel-chosen port; sets
# srv_pid and port, or fails showing the server's stderr.
start_server() {
	local name=$1 _
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	srv_pid=$!
	port=
	# Pool allocation takes a moment; 20 s bounds a server that hangs.
	for _ in $(seq 200); do
		port=$(awk '/^listening on /{print $3; exit}' "$tmp/$name.out")
		[ -n "$port" ] && return 0
		if ! kill -0 "$srv_pid" 2>/dev/null; then
			echo "demo: $name server exited before listening:" >&2
			sed 's/^/  | /' "$tmp/$name.err" >&2
			srv_pid=
			exit 1
		fi
		sleep 0.1
	done
	echo "demo: $name server did not start listening within 20 s" >&2
	exit 1
}

# stop_server NAME — SIGTERM the server we started and check it exited 0.
stop_server() {
	local name=$1 rc=0 killed=0
	terminate "$srv_pid" || killed=1
	wait "$srv_pid" || rc=$?
	srv_pid=
	if [ "$killed" -eq 1 ]; then
		echo "demo: $name server ignored SIGTERM for 10 s; killed it:" >&2
		sed 's/^/  | /' "$tmp/$name.err" >&2
		exit 1
	fi
	if [ "$rc" -ne 0 ]; then
		echo "demo: $name server exited with status $rc:" >&2
		sed 's/^/  | /' "$tmp/$name.err" >&2
		exit 1
	fi
}

# run_client NAME — drive the server on $port; fails on any mismatch.
run_client() {
	local name=$1 rc=0
	"$ECHO" client --port "$port" --size "$SIZE" --conns "$CONNS" \
		--duration "$DURATION" --verify full \
		>"$tmp/$name.client" 2>"$tmp/$name.client.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "demo: $name run FAILED verification (client status $rc):" >&2
		sed 's/^/  | /' "$tmp/$name.client.err" >&2
		exit 1
	fi
}

# field FILE KEY — the value of KEY=... on FILE's first line that has it.
field() {
	sed -n "s/.*[ :]$2=\([^ ]*\).*/\1/p" "$1" | head -n1
}

SERVER_ARGS=(server --port 0 --size "$SIZE" --copies "$COPIES" --mode pooled)

echo "zio relay demo: $((SIZE / 1024)) KiB messages, $COPIES in-app copies, pooled buffers,"
echo "                $CONNS connections, ${DURATION} s per run, every reply verified"

echo "-- plain run" >&2
start_server plain "$ECHO" "${SERVER_ARGS[@]}"
run_client plain
stop_server plain

echo "-- zio run" >&2
start_server zio "$RUN" --stats -- "$ECHO" "${SERVER_ARGS[@]}"
zio_pid=$srv_pid
run_client zio
stop_server zio

plain_rps=$(field "$tmp/plain.client" rps)
plain_bytes=$(field "$tmp/plain.client" bytes_verified)
zio_rps=$(field "$tmp/zio.client" rps)
zio_bytes=$(field "$tmp/zio.client" bytes_verified)
# zio-run execs the server, so the stats line carries the PID we started.
grep "^zio: pid=$zio_pid " "$tmp/zio.err" >"$tmp/zio.stats" || true
if [ -s "$tmp/zio.stats" ]; then
	elided=$(field "$tmp/zio.stats" elided_copies)
	elided_bytes=$(field "$tmp/zio.stats" elided_bytes)
else
	echo "demo: warning: no 'zio: pid=$zio_pid ...' stats line from the zio server" >&2
	sed 's/^/  | /' "$tmp/zio.err" >&2
	elided=n/a
	elided_bytes=n/a
fi
ratio=$(awk -v z="$zio_rps" -v p="$plain_rps" 'BEGIN { printf "%.2f", (p > 0 ? z / p : 0) }')

echo "  plain: rps=$plain_rps bytes_verified=$plain_bytes"
echo "  zio:   rps=$zio_rps bytes_verified=$zio_bytes copies_elided=$elided elided_bytes=$elided_bytes"
if [ -s "$tmp/zio.stats" ]; then
	echo "  $(cat "$tmp/zio.stats")"
fi
echo "  ratio=$ratio (zio rps / plain rps); all replies verified byte for byte"
