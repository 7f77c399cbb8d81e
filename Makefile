# SPDX-License-Identifier: MIT
#
# zio — one Makefile, every output in build/.  Quiet unless V=1.
#
#   make            build libzio.so, zio-run, tools and test programs
#   make deps       install the Debian packages the build and tests need
#   make demo       deps + build + run the echo relay and redis demo (plain vs zio)
#   make test       build + run every test (Criterion)
#   make check-ubsan the tests and a fuzz set against a UBSan build (build-ubsan/)
#   make bench-echo echo benchmark, plain vs --off vs zio
#   make bench      every benchmark plain vs zio (Redis, relay, echo sweeps,
#                   mechanism) -> build/bench/{results.tsv,summary.md,*.png};
#                   bench-redis, bench-relay, bench-sweep, bench-micro: one
#                   part each; BENCH_QUICK=1: a smoke run of a few minutes
#   make bench-observe  echo benchmark, zio vs zio-run --observe
#   make bench-probes   cost of the runtime's USDT probes, unattached
#
# BPF programs: drop bpf/NAME.bpf.c in; it is built CO-RE against the
# committed vmlinux.h into build/NAME.bpf.o and build/NAME.skel.h, and any
# user object that includes "NAME.skel.h" depends on it.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

OUT      := build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -I$(OUT)

# The runtime must never emit a call to memcpy/memset for its own loops
# (it interposes them), so loop-idiom recognition is off for it.
# The runtime (user/runtime/): interpose.c and init.c, then one folder per
# layer (path: the rooms of the data path; mech: the mechanisms they
# share; base: options, libc, log, signals; xsk: the AF_XDP sockets).
RT := user/runtime
LIB_CFLAGS := $(BASE_CFLAGS) $(CFLAGS) -I$(RT) -fPIC \
	-fvisibility=hidden -fno-tree-loop-distribute-patterns -fno-stack-protector -pthread
LIB_LDFLAGS := -shared -Wl,--version-script=$(RT)/libzio.map -Wl,-z,nodelete \
	-Wl,-z,now -pthread -ldl

LIB_SRCS := $(wildcard $(RT)/*.c $(RT)/*/*.c)
LIB_HDRS := $(wildcard $(RT)/*.h $(RT)/*/*.h)
LIB_OBJS := $(patsubst $(RT)/%.c,$(OUT)/lib/%.o,$(LIB_SRCS))

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))

TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(patsubst tools/%.c,$(OUT)/tools/%,$(TOOL_SRCS))

PROG_SRCS := $(wildcard tests/progs/*.c)
PROG_BINS := $(patsubst tests/progs/%.c,$(OUT)/tests/progs/%,$(PROG_SRCS))

UNIT_SRCS := $(wildcard tests/unit/*.c)
INTEG_SRCS := $(wildcard tests/integ/*.c)

# Internal objects the unit tests link directly (no preload involved):
# the pure modules and what they need (stats.o: the counters policy.o
# adds to; pkt.o's clock and AF_XDP state come from tests/unit/test_pkt.c).
UNIT_LIB_OBJS := $(OUT)/lib/mech/index.o $(OUT)/lib/mech/tree.o $(OUT)/lib/base/log.o \
	$(OUT)/lib/base/options.o $(OUT)/lib/base/real.o $(OUT)/lib/base/faultinject.o \
	$(OUT)/lib/mech/policy.o $(OUT)/lib/mech/stats.o $(OUT)/lib/xsk/pkt.o

all: $(OUT)/libzio.so $(OUT)/zio-run $(OUT)/zio-trace $(OUT)/zio-stat $(TOOL_BINS) $(PROG_BINS) \
	$(OUT)/tools/libideal.so

# ---------------------------------------------------------------- deps
DEB_PKGS := clang llvm libbpf-dev bpftool libxdp-dev xdp-tools \
	libcriterion-dev libelf-dev libdw-dev zlib1g-dev systemtap-sdt-dev pkg-config \
	iproute2 make gcc redis-server python3
deps:
	$(Q)missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null || \
		{ echo "make deps: apt-get install failed for:" $$missing >&2; exit 1; }; \
	fi

# ---------------------------------------------------------------- runtime
# Each object depends on the headers it includes (-MMD), not on all of them.
$(OUT)/lib/%.o: $(RT)/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@
-include $(LIB_OBJS:.o=.d)

# The runtime calls libc only through its table (base/real.c) or raw system
# calls: a jump slot to a symbol it exports itself would send its own calls
# through its interposers.  The link fails if one appears.
$(OUT)/libzio.so: $(LIB_OBJS) $(RT)/libzio.map
	$(call msg,LD,$@)
	$(Q)$(CC) -o $@.tmp $(LIB_OBJS) $(LIB_LDFLAGS) $(filter -fsanitize=%,$(CFLAGS))
	$(Q)objdump -R $@.tmp | awk '/JUMP_SLOT/ { sub(/@.*/, "", $$3); print $$3 }' | \
		sort -u > $@.slots; \
	self=$$(objdump -T $@.tmp | awk '/DF .text/ { print $$NF }' | sort -u | \
		comm -12 $@.slots -); rm -f $@.slots; \
	if [ -n "$$self" ]; then echo "libzio.so calls its own exports: $$self" >&2; \
		rm -f $@.tmp; exit 1; fi
	$(Q)mv $@.tmp $@

