# Load: the autoscaled services under a large organisation.
#   make load                       default size (1,000 accounts x 2 regions, 20 ms
#                                   per call, 2 Config calls/s per account-region,
#                                   1% errors, time ÷ 60): about a minute and a half
#   make load LOAD_FLOOR=0          without the bench/floor run that follows the report
#                                   (by default the plain SDK makes the same calls against
#                                   the same awssim, and the scanners' CPU per call is
#                                   printed as a ratio of its, issue 20)
#   make load-check                 the default size once per scale-down scenario
#                                   (SIGTERM, then SIGKILL at once): run by make test
#   make load LOAD_ACCOUNTS=5000 LOAD_REGIONS=us-east-1,eu-west-1,ap-southeast-2,ap-east-1
#                                   full size
#   make load LOAD_FLAGS='-scenario sigkill'
#                                   scale-down by SIGKILL at once
#   make load-testdata              refresh internal/testbed/load/testdata/prod.yaml, the
#                                   rendered prod overlay the Autoscaler's tests
#                                   read (a test fails when it differs from a
#                                   fresh render)
# The harness builds its own copies of the binaries (bin/ is shared), reads the
# ScaledObject from the freshly rendered out/deploy/prod.yaml, runs under
# scripts/with-emulators.sh and leaves the workbook, awssim.args, the plot and
# every process's log in out/load/. The last line is the summary; the exit
# status is non-zero when an invariant breaks (never for a timing).
.PHONY: load load-check load-testdata

LOAD_ACCOUNTS ?= 1000
LOAD_REGIONS ?= us-east-1,eu-west-1
LOAD_FLAGS ?=
# 0: no bench/floor run after the report (load-check: it proves the
# invariants, not the CPU figures).
LOAD_FLOOR ?= 1
LOAD_BIN := out/load/bin

load: render-deploy
	@mkdir -p $(LOAD_BIN)
	go build -o $(LOAD_BIN)/ ./cmd/awssim ./cmd/trigger ./cmd/scanner ./cmd/aggregator ./cmd/loadtest ./bench/floor
	scripts/with-emulators.sh $(LOAD_BIN)/loadtest -bin $(LOAD_BIN) -manifest out/deploy/prod.yaml \
		-accounts $(LOAD_ACCOUNTS) -regions $(LOAD_REGIONS) -floor=$(if $(filter 0,$(LOAD_FLOOR)),false,true) $(LOAD_FLAGS)

load-check:
	$(MAKE) --no-print-directory load LOAD_FLOOR=0 LOAD_FLAGS='-scenario sigterm'
	$(MAKE) --no-print-directory load LOAD_FLOOR=0 LOAD_FLAGS='-scenario sigkill'

TEST_EXTRA += load-check

load-testdata: deploy-tools
	kustomize build deploy/kustomize/overlays/prod > internal/testbed/load/testdata/prod.yaml
