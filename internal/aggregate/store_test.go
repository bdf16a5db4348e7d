package aggregate

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
)

// newTestStore is the embedded SQLite store of local mode, one file per test.
func newTestStore(t testing.TB) store.Store {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), sqlite.FileName))
}

// openStore opens the store file at path; two calls on one path are two
// processes sharing it.
func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
