#!/usr/bin/env bash
# The end-to-end run sends its ad-hoc and malformed messages with a real AWS
# client: Debian's awscli package. Installed here when missing (CI runs as
# root on a clean machine; Debian's archive is reachable).
set -euo pipefail
if [ -x /usr/bin/aws ]; then
	exit 0
fi
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"
apt_install_missing e2e awscli
/usr/bin/aws --version >&2
