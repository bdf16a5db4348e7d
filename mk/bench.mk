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

bench-local:
	@$(BENCH_PYTHON) -c 'import boto3' 2>/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-boto3)
	@mkdir -p bin
	go build -o bin/ ./cmd/awssim ./cmd/local ./cmd/benchlocal
	bin/benchlocal -accounts $(BENCH_LOCAL_ACCOUNTS) -peer-python $(BENCH_PYTHON) $(BENCH_LOCAL_FLAGS)
