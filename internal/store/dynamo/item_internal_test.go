package dynamo

import (
	"bytes"
	"compress/gzip"
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

// TestGzBestSpeed: bodies are written at gzip.BestSpeed, which the gzip
// header says in its XFL byte (4: fastest), whatever their size.
func TestGzBestSpeed(t *testing.T) {
	for _, n := range []int{0, 100, 100000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b, err := gz(map[string]string{"a": strings.Repeat("x", n)})
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 10 || b[8] != 4 {
				t.Errorf("gzip header % x: XFL is not 4 (BestSpeed)", b[:min(len(b), 10)])
			}
		})
	}
}

// TestGunzipJSON: a body written at any level (the default one before
// issue 20) reads back; a corrupt, truncated or non-gzip body, or one with
// more than a JSON value, is an error, and the pooled readers and buffers
// it leaves behind read the next body right (the cases run in order).
func TestGunzipJSON(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	deflate := func(level int, data string) []byte {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, level)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	valid := deflate(gzip.DefaultCompression, `{"name":"old"}`+"\n")
	corrupt := bytes.Clone(valid)
	corrupt[len(corrupt)-5] ^= 0xff // the CRC-32
	big := strings.Repeat("y", 2*maxPooledBuf)
	cases := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"default level", valid, "old", false},
		{"best speed", deflate(gzip.BestSpeed, `{"name":"new"}`), "new", false},
		{"corrupt checksum", corrupt, "", true},
		{"after a corrupt one", valid, "old", false},
		{"truncated", valid[:len(valid)-3], "", true},
		{"not gzip", []byte(`{"name":"plain"}`), "", true},
		{"two values", deflate(gzip.BestSpeed, `{"name":"a"} {"name":"b"}`), "", true},
		{"not JSON", deflate(gzip.BestSpeed, `name`), "", true},
		{"larger than a pooled buffer", deflate(gzip.BestSpeed, `{"name":"`+big+`"}`), big, false},
		{"after a large one", deflate(gzip.BestSpeed, `{"name":"small"}`), "small", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out body
			err := gunzipJSON(c.in, &out)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && out.Name != c.want {
				t.Errorf("read %q, want %q", trunc(out.Name), trunc(c.want))
			}
		})
	}
}

func BenchmarkGunzipJSON(b *testing.B) {
	type finding struct{ Rule, ResourceType, ResourceID, Region, Annotation string }
	var fs []finding
	for i := range 60 {
		fs = append(fs, finding{fmt.Sprintf("rule-%d", i%12), "AWS::EC2::SecurityGroup", fmt.Sprintf("sg-%016x", uint64(i)*0x9e3779b97f4a7c15), "eu-west-1", "not compliant, for a reason of some length"})
	}
	in, err := gz(map[string]any{"account_id": "123456789012", "findings": fs})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var out struct {
			Findings []finding `json:"findings"`
		}
		if err := gunzipJSON(in, &out); err != nil {
			b.Fatal(err)
		}
	}
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
