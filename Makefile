# Cairn - one non-recursive Makefile.  See README for the targets.
#   make            build build/cairn-{raftd,gossipd,httpd,dnsd,checkd} and build/cairn
#   make SAN=1      the same with ASan+UBSan, into build-san/
#   make test       install missing packages, build both, run unit, fuzz-corpus
#                   and integration tests; ends with "N passed, N failed"
#   make dev        build and run a dev agent in the foreground
#   make cluster    start 3 servers + 1 client on 127.0.0.11-14 (make cluster-down)
#   make install    PREFIX=/usr/local DESTDIR=  binaries, systemd units, /etc/cairn.d
#   make deps       install missing build/test packages (apt-get or dnf)
#   make V=1        show commands

VERSION  := 0.1.0
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# FP=1: the failpoint build (build-fp/): deliberate bugs the fault suite
# must catch, compiled in only here and armed by environment variables
ifeq ($(FP),1)
B        ?= build-fp
FPFLAGS  := -DCAIRN_FAILPOINTS
endif

ifeq ($(SAN),1)
B        ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
else
B        ?= build
SANFLAGS :=
OPT      := -O2
endif

CC       ?= cc
PKGS     := yajl nanomsg lmdb libsystemd openssl zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lhttp_parser -lm
CURL_LIBS  := $(shell pkg-config --libs libcurl 2>/dev/null)
# extra libraries of one daemon: $(<daemon>_LIBS)
checkd_LIBS := $(CURL_LIBS)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -fstack-protector-strong -MMD -MP \
            -Icommon $(PKG_CFLAGS) $(SANFLAGS) $(CFLAGS) \
            -DCAIRN_VERSION='"$(VERSION)"' -DCAIRN_REVISION='"$(REVISION)"' $(FPFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
UNITDIR  ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,$(PREFIX)/lib/sysusers.d)
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(if $(filter /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc))

ifeq ($(V),1)
Q :=
else
Q := @
endif

DAEMONS := raftd gossipd httpd dnsd checkd
PROGS   := $(addprefix $(B)/cairn-,$(DAEMONS)) $(B)/cairn

all: $(PROGS) unit-bins

# progs: the binaries alone (the failpoint build needs no unit tests)
.PHONY: progs
progs: $(PROGS)

include common/module.mk
include raftd/module.mk
include gossipd/module.mk
include httpd/module.mk
include dnsd/module.mk
include checkd/module.mk
include ctl/module.mk
include tests/module.mk

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# lib<dir>.a holds every object of a directory but main.o, so unit tests can
# link daemon modules too.
define daemon_rules
$(1)_OBJS := $$(patsubst %.c,$(B)/%.o,$$($(1)_SRCS))
$(1)_LIBOBJS := $$(filter-out $(B)/$(1)/main.o,$$($(1)_OBJS))
$(B)/lib$(1).a: $$($(1)_LIBOBJS)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  AR      $$@")
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
$(B)/cairn-$(1): $(B)/$(1)/main.o $(B)/lib$(1).a $(B)/libcommon.a
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$($(1)_LIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rules,$(d))))

$(B)/libcommon.a: $(common_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/cairn: $(ctl_OBJS) $(B)/checkd/defs.o $(B)/libcommon.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CURL_LIBS)

# --- dependencies ----------------------------------------------------------
.PHONY: deps deps-check
deps:
	@sh tests/deps.sh install

deps-check:
	@sh tests/deps.sh check >/dev/null 2>&1 || sh tests/deps.sh install

# --- tests -----------------------------------------------------------------
.PHONY: test unit check build-all
# the three builds compile in parallel (JOBS: the machine's cores)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-check
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) all
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) SAN=1 all
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) fuzz
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) FP=1 progs
	$(Q)sh tests/run.sh build build-san

check: test

# soak: the fault matrix long and repeated (SOAK=1: each row 3 times;
# FAULT_SECONDS scales the traffic per row, default 5 = ~70 s), plain build
SOAK_SCALE ?= 5
.PHONY: soak
soak: deps-check
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) all
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) FP=1 progs
	$(Q)log=$$(mktemp -d /tmp/cairn-soak.XXXXXX); \
	SOAK=1 FAULT_SECONDS=$(SOAK_SCALE) TEST_FILTER=test_faults TEST_TIMEOUT=14400 \
	    python3 tests/run_integration.py $$log build | tee $$log/soak.txt | grep -v '^RESULT '; \
	sed -n 's/^RESULT \([0-9]*\) \([0-9]*\)$$/\1 passed, \2 failed/p' $$log/soak.txt; \
	! grep -q '^RESULT [0-9]* [1-9]' $$log/soak.txt

unit: all
	$(Q)sh tests/run.sh --unit-only build

# --- a local cluster: 3 servers + 1 client on 127.0.0.11-14 -------------------
.PHONY: cluster cluster-down
cluster: deps-check
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/cluster.sh up $(B)

cluster-down:
	$(Q)sh tests/cluster.sh down $(B)

# --- dev agent ---------------------------------------------------------------
.PHONY: dev
dev: deps-check
	$(Q)$(MAKE) --no-print-directory all
	exec $(B)/cairn agent -dev

# --- install ---------------------------------------------------------------
.PHONY: install
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/cairn.d
	install -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)/
	for u in systemd/*.service systemd/*.target; do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
	    > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	done
	test -e $(DESTDIR)$(SYSCONFDIR)/cairn.d/cairn.json || \
	  install -m 0644 systemd/cairn.json.example $(DESTDIR)$(SYSCONFDIR)/cairn.d/cairn.json
	install -d $(DESTDIR)$(SYSUSERSDIR)
	install -m 0644 systemd/cairn.sysusers $(DESTDIR)$(SYSUSERSDIR)/cairn.conf
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers $(SYSUSERSDIR)/cairn.conf; fi
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

.PHONY: lint
lint:
	@! grep -rnE '\b(time|clock_gettime|rand|random)\(' raftd/raft/ gossipd/swim/ 2>/dev/null || \
	  (echo "raftd/raft must not call the clock or rand"; exit 1)

.SECONDARY:

.PHONY: clean
clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
