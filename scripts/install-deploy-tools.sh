#!/usr/bin/env bash
# Installs the pinned tools that check deploy/ offline, into $TOOLS_DIR/bin, and
# fetches KEDA's CRDs from the Go module cache into $TOOLS_DIR/keda-crds.
#
#   kustomize        v5.8.2   renders the overlays
#   kubectl-validate v0.0.4   validates every object against the Kubernetes
#                             1.30 schemas it embeds (it reaches the network
#                             for newer versions, so 1.30 is pinned in mk/deploy.mk)
#   KEDA CRDs        v2.21.0  ScaledObject / TriggerAuthentication schemas
#
# Only the Go module proxy is used (go install, go mod download). Idempotent: a
# tool whose version stamp matches is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
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

crds="$TOOLS_DIR/keda-crds"
if [ "$(cat "$TOOLS_DIR/stamps/keda-crds" 2>/dev/null)" != "$KEDA_VERSION" ]; then
	echo "fetching KEDA $KEDA_VERSION CRDs from the module cache" >&2
	# go mod download outside a module prints the extracted directory.
	dir=$(cd "$TOOLS_DIR" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	if [ -z "$dir" ] || [ ! -d "$dir/config/crd/bases" ]; then
		echo "KEDA $KEDA_VERSION module has no config/crd/bases (dir: '$dir')" >&2
		exit 1
	fi
	rm -rf "$crds"
	mkdir -p "$crds"
	cp "$dir"/config/crd/bases/*.yaml "$crds/"
	chmod -R u+w "$crds"
	echo "$KEDA_VERSION" >"$TOOLS_DIR/stamps/keda-crds"
fi
