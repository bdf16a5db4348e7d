#!/usr/bin/env bash
# The end-to-end run sends its ad-hoc and malformed messages with a real AWS
# client: Debian's awscli package. Installed here when missing (CI runs as
# root on a clean machine; Debian's archive is reachable).
set -euo pipefail
if [ -x /usr/bin/aws ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "make e2e needs Debian's awscli (/usr/bin/aws): run 'apt-get install awscli' as root" >&2
	exit 1
fi
echo "installing Debian's awscli for make e2e" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends awscli >&2
/usr/bin/aws --version >&2
