# Local mode against the thread-pool peer (docs/BENCHMARKS.md: the targets).
#   make bench-local                          full size: 1,000 accounts x 2 regions,
#                                             20 ms per call, 3 runs each (~25 min:
#                                             the peer is slow, that is the point)
#   make bench-local BENCH_LOCAL_ACCOUNTS=200 a quick run
#   make bench-local BENCH_LOCAL_PEER=0       local mode alone at -concurrency 64
#                                             (minutes, no python): its calls and
#                                             its wall against the limit and
#                                             against its own latency limit,
#                                             calls x 20 ms / 64 (target:
#                                             <= 1.25x)
#                                             Every run also runs bench/floor (a plain
#                                             aws-sdk-go-v2 program making the same calls)
#                                             at -concurrency 64 and prints local mode's
#                                             CPU per call as a ratio of its (target:
#                                             <= 1.25x)
#   make bench-local BENCH_LOCAL_FLAGS='-cpuprofile out/bench-local/local.pprof'
#                                             also profiles one in-process run
# Builds awssim, local and the harness from the same tree (the harness checks
# every run against the org it generates itself), installs Debian's
# python3-boto3 for the peer when missing (not with BENCH_LOCAL_PEER=0). Not part of make test: figures go
# to docs/BENCHMARKS.md by hand.
.PHONY: bench-local

BENCH_LOCAL_ACCOUNTS ?= 1000
BENCH_LOCAL_FLAGS ?=
# 0: no peer (benchlocal -peer=false).
BENCH_LOCAL_PEER ?= 1
BENCH_PYTHON ?= /usr/bin/python3
# Its own copies of the binaries: bin/ is shared, and a rebuild of bin/awssim
# by someone else during a 25-minute run would change the org under it.
BENCH_LOCAL_BIN := out/bench-local/bin

bench-local:
ifneq ($(BENCH_LOCAL_PEER),0)
	@$(BENCH_PYTHON) -c 'import boto3' 2>/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-boto3)
endif
	@mkdir -p $(BENCH_LOCAL_BIN)
	go build -o $(BENCH_LOCAL_BIN)/ ./cmd/awssim ./cmd/local ./cmd/benchlocal ./bench/floor
	$(BENCH_LOCAL_BIN)/benchlocal -accounts $(BENCH_LOCAL_ACCOUNTS) -peer=$(if $(filter 0,$(BENCH_LOCAL_PEER)),false,true) \
		-peer-python $(BENCH_PYTHON) -awssim-bin $(BENCH_LOCAL_BIN)/awssim -local-bin $(BENCH_LOCAL_BIN)/local \
		-floor-bin $(BENCH_LOCAL_BIN)/floor $(BENCH_LOCAL_FLAGS)

# bench_timed: $(1) a package folder two levels down (internal/x), $(2) its
# test binary, $(3) benchmarks: builds the binary and runs each benchmark
# once under /usr/bin/time (wall, CPU, peak RSS). bench-aggregate and
# bench-report use it.
define bench_timed
	@mkdir -p bin
	go test -c -o $(2) ./$(1)
	@cd $(1) && for b in $(3); do \
		/usr/bin/time -f "$$b: %e s wall, %U s user, %S s sys, peak RSS %M KB" \
			../../$(2) -test.run '^$$' -test.bench "^Benchmark$$b\$$" -test.benchtime 1x; \
	done
endef
