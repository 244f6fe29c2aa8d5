# otprof: continuous CPU and heap profiler, LD_PRELOAD agent.
#   make          build build/libotprof_agent.so
#   make demo     build and profile the bundled demo, print its top functions
#   make test     unit + preload tests ("N passed, N failed")
#   make compat   real programs (Go, Java, node, servers, chromium...) bare vs under the agent
#   make coverage line coverage of agent/ preload/ config/ over the tests
#   make bench    the benchmark scripts (CPU, heap, export, threads, short-lived processes)
#   make install  agent, otprof command, header, pkg-config file, man page and
#                 /etc/otprof.ini (PREFIX=/usr/local, DESTDIR honoured); make uninstall
#   make deb      build/otprof_<version>_<arch>.deb

BUILD ?= build
CC ?= cc
# Every core builds (a clean tree: 39 s on one core of this project's
# 2-core machines, 22 s on two); a -j on the command line still wins.
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
WERROR ?= $(if $(CI),-Werror,)
# -fno-optimize-sibling-calls: the agent's own calls to the functions it
# interposes (pthread_sigmask, ...) are told apart by their return address,
# which a tail call would replace with its caller's. -ffunction-sections:
# preload/startup.ld gathers the code every process runs.
CFLAGS_BASE = -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -ftls-model=initial-exec -ffunction-sections \
  -fno-omit-frame-pointer -fno-optimize-sibling-calls -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
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
JE_ENGINE_OBJ = $(BUILD)/je/otpje_engine.o
JE_TSD_OBJ = $(BUILD)/je/tsd_image.o
CORE_LIB = $(BUILD)/libotprof_core.a
# The agent is two objects (agent/engine.h): the shim LD_PRELOAD names,
# with the interposed entry points, the configuration and the log, and the
# engine it loads beside it when the agent is enabled.
AGENT = $(BUILD)/libotprof_agent.so
ENGINE = $(BUILD)/libotprof_engine.so
AGENTS = $(AGENT) $(ENGINE)
SRC_SHIM_AGENT = agent/shared.c agent/log.c agent/sys.c agent/fds.c config/config.c
OBJ_SHIM = $(OBJ_PRELOAD) $(patsubst %.c,$(BUILD)/obj/%.o,$(SRC_SHIM_AGENT)) $(JE_TSD_OBJ)
OBJ_ENGINE = $(filter-out $(BUILD)/obj/agent/shared.o,$(OBJ_AGENT))
LDLIBS_AGENT = -Wl,-Bstatic -lprotobuf-c -linih -lz -Wl,-Bdynamic -ldl -lpthread -lm -lrt

OTPROF_BIN = $(BUILD)/otprof
MAN_PAGE = $(BUILD)/otprof.1
SYS_INI = $(BUILD)/otprof.system.ini
VERSION := $(shell sed -n 's/^\#define OTP_VERSION "\(.*\)"/\1/p' agent/internal.h)
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
SYSCONFDIR ?= /etc

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

.PHONY: all deps demo test test-deps compat coverage sanitize bench clean install uninstall deb
.SECONDARY: $(GEN_C) $(GEN_H)
all: $(AGENTS) $(OTPROF_BIN) $(MAN_PAGE) $(SYS_INI)

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

