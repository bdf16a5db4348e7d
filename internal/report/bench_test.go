package report

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// synthRun builds a run of nAccounts accounts over 4 regions with 25 rules
// each, and a lazy, already sorted iterator of perAccount findings per
// account (spread over the account's 100 (region, rule) pairs). Nothing is
// materialised: the iterator computes each finding when asked.
func synthRun(nAccounts, perAccount int) (Run, []Account, []ErrorRow, Findings) {
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-1", "eu-central-1"}
	sortedRegions := slices.Sorted(slices.Values(regions))
	ruleNames := make([]string, 25)
	for i := range ruleNames {
		ruleNames[i] = fmt.Sprintf("managed-rule-%02d-s3-bucket-level-public-access-prohibited", i)
	}
	types := []string{"AWS::EC2::Instance", "AWS::EC2::SecurityGroup", "AWS::EC2::Volume", "AWS::IAM::Role", "AWS::S3::Bucket"}
	accts := make([]Account, nAccounts)
	for a := range accts {
		acct := Account{ID: fmt.Sprintf("%012d", 100000000000+a*7919), Name: fmt.Sprintf("workload-%04d-prod", a),
			OUPath: "Root/Workloads/Prod/Team" + strconv.Itoa(a%40), Status: StatusOK}
		for _, r := range regions {
			for i, n := range ruleNames {
				c := Compliant
				if i%3 != 2 {
					c = NonCompliant
				}
				acct.Rules = append(acct.Rules, RuleResult{Region: r, Name: n, SourceOwner: "AWS", SourceIdentifier: strings.ToUpper(n), Compliance: c})
			}
		}
		accts[a] = acct
	}
	// Non-compliant pairs per account: 4 regions x 17 rules.
	var pairs [][2]string
	for _, r := range sortedRegions {
		for i, n := range ruleNames {
			if i%3 != 2 {
				pairs = append(pairs, [2]string{r, n})
			}
		}
	}
	recorded := time.Date(2026, 11, 22, 3, 4, 5, 0, time.UTC)
	fs := func(yield func(Finding, error) bool) {
		for _, acct := range accts {
			left := perAccount
			for p, pair := range pairs {
				n := left / (len(pairs) - p)
				left -= n
				typ := types[p%len(types)]
				for k := range n {
					f := Finding{AccountID: acct.ID, Region: pair[0], RuleName: pair[1], ResourceType: typ,
						ResourceID: fmt.Sprintf("arn:aws:resource:%s:%s:item/%08d", pair[0], acct.ID, k),
						Compliance: NonCompliant,
						Annotation: "The resource does not comply with the rule: public access is not blocked at bucket level.",
						RecordedAt: recorded.Add(time.Duration(k) * time.Second),
					}
					if !yield(f, nil) {
						return
					}
				}
			}
		}
	}
	run := Run{RunID: "bench", GeneratedAt: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), Trigger: TriggerScheduled, Regions: regions}
	return run, accts, nil, fs
}

