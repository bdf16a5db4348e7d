# Local mode against the thread-pool peer (issue 10, Targets 1).
#   make bench-local                          full size: 1,000 accounts x 2 regions,
#                                             20 ms per call, 3 runs each (~25 min:
#                                             the peer is slow, that is the point)
#   make bench-local BENCH_LOCAL_ACCOUNTS=200 a quick run
#   make bench-local BENCH_LOCAL_FLAGS='-cpuprofile out/bench-local/local.pprof'
#                                             also profiles one in-process run
# Builds awssim, local and the harness from the same tree (the harness checks
# every run against the org it generates itself), installs Debian's
# python3-boto3 for the peer when missing. Not part of make test: figures go
# to docs/BENCHMARKS.md by hand.
.PHONY: bench-local

BENCH_LOCAL_ACCOUNTS ?= 1000
BENCH_LOCAL_FLAGS ?=
BENCH_PYTHON ?= /usr/bin/python3
# Its own copies of the binaries: bin/ is shared, and a rebuild of bin/awssim
# by someone else during a 25-minute run would change the org under it.
BENCH_LOCAL_BIN := out/bench-local/bin

bench-local:
	@$(BENCH_PYTHON) -c 'import boto3' 2>/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-boto3)
	@mkdir -p $(BENCH_LOCAL_BIN)
	go build -o $(BENCH_LOCAL_BIN)/ ./cmd/awssim ./cmd/local ./cmd/benchlocal
	$(BENCH_LOCAL_BIN)/benchlocal -accounts $(BENCH_LOCAL_ACCOUNTS) -peer-python $(BENCH_PYTHON) \
		-awssim-bin $(BENCH_LOCAL_BIN)/awssim -local-bin $(BENCH_LOCAL_BIN)/local $(BENCH_LOCAL_FLAGS)
