#!/bin/bash
# quickstart.sh - tug for real on one Debian 12 machine, as root: installs
# what tug needs, builds it, starts Docker and sshd if they are not running,
# makes a deploy user, sets up the controller (tugd runs as the system
# account 'tug': SQLite state in /var/lib/tug, socket /run/tug/tugd.sock, as
# deploy/tugd.service has it; or as root in $TUG_HOME when that is set),
# bootstraps this machine as a host over SSH with its own nginx, deploys
# deploy/examples/hello.yml and prints the URL.
#
#   bash deploy/quickstart.sh
#
# Settings (environment): TUG_HOME, QS_SSH_PORT (22), QS_PROXY_PORT (8080),
# QS_USER (tug-deploy), QS_BUILD (use this build dir: no install, no make).

set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
SSH_PORT=${QS_SSH_PORT:-22}
PROXY_PORT=${QS_PROXY_PORT:-8080}
DUSER=${QS_USER:-tug-deploy}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "quickstart.sh: run as root" >&2; exit 1; }
if [ -n "${QS_BUILD:-}" ]; then
	TUG=$QS_BUILD/tug
else
	say "installing packages and building tug"
	bash tests/setup.sh >/dev/null
	make -s -j2 all
	TUG=$ROOT/build/tug
fi

. tests/bed.sh
say "starting Docker if it is not running"
bed_dockerd

# The host side of tug: an SSH server and a user in the docker group.
if ! (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null; then
	say "starting sshd on port $SSH_PORT"
	ssh-keygen -A >/dev/null
	mkdir -p /run/sshd
	/usr/sbin/sshd -p "$SSH_PORT"
fi
bed_user "$DUSER"

# tugd's own account: tug, as root, starts tugd as tug (deploy/tugd.service
# does the same under systemd), so it holds no root and its SSH users'
# forced commands live in tug's authorized_keys.
if [ -z "${TUG_HOME:-}" ] && ! getent passwd tug >/dev/null; then
	say "making the system account tug (home /var/lib/tug)"
	adduser --quiet --system --group --home /var/lib/tug --shell /bin/sh tug
	usermod -p '*' tug
fi

say "setting up the controller in ${TUG_HOME:-/var/lib/tug}"
"$TUG" status >/dev/null
# The first run makes root tug's first admin; later runs find it done.
"$TUG" init >/dev/null 2>&1 || "$TUG" user list >/dev/null
HOME_DIR=$(getent passwd "$DUSER" | cut -d: -f6)
install -d -o "$DUSER" -m 700 "$HOME_DIR/.ssh"
touch "$HOME_DIR/.ssh/authorized_keys"
PUB=$("$TUG" key)
grep -qxF "$PUB" "$HOME_DIR/.ssh/authorized_keys" ||
	echo "$PUB" >>"$HOME_DIR/.ssh/authorized_keys"
chown "$DUSER" "$HOME_DIR/.ssh/authorized_keys"
chmod 600 "$HOME_DIR/.ssh/authorized_keys"

say "adding this machine as host 'local' over SSH"
if ! "$TUG" host list | grep -q '^local '; then
	"$TUG" host add local "$DUSER@127.0.0.1:$SSH_PORT" --accept-new-hostkey
fi
"$TUG" host bootstrap local --proxy nginx --proxy-port "$PROXY_PORT"

say "building the example image tug-example/hello:1"
FIX=$(mktemp -d)
bash tests/fixtures/build-images.sh "$FIX" >/dev/null
rm -rf "$FIX"
$DOCKER tag tug-test/app:1 tug-example/hello:1

say "deploying deploy/examples/hello.yml"
"$TUG" site apply deploy/examples/hello.yml
"$TUG" deploy hello

URL="http://localhost:$PROXY_PORT/"
curl -fsS "$URL" >/dev/null
say "hello is serving at $URL"
echo "$URL"
