package ociimage

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The image, the Dockerfile and the workloads agree: each workload's
// command is a binary of the image and runs as the image's user; the
// Dockerfile lays out the image's file system with the same tool, user
// and environment.
func TestDockerfileAndManifestsAgree(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, tc := range []struct{ file, binary string }{
		{"deploy/kustomize/base/trigger-cronjob.yaml", "trigger"},
		{"deploy/kustomize/base/scanner-deployment.yaml", "scanner"},
		{"deploy/kustomize/base/aggregator-deployment.yaml", "aggregator"},
	} {
		b, err := os.ReadFile(filepath.Join(root, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{`command: ["/` + BinDir + "/" + tc.binary + `"]`, fmt.Sprintf("runAsUser: %d", UID), fmt.Sprintf("runAsGroup: %d", GID)} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: no %s (the image has /%s/%s, user %d:%d)", tc.file, want, BinDir, tc.binary, UID, GID)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+go run ./tools/imagebuild .*\\\n\s+.*-unpack /rootfs$`),
		regexp.MustCompile(`(?m)^FROM scratch$`),
		regexp.MustCompile(`(?m)^COPY --from=build /rootfs/ /$`),
		regexp.MustCompile(fmt.Sprintf(`(?m)^USER %d:%d$`, UID, GID)),
		regexp.MustCompile(`(?m)^ENV ` + regexp.QuoteMeta(strings.Join(Env, " ")) + `$`),
	} {
		if !want.MatchString(df) {
			t.Errorf("Dockerfile: nothing matches %s", want)
		}
	}
}
