# Workbook renderer (internal/report). Neither target is part of `make test`:
#   make bench-report  renders 100,000 and 1,000,000 lazily generated findings,
#                      each in its own process, printing wall time, CPU time and
#                      peak RSS (figures go to docs/BENCHMARKS.md, by hand);
#                      then 1,000,000 with the findings file, without and with
#                      a 1,000,000-line baseline, and prints the diff's cost
#                      against the baseline's targets (+20% wall, +50 MB peak RSS)
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
	$(call bench_timed,internal/report,$(REPORT_BENCH_BIN),Render100k Render1M)
	@# The baseline benchmark writes its baseline file before the timer
	@# starts, so the comparison is of the timed loop (ns/op) and peak RSS.
	@cd internal/report && for b in RenderRun1M RenderRun1MBaseline1M; do \
		../../$(REPORT_BENCH_BIN) -test.run '^$$' -test.bench "^Benchmark$$b\$$" -test.benchtime 1x | tee ../../bin/report-bench-$$b.txt; \
	done
	@awk '/^BenchmarkRenderRun1M-|^BenchmarkRenderRun1M /{for(i=1;i<NF;i++){if($$(i+1)=="ns/op")w0=$$i; if($$(i+1)=="peak-RSS-MB")r0=$$i; if($$(i+1)=="CPU-s/op")c0=$$i}} \
		/^BenchmarkRenderRun1MBaseline1M/{for(i=1;i<NF;i++){if($$(i+1)=="ns/op")w1=$$i; if($$(i+1)=="peak-RSS-MB")r1=$$i; if($$(i+1)=="CPU-s/op")c1=$$i}} \
		END{if(w0==""||w1==""){print "diff cost: benchmark output not found"; exit 1} \
		printf "diff cost (1M findings, 1M baseline): wall %+.1f%% (target <= +20%%), CPU %+.1f%%, peak RSS %+.0f MB (target <= +50 MB)\n", (w1/w0-1)*100, (c0>0 ? (c1/c0-1)*100 : 0), r1-r0}' \
		bin/report-bench-RenderRun1M.txt bin/report-bench-RenderRun1MBaseline1M.txt

bench-report-disk:
	@mkdir -p bin
	go test -c -o $(REPORT_BENCH_BIN) ./internal/report
	@cd internal/report && for b in RenderDisk1M RenderDisk2M; do \
		../../$(REPORT_BENCH_BIN) -test.run '^$$' -test.bench "^Benchmark$$b\$$" -test.benchtime 1x; \
	done

preview:
	scripts/preview.sh
