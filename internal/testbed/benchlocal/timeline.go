package benchlocal

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// timeline samples awssim's counters while a run goes on: the calls per
// interval, by kind, show where a run's wall time goes when it is waiting
// rather than computing (a CPU profile is blind to that).
type timeline struct {
	start   time.Time
	samples []tick
}

type tick struct {
	at                   time.Duration
	org, sts, cfg, total int64
}

var orgOps = []string{"ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent", "ListAccounts",
	"ListParents", "DescribeAccount", "DescribeOrganizationalUnit", "DescribeOrganization", "ListTagsForResource"}

// sampleTimeline polls sim every interval until ctx ends.
func sampleTimeline(ctx context.Context, sim *simProc, interval time.Duration) *timeline {
	tl := &timeline{start: time.Now()}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := sim.Stats(context.WithoutCancel(ctx))
		if err == nil {
			var k tick
			k.at = time.Since(tl.start)
			for _, op := range orgOps {
				k.org += st.OpCalls(op)
			}
			k.sts = st.OpCalls("AssumeRole") + st.OpCalls("GetCallerIdentity")
			k.total = st.Total
			k.cfg = k.total - k.org - k.sts
			tl.samples = append(tl.samples, k)
		}
		select {
		case <-ctx.Done():
			return tl
		case <-t.C:
		}
	}
}

// print writes, per sample interval, the calls made in it and the mean
// number in flight they imply (calls × latency ÷ interval).
func (tl *timeline) print(w io.Writer, latency time.Duration) {
	fmt.Fprintln(w, "| t (s) | Organizations | STS | Config | mean in flight |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	var prev tick
	for _, k := range tl.samples {
		d := k.at - prev.at
		if d <= 0 {
			prev = k
			continue
		}
		inflight := float64(k.total-prev.total) * latency.Seconds() / d.Seconds()
		fmt.Fprintf(w, "| %.2f | %d | %d | %d | %.1f %s|\n", k.at.Seconds(), k.org-prev.org, k.sts-prev.sts, k.cfg-prev.cfg,
			inflight, strings.Repeat("#", int(inflight/4+0.5)))
		prev = k
	}
}
