#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-probes.sh BUILD_DIR — what the runtime's USDT probes cost while
# nothing is attached: libzio.so is built a second time with every probe
# compiled away (a stand-in <sys/sdt.h> whose DTRACE_PROBEn expand to
# nothing), then
#   1. the instructions the probes add, function by function (objdump);
#   2. tools/probecost (recv 256 KiB + two elided memcpy per round, and
#      4 KiB memcpy of non-IO memory) under both libraries, alternating
#      A/B for BENCH_RUNS runs, medians.
#
# stdout: the per-function instruction deltas, then one line
#   probes unattached round_ns=A/B small_ns=C/D round=+P% small=+Q% insns=+N
# (medians with probes / without), and the same of the fastest runs
# (min_round=+P% min_small=+Q%: other load on the machine only ever adds
# time, so minima show the intrinsic cost best).  stderr: progress.
#
# Env (defaults): BENCH_RUNS=7 BENCH_ROUNDS=1000 ZIO_POLICY=always (every
# large copy elided, so every probe on the elision path is passed).
set -eu

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
BUILD=$(cd "$1" && pwd)
RUNS=${BENCH_RUNS:-7}
ROUNDS=${BENCH_ROUNDS:-1000}
export ZIO_POLICY=${ZIO_POLICY:-always}
PROG=$BUILD/tools/probecost
WITH=$BUILD/libzio.so

die() { echo "bench-probes: $*" >&2; exit 1; }
for f in "$PROG" "$WITH"; do
	[ -e "$f" ] || die "$f is missing; run 'make' first"
done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || die "bad BENCH_RUNS '$RUNS'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zio-bench-probes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$tmp/nosdt/sys"
cat >"$tmp/nosdt/sys/sdt.h" <<'EOF'
/* SPDX-License-Identifier: MIT */
/* bench-probes.sh: every USDT probe compiled away (the baseline). */
#define DTRACE_PROBE1(p, n, a) do { } while (0)
#define DTRACE_PROBE2(p, n, a, b) do { } while (0)
#define DTRACE_PROBE3(p, n, a, b, c) do { } while (0)
#define DTRACE_PROBE4(p, n, a, b, c, d) do { } while (0)
#define DTRACE_PROBE5(p, n, a, b, c, d, e) do { } while (0)
#define DTRACE_PROBE6(p, n, a, b, c, d, e, f) do { } while (0)
#define DTRACE_PROBE8(p, n, a, b, c, d, e, f, g, h) do { } while (0)
EOF
echo "bench-probes: building libzio.so without probes" >&2
make --no-print-directory -s OUT="$tmp/build" CFLAGS="-O2 -g -I$tmp/nosdt" \
	"$tmp/build/libzio.so" >&2
WITHOUT=$tmp/build/libzio.so
if readelf -n "$WITHOUT" | grep -q stapsdt; then
	die "the probe-less build still has probes"
fi
readelf -n "$WITH" | grep -q stapsdt || die "$WITH has no probes"

# Instructions per function, objdump -d.
count_insns() {
	objdump -d --no-show-raw-insn "$1" | awk '
		/^[0-9a-f]+ <.*>:$/ { f = $2 }
		/^ +[0-9a-f]+:\t/ { n[f]++ }
		END { for (k in n) print k, n[k] }' | sort
}
count_insns "$WITH" >"$tmp/with.txt"
count_insns "$WITHOUT" >"$tmp/without.txt"
echo "function instructions: with probes, without, added"
join "$tmp/with.txt" "$tmp/without.txt" | awk '$2 != $3 { printf "  %-36s %5d %5d %+4d\n", $1, $2, $3, $2 - $3 }'
insns=$(join "$tmp/with.txt" "$tmp/without.txt" | awk '{ d += $2 - $3 } END { print d + 0 }')

declare -A round small
for ((r = 0; r < RUNS; r++)); do
	progress="bench-probes: run $((r + 1))/$RUNS:"
	for i in 0 1; do
		v=$(((r + i) % 2))
		lib=$WITH
		[ "$v" -eq 1 ] && lib=$WITHOUT
		line=$(LD_PRELOAD=$lib "$PROG" "$ROUNDS")
		[[ $line =~ round_ns=([0-9.]+)\ small_ns=([0-9.]+) ]] || die "bad line: $line"
		round[$v]="${round[$v]:-} ${BASH_REMATCH[1]}"
		small[$v]="${small[$v]:-} ${BASH_REMATCH[2]}"
		progress="$progress $([ "$v" -eq 0 ] && echo with || echo without)=${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
	done
	echo "$progress" >&2
done

median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR % 2) printf "%.1f", a[(NR + 1) / 2];
		      else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
minimum() { printf '%s\n' "$@" | sort -g | head -n1; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", (b > 0 ? (a - b) / b * 100 : 0) }'; }
# shellcheck disable=SC2086 # word splitting wanted
{
	rw=$(median ${round[0]}); rwo=$(median ${round[1]})
	sw=$(median ${small[0]}); swo=$(median ${small[1]})
	mrw=$(minimum ${round[0]}); mrwo=$(minimum ${round[1]})
	msw=$(minimum ${small[0]}); mswo=$(minimum ${small[1]})
}
echo "probes unattached round_ns=$rw/$rwo small_ns=$sw/$swo round=$(pct "$rw" "$rwo")%" \
	"small=$(pct "$sw" "$swo")% min_round=$(pct "$mrw" "$mrwo")%" \
	"min_small=$(pct "$msw" "$mswo")% insns=+$insns"
