# otprof: continuous CPU and heap profiler, LD_PRELOAD agent.
#   make          build build/libotprof_agent.so
#   make demo     build and profile the bundled demo, print its top functions
#   make test     unit + preload tests ("N passed, N failed")
#   make coverage line coverage of agent/ preload/ config/ over the tests
#   make bench    the benchmark scripts (CPU, heap, export)

BUILD ?= build
CC ?= cc
WERROR ?= $(if $(CI),-Werror,)
CFLAGS_BASE = -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -ftls-model=initial-exec \
  -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
  -Wformat=2 $(WERROR) -D_GNU_SOURCE
COVFLAGS ?=
CFLAGS_ALL = $(CFLAGS_BASE) $(COVFLAGS) $(EXTRA_CFLAGS) -Iagent -Iconfig -I$(BUILD)/gen

DEPS_STAMP = $(BUILD)/.deps-ok
PKGS = libunwind libprotobuf-c libcurl inih zlib libdw

SRC_AGENT = $(sort $(wildcard agent/*.c) $(wildcard config/*.c))
SRC_PRELOAD = $(sort $(wildcard preload/*.c))
PROTOS = $(sort $(wildcard proto/*.proto))
GEN_C = $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
GEN_H = $(GEN_C:.c=.h)
OBJ_AGENT = $(patsubst %.c,$(BUILD)/obj/%.o,$(SRC_AGENT))
OBJ_PRELOAD = $(patsubst %.c,$(BUILD)/obj/%.o,$(SRC_PRELOAD))
OBJ_GEN = $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(GEN_C))
JE_OBJ = $(BUILD)/je/otpje.o
CORE_LIB = $(BUILD)/libotprof_core.a
AGENT = $(BUILD)/libotprof_agent.so
LDLIBS_AGENT = -Wl,-Bstatic -lprotobuf-c -linih -lz -Wl,-Bdynamic -ldl -lpthread -lm -lrt

UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
PROG_SRC = $(sort $(wildcard tests/progs/*.c))
PROG_BIN = $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC))
PROG_CXX_SRC = $(sort $(wildcard tests/progs/*.cc))
PROG_CXX_LIB = $(patsubst tests/progs/%.cc,$(BUILD)/progs/lib%.so,$(PROG_CXX_SRC))
PROG_CXX_EXE_SRC = $(sort $(wildcard tests/progs/*.cpp))
PROG_CXX_EXE = $(patsubst tests/progs/%.cpp,$(BUILD)/progs/%,$(PROG_CXX_EXE_SRC))
TOOL_SRC = $(sort $(wildcard tests/tools/*.c))
TOOL_BIN = $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

.PHONY: all deps demo test test-deps coverage sanitize bench clean
.SECONDARY: $(GEN_C) $(GEN_H)
all: $(AGENT)

# Missing Debian packages are installed by scripts/install-deps (apt-get).
$(DEPS_STAMP):
	@mkdir -p $(BUILD)
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || ! command -v protoc-c >/dev/null \
	   || [ ! -f /usr/lib/$$(gcc -print-multiarch)/libjemalloc_pic.a ]; then \
	  scripts/install-deps build; fi
	@touch $@
deps: $(DEPS_STAMP)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Wno-missing-prototypes -Wno-shadow -I$(BUILD)/gen -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard agent/*.h config/*.h) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(if $(filter preload/%,$<),-fno-builtin) -c $< -o $@

# A private jemalloc: Debian's PIC archive with every symbol it defines
# renamed to otpje_*, its load-time constructor removed (it initialises on
# first use) and its environment variable renamed, so it can neither
# interpose on the app's allocator nor be configured by the app's
# MALLOC_CONF. Its C++ operator new/delete object is left out.
$(JE_OBJ): scripts/build-jemalloc | $(DEPS_STAMP)
	scripts/build-jemalloc $(BUILD)/je

$(CORE_LIB): $(OBJ_AGENT) $(OBJ_GEN) $(JE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(AGENT): $(OBJ_AGENT) $(OBJ_PRELOAD) $(OBJ_GEN) $(JE_OBJ) preload/otprof.map
	$(CC) -shared -o $@ $(OBJ_PRELOAD) $(OBJ_AGENT) $(OBJ_GEN) $(JE_OBJ) $(COVFLAGS) \
	  -Wl,--version-script=preload/otprof.map -Wl,--exclude-libs,ALL -Wl,-z,now -Wl,-z,defs \
	  -Wl,--as-needed $(LDLIBS_AGENT)

# Test programs: built plain (no agent inside), with frame pointers and
# full symbol tables so profiles can be checked by function name.
$(BUILD)/progs/%: tests/progs/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-inline -D_GNU_SOURCE -Iagent -Wall -Wextra $(WERROR) \
	  $< -o $@ -lpthread -ldl -lm -lrt
# The inline-frame test needs a real optimized build.
$(BUILD)/progs/inline_hot: tests/progs/inline_hot.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) $< -o $@
$(BUILD)/progs/lib%.so: tests/progs/%.cc | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	g++ -O1 -g -fPIC -shared $< -o $@

$(BUILD)/progs/%: tests/progs/%.cpp | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	g++ -O1 -g -fno-omit-frame-pointer -fno-inline -Wall -Wextra $(WERROR) $< -o $@

$(BUILD)/tests/%: tests/unit/%.c tests/check.h $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fvisibility=default -Itests $< -o $@ $(CORE_LIB) $(LDLIBS_AGENT)

# Test tools (decoders, checkers) may use the agent's internals and the
# generated protobuf code.
$(BUILD)/tools/%: tests/tools/%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fvisibility=default -Itests $< -o $@ $(CORE_LIB) $(LDLIBS_AGENT)

test-deps:
	@scripts/install-deps test

test: test-deps $(AGENT) $(UNIT_BIN) $(PROG_BIN) $(PROG_CXX_LIB) $(PROG_CXX_EXE) $(TOOL_BIN)
	@BUILD=$(BUILD) tests/run.sh

demo: $(AGENT) $(BUILD)/progs/demo
	@scripts/demo $(BUILD)

coverage:
	@scripts/coverage

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer (the
# preloaded agent itself cannot carry ASan's runtime into arbitrary apps).
sanitize:
	@$(MAKE) -s BUILD=build-san EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  COVFLAGS="-fsanitize=address,undefined" $(patsubst $(BUILD)/tests/%,build-san/tests/%,$(UNIT_BIN))
	@for t in build-san/tests/test_*; do echo "== $$t"; ASAN_OPTIONS=detect_leaks=0 $$t > build-san/$$(basename $$t).log 2>&1 \
	  && grep -c '^PASS' build-san/$$(basename $$t).log || { tail -30 build-san/$$(basename $$t).log; exit 1; }; done

bench: $(AGENT) $(PROG_BIN)
	@scripts/install-deps bench
	scripts/bench-cpu
	@[ ! -x scripts/bench-heap ] || scripts/bench-heap
	@[ ! -x scripts/bench-export ] || scripts/bench-export

clean:
	rm -rf $(BUILD) build-cov build-san
