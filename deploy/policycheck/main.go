// Command policycheck checks rendered kustomize overlays against the deployment
// rules of DESIGN.md that no schema can express: IRSA on every ServiceAccount,
// requests and limits on every container, non-root read-only pods, TMPDIR on an
// emptyDir, the CronJob's schedule and concurrency, probes, the aggregator's
// PDB, the NetworkPolicy (egress: DNS to kube-dns only and HTTPS; ingress:
// the health port from one named monitoring namespace), the KEDA scaling of
// the scanners with KEDA's own role, and MEMORY_LIMIT from each container's
// memory limit (the Go memory limit follows it).
//
// An overlay is checked as production unless its name contains "dev" or
// "local"; those may skip IRSA, the egress and PDB rules and production sizing.
// It is not a schema validator: kubectl-validate checks every field's type and
// name first (mk/deploy.mk runs both).
//
//	kustomize build deploy/kustomize/overlays/prod | policycheck -overlay prod -
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	overlay := flag.String("overlay", "", "overlay name; production unless it contains dev or local")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: policycheck -overlay NAME FILE|- ...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *overlay == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var data []byte
	for _, f := range flag.Args() {
		var (
			b   []byte
			err error
		)
		if f == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "policycheck: %v\n", err)
			os.Exit(2)
		}
		data = append(data, "\n---\n"...)
		data = append(data, b...)
	}
	production := isProduction(*overlay)
	violations, err := check(data, production)
	if err != nil {
		fmt.Fprintf(os.Stderr, "policycheck: %s: %v\n", *overlay, err)
		os.Exit(2)
	}
	mode := "production"
	if !production {
		mode = "dev/local"
	}
	if len(violations) > 0 {
		for _, v := range violations {
			fmt.Fprintf(os.Stderr, "%s: %s\n", *overlay, v)
		}
		fmt.Fprintf(os.Stderr, "policycheck: overlay %s (%s rules): %d violation(s)\n", *overlay, mode, len(violations))
		os.Exit(1)
	}
	fmt.Printf("policycheck: overlay %s (%s rules): ok\n", *overlay, mode)
}

// isProduction says whether an overlay gets the production rules.
func isProduction(overlay string) bool {
	n := strings.ToLower(overlay)
	return !strings.Contains(n, "dev") && !strings.Contains(n, "local")
}
