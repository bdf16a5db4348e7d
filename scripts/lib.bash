# shellcheck shell=bash
# Shared by the scripts of scripts/ and scripts/emulators/: source it, do
# not run it. Every function writes its messages on stderr.

# free_port prints a loopback TCP port free at this moment.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_ready NAME PIDFILE SECONDS PROBE [URL]: runs PROBE (a command) every
# 0.1 s until it succeeds (0), failing as soon as the process in PIDFILE
# has exited, or after SECONDS.
wait_ready() {
	local name=$1 pidfile=$2 secs=$3 probe=$4 url=${5:-}
	for _ in $(seq 1 $((secs * 10))); do
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			echo "$name exited early" >&2
			return 1
		fi
		if "$probe"; then
			return 0
		fi
		sleep 0.1
	done
	echo "$name did not answer${url:+ on $url} within $secs s" >&2
	return 1
}

# emulator_main "$@": an emulator script's command line (the contract of
# scripts/with-emulators.sh), dispatched to its install and start functions.
emulator_main() {
	case "${1:-}" in
	install) install ;;
	start) start "${2:?start needs a state directory}" ;;
	*)
		echo "usage: $0 install | start DIR" >&2
		exit 2
		;;
	esac
}

# apt_install_missing TARGET PACKAGE...: installs Debian's PACKAGEs (the
# ones the caller found missing) for make TARGET, as root; as another user
# it says what to run and fails.
apt_install_missing() {
	local target=$1
	shift
	if [ "$(id -u)" != 0 ]; then
		echo "make $target needs Debian's $*: run 'apt-get install $*' as root" >&2
		return 1
	fi
	echo "installing Debian's $* for make $target" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "$@" >&2
}

# module_crds NAME MODULE VERSION SUBDIR CHECK: copies the CRDs (*.yaml) of
# Go module MODULE@VERSION's SUBDIR, from the module cache, into
# $TOOLS_DIR/NAME, unless the stamp $TOOLS_DIR/stamps/NAME says VERSION is
# there; CHECK is a file of SUBDIR that must exist.
module_crds() {
	local name=$1 mod=$2 ver=$3 sub=$4 check=$5 dir
	local crds="$TOOLS_DIR/$name" stamp="$TOOLS_DIR/stamps/$name"
	if [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then
		return 0
	fi
	echo "fetching $mod $ver CRDs from the module cache" >&2
	# go mod download outside a module prints the extracted directory.
	dir=$(cd "$TOOLS_DIR" && go mod download -json "$mod@$ver" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	if [ -z "$dir" ] || [ ! -e "$dir/$sub/$check" ]; then
		echo "$mod $ver module has no $sub/$check (dir: '$dir')" >&2
		return 1
	fi
	rm -rf "$crds"
	mkdir -p "$crds"
	cp "$dir/$sub"/*.yaml "$crds/"
	chmod -R u+w "$crds"
	echo "$ver" >"$stamp"
}
