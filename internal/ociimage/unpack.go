package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Unpacked is an image read back from its layout tarball.
type Unpacked struct {
	Digest v1.Hash // the manifest's digest, as `make image` printed it
	Config *v1.ConfigFile
	Root   string // the directory holding its file system
}

// Unpack reads the OCI image layout tarball at tarPath, checks the one
// image in it (every blob against its digest: go-containerregistry's
// validate), and writes its file system under root, with each entry's
// mode (and, when running as root, its owner): what a container runtime
// does before it starts a container, without one.
func Unpack(tarPath, root string) (Unpacked, error) {
	dir, err := os.MkdirTemp("", "ociimage-unpack-")
	if err != nil {
		return Unpacked{}, err
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(tarPath)
	if err != nil {
		return Unpacked{}, err
	}
	err = extract(tar.NewReader(f), dir, false)
	f.Close()
	if err != nil {
		return Unpacked{}, fmt.Errorf("%s: %w", tarPath, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return Unpacked{}, fmt.Errorf("%s is not an OCI image layout: %w", tarPath, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Unpacked{}, err
	}
	if len(im.Manifests) != 1 {
		return Unpacked{}, fmt.Errorf("%s: %d manifests in index.json, want 1", tarPath, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return Unpacked{}, err
	}
	if err := verify(img, im.Manifests[0].Digest); err != nil {
		return Unpacked{}, fmt.Errorf("%s: %w", tarPath, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Unpacked{}, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Unpacked{}, err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := extract(tar.NewReader(rc), root, os.Geteuid() == 0); err != nil {
		return Unpacked{}, fmt.Errorf("%s: layers: %w", tarPath, err)
	}
	return Unpacked{Digest: im.Manifests[0].Digest, Config: cf, Root: root}, nil
}

// verify checks every blob of img against the digest that names it: the
// manifest against the index's, the config against the manifest's (which
// validate.Image does not: it hashes the config it read to name it), and
// each layer, compressed and not, by validate.Image.
func verify(img v1.Image, want v1.Hash) error {
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	if h, _, err := v1.SHA256(bytes.NewReader(raw)); err != nil || h != want {
		return fmt.Errorf("manifest: digest %s, index.json says %s (%v)", h, want, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	rc, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if h, n, err := v1.SHA256(bytes.NewReader(rc)); err != nil || h != m.Config.Digest || n != m.Config.Size {
		return fmt.Errorf("config: digest %s (%d bytes), the manifest says %s (%d bytes) (%v)", h, n, m.Config.Digest, m.Config.Size, err)
	}
	return validate.Image(img)
}

// extract writes a tar stream's directories and regular files under dir.
// A name that would land outside dir, and any other kind of entry (links,
// devices: the image has none), is an error.
func extract(tr *tar.Reader, dir string, chown bool) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("entry %q is outside the root", h.Name)
		}
		p := filepath.Join(dir, name)
		mode := os.FileMode(h.Mode).Perm()
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q: type %q not supported", h.Name, h.Typeflag)
		}
		// The umask does not apply to chmod: /tmp stays 1777.
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if chown {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				return err
			}
		}
	}
}
