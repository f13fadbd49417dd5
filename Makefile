# tug: build, test, fuzz, bench and install.
#
#   make                         tug-agent and the common/ and proto/ libraries
#   make test                    every test (unit, fuzz corpus replay, tests/t)
#   make test SANITIZE=address,undefined
#   make fuzz / make fuzz-smoke  libFuzzer targets (clang), 60 s each
#   make bench                   tests/bench/*.sh
#
# Objects go to build/ (build-san/ with SANITIZE) so both builds coexist.

CC		?= cc
CFLAGS		?= -O2 -g
SANITIZE	?=
PREFIX		?= /usr/local
FUZZ_SECONDS	?= 60

B		:= build$(if $(SANITIZE),-san)
WARN		:= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wno-missing-field-initializers \
		   -Wno-format-truncation
CPPFLAGS	+= -I. -D_GNU_SOURCE
SANFLAGS	:= $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all)
ALL_CFLAGS	 = $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
ALL_LDFLAGS	 = $(LDFLAGS) $(SANFLAGS)

PROTO_LIBS	:= $(shell pkg-config --libs msgpack zlib)
AGENT_LIBS	:= $(shell pkg-config --libs libcurl jansson libcrypto) $(PROTO_LIBS) -lpthread
TUGD_LIBS	:= $(shell pkg-config --libs sqlite3 libssh libcrypto jansson libcurl \
		   yaml-0.1) $(PROTO_LIBS) -lpthread
SPEC_LIBS	:= $(shell pkg-config --libs yaml-0.1) $(PROTO_LIBS)
# common/hash.c is the one user of libcrypto in common/; the fuzz targets
# compile all of common/, so they link it.
CRYPTO_LIBS	:= $(shell pkg-config --libs libcrypto)

