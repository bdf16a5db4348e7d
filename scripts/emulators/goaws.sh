#!/usr/bin/env bash
# goaws: SQS + SNS emulator for the messaging integration tests and `make e2e`.
# Contract (see scripts/with-emulators.sh):
#   install      build github.com/Admiral-Piett/goaws/app/cmd at the pinned version
#                into $TOOLS_DIR/bin/goaws (idempotent; offline once built)
#   start DIR    run it on 127.0.0.1:<free port>, log DIR/goaws.log, pid DIR/goaws.pid,
#                wait until it answers, print export SQS_ENDPOINT=... SNS_ENDPOINT=...
# `go install` of goaws is refused (its go.mod has replace directives), so it is
# built with `go build` inside a throw-away module that requires the pinned version.
# Known deviations from AWS are listed in docs/EMULATORS.md.
set -euo pipefail
VERSION=v0.5.4
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.bash
. "$here/../lib.bash"
: "${TOOLS_DIR:=$(cd "$here/../.." && pwd)/.tools}"
bin="$TOOLS_DIR/bin/goaws"
stamp="$TOOLS_DIR/bin/.goaws-$VERSION"

install() {
	if [ -x "$bin" ] && [ -e "$stamp" ]; then
		return 0
	fi
	mkdir -p "$TOOLS_DIR/bin"
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/goaws-build.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	(
		cd "$tmp"
		export GOFLAGS=-mod=mod GOWORK=off
		go mod init goawsbuild >/dev/null 2>&1
		go get "github.com/Admiral-Piett/goaws@$VERSION" >&2
		CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/Admiral-Piett/goaws/app/cmd
	)
	mv "$bin.tmp" "$bin"
	rm -f "$TOOLS_DIR"/bin/.goaws-*
	touch "$stamp"
	echo "goaws $VERSION installed at $bin" >&2
}

start() {
	local dir=$1
	[ -x "$bin" ] || install
	mkdir -p "$dir"
	local port
	port=$(free_port)
	# goaws reads a YAML file keyed by environment name. Nothing is pre-created:
	# every test creates its own uniquely named queues and topics. Short
	# visibility so that redelivery tests take seconds, not the AWS default 30 s.
	cat >"$dir/goaws.yaml" <<EOF
Local:
  Host: 127.0.0.1
  Port: $port
  Region: us-east-1
  AccountId: "100010001000"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
EOF
	(cd "$dir" && exec "$bin" -config "$dir/goaws.yaml" Local) >"$dir/goaws.log" 2>&1 &
	echo $! >"$dir/goaws.pid"
	url="http://127.0.0.1:$port"
	wait_ready goaws "$dir/goaws.pid" 10 serving "$url"
}

serving() {
	curl -fsS -o /dev/null -X POST -d 'Action=ListQueues&Version=2012-11-05' "$url/" 2>/dev/null || return 1
	echo "export SQS_ENDPOINT=$url"
	echo "export SNS_ENDPOINT=$url"
}

emulator_main "$@"
