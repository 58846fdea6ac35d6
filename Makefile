# onex - one non-recursive Makefile.
#
#   make            build everything into build/bin/
#   make test       install missing packages, build, run every test
#   make run        install missing packages, build, run the scenario suite
#   make SAN=1 ...  the same with AddressSanitizer + UBSan, in build/san/
#   make test-valgrind  the scenario suite under valgrind
#   make bench      benchmarks (make bench-ir: instructions; make bench-compare: the gate)
#   make deps       install missing Debian packages (prints the command when not root)
#
# Layers, one static library each; the folder tree is the dependency graph:
#   core/*.c         kernel + ports + host (no transport headers, checked)
#   core/units/*.c   first units: stdio/in-memory bus, system clock, epoll loop, local
#   core/real/*.c    real units: Kafka, PostgreSQL, libcurl
#   sim/*.c          simulation units, scenario engine, checkers
#   core/roots/, sim/roots/   composition roots: one main() per binary

SHELL := /bin/bash
.DEFAULT_GOAL := all

ifeq ($(SAN),1)
CONFIG := san
BIN := build/san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
CONFIG := release
BIN := build/bin
SANFLAGS :=
endif
OBJ := build/$(CONFIG)/obj
LIB := build/$(CONFIG)/lib

ifeq ($(origin CC),default)
CC := gcc
endif
PREFIX ?= /usr/local
CORE_PKGS := jansson yaml-0.1
SIM_PKGS := sqlite3
REAL_PKGS := rdkafka libpq libcurl
TEST_PKGS := cmocka