// peakRSS reads the process's high-water resident set size (VmHWM).
func peakRSS(tb testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkRender1M renders 1,000,000 findings (500 accounts x 2,000) to a
// file and reports wall time, peak RSS and file size. Targets (DESIGN): under
// 30 s and 300 MB. Run with: make bench-report
func BenchmarkRender1M(b *testing.B) { benchRender(b, 500, 2000) }

// BenchmarkRender100k is the same run with a tenth of the findings: peak RSS
// should not move much between the two (memory does not grow with findings).
func BenchmarkRender100k(b *testing.B) { benchRender(b, 500, 200) }

// BenchmarkRenderDisk1M and BenchmarkRenderDisk2M measure the temporary
// disk a render needs, as the aggregator does it: TMPDIR set to an empty
// folder that also holds the output (the aggregator renders into a
// temporary file before the upload), its size sampled every 5 ms. What
// sits there at the peak: excelize's spilled sheet XML (uncompressed), the
// spooled archive and the output being copied from it. 2M findings spill
// into a second findings sheet. Run with: make bench-report-disk
func BenchmarkRenderDisk1M(b *testing.B) { benchRenderDisk(b, 500, 2000) }
func BenchmarkRenderDisk2M(b *testing.B) { benchRenderDisk(b, 1000, 2000) }

func benchRenderDisk(b *testing.B, nAccounts, perAccount int) {
	tmp := b.TempDir()
	b.Setenv("TMPDIR", tmp)
	var peak, final int64
	for b.Loop() {
		run, accts, errs, fs := synthRun(nAccounts, perAccount)
		f, err := os.CreateTemp("", "config-compliance-*.xlsx")
		if err != nil {
			b.Fatal(err)
		}
		stop := sampleDirPeak(tmp, 5*time.Millisecond)
		err = Render(context.Background(), f, run, accts, errs, fs)
		p := stop()
		if err != nil {
			b.Fatal(err)
		}
		st, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
		_ = os.Remove(f.Name())
		peak, final = max(peak, p), st.Size()
	}
	b.ReportMetric(float64(nAccounts*perAccount), "findings")
	b.ReportMetric(float64(peak)/(1<<20), "peak-tmp-MB")
	b.ReportMetric(float64(final)/(1<<20), "file-MB")
}

// sampleDirPeak samples the disk used by the files under dir (allocated
// blocks, what a size-limited emptyDir or tmpfs counts) until stop is
// called, and stop returns the largest sample, taking one last sample
// first.
func sampleDirPeak(dir string, every time.Duration) (stop func() int64) {
	done := make(chan struct{})
	res := make(chan int64)
	go func() {
		var peak int64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			peak = max(peak, dirBytes(dir))
			select {
			case <-done:
				res <- max(peak, dirBytes(dir))
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); return <-res }
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func benchRender(b *testing.B, nAccounts, perAccount int) {
	out := filepath.Join(b.TempDir(), "bench.xlsx")
	for b.Loop() {
		run, accts, errs, fs := synthRun(nAccounts, perAccount)
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if err := Render(context.Background(), f, run, accts, errs, fs); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(nAccounts*perAccount), "findings")
	b.ReportMetric(peakRSS(b), "peak-RSS-MB")
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MB")
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MB")
}

// BenchmarkRenderRun1M renders the same 1,000,000 findings as
// BenchmarkRender1M, writing the findings file beside the workbook, with
// no baseline: the reference for the diff's cost.
func BenchmarkRenderRun1M(b *testing.B) { benchRenderRun(b, 500, 2000, false) }

// BenchmarkRenderRun1MBaseline1M is BenchmarkRenderRun1M against a
// baseline of 1,000,000 finding lines read from a findings file (written
// before the timer starts): a tenth of the keys NEW, a tenth RESOLVED.
// Targets (issue 17): at most +20% wall time and +50 MB peak RSS over
// BenchmarkRenderRun1M. Run with: make bench-report
func BenchmarkRenderRun1MBaseline1M(b *testing.B) { benchRenderRun(b, 500, 2000, true) }

func benchRenderRun(b *testing.B, nAccounts, perAccount int, withBase bool) {
	dir := b.TempDir()
	out, findingsOut, basePath := filepath.Join(dir, "bench.xlsx"), filepath.Join(dir, "bench.findings.jsonl.gz"), filepath.Join(dir, "base.findings.jsonl.gz")
	if withBase {
		writeSynthBaseline(b, basePath, nAccounts, perAccount)
	}
	var counts ChangeCounts
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for b.Loop() {
		run, accts, errs, fs := synthRun(nAccounts, perAccount)
		wb, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		ff, err := os.Create(findingsOut)
		if err != nil {
			b.Fatal(err)
		}
		var base *Baseline
		var bf *os.File
		if withBase {
			if bf, err = os.Open(basePath); err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReaderSize(bf, 256<<10)
			if base, err = ReadFindingsFile(br); err != nil {
				b.Fatal(err)
			}
		}
		counts, err = RenderRun(context.Background(), Output{Workbook: wb, Findings: ff}, run, accts, errs, fs, base)
		if err != nil {
			b.Fatal(err)
		}
		if bf != nil {
			_ = bf.Close()
		}
		if err := errors.Join(wb.Close(), ff.Close()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuSeconds() - cpu0
	st, err := os.Stat(findingsOut)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(nAccounts*perAccount), "findings")
	b.ReportMetric(float64(counts.New), "new")
	b.ReportMetric(float64(counts.Resolved), "resolved")
	b.ReportMetric(peakRSS(b), "peak-RSS-MB")
	b.ReportMetric(cpu/float64(b.N), "CPU-s/op")
	b.ReportMetric(float64(st.Size())/(1<<20), "findings-file-MB")
}

// cpuSeconds is the process's user + system CPU time so far: on a shared
// machine a steadier figure than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// synthBaselineID is the baseline's resource id for this run's id k: every
// tenth is another resource (RESOLVED, and this run's NEW), sorting where
// the one it replaces does.
func synthBaselineID(id string, k int) string {
	if k%10 == 0 {
		return id + "-old"
	}
	return id
}

// writeSynthBaseline writes, as last week's findings file, the findings of
// synthRun with every tenth resource id changed (see synthBaselineID).
func writeSynthBaseline(tb testing.TB, path string, nAccounts, perAccount int) {
	run, accts, errs, fs := synthRun(nAccounts, perAccount)
	run.RunID, run.GeneratedAt = "bench-prev", run.GeneratedAt.Add(-7*24*time.Hour)
	in, err := prepare(run, accts, errs)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	fw, err := newFindingsWriter(f)
	if err != nil {
		tb.Fatal(err)
	}
	if err := fw.head(in, nil); err != nil {
		tb.Fatal(err)
	}
	k, prevPair := 0, ""
	for fd, err := range fs {
		if err != nil {
			tb.Fatal(err)
		}
		pair := fd.AccountID + fd.Region + fd.RuleName
		if pair != prevPair {
			k, prevPair = 0, pair
		}
		ann := fd.Annotation
		if err := fw.finding(fd.AccountID, in.byID[fd.AccountID].Name, fd.Region, fd.RuleName, fd.ResourceType,
			synthBaselineID(fd.ResourceID, k), &ann, fd.RecordedAt, run.GeneratedAt.Add(-time.Duration(k)*time.Hour), false); err != nil {
			tb.Fatal(err)
		}
		k++
	}
	if err := errors.Join(fw.close(), f.Close()); err != nil {
		tb.Fatal(err)
	}
}

// TestSynthBaseline keeps the diff benchmark honest on a small instance:
// the baseline file reads back in order and a tenth of the keys are NEW
// and a tenth RESOLVED.
func TestSynthBaseline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "base.jsonl.gz")
	writeSynthBaseline(t, path, 2, 2000)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base, err := ReadFindingsFile(f)
	if err != nil {
		t.Fatal(err)
	}
	run, accts, errs, fs := synthRun(2, 2000)
	counts, err := RenderRun(context.Background(), Output{Workbook: io.Discard, Findings: io.Discard}, run, accts, errs, fs, base)
	if err != nil {
		t.Fatal(err)
	}
	if counts.New < 4000/20 || counts.New != counts.Resolved || counts.New > 4000/8 {
		t.Errorf("counts %+v, want a tenth-ish NEW and as many RESOLVED", counts)
	}
}

// TestSynthRunSorted keeps the benchmark honest: its findings pass Render's
// order and consistency checks (on a small instance).
func TestSynthRunSorted(t *testing.T) {
	run, accts, errs, fs := synthRun(2, 120)
	if err := Render(context.Background(), new(strings.Builder), run, accts, errs, fs); err != nil {
		t.Fatal(err)
	}
}
