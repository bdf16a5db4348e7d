// Command imagebuild builds the service image without a container engine:
// `go build` of trigger, scanner and aggregator with the reproducible flags
// (internal/ociimage.BuildArgs), one layer on an empty base with the nonroot
// user and the pinned CA bundle, written as an OCI image layout tarball.
// The last line it prints is `image: sha256:<manifest digest>`.
//
// It is `make image`; -unpack also writes the image's file system to a
// directory (the Dockerfile copies that onto scratch).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/cybsecops/configreport/internal/ociimage"
)

func main() {
	out := flag.String("out", "out/image/configreport.tar", "the OCI image layout tarball to write")
	arch := flag.String("arch", "amd64", "image architecture: amd64 or arm64")
	version := flag.String("version", "dev", "the org.opencontainers.image.version label")
	bins := flag.String("bins", "", "use the binaries in this directory instead of building them (they must come from the same flags)")
	unpack := flag.String("unpack", "", "also unpack the image's file system into this directory")
	flag.Parse()
	if err := run(*out, *arch, *version, *bins, *unpack); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(out, arch, version, bins, unpack string) error {
	// SOURCE_DATE_EPOCH (reproducible-builds.org) or the epoch: never the
	// clock.
	created := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %v", s, err)
		}
		created = time.Unix(n, 0).UTC()
	}
	if bins == "" {
		dir, err := os.MkdirTemp("", "imagebuild-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		cmd := exec.Command("go", ociimage.BuildArgs(dir)...)
		cmd.Env = append(os.Environ(), ociimage.BuildEnv(arch)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %v: %v", ociimage.BuildArgs(dir), err)
		}
		fmt.Printf("image: built %v for linux/%s in %s\n", ociimage.Services, arch, time.Since(start).Round(100*time.Millisecond))
		bins = dir
	}
	res, err := ociimage.Build(ociimage.Options{Bins: bins, Arch: arch, Created: created, Version: version})
	if err != nil {
		return err
	}
	if err := ociimage.WriteLayout(res.Image, arch, out, created); err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("image: wrote %s (%d bytes; OCI image layout; linux/%s, user %d:%d, created %s)\n",
		out, fi.Size(), arch, ociimage.UID, ociimage.GID, created.Format(time.RFC3339))
	if unpack != "" {
		if _, err := ociimage.Unpack(out, unpack); err != nil {
			return err
		}
		fmt.Printf("image: file system unpacked into %s\n", unpack)
	}
	fmt.Printf("image: %s\n", res.Digest)
	return nil
}