# The allocation entry points are the exception to -fno-optimize-sibling-calls:
# they reach the real allocator and their own slow paths by tail calls, so
# a sampled allocation's return address is the app's call site (which
# tells an allocation by the dynamic loader apart) and the fast path needs
# no call of its own. The shim and the engine refuse each other unless
# built from the same headers (OTP_ABI_TAG: the layouts they share).
ABI_TAG := $(shell cat agent/*.h config/*.h preload/*.h | cksum | cut -d' ' -f1)
$(BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard agent/*.h config/*.h preload/*.h) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(if $(filter preload/%,$<),-fno-builtin) \
	  $(if $(filter preload/malloc.c,$<),-foptimize-sibling-calls) \
	  $(if $(filter agent/engine.c preload/shim.c,$<),-DOTP_ABI_TAG='"$(ABI_TAG)"') -c $< -o $@

# A private jemalloc: Debian's PIC archive with every symbol it defines
# renamed to otpje_*, its load-time constructor removed (it initialises on
# first use) and its environment variable renamed, so it can neither
# interpose on the app's allocator nor be configured by the app's
# MALLOC_CONF. Its C++ operator new/delete object is left out.
$(JE_OBJ) $(JE_ENGINE_OBJ) $(BUILD)/je/tsd_image.c &: scripts/build-jemalloc | $(DEPS_STAMP)
	scripts/build-jemalloc $(BUILD)/je
$(JE_TSD_OBJ): $(BUILD)/je/tsd_image.c
	$(CC) $(CFLAGS_BASE) -c $< -o $@

$(CORE_LIB): $(OBJ_AGENT) $(OBJ_GEN) $(JE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(AGENT): $(OBJ_SHIM) preload/otprof.map preload/startup.ld
	$(CC) -shared -o $@ $(OBJ_SHIM) $(COVFLAGS) \
	  -Wl,--version-script=preload/otprof.map -Wl,-T,preload/startup.ld \
	  -Wl,--exclude-libs,ALL -Wl,-z,now -Wl,-z,defs \
	  -Wl,--as-needed -Wl,-Bstatic -linih -Wl,-Bdynamic -ldl
# The state it shares with the shim (agent/shared.c) is left undefined and
# found in the shim at load: a DT_NEEDED entry on the shim would have to
# name it by a soname, and then a program linked against the agent by path
# would look for it by that name. Anything else undefined and unversioned
# is an error, as -z defs would make it.
ENGINE_IMPORTS = otp_tls_in_agent|otp_tls_heap_left|otp_tls_vforked|otp_tls_thread|otp_live_bits|otp_fd_owned_bits|otp_fd_owned_n|otp_fd_given_bits|otp_fd_opening|otp_fd_closing|otp_fd_releasing|otp_fd_opening_since|otp_agent_code|otp_cfg|otpje_je_tsd_tls
$(ENGINE): $(OBJ_ENGINE) $(OBJ_GEN) $(JE_ENGINE_OBJ) preload/engine.map preload/startup.ld
	$(CC) -shared -o $@ $(OBJ_ENGINE) $(OBJ_GEN) $(JE_ENGINE_OBJ) $(COVFLAGS) \
	  -Wl,--version-script=preload/engine.map -Wl,-T,preload/startup.ld \
	  -Wl,--exclude-libs,ALL -Wl,-z,now \
	  -Wl,--as-needed $(LDLIBS_AGENT)
	@bad=$$(nm -D --undefined-only $@ | awk '$$1 == "U" {print $$2}' | grep -v @ | grep -vxE '$(ENGINE_IMPORTS)'); \
	  if [ -n "$$bad" ]; then echo "otprof: $@: undefined:" $$bad >&2; rm -f $@; exit 1; fi

# Test programs: built plain (no agent inside), with frame pointers and
# full symbol tables so profiles can be checked by function name.
$(BUILD)/progs/%: tests/progs/%.c tests/progs/progs.h | $(DEPS_STAMP)
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

# The otprof command links the agent's own config loader and its protobuf
# code (cli/*.c: one module per subcommand and what they share).
SRC_CLI = $(sort $(wildcard cli/*.c))
$(OTPROF_BIN): $(SRC_CLI) $(wildcard cli/*.h) $(CORE_LIB)
	$(CC) $(CFLAGS_ALL) -Icli -DOTP_MULTIARCH='"$(MULTIARCH)"' $(SRC_CLI) -o $@ $(CORE_LIB) $(LDLIBS_AGENT)

$(MAN_PAGE): man/otprof.1.in otprof.ini scripts/gen-man agent/internal.h
	@mkdir -p $(BUILD)
	scripts/gen-man $(VERSION) otprof.ini man/otprof.1.in > $@.tmp && mv $@.tmp $@

# /etc/otprof.ini as installed: otprof.ini's keys and comments with every
# key commented out, so that installing it changes nothing.
$(SYS_INI): otprof.ini
	@mkdir -p $(BUILD)
	{ echo "; otprof system settings: the layer between the built-in defaults and"; \
	  echo "; otprof.ini beside a program's executable (or OTPROF_CONFIG's file),"; \
	  echo "; below OTPROF_* and above OTEL_* variables. Every key is commented out:"; \
	  echo "; remove the ';' before a key to set it for every program on this host."; \
	  echo "; Under secure execution (setuid, setgid, capabilities) this file is the"; \
	  echo "; only one read, if root owns it and no one else may write it, and"; \
	  echo "; [agent] enabled = true here is needed for the agent to run at all."; \
	  echo "; 'otprof config -- PROGRAM' shows the result; see otprof(1)."; \
	  sed -n '/^\[/,$$p' otprof.ini | sed 's/^\([A-Za-z_][A-Za-z_]*[ \t]*=\)/;\1/'; } > $@.tmp && mv $@.tmp $@

# Installs into the loader's search path ($(PREFIX)/lib is in Debian's
# ld.so.conf), so LD_PRELOAD=libotprof_agent.so works by bare name. An
# existing /etc/otprof.ini is never overwritten; uninstall removes it only
# if it is still the installed one. Installing to the live system records
# the directories it had to create in $(DATADIR)/otprof/created-dirs, and
# uninstall removes those (when empty) too.
INSTALL_RECORD = $(if $(DESTDIR),-,$(DATADIR)/otprof/created-dirs)
install: $(AGENTS) $(OTPROF_BIN) $(MAN_PAGE) $(SYS_INI)
	scripts/mkdirs $(INSTALL_RECORD) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSCONFDIR) \
	  $(if $(DESTDIR),,$(DATADIR)/otprof)
	install -m 0644 $(AGENT) $(DESTDIR)$(LIBDIR)/libotprof_agent.so
	install -m 0644 $(ENGINE) $(DESTDIR)$(LIBDIR)/libotprof_engine.so
	install -m 0755 $(OTPROF_BIN) $(DESTDIR)$(BINDIR)/otprof
	install -m 0644 agent/otprof.h $(DESTDIR)$(INCLUDEDIR)/otprof.h
	install -m 0644 $(MAN_PAGE) $(DESTDIR)$(MANDIR)/man1/otprof.1
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' \
	  'agent=$${libdir}/libotprof_agent.so' '' 'Name: otprof' \
	  'Description: otprof profiler; preload $${agent}, optionally call its trace-context API (otprof.h, weak symbols)' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir}' > $(DESTDIR)$(PKGCONFIGDIR)/otprof.pc
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/otprof.ini ]; then \
	  echo "otprof: $(DESTDIR)$(SYSCONFDIR)/otprof.ini exists; kept"; \
	else echo "install -m 0644 $(SYS_INI) $(DESTDIR)$(SYSCONFDIR)/otprof.ini"; \
	  install -m 0644 $(SYS_INI) $(DESTDIR)$(SYSCONFDIR)/otprof.ini; fi
	@if [ -z "$(DESTDIR)" ]; then echo ldconfig; ldconfig || echo "otprof: ldconfig failed; run it as root"; \
	  ldconfig -p | grep -q 'libotprof_agent.so ' || echo "otprof: $(LIBDIR) is not in the loader's \
	search path: use LD_PRELOAD=$(LIBDIR)/libotprof_agent.so or 'otprof run'"; fi

uninstall: $(SYS_INI)
	rm -f $(DESTDIR)$(LIBDIR)/libotprof_agent.so $(DESTDIR)$(LIBDIR)/libotprof_engine.so $(DESTDIR)$(BINDIR)/otprof \
	  $(DESTDIR)$(INCLUDEDIR)/otprof.h $(DESTDIR)$(MANDIR)/man1/otprof.1 $(DESTDIR)$(PKGCONFIGDIR)/otprof.pc
	@f=$(DESTDIR)$(SYSCONFDIR)/otprof.ini; if cmp -s $(SYS_INI) $$f; then echo "rm -f $$f"; rm -f $$f; \
	  elif [ -e $$f ]; then echo "otprof: $$f differs from the installed one; kept"; fi
	$(if $(DESTDIR),,scripts/mkdirs --remove $(INSTALL_RECORD))
	@if [ -z "$(DESTDIR)" ]; then echo ldconfig; ldconfig || true; fi

# A Debian package of the same files under /usr (the library in the
# multiarch directory, found by bare name) with /etc/otprof.ini a conffile.
DEB = $(BUILD)/otprof_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
deb: $(DEB)
$(DEB): $(AGENTS) $(OTPROF_BIN) $(MAN_PAGE) $(SYS_INI) scripts/build-deb
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(BUILD)/deb) PREFIX=/usr \
	  LIBDIR=/usr/lib/$(MULTIARCH) SYSCONFDIR=/etc
	scripts/build-deb $(BUILD)/deb $(VERSION) $@

# After the build tier's install: two apt-get runs at once would meet on
# dpkg's lock. The compiles go on meanwhile.
test-deps: | $(DEPS_STAMP)
	@scripts/install-deps test

test: test-deps $(AGENTS) $(OTPROF_BIN) $(MAN_PAGE) $(SYS_INI) $(UNIT_BIN) $(PROG_BIN) $(PROG_CXX_LIB) $(PROG_CXX_EXE) $(TOOL_BIN)
	@MAKEFLAGS= BUILD=$(BUILD) tests/run.sh

compat: $(AGENTS) $(OTPROF_BIN) $(PROG_BIN) $(TOOL_BIN)
	@scripts/install-deps compat
	@MAKEFLAGS= BUILD=$(BUILD) tests/compat/run.sh

demo: $(AGENTS) $(OTPROF_BIN) $(BUILD)/progs/demo
	@MAKEFLAGS= scripts/demo $(BUILD)

coverage:
	@scripts/coverage

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer (the
# preloaded agent itself cannot carry ASan's runtime into arbitrary apps).
sanitize:
	@$(MAKE) -s BUILD=build-san EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  COVFLAGS="-fsanitize=address,undefined" $(patsubst $(BUILD)/tests/%,build-san/tests/%,$(UNIT_BIN))
	@for t in build-san/tests/test_*; do echo "== $$t"; ASAN_OPTIONS=detect_leaks=0 $$t > build-san/$$(basename $$t).log 2>&1 \
	  && grep -c '^PASS' build-san/$$(basename $$t).log || { tail -30 build-san/$$(basename $$t).log; exit 1; }; done

bench: $(AGENTS) $(PROG_BIN) $(TOOL_BIN)
	@scripts/install-deps bench
	MAKEFLAGS= scripts/bench-cpu
	@[ ! -x scripts/bench-heap ] || MAKEFLAGS= scripts/bench-heap
	@[ ! -x scripts/bench-export ] || MAKEFLAGS= scripts/bench-export
	@[ ! -x scripts/bench-threads ] || MAKEFLAGS= scripts/bench-threads
	@[ ! -x scripts/bench-spawn ] || MAKEFLAGS= scripts/bench-spawn

clean:
	rm -rf $(BUILD) build-cov build-san