COMMON_SRC	:= $(wildcard common/*.c)
PROTO_SRC	:= $(wildcard proto/*.c)
AGENT_SRC	:= $(wildcard agent/*.c)
TUG_SRC		:= $(wildcard controller/cli/*.c) controller/paths.c
TUGD_SRC	:= $(wildcard controller/*.c)
UNIT_SRC	:= $(wildcard tests/unit/test-*.c)
TOOL_SRC	:= $(wildcard tests/tools/*.c)
FUZZ_SRC	:= $(wildcard tests/fuzz/fuzz-*.c)

obj		 = $(patsubst %.c,$(B)/%.o,$(1))
COMMON_OBJ	:= $(call obj,$(COMMON_SRC))
PROTO_OBJ	:= $(call obj,$(PROTO_SRC))
AGENT_OBJ	:= $(call obj,$(AGENT_SRC))
TUG_OBJ		:= $(call obj,$(TUG_SRC))
TUGD_OBJ	:= $(call obj,$(TUGD_SRC))
UNIT_BIN	:= $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TOOL_BIN	:= $(patsubst tests/tools/%.c,$(B)/tests/%,$(TOOL_SRC))
FUZZ_REPLAY	:= $(patsubst tests/fuzz/%.c,$(B)/tests/replay-%,$(FUZZ_SRC))
FUZZ_BIN	:= $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))

.SECONDARY:
.PHONY: all tools test man mutants check-deps fuzz fuzz-smoke bench install clean
all: $(B)/tug-agent $(B)/tug $(B)/tugd $(B)/libcommon.a $(B)/libproto.a

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libcommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^
$(B)/libproto.a: $(PROTO_OBJ)
	$(AR) rcs $@ $^

$(B)/tug-agent: $(AGENT_OBJ) $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(AGENT_OBJ) $(B)/libproto.a $(B)/libcommon.a $(AGENT_LIBS)

$(B)/tug: $(TUG_OBJ) $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(TUG_OBJ) $(B)/libproto.a $(B)/libcommon.a $(PROTO_LIBS)

$(B)/tugd: $(TUGD_OBJ) $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(TUGD_OBJ) $(B)/libproto.a $(B)/libcommon.a $(TUGD_LIBS)

# The site spec parser is tested and fuzzed on its own (with libyaml).
$(B)/tests/test-spec: $(B)/tests/unit/test-spec.o $(B)/tests/unit/unit.o $(B)/controller/spec.o $(B)/controller/paths.o $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SPEC_LIBS)
$(B)/tests/replay-fuzz-spec: $(B)/tests/fuzz/fuzz-spec.o $(B)/tests/fuzz/replay.o $(B)/controller/spec.o $(B)/controller/paths.o $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SPEC_LIBS)

$(B)/tests/test-%: $(B)/tests/unit/test-%.o $(B)/tests/unit/unit.o $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTO_LIBS)
$(B)/tests/unit/unit.o: tests/unit/unit.c

$(B)/tests/%: $(B)/tests/tools/%.o $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libcurl) $(PROTO_LIBS) -lpthread
# The libssh floor under tugd's cold connect (tests/bench/fleet-scale.sh).
$(B)/tests/ssh-floor: $(B)/tests/tools/ssh-floor.o $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs libssh) -lpthread

# The fuzz targets, driven over their corpus by a plain main() for make test.
$(B)/tests/replay-%: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/replay.o $(B)/libproto.a $(B)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTO_LIBS)

tools: all $(TOOL_BIN)

test: all man $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY)
	TUG_BUILD=$(abspath $(B)) TUG_SANITIZE=$(SANITIZE) bash tests/run.sh

# Plant each bug of tests/mutants/mutants.txt, run the test that must
# catch it, put the tree back (not in CI: it takes a while).
mutants: tools
	MUTANTS=$(MUTANTS) python3 tests/mutants/run.py

FUZZ_CC		?= clang
FUZZ_FLAGS	:= -std=c11 -g -O1 -I. -D_GNU_SOURCE \
		   -fsanitize=fuzzer,address,undefined
fuzz: $(FUZZ_BIN)
build-fuzz/fuzz-spec: tests/fuzz/fuzz-spec.c controller/spec.c controller/paths.c $(COMMON_SRC) $(PROTO_SRC)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(SPEC_LIBS) $(CRYPTO_LIBS)
build-fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(PROTO_SRC)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(COMMON_SRC) $(PROTO_SRC) $(PROTO_LIBS) \
	    $(CRYPTO_LIBS)

# FUZZ_ONLY=fuzz-tar: that target alone.
fuzz-smoke: fuzz
	@for f in $(if $(FUZZ_ONLY),build-fuzz/$(FUZZ_ONLY),$(FUZZ_BIN)); do \
		n=$$(basename $$f); mkdir -p build-fuzz/corpus-$$n; \
		echo "fuzzing $$n for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -timeout=10 \
		    -rss_limit_mb=2048 build-fuzz/corpus-$$n tests/fuzz/corpus/$$n \
		    2>build-fuzz/$$n.log || { tail -50 build-fuzz/$$n.log; exit 1; }; \
		tail -2 build-fuzz/$$n.log; \
	done

bench: all
	@for b in tests/bench/*.sh; do TUG_BUILD=$(abspath $(B)) bash $$b || exit 1; done

# The man pages come from what they document: tug(1) from the command
# table (tug __man), tugd(8) from tugd --help, tug-site.yml(5) from
# docs/site-spec.md (docs/mkman.py), so they cannot drift.
MAN	:= $(B)/man/tug.1 $(B)/man/tugd.8 $(B)/man/tug-site.yml.5

man: $(MAN)

$(B)/man/tug.1: $(B)/tug
	@mkdir -p $(@D)
	$(B)/tug __man >$@.tmp && mv $@.tmp $@

$(B)/man/tugd.8: $(B)/tugd docs/mkman.py
	@mkdir -p $(@D)
	$(B)/tugd --help >$@.help
	python3 docs/mkman.py help tugd 8 "the tug controller" <$@.help >$@.tmp && mv $@.tmp $@

$(B)/man/tug-site.yml.5: docs/site-spec.md docs/mkman.py
	@mkdir -p $(@D)
	python3 docs/mkman.py md tug-site.yml 5 "the site spec" <docs/site-spec.md >$@.tmp && mv $@.tmp $@

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/tug \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8
	install -s -m 755 $(B)/tug $(B)/tugd $(B)/tug-agent $(DESTDIR)$(PREFIX)/bin/
	install -m 644 README.md docs/*.md deploy/tugd.service \
	    $(DESTDIR)$(PREFIX)/share/doc/tug/
	install -m 644 $(B)/man/tug.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(B)/man/tug-site.yml.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 $(B)/man/tugd.8 $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(sort build build-san $(B)) -name '*.d' 2>/dev/null)
