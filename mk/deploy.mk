# Deployment checks (deploy/, Dockerfile). All offline once the pinned tools are
# installed: kustomize renders each overlay, kubectl-validate checks every
# object against the Kubernetes 1.30 schemas it embeds plus KEDA's CRDs, and
# deploy/policycheck applies the rules schemas cannot express. The
# CloudFormation-vs-iampolicy comparison is a Go test (internal/iampolicy), run
# by test-go.
.PHONY: deploy-tools render-deploy validate-deploy deploy-testdata lint-cfn image

DEPLOY_OUT := out/deploy
KEDA_CRDS := $(TOOLS_DIR)/keda-crds
# kubectl-validate v0.0.4 embeds schemas up to 1.30; a newer version would make
# it download them.
KUBE_VERSION := 1.30
OVERLAYS := $(patsubst deploy/kustomize/overlays/%/kustomization.yaml,%,$(wildcard deploy/kustomize/overlays/*/kustomization.yaml))
IMAGE ?= config-report:dev

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

# Builds the one image holding trigger, scanner and aggregator. Without a
# container engine it says so and fails: nothing is faked.
image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		docker build -t $(IMAGE) . ; \
	else \
		echo "make image: no container engine here (docker $$(command -v docker >/dev/null && echo 'client present, daemon unreachable' || echo 'not installed')); image not built"; \
		exit 1; \
	fi

TEST_EXTRA += validate-deploy lint-cfn
