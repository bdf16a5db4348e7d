# Organisation walk and run opening (internal/discover, internal/trigger).
# Not part of `make test`:
#   make bench-discover  walks generated orgs of 1,000 and 5,000 accounts
#                        against awssim in process (no latency, and 50 ms per
#                        call at concurrency 1 and 4), then opens runs over
#                        them (figures go to docs/BENCHMARKS.md, by hand)
.PHONY: bench-discover

bench-discover:
	go test -run '^$$' -bench '^Benchmark(Walk|Run)$$' -benchtime 3x -benchmem ./internal/discover ./internal/trigger
