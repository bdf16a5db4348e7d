package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
)

func TestFolder(t *testing.T) {
	ctx := context.Background()
	f := Folder{Dir: t.TempDir()}
	if err := f.Put(ctx, "reports/2026/11/23/r.xlsx", strings.NewReader("xlsx"), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	b, err := f.Get(ctx, "reports/2026/11/23/r.xlsx")
	if err != nil || string(b) != "xlsx" {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if ok, err := f.Exists(ctx, "reports/2026/11/23/r.xlsx"); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if ok, err := f.Exists(ctx, "nope"); ok || err != nil {
		t.Errorf("Exists(nope) = %v, %v", ok, err)
	}
	_, err = f.Get(ctx, "nope")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, events.ErrPayloadNotFound) {
		t.Errorf("missing object: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(f.Dir, "reports/2026/11/23"))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "dir/", `a\b`, ".."} {
		if err := f.Put(ctx, bad, strings.NewReader(""), ""); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	p := Payloads{Store: f}
	if err := p.PutPayload(ctx, "claim/r/a.json", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := p.GetPayload(ctx, "claim/r/a.json", 2); err != nil || string(b) != "{}" {
		t.Errorf("GetPayload = %q, %v", b, err)
	}
}

func TestFolderOpen(t *testing.T) {
	ctx := context.Background()
	f := Folder{Dir: t.TempDir()}
	if err := f.Put(ctx, "a/b.gz", strings.NewReader("streamed"), "application/gzip"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, want string
		notFound  bool
	}{
		{key: "a/b.gz", want: "streamed"},
		{key: "a/missing.gz", notFound: true},
	} {
		rc, err := f.Open(ctx, tc.key)
		if tc.notFound {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", tc.key, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.key, b, err, tc.want)
		}
	}
}
