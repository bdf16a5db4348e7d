# awssim, the simulated AWS organisation (internal/awssim, cmd/awssim).
#   make sim           runs it in the foreground with the demo-sized defaults
#                      (50 generated accounts, seed 1, us-east-1 + ap-east-1) on
#                      SIM_ADDR; any flag can be added with SIM_FLAGS, e.g.
#                      make sim SIM_FLAGS='-latency 20ms -throttle-rps 10 -deny 2'
#   make bench-awssim  its throughput benchmarks (req/s and CPU per request;
#                      figures go to docs/BENCHMARKS.md by hand)
# Its tests are ordinary Go tests, run by test-go.
.PHONY: sim bench-awssim

SIM_ADDR ?= 127.0.0.1:4566
SIM_FLAGS ?=
AWSSIM_BENCH_BIN := bin/awssim.test

sim:
	go run ./cmd/awssim -addr $(SIM_ADDR) -accounts 50 -seed 1 $(SIM_FLAGS)

bench-awssim:
	@mkdir -p bin
	go test -c -o $(AWSSIM_BENCH_BIN) ./internal/awssim
	cd internal/awssim && ../../$(AWSSIM_BENCH_BIN) -test.run '^$$' \
		-test.bench '^Benchmark(Handler|ServeRawHTTP|ServeSDK|Generate5000x4|Rules5000x4)$$' \
		-test.benchtime 5s -test.benchmem
