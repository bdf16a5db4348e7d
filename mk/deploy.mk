# Deployment checks (deploy/, the image). All offline once the pinned tools are
# installed: kustomize renders each overlay, kubectl-validate checks every
# object against the Kubernetes 1.30 schemas it embeds plus KEDA's CRDs, and
# deploy/policycheck applies the rules schemas cannot express. The
# CloudFormation-vs-iampolicy comparison is a Go test (internal/iampolicy), run
# by test-go.
.PHONY: deploy-tools render-deploy validate-deploy deploy-testdata lint-cfn image image-repro

DEPLOY_OUT := out/deploy
KEDA_CRDS := $(TOOLS_DIR)/keda-crds
# kubectl-validate v0.0.4 embeds schemas up to 1.30; a newer version would make
# it download them.
KUBE_VERSION := 1.30
OVERLAYS := $(patsubst deploy/kustomize/overlays/%/kustomization.yaml,%,$(wildcard deploy/kustomize/overlays/*/kustomization.yaml))

deploy-tools:
	scripts/install-deploy-tools.sh

render-deploy: deploy-tools
	@rm -rf $(DEPLOY_OUT) && mkdir -p $(DEPLOY_OUT)
	@for o in base $(OVERLAYS); do \
		dir=deploy/kustomize/overlays/$$o; [ $$o = base ] && dir=deploy/kustomize/base; \
		kustomize build $$dir > $(DEPLOY_OUT)/$$o.yaml; \
		echo "rendered $$dir -> $(DEPLOY_OUT)/$$o.yaml ($$(grep -c '^kind:' $(DEPLOY_OUT)/$$o.yaml) objects)"; \
	done

validate-deploy: render-deploy
	@start=$$(date +%s); \
	go build -o $(DEPLOY_OUT)/policycheck ./deploy/policycheck; \
	kubectl-validate --version $(KUBE_VERSION) --local-crds $(KEDA_CRDS) $(DEPLOY_OUT)/*.yaml; \
	for o in base $(OVERLAYS); do $(DEPLOY_OUT)/policycheck -overlay $$o $(DEPLOY_OUT)/$$o.yaml; done; \
	for o in prod dev; do \
		cmp -s $(DEPLOY_OUT)/$$o.yaml deploy/policycheck/testdata/$$o.yaml || \
			{ echo "deploy/policycheck/testdata/$$o.yaml is stale: run make deploy-testdata"; exit 1; }; \
	done; \
	if $(DEPLOY_OUT)/policycheck -overlay prod deploy/policycheck/testdata/broken.yaml >/dev/null 2>&1; then \
		echo "policycheck accepted deploy/policycheck/testdata/broken.yaml"; exit 1; fi; \
	if kubectl-validate --version $(KUBE_VERSION) --local-crds $(KEDA_CRDS) deploy/testdata/schema-broken.yaml >/dev/null 2>&1; then \
		echo "kubectl-validate accepted deploy/testdata/schema-broken.yaml"; exit 1; fi; \
	echo "validate-deploy: base and overlays [$(OVERLAYS)] valid and within policy; broken fixtures rejected ($$(( $$(date +%s) - start ))s)"

# cfn-lint checks the templates' resource properties and IAM action names
# against AWS's specs (it caught sqs:SendMessageBatch, which IAM does not have).
# It comes with this machine's Python, not from a registry reachable here, so
# where it is missing the target says so plainly instead of failing.
lint-cfn:
	@if command -v cfn-lint >/dev/null 2>&1; then \
		cfn-lint deploy/cloudformation/*.yaml && echo "lint-cfn: $$(cfn-lint --version): ok"; \
	else \
		echo "lint-cfn: cfn-lint not installed: CloudFormation lint SKIPPED (the iampolicy Go tests still compare the grants)"; \
	fi

# Re-render the fixtures policycheck's tests read, after changing an overlay.
deploy-testdata: deploy-tools
	cd deploy/policycheck && go test -count=1 -run TestRenderedOverlaysPass . -update

# The one image holding trigger, scanner and aggregator, built without a
# container engine by tools/imagebuild (go-containerregistry as a library, on
# an empty base: see internal/ociimage), as an OCI image layout tarball. The
# last line is `image: sha256:<manifest digest>`: the digest a registry will
# show after `skopeo copy oci-archive:$(IMAGE_TAR) docker://...`
# (docs/DEPLOY.md). Same source, go.sum and Go toolchain: same digest.
# IMAGE_ARCH=arm64 builds for Graviton nodes.
IMAGE_TAR := out/image/configreport.tar
IMAGE_ARCH ?= amd64
IMAGE_VERSION ?= dev

image:
	@mkdir -p $(dir $(IMAGE_TAR))
	@go run ./tools/imagebuild -out $(IMAGE_TAR) -arch $(IMAGE_ARCH) -version $(IMAGE_VERSION) | tee $(IMAGE_TAR).log

# Builds the image a second time (into another file, from binaries built
# again) and fails unless the digest and the tarball's bytes are the same.
# Where Debian's skopeo is installed, it reads the tarball too (a reader that
# is not go-containerregistry) and must find the digest printed.
image-repro: image
	@go run ./tools/imagebuild -out out/image/rebuild.tar -arch $(IMAGE_ARCH) -version $(IMAGE_VERSION) > out/image/rebuild.tar.log; \
	a=$$(tail -n 1 $(IMAGE_TAR).log); b=$$(tail -n 1 out/image/rebuild.tar.log); \
	if [ "$$a" != "$$b" ] || ! cmp -s $(IMAGE_TAR) out/image/rebuild.tar; then \
		echo "image-repro: FAIL: two builds differ: $$a vs $$b"; exit 1; fi; \
	rm -f out/image/rebuild.tar; \
	echo "image-repro: two builds, same digest and same bytes: $${a#image: }"; \
	if command -v skopeo >/dev/null 2>&1; then \
		s=$$(skopeo inspect --format '{{.Digest}}' oci-archive:$(IMAGE_TAR)); \
		[ "image: $$s" = "$$a" ] || { echo "image-repro: skopeo reads $$s from $(IMAGE_TAR), imagebuild printed $${a#image: }"; exit 1; }; \
		echo "image-repro: skopeo $$(skopeo --version | cut -d' ' -f3) reads the tarball and agrees on the digest"; \
	else \
		echo "image-repro: skopeo not installed: second reader check SKIPPED (apt-get install skopeo)"; \
	fi

TEST_EXTRA += validate-deploy lint-cfn image-repro
