# Two commands matter on a fresh machine (see README.md):
#   make demo   runs the whole job in one process against the simulated organisation
#   make test   runs every check CI runs
# Each area adds its own targets in mk/*.mk; TEST_EXTRA collects the checks that
# `make test` runs after the Go tests.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOFLAGS ?= -mod=mod
export TOOLS_DIR := $(CURDIR)/.tools
export PATH := $(TOOLS_DIR)/bin:$(PATH)

GO_TEST_FLAGS ?= -race -count=1 -timeout 20m
TEST_EXTRA :=

.PHONY: all build vet fmt-check test test-go python-clients demo clean
all: build

build:
	go build -o bin/ ./cmd/...

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# Go tests run with the emulators up (scripts/with-emulators.sh starts each
# scripts/emulators/*.sh and exports their endpoints); REQUIRE_EMULATORS=1 makes
# an integration test fail instead of skipping when its emulator is absent.
# The Python clients some tests read outputs with (openpyxl, boto3) are
# installed first: scripts/install-python-clients.sh.
test-go: python-clients
	REQUIRE_EMULATORS=1 scripts/with-emulators.sh go test $(GO_TEST_FLAGS) ./...

python-clients:
	scripts/install-python-clients.sh

include $(wildcard mk/*.mk)

test: fmt-check vet test-go $(TEST_EXTRA)

clean:
	rm -rf bin out
