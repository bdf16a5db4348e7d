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
	$(call bench_timed,internal/aggregate,$(AGGREGATE_BENCH_BIN),Emit100k Emit1M)
	go test -run '^$$' -bench '^BenchmarkHandleResult$$' -benchtime 400x -benchmem ./internal/aggregate