# The command-line tools: user/zio-*.c hold argp and main, user/cli/ the
# loaders and helpers they share (util.c: one copy of each helper).
# zio-run carries the --xdp loader (user/cli/steer.c), hence libxdp, and
# the --observe loader (user/cli/observe.c), hence libbpf; libzio.so
# itself never links them.  zio-trace and zio-stat name call sites with
# elfutils' libdw (user/cli/syms.c).
CLI := user/cli
CLI_CFLAGS = $(BASE_CFLAGS) $(CFLAGS) -I$(CLI)
RUN_SRCS := user/zio-run.c $(CLI)/observe.c $(CLI)/steer.c $(CLI)/util.c
TRACE_SRCS := user/zio-trace.c $(CLI)/trace.c $(CLI)/trace_target.c \
	$(CLI)/trace_report.c $(CLI)/elf.c $(CLI)/syms.c $(CLI)/util.c
STAT_SRCS := user/zio-stat.c $(CLI)/stat.c $(CLI)/stat_print.c $(CLI)/observe.c \
	$(CLI)/elf.c $(CLI)/syms.c $(CLI)/util.c

$(OUT)/zio-run: $(RUN_SRCS) $(CLI)/observe_cli.h $(CLI)/steer_cli.h $(CLI)/util.h \
		$(OUT)/steer.skel.h $(OUT)/observe.skel.h $(wildcard include/*.h) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CLI_CFLAGS) $(RUN_SRCS) -o $@ -lxdp -lbpf -lelf -lz

$(OUT)/zio-trace: $(TRACE_SRCS) $(CLI)/trace_cli.h $(CLI)/trace_priv.h $(CLI)/syms.h \
		$(CLI)/util.h $(OUT)/trace.skel.h include/trace.h include/observe.h | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CLI_CFLAGS) $(TRACE_SRCS) -o $@ -lbpf -ldw -lelf -lz -pthread

$(OUT)/zio-stat: $(STAT_SRCS) $(CLI)/stat.h $(CLI)/observe_cli.h $(CLI)/syms.h \
		$(CLI)/util.h $(OUT)/observe.skel.h include/observe.h include/zio_probes.h | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CLI_CFLAGS) $(STAT_SRCS) -o $@ -lbpf -ldw -lelf -lz

# ---------------------------------------------------------------- BPF
# clang -target bpf does not search the multiarch dirs that <asm/errno.h>
# (reached from <bpf/usdt.bpf.h>) lives in; ask it for its host search
# path, as libbpf-bootstrap's Makefile does.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 | \
	sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
$(OUT)/%.bpf.o: bpf/%.bpf.c vmlinux.h $(wildcard include/*.h bpf/*.h) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I. -Iinclude \
		$(CLANG_BPF_SYS_INCLUDES) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---------------------------------------------------------------- tools
$(OUT)/tools/%: tools/%.c $(wildcard include/*.h tools/*.h) | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -pthread $< -o $@ -lm

# The ideal elision, a preload that measures a row's limit (bench-apps).
$(OUT)/tools/libideal.so: tools/ideal/ideal.c | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -fvisibility=hidden \
		-fno-tree-loop-distribute-patterns -pthread $< -o $@ -ldl

$(OUT)/tests/progs/%: tests/progs/%.c $(wildcard tests/progs/*.h) tools/loadconn.h | $(OUT)/tests/progs
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -fno-builtin -pthread $< -o $@

# ---------------------------------------------------------------- tests
$(OUT)/tests/unit: $(UNIT_SRCS) $(UNIT_LIB_OBJS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(RT) $(UNIT_SRCS) $(UNIT_LIB_OBJS) \
		-o $@ -lcriterion -pthread -ldl

$(OUT)/tests/integ: $(INTEG_SRCS) $(wildcard tests/integ/*.h) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(INTEG_SRCS) -o $@ -lcriterion -pthread

TEST_JOBS ?= 1
test: all $(OUT)/tests/unit $(OUT)/tests/integ
	$(Q)echo "== unit tests"; $(OUT)/tests/unit --jobs $(TEST_JOBS)
	$(Q)echo "== integration tests"; \
		ZIO_BUILD=$(abspath $(OUT)) $(OUT)/tests/integ --jobs $(TEST_JOBS)

# Differential fuzzer (tests/fuzz/run.sh): SEEDS seeds of OPS ops from
# SEED (default 100 x 10^4 = 10^6 ops), reports ops/s, minimises each
# failure for up to MINIMISE seconds; with KEEP (and the SEED, OPS, FLAGS,
# EXCLUDE it printed) it replays a minimised reproducer.  MODE=slab runs
# the threaded fuzzer instead (zslab: WORKERS threads over one slab
# allocator, OPS per worker, default 1500).
SEED ?= 1
SEEDS ?= 100
MINIMISE ?= 300
fuzz: all
	$(Q)tests/fuzz/run.sh -b $(OUT) -s $(SEED) $(if $(OPS),-n $(OPS)) -M $(MINIMISE) \
		$(if $(MODE),-m $(MODE)) $(if $(WORKERS),-t $(WORKERS)) \
		$(if $(KEEP),-c 1 -K $(KEEP),-c $(SEEDS)) \
		$(if $(FLAGS),-f "$(FLAGS)") $(if $(EXCLUDE),-x $(EXCLUDE))

.PHONY: fuzz

# ---------------------------------------------------------------- ubsan
# Undefined behaviour found by a machine: libzio.so, the tools and the
# test programs built with -fsanitize=undefined (every report fatal) into
# their own folder, then the unit and integration tests and a fuzz set
# (UBSAN_SEEDS seeds of each mode) against them.  libzio.so links the
# shared libubsan (the link rule passes -fsanitize= on), so any program
# it is preloaded into gets the UBSan runtime with it.  Reports go to
# files (log_path) as well as failing their process: a test that expects
# its program to fail would otherwise hide one.  Any report fails the
# target and is printed.  About 7.5 minutes from scratch on 2 CPUs; not
# part of `make test` (nor of .ci/run).
UBSAN_OUT ?= build-ubsan
UBSAN_CFLAGS := -O2 -g -fsanitize=undefined -fno-sanitize-recover=undefined
UBSAN_SEEDS ?= 6
check-ubsan:
	$(Q)$(MAKE) --no-print-directory OUT=$(UBSAN_OUT) CFLAGS="$(UBSAN_CFLAGS)" \
		all $(UBSAN_OUT)/tests/unit $(UBSAN_OUT)/tests/integ
	$(Q)ldd $(UBSAN_OUT)/libzio.so | grep -q 'libubsan\.so.* => /' || \
		{ echo "check-ubsan: libzio.so does not find libubsan" >&2; exit 1; }
	$(Q)r=$(abspath $(UBSAN_OUT))/ubsan; rm -rf $$r; mkdir -p $$r; \
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$$r/report; \
	st=0; \
	echo "== unit tests (UBSan)"; $(UBSAN_OUT)/tests/unit --jobs 1 || st=1; \
	echo "== integration tests (UBSan)"; \
	ZIO_BUILD=$(abspath $(UBSAN_OUT)) $(UBSAN_OUT)/tests/integ --jobs 1 || st=1; \
	echo "== fuzz (UBSan)"; \
	tests/fuzz/run.sh -q -b $(UBSAN_OUT) -s 1 -c $(UBSAN_SEEDS) -M 0 || st=1; \
	tests/fuzz/run.sh -q -b $(UBSAN_OUT) -m slab -s 1 -c $(UBSAN_SEEDS) || st=1; \
	if ls $$r/report.* >/dev/null 2>&1; then \
		echo "check-ubsan: UBSan reports ($$r):" >&2; cat $$r/report.* >&2; st=1; \
	fi; \
	[ $$st = 0 ] && echo "check-ubsan: no UBSan report, every test passed"; exit $$st

.PHONY: check-ubsan

# ---------------------------------------------------------------- demo/bench
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh $(OUT)

bench-echo: all
	$(Q)tools/bench-echo.sh $(OUT)

# What zio-run --observe costs the echo server (root: BPF).
bench-observe: all
	$(Q)tools/bench-observe.sh $(OUT)

# What the runtime's USDT probes cost with nothing attached.
bench-probes: all
	$(Q)tools/bench-probes.sh $(OUT)

# Every part plain vs zio, collected into build/bench/ (tools/bench-all.sh).
# The benchmarks' own Debian packages install through the deps recipe.
BENCH_PKGS := redis-server redis-tools gnuplot-nox memcached nginx-light icecast2 linux-perf
bench-deps: deps
	$(Q)$(MAKE) --no-print-directory deps DEB_PKGS="$(BENCH_PKGS)"

bench: bench-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench-all.sh $(OUT)

bench-redis bench-relay bench-sweep bench-micro bench-apps: bench-%: bench-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench-all.sh $(OUT) $*

.PHONY: bench bench-deps bench-redis bench-relay bench-sweep bench-micro bench-apps

# UDP echo over kernel sockets vs zio-run --xdp, on a veth pair between two
# network namespaces the script creates and removes (root).
bench-udp: all
	$(Q)tools/bench-udp.sh $(OUT)

# ---------------------------------------------------------------- misc
$(OUT) $(OUT)/lib $(OUT)/tools $(OUT)/tests $(OUT)/tests/progs:
	$(Q)mkdir -p $@

clean:
	$(call msg,CLEAN,$(OUT))
	$(Q)rm -rf $(OUT)

.PHONY: all deps test demo bench-echo bench-udp clean bench-observe bench-probes
include mk/install.mk
