package report

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"time"
)

// spoolZip is the excelize.ZipWriter Render installs. excelize's own Write
// builds the whole archive in a bytes.Buffer (memory growing with the number
// of findings) and writes streamed sheets in Go map order (so two saves of
// the same data differ). spoolZip writes the entries to a temporary file
// instead; normalise then copies them to the real destination in a fixed
// order with fixed times. On the way it gives each streamed sheet its real
// used range (dims: entry name to range), which a StreamWriter cannot know
// when it writes the sheet's first bytes.
type spoolZip struct {
	zw      *zip.Writer
	modTime time.Time
	dims    map[string]string
	open    *dimWriter // the entry being written, when it may still hold the placeholder
}

// newSpoolZip writes deflated entries to w. The level trades size for time:
// deflate at the default level was a quarter of the CPU of a 1,000,000-row
// render (docs/BENCHMARKS.md); the level is the same on every render, so the
// bytes stay deterministic.
func newSpoolZip(w io.Writer, modTime time.Time, level int, dims map[string]string) *spoolZip {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, level)
	})
	return &spoolZip{zw: zw, modTime: modTime, dims: dims}
}

func (s *spoolZip) Create(name string) (io.Writer, error) {
	if err := s.flush(); err != nil {
		return nil, err
	}
	w, err := s.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: s.modTime})
	if err != nil {
		return nil, err
	}
	ref, ok := s.dims[name]
	if !ok {
		return w, nil
	}
	s.open = &dimWriter{w: w, with: []byte(`<dimension ref="` + ref + `"/>`)}
	return s.open, nil
}

// flush ends the dimension rewrite of the entry in hand, if any.
func (s *spoolZip) flush() error {
	if s.open == nil {
		return nil
	}
	err := s.open.release()
	s.open = nil
	return err
}

func (s *spoolZip) AddFS(fs.FS) error {
	return errors.New("report: AddFS is not supported by the spooling zip writer")
}

func (s *spoolZip) Close() error {
	if err := s.flush(); err != nil {
		return err
	}
	return s.zw.Close()
}

// sheetPath is the archive entry of the sheet excelize numbers id.
func sheetPath(id int) string { return "xl/worksheets/sheet" + strconv.Itoa(id) + ".xml" }

// dimPlaceholder is what a StreamWriter writes before the first row: the
// <dimension> element of a new sheet, whatever its rows turn out to be.
var dimPlaceholder = []byte(`<dimension ref="A1"></dimension>`)

// dimHead bounds how much of a sheet is held back looking for the
// placeholder: it sits in the first few hundred bytes, before <sheetData>.
const dimHead = 64 << 10

// dimWriter replaces the first dimPlaceholder of a sheet with `with`. It
// holds back the sheet's head until it has seen <sheetData (or dimHead
// bytes), then passes everything through.
type dimWriter struct {
	w    io.Writer
	with []byte
	head []byte
	done bool
}

func (d *dimWriter) Write(p []byte) (int, error) {
	if d.done {
		return d.w.Write(p)
	}
	d.head = append(d.head, p...)
	if len(d.head) < dimHead && !bytes.Contains(d.head, []byte("<sheetData")) {
		return len(p), nil
	}
	if err := d.release(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// release writes what was held back, the placeholder replaced.
func (d *dimWriter) release() error {
	if d.done {
		return nil
	}
	d.done = true
	out := bytes.Replace(d.head, dimPlaceholder, d.with, 1)
	d.head = nil
	_, err := d.w.Write(out)
	return err
}

// zipTime is the modification time stamped on every entry: GeneratedAt, in
// UTC, clamped to the MS-DOS date range the zip format can hold.
func zipTime(t time.Time) time.Time {
	t = t.UTC().Truncate(2 * time.Second)
	lo := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// msDosTime encodes t (already in range, UTC) as MS-DOS date and time.
func msDosTime(t time.Time) (date, tm uint16) {
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}

// entryLess orders archive entries: [Content_Types].xml first (readers
// sniffing the format look there), then by name.
func entryLess(a, b string) bool {
	const ct = "[Content_Types].xml"
	if (a == ct) != (b == ct) {
		return a == ct
	}
	return a < b
}

// normalise copies the archive in src (size bytes) to w with its entries in
// entryLess order and every time set to modTime. Entries are copied raw,
// still compressed, so this costs I/O, not CPU.
func normalise(w io.Writer, src *os.File, size int64, modTime time.Time) error {
	zr, err := zip.NewReader(src, size)
	if err != nil {
		return fmt.Errorf("reopen spooled archive: %w", err)
	}
	files := append([]*zip.File(nil), zr.File...)
	sort.SliceStable(files, func(i, j int) bool { return entryLess(files[i].Name, files[j].Name) })
	zw := zip.NewWriter(w)
	for _, f := range files {
		h := f.FileHeader
		// CreateRaw, unlike CreateHeader, does not derive the MS-DOS fields
		// from Modified, and the extended-timestamp extra field would only
		// repeat them.
		h.Modified = modTime
		h.ModifiedDate, h.ModifiedTime = msDosTime(modTime)
		h.Extra = nil
		h.Comment = ""
		h.CreatorVersion = 0
		out, err := zw.CreateRaw(&h)
		if err != nil {
			return fmt.Errorf("write entry %s: %w", f.Name, err)
		}
		in, err := f.OpenRaw()
		if err != nil {
			return fmt.Errorf("read entry %s: %w", f.Name, err)
		}
		if _, err := io.Copy(out, in); err != nil {
			return fmt.Errorf("copy entry %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	return nil
}
