# Workbook renderer (internal/report). Neither target is part of `make test`:
#   make bench-report  renders 100,000 and 1,000,000 lazily generated findings,
#                      each in its own process, printing wall time, CPU time and
#                      peak RSS (figures go to docs/BENCHMARKS.md, by hand)
#   make bench-report-disk
#                      renders 1,000,000 and 2,000,000 findings with TMPDIR an
#                      empty folder and prints its peak size (peak-tmp-MB):
#                      the aggregator's TMPDIR emptyDir is sized from it
#   make preview       renders the demo workbook and converts every sheet to a
#                      PNG named for it under out/preview/ (1-Summary.png ...
#                      5-Coverage.png; fails if a sheet has no page), installs
#                      libreoffice-calc and poppler-utils with apt-get when
#                      missing
.PHONY: bench-report bench-report-disk preview

REPORT_BENCH_BIN := bin/report.test

bench-report:
	@mkdir -p bin
	go test -c -o $(REPORT_BENCH_BIN) ./internal/report
	@cd internal/report && for b in Render100k Render1M; do \
		/usr/bin/time -f "$$b: %e s wall, %U s user, %S s sys, peak RSS %M KB" \
			../../$(REPORT_BENCH_BIN) -test.run '^$$' -test.bench "^Benchmark$$b\$$" -test.benchtime 1x; \
	done

bench-report-disk:
	@mkdir -p bin
	go test -c -o $(REPORT_BENCH_BIN) ./internal/report
	@cd internal/report && for b in RenderDisk1M RenderDisk2M; do \
		../../$(REPORT_BENCH_BIN) -test.run '^$$' -test.bench "^Benchmark$$b\$$" -test.benchtime 1x; \
	done

preview:
	scripts/preview.sh
