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
