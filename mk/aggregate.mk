# Aggregator (internal/aggregate). Not part of `make test`:
#   make bench-aggregate  one whole emission (claim, two passes over the SQLite
#                         store, render, upload to a folder, mark) of 100,000
#                         and 1,000,000 findings, each in its own process,
#                         printing wall, CPU, peak Go heap and peak RSS
#                         (figures go to docs/BENCHMARKS.md, by hand), then the
#                         CPU of handling one result in runs of 500 and 5,000
#                         expected accounts
.PHONY: bench-aggregate

AGGREGATE_BENCH_BIN := bin/aggregate.test

bench-aggregate:
	@mkdir -p bin
	go test -c -o $(AGGREGATE_BENCH_BIN) ./internal/aggregate
	@cd internal/aggregate && for b in Emit100k Emit1M; do \
		/usr/bin/time -f "$$b: %e s wall, %U s user, %S s sys, peak RSS %M KB" \
			../../$(AGGREGATE_BENCH_BIN) -test.run '^$$' -test.bench "^Benchmark$$b\$$" -test.benchtime 1x; \
	done
	go test -run '^$$' -bench '^BenchmarkHandleResult$$' -benchtime 400x -benchmem ./internal/aggregate
