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
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"
apt_install_missing test "${need[@]}"
"$python" -c 'import openpyxl, boto3; print("openpyxl", openpyxl.__version__, "boto3", boto3.__version__)' >&2
