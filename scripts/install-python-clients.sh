#!/usr/bin/env bash
# The Python libraries make test reads the project's outputs with, as the
# tools our users run would (Debian's packages, run with /usr/bin/python3: a
# python3 earlier on PATH may be another interpreter without them):
#   python3-openpyxl  internal/report's reader test opens the workbooks in
#                     openpyxl's read-only mode, which trusts each sheet's
#                     <dimension>
#   python3-boto3     internal/testbed/awssim's client test reads every simulated API
#                     with boto3
# Installed here when missing (CI runs as root on a clean machine; Debian's
# archive is reachable).
set -euo pipefail
python=/usr/bin/python3
need=()
for p in openpyxl boto3; do
	"$python" -c "import $p" 2>/dev/null || need+=("python3-$p")
done
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "make test needs Debian's ${need[*]}: run 'apt-get install ${need[*]}' as root" >&2
	exit 1
fi
echo "installing Debian's ${need[*]} for make test" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
"$python" -c 'import openpyxl, boto3; print("openpyxl", openpyxl.__version__, "boto3", boto3.__version__)' >&2