# Only ask pkg-config when it is there (so `make deps` works on a bare machine).
pc = $(shell command -v pkg-config >/dev/null 2>&1 && pkg-config $(1) $(2) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wvla -Wformat=2 -Wno-format-nonliteral -Wundef
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP \
	-Icore -Icore/units -Isim -Itests/support \
	$(call pc,--cflags,$(CORE_PKGS) $(SIM_PKGS) $(TEST_PKGS))
REAL_CFLAGS := $(call pc,--cflags,$(REAL_PKGS))
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
CORE_LIBS := $(call pc,--libs,$(CORE_PKGS)) -lm
SIM_LIBS := $(call pc,--libs,$(SIM_PKGS))
REAL_LIBS := $(call pc,--libs,$(REAL_PKGS))
TEST_LIBS := $(call pc,--libs,$(TEST_PKGS))

CORE_SRC := $(wildcard core/*.c)
UNITS_SRC := $(wildcard core/units/*.c)
REAL_SRC := $(wildcard core/real/*.c)
SIM_SRC := $(wildcard sim/*.c)
BENCH_SRC := $(wildcard sim/bench/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
LIBCORE := $(LIB)/libonex_core.a
LIBUNITS := $(LIB)/libonex_units.a
LIBREAL := $(LIB)/libonex_real.a
LIBSIM := $(LIB)/libonex_sim.a
LIBTESTSUP := $(LIB)/libonex_testsupport.a
LIBBENCH := $(LIB)/libonex_bench.a

BINARIES := $(BIN)/onex-host $(BIN)/onex-host-dev
ifneq ($(wildcard sim/roots/onex_sim.c),)
BINARIES += $(BIN)/onex-sim
endif
ifneq ($(wildcard sim/roots/onex_bench.c),)
BINARIES += $(BIN)/onex-bench
endif
TEST_BINS := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(TEST_SRC))

all: $(BINARIES) $(TEST_BINS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OBJ)/core/real/%.o: core/real/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(REAL_CFLAGS) -c $< -o $@

$(OBJ)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(REAL_CFLAGS) -c $< -o $@

$(OBJ)/core/roots/onex_host.o: core/roots/onex_host.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(REAL_CFLAGS) -c $< -o $@

$(LIBCORE): $(call objs,$(CORE_SRC))
$(LIBUNITS): $(call objs,$(UNITS_SRC))
$(LIBREAL): $(call objs,$(REAL_SRC))
$(LIBSIM): $(call objs,$(SIM_SRC))
$(LIBTESTSUP): $(call objs,$(TEST_SUPPORT_SRC))
$(LIBBENCH): $(call objs,$(BENCH_SRC))
$(LIB)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	$(if $^,ar rcs $@ $^,ar rcs $@)

HOST_CLI := $(OBJ)/core/roots/host_cli.o
ifneq ($(REAL_SRC),)
HOST_REAL_LIBS := $(LIBREAL)
HOST_REAL_LDLIBS := $(REAL_LIBS)
endif

$(BIN)/onex-host: $(OBJ)/core/roots/onex_host.o $(HOST_CLI) $(HOST_REAL_LIBS) $(LIBUNITS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(HOST_REAL_LDLIBS) $(CORE_LIBS)

$(BIN)/onex-host-dev: $(OBJ)/core/roots/onex_host_dev.o $(HOST_CLI) $(LIBUNITS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(BIN)/onex-sim: $(OBJ)/sim/roots/onex_sim.o $(LIBSIM) $(LIBUNITS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIM_LIBS) $(CORE_LIBS)

# The benchmark tool links the simulation and, once they exist, the real units.
$(OBJ)/sim/bench/%.o: sim/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(REAL_CFLAGS) -Isim/bench -c $< -o $@

$(OBJ)/sim/roots/onex_bench.o: sim/roots/onex_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(REAL_CFLAGS) -Isim/bench -c $< -o $@

$(BIN)/onex-bench: $(OBJ)/sim/roots/onex_bench.o $(LIBBENCH) $(LIBSIM) $(HOST_REAL_LIBS) $(LIBUNITS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIM_LIBS) $(HOST_REAL_LDLIBS) $(CORE_LIBS)

# Every unit test links every layer; the linker keeps what it uses.
$(BIN)/tests/%: $(OBJ)/tests/unit/%.o $(LIBTESTSUP) $(LIBSIM) $(HOST_REAL_LIBS) $(LIBUNITS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(SIM_LIBS) $(HOST_REAL_LDLIBS) $(CORE_LIBS)

# ---- packages --------------------------------------------------------------
DEB_PKGS := gcc make pkg-config libjansson-dev libyaml-dev libcmocka-dev \
	libsqlite3-dev librdkafka-dev libpq-dev libcurl4-openssl-dev valgrind \
	postgresql kcat faketime libfaketime binutils
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done | tr '\n' ' '); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "onex needs these Debian packages: $$missing"; \
		echo "run: sudo apt-get update && sudo apt-get install -y $$missing"; \
		exit 1; \
	fi; \
	echo "installing: $$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing

# ---- tests -----------------------------------------------------------------
# `deps` runs first, then a fresh make reads pkg-config with the packages present.
test: deps
	@$(MAKE) --no-print-directory test-run

test-run: all
	@ONEX_BIN=$(BIN) ONEX_CONFIG=$(CONFIG) bash tests/run_tests.sh $(TEST_BINS)

# The whole scenario suite under valgrind: no errors, no definite or indirect leaks.
VALGRIND := valgrind --quiet --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
test-valgrind: deps
	@$(MAKE) --no-print-directory test-valgrind-run

test-valgrind-run: all
	$(VALGRIND) $(BIN)/onex-sim run scenarios/ tests/data/golden

run: deps
	@$(MAKE) --no-print-directory run-suite

run-suite: all
	@if [ -x $(BIN)/onex-sim ]; then \
		mkdir -p reports && $(BIN)/onex-sim run --junit reports/junit.xml \
			--json reports/results.json --html reports/summary.html scenarios/; \
	else \
		echo "onex-sim is not built yet: the demo below runs the dev host on stdio"; \
		bash tests/e2e/demo.sh $(BIN); \
	fi

bench: deps
	@$(MAKE) --no-print-directory bench-run

bench-run: all
	@$(BIN)/onex-bench run $(BENCH_ARGS)

# Instructions per envelope under callgrind (docs/BENCHMARKS.md): repeatable
# on a noisy machine, unlike times.
bench-ir: deps
	@$(MAKE) --no-print-directory bench-ir-run

bench-ir-run: $(BIN)/onex-bench
	@$(BIN)/onex-bench ir $(BENCH_ARGS)

# Repeat every workload and compare with this machine kind's baseline (none:
# the most alike one, instruction counts and virtual-time results only).
bench-compare: deps
	@$(MAKE) --no-print-directory all
	@$(BIN)/onex-bench compare $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BINARIES) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build

.PHONY: all deps test test-run test-valgrind test-valgrind-run run run-suite bench bench-run \
	bench-ir bench-ir-run bench-compare install clean

# Keep objects that pattern chains build (test objects), so nothing rebuilds needlessly.
.SECONDARY:

-include $(shell find build/$(CONFIG)/obj -name '*.d' 2>/dev/null)
