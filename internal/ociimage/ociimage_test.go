package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// fakeBins writes the three "binaries" (their content is all the image
// cares about) into a new directory, with the given file mode and mtime.
func fakeBins(t *testing.T, content string, mode os.FileMode, mtime time.Time) string {
	t.Helper()
	dir := t.TempDir()
	for _, s := range Services {
		p := filepath.Join(dir, s)
		if err := os.WriteFile(p, []byte("#!"+s+"\n"+content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func build(t *testing.T, opt Options, out string) Result {
	t.Helper()
	res, err := Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	if out != "" {
		if err := WriteLayout(res.Image, opt.Arch, out, opt.Created); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// Two builds from the same binaries, copied at different times with
// different modes, in different directories: the same digest and the same
// tarball, byte for byte.
func TestBuildIsReproducible(t *testing.T) {
	dir := t.TempDir()
	epoch := time.Unix(1700000000, 0)
	a := build(t, Options{Bins: fakeBins(t, "same", 0o755, time.Now()), Arch: "amd64", Created: epoch, Version: "v1"}, filepath.Join(dir, "a.tar"))
	time.Sleep(1100 * time.Millisecond) // a clock that leaked into the image would show
	b := build(t, Options{Bins: fakeBins(t, "same", 0o700, time.Unix(1, 0)), Arch: "amd64", Created: epoch, Version: "v1"}, filepath.Join(dir, "b.tar"))
	if a.Digest != b.Digest {
		t.Fatalf("two builds of the same binaries: %s and %s", a.Digest, b.Digest)
	}
	ab, err := os.ReadFile(filepath.Join(dir, "a.tar"))
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(filepath.Join(dir, "b.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ab, bb) {
		t.Fatal("same digest but the layout tarballs differ")
	}
}

// Each input that should make another image does.
func TestDigestFollowsInputs(t *testing.T) {
	epoch := time.Unix(0, 0)
	base := Options{Bins: fakeBins(t, "x", 0o755, epoch), Arch: "amd64", Created: epoch, Version: "dev"}
	want := build(t, base, "").Digest
	for _, tc := range []struct {
		name string
		mod  func(o *Options)
	}{
		{"binary", func(o *Options) { o.Bins = fakeBins(t, "y", 0o755, epoch) }},
		{"created", func(o *Options) { o.Created = epoch.Add(time.Second) }},
		{"arch", func(o *Options) { o.Arch = "arm64" }},
		{"version", func(o *Options) { o.Version = "v2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			if got := build(t, o, "").Digest; got == want {
				t.Errorf("changing the %s left the digest at %s", tc.name, got)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	bins := fakeBins(t, "x", 0o755, time.Now())
	missing := t.TempDir()
	if err := os.WriteFile(filepath.Join(missing, "scanner"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"unknown arch", Options{Bins: bins, Arch: "386"}, "386"},
		{"no arch", Options{Bins: bins}, "architecture"},
		{"a binary missing", Options{Bins: missing, Arch: "amd64"}, "binary aggregator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// The image as a runtime sees it: user 65532, the binaries executable,
// the nonroot user known, the CA bundle parsed, /tmp writable by all.
func TestImageContents(t *testing.T) {
	dir := t.TempDir()
	epoch := time.Unix(1700000000, 0)
	res := build(t, Options{Bins: fakeBins(t, "body", 0o755, epoch), Arch: "amd64", Created: epoch, Version: "dev"}, filepath.Join(dir, "img.tar"))
	u, err := Unpack(filepath.Join(dir, "img.tar"), filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Digest != res.Digest {
		t.Errorf("unpacked digest %s, built %s", u.Digest, res.Digest)
	}
	if u.Config.Config.User != "65532:65532" || u.Config.OS != "linux" || u.Config.Architecture != "amd64" {
		t.Errorf("config: user %q, platform %s/%s", u.Config.Config.User, u.Config.OS, u.Config.Architecture)
	}
	if !u.Config.Created.Time.Equal(epoch) {
		t.Errorf("created %s, want %s", u.Config.Created.Time, epoch)
	}
	for _, s := range Services {
		p := filepath.Join(u.Root, BinDir, s)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %s, want an executable -rwxr-xr-x", p, fi.Mode())
		}
		if b, _ := os.ReadFile(p); string(b) != "#!"+s+"\nbody" {
			t.Errorf("%s: content %q", p, b)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(u.Root, "etc/passwd"))
	group, _ := os.ReadFile(filepath.Join(u.Root, "etc/group"))
	if !strings.Contains(string(passwd), "\nnonroot:x:65532:65532:") || !strings.Contains(string(group), "\nnonroot:x:65532:") {
		t.Errorf("nonroot missing:\n%s\n%s", passwd, group)
	}
	fi, err := os.Stat(filepath.Join(u.Root, "tmp"))
	if err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v, want drwxrwxrwt", fi.Mode(), err)
	}
	ca, err := os.ReadFile(filepath.Join(u.Root, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CA bundle: no certificate")
	}
	var n, unconstrained int
	for rest := ca; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		n++
	}
	for r := range bundle.Roots() {
		if r.Constraint == nil {
			unconstrained++
		}
	}
	if n != unconstrained || n < 100 {
		t.Errorf("CA bundle has %d certificates, want the %d unconstrained roots of the pinned bundle", n, unconstrained)
	}
}

func TestBuildArgsAreReproducible(t *testing.T) {
	args := strings.Join(BuildArgs("/x"), " ")
	for _, want := range []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "./cmd/trigger", "./cmd/scanner", "./cmd/aggregator"} {
		if !strings.Contains(args, want) {
			t.Errorf("go %s: no %s", args, want)
		}
	}
	env := BuildEnv("arm64")
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=-mod=mod"} {
		if !slices.Contains(env, want) {
			t.Errorf("build env %v: no %s", env, want)
		}
	}
}

// extract refuses what would write outside the root or is not a plain
// file or directory.
func TestExtractRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		hdr  tar.Header
	}{
		{"parent", tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		{"nested parent", tar.Header{Name: "usr/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		{"absolute", tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		{"symlink", tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow", Mode: 0o777}},
		{"device", tar.Header{Name: "dev/x", Typeflag: tar.TypeChar, Mode: 0o600}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			if err := tw.WriteHeader(&tc.hdr); err != nil {
				t.Fatal(err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(t.TempDir(), "root")
			if err := extract(tar.NewReader(&b), root, false); err == nil {
				t.Errorf("%s extracted", tc.hdr.Name)
			}
		})
	}
}

func TestUnpackRejectsNonLayout(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: "hello", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644})
	_, _ = tw.Write([]byte("hi"))
	_ = tw.Close()
	p := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Unpack(p, filepath.Join(dir, "root")); err == nil {
		t.Error("a tarball without index.json unpacked")
	}
}

// A blob that no longer matches its digest (here the config, its user
// changed to root) is refused, not unpacked.
func TestUnpackRejectsTamperedBlob(t *testing.T) {
	dir := t.TempDir()
	epoch := time.Unix(0, 0)
	good := filepath.Join(dir, "good.tar")
	build(t, Options{Bins: fakeBins(t, "x", 0o755, epoch), Arch: "amd64", Created: epoch, Version: "dev"}, good)
	if _, err := Unpack(good, filepath.Join(dir, "root-good")); err != nil {
		t.Fatalf("the untampered image: %v", err)
	}
	in, err := os.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var b bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&b)
	changed := false
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var body bytes.Buffer
		if _, err := body.ReadFrom(tr); err != nil {
			t.Fatal(err)
		}
		data := body.Bytes()
		if bytes.Contains(data, []byte(`"User":"65532:65532"`)) {
			data = bytes.Replace(data, []byte(`"User":"65532:65532"`), []byte(`"User":"00000:00000"`), 1)
			changed = true
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil || !changed {
		t.Fatalf("tampering: %v, config found: %v", err, changed)
	}
	bad := filepath.Join(dir, "bad.tar")
	if err := os.WriteFile(bad, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Unpack(bad, filepath.Join(dir, "root-bad")); err == nil || !strings.Contains(err.Error(), "config: digest") {
		t.Errorf("an image whose config does not match its digest: %v", err)
	}
}
