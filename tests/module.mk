# Unit tests: tests/unit/test_<module>.c -> $(B)/tests/unit/test_<module>
# (cmocka), linked with every daemon's library and libcommon.
unit_SRCS := $(wildcard tests/unit/test_*.c)
unit_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(unit_SRCS))
unit_LIBS := $(foreach d,$(DAEMONS),$(B)/lib$(d).a) $(B)/libcommon.a

.PHONY: unit-bins
unit-bins: $(unit_BINS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(unit_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< -Wl,--start-group $(unit_LIBS) -Wl,--end-group \
	    $(PKG_LIBS) $(CURL_LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

# Fuzz targets: tests/fuzz/fuzz_<parser>.c with a corpus in
# tests/fuzz/corpus/<parser>/.  Built with clang + libFuzzer into build-fuzz/.
# `make fuzz` builds them; tests/run.sh replays each corpus; `make fuzz-run
# FUZZ_SECONDS=60` fuzzes each target for that long.
fuzz_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_SECONDS ?= 30

ifeq ($(FUZZ),1)
SANFLAGS += -fsanitize=fuzzer-no-link
fuzz_BINS := $(patsubst tests/fuzz/%.c,$(B)/tests/fuzz/%,$(fuzz_SRCS))
.PHONY: fuzz-bins
fuzz-bins: $(fuzz_BINS)
$(B)/tests/fuzz/%: $(B)/tests/fuzz/%.o $(unit_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< -Wl,--start-group $(unit_LIBS) -Wl,--end-group $(PKG_LIBS) $(CURL_LIBS)
endif

.PHONY: fuzz fuzz-run
fuzz:
	$(Q)$(MAKE) --no-print-directory B=build-fuzz CC=clang SAN=1 FUZZ=1 fuzz-bins

fuzz-run: fuzz
	@for f in build-fuzz/tests/fuzz/fuzz_*; do n=$${f##*/fuzz_}; \
	  mkdir -p build-fuzz/corpus/$$n; \
	  $$f -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

# Benchmarks: tests/bench/bench_<name>.c -> $(B)/tests/bench/bench_<name>;
# `make bench` builds and runs them (tests/bench/run.sh).  Not part of
# `make test`: no timing is asserted anywhere.
bench_SRCS := $(wildcard tests/bench/bench_*.c)
bench_BINS := $(patsubst tests/bench/%.c,$(B)/tests/bench/%,$(bench_SRCS))

$(B)/tests/bench/%: $(B)/tests/bench/%.o $(unit_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< -Wl,--start-group $(unit_LIBS) -Wl,--end-group $(PKG_LIBS) $(CURL_LIBS)

.PHONY: bench
bench: deps-check
	$(Q)sh tests/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(bench_BINS)
	$(Q)sh tests/bench/run.sh $(B)
