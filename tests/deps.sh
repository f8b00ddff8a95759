#!/bin/sh
# deps.sh check|install - the packages Cairn needs to build and test.
# Debian/Ubuntu use apt-get; CentOS/RHEL/Fedora use dnf.
set -e
DEB_PKGS="build-essential pkg-config libev-dev libnanomsg-dev libyajl-dev liblmdb-dev zlib1g-dev \
libssl-dev libsystemd-dev libcmocka-dev libhttp-parser-dev libcurl4-openssl-dev clang python3 python3-consul curl dnsutils iproute2 procps systemd \
nftables iptables iputils-ping netcat-openbsd faketime openssl"
# the web UI's end-to-end test (tests/ui): Debian's chromium and
# chromedriver, and npm for playwright-core (NodeSource's nodejs ships its
# own npm and conflicts with Debian's: only ask for npm when it is missing)
DEB_PKGS="$DEB_PKGS chromium chromium-driver"
command -v npm >/dev/null 2>&1 || DEB_PKGS="$DEB_PKGS npm"
UI_DIR="$(cd "$(dirname "$0")" && pwd)/ui"
RPM_PKGS="gcc make pkgconf-pkg-config libev-devel nanomsg-devel yajl-devel lmdb-devel zlib-devel \
openssl-devel systemd-devel libcmocka-devel http-parser-devel libcurl-devel clang compiler-rt python3 curl bind-utils iproute procps-ng systemd openssl"

check() {
	for p in yajl nanomsg lmdb libsystemd openssl zlib cmocka libcurl; do
		pkg-config --exists "$p" || { echo "missing: $p (pkg-config)"; return 1; }
	done
	[ -f /usr/include/ev.h ] || { echo "missing: libev"; return 1; }
	[ -f /usr/include/http_parser.h ] || { echo "missing: http-parser"; return 1; }
	if command -v apt-get >/dev/null 2>&1; then
		/usr/bin/python3 -c "import consul" 2>/dev/null ||
		    { echo "missing: python3-consul"; return 1; }
		# the fault lab (/work/shared/lab/netns-lab.sh, test_gossip.py)
		for c in nft iptables; do
			[ -x /usr/sbin/$c ] || { echo "missing: $c"; return 1; }
		done
		for c in ping nc faketime; do
			command -v "$c" >/dev/null 2>&1 || { echo "missing: $c"; return 1; }
		done
		# the web UI's end-to-end test
		for c in chromium chromedriver node npm; do
			command -v "$c" >/dev/null 2>&1 || { echo "missing: $c"; return 1; }
		done
		[ -f "$UI_DIR/node_modules/playwright-core/package.json" ] ||
		    { echo "missing: playwright-core (npm ci in tests/ui)"; return 1; }
	fi
	for c in cc clang python3 curl dig openssl systemd-analyze; do
		command -v "$c" >/dev/null 2>&1 || { echo "missing: $c"; return 1; }
	done
	return 0
}

install() {
	if check >/dev/null 2>&1; then
		echo "deps: all present"
		return 0
	fi
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	if command -v apt-get >/dev/null 2>&1; then
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $DEB_PKGS
		# playwright-core, at the version package-lock.json pins
		(cd "$UI_DIR" && npm ci --no-audit --no-fund --loglevel=error)
	elif command -v dnf >/dev/null 2>&1; then
		$SUDO dnf install -y epel-release 2>/dev/null || true
		$SUDO dnf install -y $RPM_PKGS
	else
		echo "deps: no apt-get or dnf; install by hand: $DEB_PKGS" >&2
		return 1
	fi
	check
}

# bench: the peers and load generator `make bench` compares against
# (bench_dns.py: dnsperf, and BIND 9 / NSD as the DNS peers; their sbin dirs
# are not always on a user's PATH, so look there too)
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
bench() {
	have wrk && have etcd && have etcdctl && have dnsperf && have named &&
	    have nsd && return 0
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	if command -v apt-get >/dev/null 2>&1; then
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		    wrk etcd-server etcd-client dnsperf bind9 nsd
	elif command -v dnf >/dev/null 2>&1; then
		$SUDO dnf install -y epel-release 2>/dev/null || true
		$SUDO dnf install -y wrk etcd dnsperf bind nsd
	fi
}

case "${1:-check}" in
check) check ;;
install) install ;;
bench) bench ;;
*) echo "usage: $0 check|install|bench" >&2; exit 2 ;;
esac
