// Package ociimage builds the service image without a container engine and
// unpacks it again: one layer on an empty base, written as an OCI image
// layout tarball, byte for byte the same from the same binaries.
//
// go-containerregistry does the image model (manifest, config, digests,
// the layout); this package decides what goes in and makes every input of
// the digest fixed: the entries' order, times, owners and modes, the image
// config's creation time and history, the CA bundle (from the pinned
// golang.org/x/crypto/x509roots/fallback module, not the machine's), and
// the layer's compression (the Go standard library's gzip at a fixed
// level). What is left is the binaries, which `go build -trimpath
// -buildvcs=false -ldflags='-s -w -buildid='` makes the same from the same
// source, go.sum and Go toolchain (BuildArgs).
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's fixed facts, which the manifests (deploy/kustomize/base) and
// the Dockerfile rely on.
const (
	// UID and GID run every binary: "nonroot", as distroless names it and
	// as the workloads' securityContext (runAsUser/runAsGroup) expects.
	UID = 65532
	GID = 65532
	// BinDir holds the binaries the workloads name in `command:`.
	BinDir = "usr/local/bin"
	// CAFile is where Go's crypto/x509 (and OpenSSL on Debian) looks first.
	CAFile = "etc/ssl/certs/ca-certificates.crt"
	// RefName is the layout's org.opencontainers.image.ref.name: the tag
	// `skopeo copy oci-archive:...` and others see.
	RefName = "config-report"
)

// Env is the image's environment (the Dockerfile's ENV says the same).
var Env = []string{"PATH=/" + BinDir, "SSL_CERT_FILE=/" + CAFile}

// Services are the binaries in the image: one image, three workloads.
var Services = []string{"aggregator", "scanner", "trigger"}

// BuildArgs are the `go build` arguments that make a binary depend only on
// the source, go.sum and the toolchain: no paths of this machine
// (-trimpath), no VCS stamp (-buildvcs=false), no build id, no symbol
// table or DWARF. The caller runs them with CGO_ENABLED=0 (static; the
// image has no libc) and GOOS/GOARCH set (BuildEnv).
func BuildArgs(outDir string) []string {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", outDir + string(filepath.Separator)}
	for _, s := range Services {
		args = append(args, "./cmd/"+s)
	}
	return args
}

// BuildEnv is the environment for BuildArgs on top of the caller's: every
// variable that changes the output is set here, so a developer's GOFLAGS
// or GOAMD64 cannot make a different image.
func BuildEnv(arch string) []string {
	return []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch, "GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=mod", "GOEXPERIMENT="}
}

// Options are what varies between two builds on purpose.
type Options struct {
	// Bins is the directory with the three binaries (BuildArgs' output).
	Bins string
	// Arch is the image's architecture: amd64 or arm64.
	Arch string
	// Created is every time in the image: the config's, the history's and
	// each file's mtime (SOURCE_DATE_EPOCH, or the epoch).
	Created time.Time
	// Version goes in the org.opencontainers.image.version label.
	Version string
}

// Result is a built image.
type Result struct {
	Image  v1.Image
	Digest v1.Hash // the manifest's digest: what a registry calls the image
}

// file is one entry of the layer.
type file struct {
	name     string // relative, no leading slash; a directory ends without one
	mode     int64  // permission bits, with the sticky bit where wanted
	dir      bool
	uid, gid int
	body     []byte
}

