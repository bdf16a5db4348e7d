#!/usr/bin/env bash
# dynalite: DynamoDB emulator (Node.js, in memory) for the dedupe store's
# integration tests (internal/store/dynamo).
# Contract (see scripts/with-emulators.sh):
#   install      npm-install dynalite at the pinned version into $TOOLS_DIR/dynalite
#                (idempotent; offline once installed)
#   start DIR    run it on 127.0.0.1:<free port>, in memory, log DIR/dynalite.log,
#                pid DIR/dynalite.pid, wait until it answers, print
#                export DYNAMODB_ENDPOINT=http://127.0.0.1:PORT
# Tables are created by each test (its own table): none is made here. Table
# state changes are instant (-createTableMs 0) so tests do not wait 500 ms per
# table. Known deviations from DynamoDB: docs/EMULATORS.md.
set -euo pipefail
VERSION=4.0.0
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.bash
. "$here/../lib.bash"
: "${TOOLS_DIR:=$(cd "$here/../.." && pwd)/.tools}"
prefix="$TOOLS_DIR/dynalite"
cli="$prefix/node_modules/dynalite/cli.js"
stamp="$prefix/.dynalite-$VERSION"

install() {
	if [ -f "$cli" ] && [ -e "$stamp" ]; then
		return 0
	fi
	command -v node >/dev/null || { echo "dynalite needs node (apt-get install nodejs npm)" >&2; return 1; }
	mkdir -p "$prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --no-save "dynalite@$VERSION" >&2
	rm -f "$prefix"/.dynalite-*
	touch "$stamp"
	echo "dynalite $VERSION installed under $prefix" >&2
}

start() {
	local dir=$1
	[ -f "$cli" ] || install
	mkdir -p "$dir"
	local port
	port=$(free_port)
	node "$here/dynalite-server.js" "$cli" --host 127.0.0.1 --port "$port" \
		--createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >"$dir/dynalite.log" 2>&1 &
	echo $! >"$dir/dynalite.pid"
	url="http://127.0.0.1:$port"
	wait_ready dynalite "$dir/dynalite.pid" 15 serving "$url"
}

# serving: any DynamoDB JSON answer (even an auth error) means it is.
serving() {
	curl -sS -o /dev/null -w '%{http_code}' -X POST \
		-H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-d '{}' "$url/" 2>/dev/null | grep -q '^[245]' || return 1
	echo "export DYNAMODB_ENDPOINT=$url"
}

emulator_main "$@"
