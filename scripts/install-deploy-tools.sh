#!/usr/bin/env bash
# Installs the pinned tools that check deploy/ offline, into $TOOLS_DIR/bin, and
# fetches KEDA's CRDs from the Go module cache into $TOOLS_DIR/keda-crds.
#
#   kustomize        v5.8.2   renders the overlays
#   kubectl-validate v0.0.4   validates every object against the Kubernetes
#                             1.30 schemas it embeds (it reaches the network
#                             for newer versions, so 1.30 is pinned in mk/deploy.mk)
#   KEDA CRDs        v2.21.0  ScaledObject / TriggerAuthentication schemas
#   prometheus-operator CRDs v0.85.0  PodMonitor / PrometheusRule schemas
#                             (its example/prometheus-operator-crd, from the
#                             Go module), into $TOOLS_DIR/prometheus-operator-crds
#   promtool         2.42.0+ds-5+deb12u1 (Debian bookworm's prometheus package)
#                             unit-tests the alerting rules; taken out of the
#                             .deb with apt-get download and dpkg-deb -x,
#                             never installed, and no server is started
#
# The Go module proxy (go install, go mod download) and Debian's archive
# (apt-get download) are used. Idempotent: a tool whose version stamp matches
# is not fetched again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.bash
. "$here/lib.bash"
: "${TOOLS_DIR:=$(cd "$here/.." && pwd)/.tools}"
export GOBIN="$TOOLS_DIR/bin"
# go install pkg@version builds outside the main module: the repo's
# GOFLAGS=-mod=mod must not leak into it.
export GOFLAGS=
mkdir -p "$GOBIN" "$TOOLS_DIR/stamps"

KUSTOMIZE_VERSION=v5.8.2
KUBECTL_VALIDATE_VERSION=v0.0.4
KEDA_VERSION=v2.21.0

install_go_tool() { # name module version
	local name=$1 mod=$2 ver=$3 stamp="$TOOLS_DIR/stamps/$1"
	if [ -x "$GOBIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then
		return 0
	fi
	echo "installing $name $ver" >&2
	go install "$mod@$ver"
	echo "$ver" >"$stamp"
}

install_go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
install_go_tool kubectl-validate sigs.k8s.io/kubectl-validate "$KUBECTL_VALIDATE_VERSION"

module_crds keda-crds github.com/kedacore/keda/v2 "$KEDA_VERSION" config/crd/bases .
PROMETHEUS_OPERATOR_VERSION=v0.85.0
module_crds prometheus-operator-crds github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
	example/prometheus-operator-crd monitoring.coreos.com_prometheusrules.yaml

# promtool: the version Debian bookworm ships. apt-get download fetches the
# .deb without installing it (no prometheus service is set up or started);
# dpkg-deb -x unpacks it into a scratch directory and only promtool is kept.
# (As root apt-get warns that it downloads "unsandboxed": harmless here.)
# The PromQL of deploy/kustomize/base/monitoring keeps to what this version
# and the Go parser of deploy/monitoringcheck both accept.
PROMTOOL_DEB_VERSION=2.42.0+ds-5+deb12u1
if [ ! -x "$GOBIN/promtool" ] || [ "$(cat "$TOOLS_DIR/stamps/promtool" 2>/dev/null)" != "$PROMTOOL_DEB_VERSION" ]; then
	echo "installing promtool from Debian's prometheus $PROMTOOL_DEB_VERSION" >&2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	if ! (cd "$tmp" && apt-get download "prometheus=$PROMTOOL_DEB_VERSION" >&2); then
		# An empty or stale package list: refresh it once and retry.
		apt-get update >&2
		if ! (cd "$tmp" && apt-get download "prometheus=$PROMTOOL_DEB_VERSION" >&2); then
			echo "Debian's archive has no prometheus=$PROMTOOL_DEB_VERSION (a point release replaced it?):" >&2
			echo "set PROMTOOL_DEB_VERSION here to what 'apt-cache policy prometheus' offers and rerun make test-monitoring" >&2
			exit 1
		fi
	fi
	dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
	install -m 0755 "$tmp/x/usr/bin/promtool" "$GOBIN/promtool"
	"$GOBIN/promtool" --version 2>&1 | head -n 1 >&2
	echo "$PROMTOOL_DEB_VERSION" >"$TOOLS_DIR/stamps/promtool"
fi
