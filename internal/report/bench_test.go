package report

import (
	"context"
	"fmt"
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

// TestSynthRunSorted keeps the benchmark honest: its findings pass Render's
// order and consistency checks (on a small instance).
func TestSynthRunSorted(t *testing.T) {
	run, accts, errs, fs := synthRun(2, 120)
	if err := Render(context.Background(), new(strings.Builder), run, accts, errs, fs); err != nil {
		t.Fatal(err)
	}
}
