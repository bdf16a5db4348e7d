#!/usr/bin/env bash
# Runs a command with every emulator of scripts/emulators/ started on loopback,
# their endpoints exported, and stops them all afterwards, whatever happens.
#
# Each scripts/emulators/<name>.sh implements:
#   install        install its pinned version under $TOOLS_DIR (idempotent)
#   start DIR      start it on 127.0.0.1 in the background, log to DIR/<name>.log,
#                  write its pid to DIR/<name>.pid, wait (bounded) until it answers,
#                  then print `export KEY=VALUE` lines naming its endpoint(s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TOOLS_DIR:=$(cd "$here/.." && pwd)/.tools}"
export TOOLS_DIR
state=$(mktemp -d "${TMPDIR:-/tmp}/emulators.XXXXXX")
# Emulator logs are kept here after the run, for diagnosis.
logs=${EMULATOR_LOG_DIR:-$(cd "$here/.." && pwd)/out/emulators}
stop() {
	mkdir -p "$logs" && cp "$state"/*.log "$logs"/ 2>/dev/null || true
	for p in "$state"/*.pid; do
		[ -e "$p" ] || continue
		kill "$(cat "$p")" 2>/dev/null || true
	done
	sleep 0.2
	for p in "$state"/*.pid; do
		[ -e "$p" ] || continue
		kill -9 "$(cat "$p")" 2>/dev/null || true
	done
	rm -rf "$state"
}
trap stop EXIT
for s in "$here"/emulators/*.sh; do
	[ -e "$s" ] || continue
	name=$(basename "$s" .sh)
	bash "$s" install >&2
	if ! env_lines=$(bash "$s" start "$state"); then
		echo "emulator $name failed to start; its log:" >&2
		tail -n 30 "$state/$name.log" >&2 || true
		exit 1
	fi
	eval "$env_lines"
	echo "emulator $name up: $(echo "$env_lines" | sed 's/^export //' | tr '\n' ' ')" >&2
done
status=0
"$@" || status=$?
# An emulator that died during the run explains the failures it caused.
for p in "$state"/*.pid; do
	[ -e "$p" ] || continue
	name=$(basename "$p" .pid)
	if ! kill -0 "$(cat "$p")" 2>/dev/null; then
		echo "emulator $name died during the run; the end of its log ($logs/$name.log):" >&2
		tail -n 40 "$state/$name.log" >&2 || true
		[ $status -ne 0 ] || status=1
	fi
done
exit $status
