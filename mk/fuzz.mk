# Native Go fuzzing of what parses untrusted input: event decoding, the
# identifier validators, and awssim's org file loader. Seed corpora live in
# each package's testdata/fuzz/. `make test` runs each target briefly
# (fuzz-short); `make fuzz` runs each for FUZZTIME. A run that fails with
# only "context deadline exceeded" and writes no failing input is Go 1.26's
# race at the -fuzztime deadline (golang/go#75804, fixed in Go 1.27), not a
# finding: it runs once more, and fails if that fails too; anything else
# fails at once.
FUZZTIME ?= 60s
FUZZ_SHORT ?= 4s
FUZZ_TARGETS := internal/events:FuzzDecode internal/ident:FuzzParse internal/ident:FuzzParseRoleARN internal/testbed/awssim:FuzzParseOrg
.PHONY: fuzz fuzz-short
define run_fuzz
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) for $(1)"; \
		go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(1) ./$$pkg >/tmp/fuzz.$$$$.log 2>&1 || \
		if grep -q 'context deadline exceeded' /tmp/fuzz.$$$$.log && ! grep -q 'Failing input written' /tmp/fuzz.$$$$.log; then \
			echo "fuzz $$fn: Go's -fuzztime boundary race (golang/go#75804, fixed in Go 1.27), no input written: once more"; \
			go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(1) ./$$pkg >/tmp/fuzz.$$$$.log 2>&1 || { cat /tmp/fuzz.$$$$.log; rm -f /tmp/fuzz.$$$$.log; exit 1; }; \
		else cat /tmp/fuzz.$$$$.log; rm -f /tmp/fuzz.$$$$.log; exit 1; fi; \
		tail -n 1 /tmp/fuzz.$$$$.log; rm -f /tmp/fuzz.$$$$.log; \
	done
endef
fuzz:
	$(call run_fuzz,$(FUZZTIME))
fuzz-short:
	$(call run_fuzz,$(FUZZ_SHORT))
TEST_EXTRA += fuzz-short