// files returns the image's file tree, sorted by name: the directories,
// /etc/passwd and /etc/group with the nonroot user, the CA bundle, /tmp
// (1777: TMPDIR is an emptyDir in the cluster, but a run without one still
// has a writable /tmp) and the three binaries read from bins.
func files(bins string) ([]file, error) {
	ca, err := CABundle()
	if err != nil {
		return nil, err
	}
	fl := []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID))},
		{name: "etc/passwd", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID))},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: CAFile, mode: 0o644, body: ca},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, dir: true, uid: UID, gid: GID},
		{name: "tmp", mode: 0o1777, dir: true},
		{name: "usr", mode: 0o755, dir: true},
		{name: "usr/local", mode: 0o755, dir: true},
		{name: BinDir, mode: 0o755, dir: true},
	}
	for _, s := range Services {
		b, err := os.ReadFile(filepath.Join(bins, s))
		if err != nil {
			return nil, fmt.Errorf("binary %s: %w", s, err)
		}
		fl = append(fl, file{name: path.Join(BinDir, s), mode: 0o755, body: b})
	}
	sort.Slice(fl, func(i, j int) bool { return fl[i].name < fl[j].name })
	return fl, nil
}

// CABundle is the PEM file of the pinned NSS roots (x509roots/fallback's
// bundle), in the module's order. A root with a constraint a PEM file
// cannot carry (a distrust-after date) is left out rather than trusted
// without it.
func CABundle() ([]byte, error) {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if _, err := x509.ParseCertificate(r.Certificate); err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
	}
	if b.Len() == 0 {
		return nil, errors.New("CA bundle: no roots")
	}
	return b.Bytes(), nil
}

// layerTar writes files as a tar stream, each entry with mtime t, the
// owner's numeric ids and no names, no access or change times (USTAR):
// the same files give the same bytes.
func layerTar(files []file, t time.Time) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: t.UTC().Truncate(time.Second), Format: tar.FormatUSTAR}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Build makes the image from opt.Bins.
func Build(opt Options) (Result, error) {
	if opt.Arch != "amd64" && opt.Arch != "arm64" {
		return Result{}, fmt.Errorf("architecture %q: amd64 or arm64", opt.Arch)
	}
	fl, err := files(opt.Bins)
	if err != nil {
		return Result{}, err
	}
	raw, err := layerTar(fl, opt.Created)
	if err != nil {
		return Result{}, err
	}
	// gzip with a zero header (no name, no mtime) at a fixed level.
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return Result{}, err
	}
	if _, err := zw.Write(raw); err != nil {
		return Result{}, err
	}
	if err := zw.Close(); err != nil {
		return Result{}, err
	}
	blob := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return Result{}, err
	}
	created := v1.Time{Time: opt.Created.UTC().Truncate(time.Second)}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: created, CreatedBy: "internal/ociimage: " + strings.Join(Services, ", ") + ", CA bundle, nonroot user", Comment: "one layer on an empty base",
	}})
	if err != nil {
		return Result{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Result{}, err
	}
	cf = cf.DeepCopy()
	cf.Created, cf.OS, cf.Architecture = created, "linux", opt.Arch
	cf.Config = v1.Config{
		User: fmt.Sprintf("%d:%d", UID, GID),
		Env:  Env,
		// No entrypoint: the CronJob and the Deployments name their binary.
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "config-report",
			"org.opencontainers.image.description": "Weekly AWS Config compliance report: trigger, scanner, aggregator",
			"org.opencontainers.image.version":     opt.Version,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return Result{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	return Result{Image: img, Digest: d}, nil
}

// WriteLayout writes img as an OCI image layout tarball at out: the layout
// made by go-containerregistry in a scratch directory, then tarred in name
// order with fixed times and owners, so the file too is the same each time.
func WriteLayout(img v1.Image, arch, out string, mtime time.Time) error {
	dir, err := os.MkdirTemp("", "ociimage-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	// The index entry is written here rather than by AppendImage, which
	// adds an artifactType (meant for artifacts, not images) to it.
	if err := p.WriteImage(img); err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	size, err := img.Size()
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if err := p.AppendDescriptor(v1.Descriptor{MediaType: mt, Size: size, Digest: d,
		Annotations: map[string]string{"org.opencontainers.image.ref.name": RefName},
		Platform:    &v1.Platform{OS: "linux", Architecture: arch}}); err != nil {
		return err
	}
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime.UTC().Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		var body []byte
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
		} else {
			if body, err = os.ReadFile(p); err != nil {
				return err
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
