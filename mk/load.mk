# Load: the autoscaled services under a large organisation (issue 10).
#   make load-testdata   refresh internal/loadtest/testdata/prod.yaml, the
#                        rendered prod overlay whose ScaledObject and scanner
#                        Deployment the Autoscaler's tests read (a test fails
#                        when it differs from a fresh render)
.PHONY: load-testdata

load-testdata: deploy-tools
	kustomize build deploy/kustomize/overlays/prod > internal/loadtest/testdata/prod.yaml
