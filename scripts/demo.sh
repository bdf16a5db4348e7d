#!/usr/bin/env bash
# make demo: start awssim with a demo organisation, run local mode against
# it (week 1), restart awssim with the same organisation a week later
# (-week 2) and run local mode again into the same folder, so the second
# workbook's Changes sheet lists what is NEW and RESOLVED since week 1.
# Prints the second workbook's path (last line); stops awssim whatever
# happens.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_OUT:-out/demo}
args=(-accounts "${DEMO_ACCOUNTS:-220}" -seed "${DEMO_SEED:-7}" -regions us-east-1,ap-east-1
	-deny 3 -fail-regions 4 -disabled-regions 3 -not-recording 4 -latency "${DEMO_LATENCY:-20ms}")
mkdir -p "$out"
log="$out/awssim.log"
sim=
stop_sim() {
	[ -n "$sim" ] || return 0
	kill "$sim" 2>/dev/null || true
	wait "$sim" 2>/dev/null || true
	sim=
}
trap stop_sim EXIT

# start_sim ARGS...: starts awssim, sets endpoint once it is ready.
start_sim() {
	# Emptied here, not only by the background redirection: the loop below
	# could otherwise read the previous awssim's endpoint before the new
	# one's shell truncates it.
	: >"$log"
	bin/awssim -addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
	sim=$!
	endpoint=
	for _ in $(seq 1 100); do
		endpoint=$(sed -n 's/.*awssim ready.* endpoint=\([^ ]*\).*/\1/p' "$log" | head -n1)
		[ -n "$endpoint" ] && return 0
		kill -0 "$sim" 2>/dev/null || { echo "awssim exited:" >&2; cat "$log" >&2; exit 1; }
		sleep 0.1
	done
	echo "awssim did not become ready in 10s:" >&2
	cat "$log" >&2
	exit 1
}

# run_local ARGS...: local mode against the running awssim; prints the
# workbook's path.
run_local() {
	# The hub identity: any access key id not starting ASIA is awssim's hub role.
	AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=AKIDHUB AWS_SECRET_ACCESS_KEY=hubsecret \
		AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		bin/local -out "$out" -regions us-east-1,ap-east-1 -concurrency 32 -owner-tags 'Owner|owner,Team' "$@" | tail -n1
}

# Week 1 compares with nothing, whatever earlier demos left under $out.
start_sim "${args[@]}"
# awssim's arguments, to regenerate each week's org (bin/awssim $(cat ...)):
# awssim.args is the printed (second) workbook's org.
echo "${args[*]}" >"$out/awssim.week1.args"
echo "demo: week 1, awssim at $endpoint (${args[*]}); running local mode" >&2
week1=$(run_local -baseline none)
run1=$(basename "$week1" .xlsx)
run1=${run1#config-compliance-}
echo "demo: week 1's workbook: $week1" >&2
stop_sim

# Week 2: the same organisation a week later, compared with week 1.
args+=(-week 2)
start_sim "${args[@]}"
echo "${args[*]}" >"$out/awssim.args"
echo "demo: week 2, awssim at $endpoint (${args[*]}); running local mode, compared with run $run1" >&2
run_local -baseline "$run1"
