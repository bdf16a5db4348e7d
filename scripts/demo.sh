#!/usr/bin/env bash
# make demo: start awssim with a demo organisation, run local mode against it,
# print the workbook's path (last line), stop awssim whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_OUT:-out/demo}
args=(-accounts "${DEMO_ACCOUNTS:-220}" -seed "${DEMO_SEED:-7}" -regions us-east-1,ap-east-1
	-deny 3 -fail-regions 4 -disabled-regions 3 -not-recording 4 -latency "${DEMO_LATENCY:-20ms}")
mkdir -p "$out"
log="$out/awssim.log"
# Emptied here, not only by the background redirection: the loop below could
# otherwise read the previous run's endpoint before awssim's shell truncates it.
: >"$log"
bin/awssim -addr 127.0.0.1:0 "${args[@]}" >"$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true' EXIT
endpoint=
for _ in $(seq 1 100); do
	endpoint=$(sed -n 's/.*awssim ready.* endpoint=\([^ ]*\).*/\1/p' "$log" | head -n1)
	[ -n "$endpoint" ] && break
	kill -0 $sim 2>/dev/null || { echo "awssim exited:" >&2; cat "$log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$endpoint" ] || { echo "awssim did not become ready in 10s:" >&2; cat "$log" >&2; exit 1; }
echo "${args[*]}" >"$out/awssim.args"
echo "demo: awssim at $endpoint (${args[*]}); running local mode" >&2
# The hub identity: any access key id not starting ASIA is awssim's hub role.
AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=AKIDHUB AWS_SECRET_ACCESS_KEY=hubsecret \
	AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	bin/local -out "$out" -regions us-east-1,ap-east-1 -concurrency 32 -owner-tags 'Owner|owner,Team'
