# awssim, the simulated AWS organisation (internal/testbed/awssim, cmd/awssim).
#   make sim           runs it in the foreground with the demo-sized defaults
#                      (50 generated accounts, seed 1, us-east-1 + ap-east-1) on
#                      SIM_ADDR; any flag can be added with SIM_FLAGS, e.g.
#                      make sim SIM_FLAGS='-latency 20ms -throttle-rps 10 -deny 2'
#                      and the same org a week later: make sim SIM_FLAGS='-week 2'
#   make bench-awssim  its throughput benchmarks: in process (handler, raw
#                      signed HTTP, SDK clients), then against bin/awssim in its
#                      own process so that the server's CPU per request is
#                      measured apart from the client's (figures go to
#                      docs/BENCHMARKS.md by hand)
# Its tests are ordinary Go tests, run by test-go.
.PHONY: sim bench-awssim

SIM_ADDR ?= 127.0.0.1:4566
SIM_FLAGS ?=
AWSSIM_BENCH_BIN := bin/awssim.test
AWSSIM_BENCH_REGIONS := us-east-1,eu-west-1,ap-southeast-2,ap-east-1

sim:
	go run ./cmd/awssim -addr $(SIM_ADDR) -accounts 50 -seed 1 $(SIM_FLAGS)

bench-awssim:
	@mkdir -p bin out
	go build -o bin/awssim ./cmd/awssim
	go test -c -o $(AWSSIM_BENCH_BIN) ./internal/testbed/awssim
	cd internal/testbed/awssim && ../../../$(AWSSIM_BENCH_BIN) -test.run '^$$' \
		-test.bench '^Benchmark(Handler|ServeRawHTTP|ServeSDK|Generate5000x4|Rules5000x4)$$' \
		-test.benchtime 5s -test.benchmem
	@bin/awssim -addr 127.0.0.1:0 -accounts 5000 -regions $(AWSSIM_BENCH_REGIONS) > out/awssim-bench.log 2>&1 & pid=$$!; \
	trap 'kill -TERM $$pid' EXIT; \
	for i in $$(seq 50); do grep -q 'awssim ready' out/awssim-bench.log && break; sleep 0.1; done; \
	addr=$$(sed -n 's/.*awssim ready" addr=\([0-9.:]*\).*/\1/p' out/awssim-bench.log); \
	test -n "$$addr" || { cat out/awssim-bench.log; exit 1; }; \
	cd internal/testbed/awssim && AWSSIM_BENCH_URL=http://$$addr AWSSIM_BENCH_PID=$$pid \
		../../../$(AWSSIM_BENCH_BIN) -test.run '^$$' -test.bench '^BenchmarkServeExternal$$' -test.benchtime 20000x -test.count 3
