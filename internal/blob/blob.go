// Package blob stores whole objects by key: the reports and the claim-check
// payloads. S3 (SSE-KMS when a key is configured) in the cluster; a local
// folder in local mode and tests. It is not a file system: keys are
// slash-separated and validated, and objects are written whole.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cybsecops/configreport/internal/events"
)

// ErrNotFound wraps events.ErrPayloadNotFound, so that a missing claim-check
// object is a poison message, not a retry.
var ErrNotFound = fmt.Errorf("blob: %w", events.ErrPayloadNotFound)

// Store is implemented by S3 and Folder.
type Store interface {
	// Put writes body under key, replacing any object there.
	Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error
	// Get reads the object at key; an error wrapping ErrNotFound when absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetLimit is Get for an object of at most limit bytes: a larger one
	// is an error wrapping ErrTooLarge, found without reading more than
	// limit+1 bytes of it.
	GetLimit(ctx context.Context, key string, limit int64) ([]byte, error)
	// Exists tells whether key holds an object.
	Exists(ctx context.Context, key string) (bool, error)
	// Size is the object's length in bytes, read without its body (a HEAD
	// on S3); an error wrapping ErrNotFound when absent.
	Size(ctx context.Context, key string) (int64, error)
}

// ErrTooLarge wraps events.ErrPayloadTooLarge: a claim-check object over
// the codec's limit is a poison message, not a retry.
var ErrTooLarge = fmt.Errorf("blob: %w", events.ErrPayloadTooLarge)

// Payloads adapts a Store to the events codec's claim-check store.
type Payloads struct{ Store Store }

func (p Payloads) PutPayload(ctx context.Context, key string, body []byte) error {
	return p.Store.Put(ctx, key, strings.NewReader(string(body)), "application/json")
}

func (p Payloads) GetPayload(ctx context.Context, key string, limit int64) ([]byte, error) {
	return p.Store.GetLimit(ctx, key, limit)
}

// readLimit reads r whole when it holds at most limit bytes, else fails
// with ErrTooLarge having read limit+1 bytes.
func readLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("over %d bytes: %w", limit, ErrTooLarge)
	}
	return b, nil
}

// CheckKey refuses keys that could escape a folder or confuse S3 tools.
func CheckKey(key string) error {
	switch {
	case key == "", strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return fmt.Errorf("blob key %q: must be a relative path to an object", key)
	case strings.Contains(key, "\\"), strings.Contains(key, "//"):
		return fmt.Errorf("blob key %q: empty segment or backslash", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("blob key %q: dot segment", key)
		}
	}
	return nil
}

// Folder keeps objects as files under Dir.
type Folder struct{ Dir string }

func (f Folder) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(f.Dir, filepath.FromSlash(key)), nil
}

// Put writes atomically (temporary file, fsync, rename), so a crash never
// leaves half a report under its final name.
func (f Folder) Put(_ context.Context, key string, body io.ReadSeeker, _ string) (err error) {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, body); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// fileError names op and key in err, a missing file's as ErrNotFound.
func fileError(op, key string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		err = ErrNotFound
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

func (f Folder) Get(_ context.Context, key string) ([]byte, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fileError("get", key, err)
	}
	return b, nil
}

// Open streams the file: the caller reads and closes it.
func (f Folder) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	if err != nil {
		return nil, fileError("open", key, err)
	}
	return file, nil
}

// GetLimit checks the file's size before reading it, and reads no more
// than limit+1 bytes whatever the size said (the file may grow).
func (f Folder) GetLimit(_ context.Context, key string, limit int64) ([]byte, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	if err != nil {
		return nil, fileError("get", key, err)
	}
	defer file.Close()
	if st, err := file.Stat(); err == nil && st.Size() > limit {
		return nil, fmt.Errorf("get %s: %d bytes, over %d: %w", key, st.Size(), limit, ErrTooLarge)
	}
	b, err := readLimit(file, limit)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return b, nil
}

func (f Folder) Exists(_ context.Context, key string) (bool, error) {
	p, err := f.path(key)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (f Folder) Size(_ context.Context, key string) (int64, error) {
	p, err := f.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, fileError("size of", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("size of %s: not a regular file", key)
	}
	return fi.Size(), nil
}
