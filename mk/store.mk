# Dedupe store (internal/store: SQLite and DynamoDB implementations, one
# conformance suite in internal/store/storetest). Its tests are ordinary Go
# tests run by test-go; the DynamoDB ones need dynalite, which
# scripts/with-emulators.sh starts (scripts/emulators/dynalite.sh).
#   make test-store   the store's tests alone, with the emulators up
#   make bench-store  RecordResult throughput and streaming a 1,000-account
#                     run, SQLite then DynamoDB-on-dynalite (figures go to
#                     docs/BENCHMARKS.md by hand; dynalite's are the emulator's)
.PHONY: test-store bench-store

test-store:
	REQUIRE_EMULATORS=1 scripts/with-emulators.sh go test $(GO_TEST_FLAGS) ./internal/store/...

bench-store:
	REQUIRE_EMULATORS=1 scripts/with-emulators.sh go test -run '^$$' -bench . -benchtime 1s -count 3 ./internal/store/sqlite/ ./internal/store/dynamo/

# The proof that the conformance suite can fail (first-write-wins switched
# off through store.Unsafe) needs the chaos tag: store.Unsafe is not in the
# shipped build, which must not link the package testing (test/deps).
.PHONY: test-store-unsafe
test-store-unsafe:
	REQUIRE_EMULATORS=1 scripts/with-emulators.sh go test -tags chaos $(GO_TEST_FLAGS) -run 'Unsafe' ./internal/store/...

TEST_EXTRA += test-store-unsafe
