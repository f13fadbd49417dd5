#!/bin/bash
# 0013-quickstart: the README's first command, deploy/quickstart.sh, on this
# machine: a controller, this machine added as a host over real SSH with its
# own nginx, the example site deployed and answering at the printed URL.

. "$(dirname "$0")/../lib.sh"
bed_dockerd >/dev/null || bail "no dockerd"
U=tugqs
SSH_PORT=${TUG_TEST_QS_SSH_PORT:-2298}
PROXY_PORT=${TUG_TEST_QS_PROXY_PORT:-18090}
site_purge hello
at_exit "site_purge hello"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
bed_user $U || bail "user"
HOME_U=$(getent passwd $U | cut -d: -f6)
if [ -s "$HOME_U/.tug-agent/nginx/logs/nginx.pid" ]; then
	kill "$(cat "$HOME_U/.tug-agent/nginx/logs/nginx.pid")" 2>/dev/null
	sleep 0.3
fi
rm -rf "$HOME_U/.tug" "$HOME_U/.tug-agent"
bed_sshd /run/tug-test/sshd-0013 $SSH_PORT $U $T/tugd.pub >/dev/null || bail "sshd"
at_exit "bed_sshd_stop /run/tug-test/sshd-0013"
at_exit "kill \$(cat $HOME_U/.tug-agent/nginx/logs/nginx.pid)"

step 'quickstart: controller, host over SSH, nginx, example site, URL' '
	QS_BUILD=$TUG_BUILD QS_SSH_PORT=$SSH_PORT QS_PROXY_PORT=$PROXY_PORT QS_USER=$U \
	    bash "$ROOT/deploy/quickstart.sh" >$T/out 2>$T/err || { cat $T/err; false; } &&
	test "$(tail -n 1 $T/out)" = "http://localhost:$PROXY_PORT/" &&
	test "$(curl -fsS http://localhost:$PROXY_PORT/)" = "hello 1" &&
	grep -q "hello is serving at" $T/err
'

step 'quickstart again: idempotent, a new release of the same site' '
	QS_BUILD=$TUG_BUILD QS_SSH_PORT=$SSH_PORT QS_PROXY_PORT=$PROXY_PORT QS_USER=$U \
	    bash "$ROOT/deploy/quickstart.sh" >$T/out 2>$T/err || { cat $T/err; false; } &&
	"$TUG" releases hello | grep -q "^2 \*" &&
	test "$(curl -fsS http://localhost:$PROXY_PORT/)" = "hello 1" &&
	test "$(site_containers hello | wc -l)" = 1
'

step 'the example is a normal site: status and removal' '
	"$TUG" site status hello | grep -q "^local *tug-hello-r2 *2 *running" &&
	"$TUG" site rm --yes hello >/dev/null &&
	test -z "$(site_containers hello)"
'

finish
