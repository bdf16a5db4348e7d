package dynamo

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestGzRoundTripReusesWriters: bodies written one after another, and at
// once, through the pooled gzip writers each read back as written, so a
// writer reused from the pool carries nothing of its previous body.
func TestGzRoundTripReusesWriters(t *testing.T) {
	type body struct {
		Name  string   `json:"name"`
		Items []string `json:"items"`
	}
	cases := []struct {
		name string
		in   body
	}{
		{"empty", body{}},
		{"small", body{Name: "a", Items: []string{"x"}}},
		{"large", body{Name: strings.Repeat("b", 70000), Items: []string{strings.Repeat("c", 3000), "d"}}},
		{"small after large", body{Name: "e", Items: []string{"f", "g"}}},
	}
	check := func(t *testing.T, in body) {
		t.Helper()
		b, err := gz(in)
		if err != nil {
			t.Error(err)
			return
		}
		var out body
		if err := gunzipJSON(b, &out); err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		if !reflect.DeepEqual(out, in) {
			t.Errorf("read back %q (%d items), want %q (%d items)", trunc(out.Name), len(out.Items), trunc(in.Name), len(in.Items))
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 3 {
				check(t, c.in)
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 20 {
					check(t, cases[(i+j)%len(cases)].in)
				}
			})
		}
		wg.Wait()
	})
}

func trunc(s string) string { return s[:min(len(s), 20)] }

func BenchmarkGz(b *testing.B) {
	type finding struct{ Rule, ResourceType, ResourceID, Region string }
	var fs []finding
	for i := range 60 {
		fs = append(fs, finding{fmt.Sprintf("rule-%d", i%12), "AWS::EC2::SecurityGroup", fmt.Sprintf("sg-%016x", uint64(i)*0x9e3779b97f4a7c15), "eu-west-1"})
	}
	in := map[string]any{"account_id": "123456789012", "findings": fs}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		out, err := gz(in)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/body")
}
