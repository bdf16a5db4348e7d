# make e2e: the aggregator, two scanners and the trigger as separate OS
# processes over goaws (SQS/SNS), gofakes3 (S3), dynalite (DynamoDB) and
# awssim, a fake Jira, then an ad-hoc and a malformed message sent with
# Debian's AWS CLI (/usr/bin/aws; apt-get install awscli). The report is
# downloaded to out/e2e/ and checked against the organisation's ground
# truth; logs of every process are in out/e2e/logs/. Then week over week
# (test/e2e/weeks_test.go, about 9 s): awssim restarted with a generated
# org's week 1, then -week 2, two scheduled runs back to back, then -week 3
# and an ad-hoc scan after a fix; the second report's Changes, First Seen
# and findings file, its ticket's changes line and the ad-hoc report's
# RESOLVED rows are checked against the weeks' truth (out/e2e/weeks/).
# The last line says what passed.
.PHONY: e2e e2e-deps
e2e-deps:
	scripts/install-awscli.sh

# The trigger, the scanners and the aggregators run from `make image`'s
# image (E2E_IMAGE): unpacked and chrooted into as its user 65532.
e2e: e2e-deps image
	@status=0; E2E=1 E2E_IMAGE=$(CURDIR)/$(IMAGE_TAR) REQUIRE_EMULATORS=1 scripts/with-emulators.sh \
		go test -count=1 -timeout 15m -v -run '^TestPipeline$$' ./test/e2e/ || status=$$?; \
	if [ -s out/e2e/summary.txt ]; then tail -n 1 out/e2e/summary.txt; else echo "e2e FAIL: no summary (see the output above)"; fi; \
	exit $$status

# The separate-process run is part of `make test` (about a minute here).
TEST_EXTRA += e2e
