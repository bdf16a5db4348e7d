#!/usr/bin/env bash
# s3: in-memory S3 (gofakes3 at the version pinned in go.mod, served by
# tools/s3emulator) for the blob integration tests and `make e2e`.
# Contract (see scripts/with-emulators.sh):
#   install      go build ./tools/s3emulator into $TOOLS_DIR/bin (idempotent:
#                rebuilt only when its source or go.sum changed; offline once
#                the module cache holds gofakes3)
#   start DIR    run it on 127.0.0.1:<free port>, log DIR/s3.log, pid DIR/s3.pid,
#                wait until it answers, print export S3_ENDPOINT=...
# Buckets listed in S3_EMULATOR_BUCKETS (comma-separated) are created at start;
# tests create their own. Path-style addressing only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.bash
. "$here/../lib.bash"
root=$(cd "$here/../.." && pwd)
: "${TOOLS_DIR:=$root/.tools}"
bin="$TOOLS_DIR/bin/s3emulator"

fingerprint() {
	cat "$root/tools/s3emulator/main.go" "$root/go.sum" | sha256sum | cut -c1-16
}

install() {
	local stamp
	stamp="$TOOLS_DIR/bin/.s3emulator-$(fingerprint)"
	if [ -x "$bin" ] && [ -e "$stamp" ]; then
		return 0
	fi
	mkdir -p "$TOOLS_DIR/bin"
	(cd "$root" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" ./tools/s3emulator)
	mv "$bin.tmp" "$bin"
	rm -f "$TOOLS_DIR"/bin/.s3emulator-*
	touch "$stamp"
	echo "s3emulator (gofakes3) installed at $bin" >&2
}

start() {
	local dir=$1
	[ -x "$bin" ] || install
	mkdir -p "$dir"
	rm -f "$dir/s3.addr"
	"$bin" -addr 127.0.0.1:0 -addr-file "$dir/s3.addr" -buckets "${S3_EMULATOR_BUCKETS:-}" >"$dir/s3.log" 2>&1 &
	echo $! >"$dir/s3.pid"
	addr_file="$dir/s3.addr"
	wait_ready s3emulator "$dir/s3.pid" 10 serving
}

# serving: the emulator writes its address once it listens.
serving() {
	[ -s "$addr_file" ] || return 1
	local url
	url=$(cat "$addr_file")
	curl -fsS -o /dev/null "$url/" || return 1
	echo "export S3_ENDPOINT=$url"
}

emulator_main "$@"
