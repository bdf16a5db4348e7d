#!/usr/bin/env bash
# internal/report's reader test opens the workbooks as openpyxl's read-only
# mode does (it trusts each sheet's <dimension>, as many Python tools built on
# it do): Debian's python3-openpyxl, run with /usr/bin/python3 (a python3
# earlier on PATH may be another interpreter without it). Installed here when
# missing (CI runs as root on a clean machine; Debian's archive is reachable).
set -euo pipefail
if /usr/bin/python3 -c 'import openpyxl' 2>/dev/null; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "make test needs Debian's python3-openpyxl: run 'apt-get install python3-openpyxl' as root" >&2
	exit 1
fi
echo "installing Debian's python3-openpyxl for internal/report's reader test" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends python3-openpyxl >&2
/usr/bin/python3 -c 'import openpyxl; print("openpyxl", openpyxl.__version__)' >&2
