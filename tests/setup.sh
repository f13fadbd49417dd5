#!/bin/bash
# setup.sh - install everything tug's build and tests need on Debian 12, as
# root. Idempotent: packages already present are left alone.

set -eu
PKGS=(
	build-essential pkg-config clang libclang-rt-14-dev
	libssh-dev libcurl4-openssl-dev libmsgpack-dev libsqlite3-dev
	libyaml-dev zlib1g-dev libjansson-dev libssl-dev sqlite3
	docker.io openssh-server openssh-client nginx-light busybox-static
	iproute2 curl procps psmisc docker-registry apache2-utils tmux bubblewrap
	caddy pebble lego sudo python3 man-db groff-base
)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs packages and test users)" >&2
	exit 1
fi
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian's postinst may start daemons we do not use; the tests run
	# their own nginx and sshd on their own ports.
fi
echo "setup.sh: all packages present"
