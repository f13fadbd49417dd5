#!/bin/bash
# 0026-proxy-system-nginx: system mode (DESIGN §6) on namespace host 13.
# The host runs "its own" nginx as root on port 80, with a config of its
# own (the namespaces share /etc). tug host bootstrap --proxy-mode system,
# with sudo once, makes an include dir of the SSH user's, a conf.d snippet
# and a sudoers rule for exactly `nginx -t` and `nginx -s reload`; after
# that the agent, unprivileged, deploys through it without downtime, and
# tug host rm --purge takes back exactly what bootstrap added. Refusals:
# no sudo, no nginx, a host config already broken, one without conf.d.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
command -v sudo >/dev/null || bail "no sudo (apt-get install sudo)"
command -v visudo >/dev/null || bail "no visudo"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=13
U=tughost$N
ADDR=$(ns_addr $N)
NS=/run/netns/tugh$N
LOAD=$TUG_BUILD/tests/load
# The host's nginx: its config, pid, logs. The agent's user reads the pid
# file, so not inside $T, which is private.
SYS=$(mktemp -d /tmp/tug26sys.XXXXXX) && chmod 755 $SYS || bail "mktemp"
at_exit "rm -rf $SYS"
SUDO_TUG=/etc/sudoers.d/tug-$U			# what bootstrap installs
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
ns_host_up $N $T/tugd.pub || bail "host $N"
ns_agent_reset $N
ns_purge $N
at_exit "ns_purge $N; ns_agent_reset $N; ns_host_down $N"
$DOCKER save tug-test/app:1 tug-test/app:2 | ns_docker $N load >/dev/null ||
	bail "image load"
at_exit "ns_sudo_unboot $N; rm -f $SUDO_TUG /etc/sudoers.d/.tug-$U.new"
ns_sudo_unboot $N; rm -f $SUDO_TUG

host_nginx() { ns_sysnginx_conf "$@"; }
sys_stop() { ns_sysnginx_stop $SYS; }
host_nginx $SYS || bail "host nginx config"
ns_sysnginx_start $N $SYS || bail "the host's nginx"
at_exit sys_stop

boot_sudo() { ns_sudo_boot $N; }

get() {	# get HOST [PATH]: the body the host's nginx on 80 answers
	curl -sS -m 5 -H "Host: $1" "http://$ADDR${2:-/}"
}

# What bootstrap may leave on the host: nothing of this list before.
leftovers() {
	ls -d $SYS/tug-$U $SYS/conf.d/tug-$U.conf $SUDO_TUG 2>/dev/null
}

"$TUG" -q host add h$N $U@$ADDR --accept-new-hostkey >/dev/null ||
	bail "host add"

step 'without sudo rights bootstrap refuses, names sudo, and changes nothing' '
	! "$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-config $SYS/nginx.conf >$T/out 2>$T/err &&
	hasf $T/err "h$N: sudo -n refused (sudo: a password is required): system mode needs passwordless sudo once" &&
	has $T/err "system-setup nginx --user $U --binary /usr/sbin/nginx --config $SYS/nginx.conf\` as root on the host" &&
	test -z "$(leftovers)"
'

boot_sudo || bail "sudo for bootstrap"

step 'no nginx at --proxy-binary: refused, with --install-deps named' '
	! "$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-binary /opt/none/nginx --proxy-config $SYS/nginx.conf \
	    >$T/out 2>$T/err &&
	hasf $T/err "h$N: tug-agent: nginx is not installed: no program at /opt/none/nginx (tug host bootstrap --install-deps installs Debian'"'"'s nginx)" &&
	test -z "$(leftovers)"
'

step 'a host config that is broken before tug: refused with nginx'"'"'s words, untouched' '
	host_nginx $T/broken && echo "this is not nginx;" >>$T/broken/nginx.conf &&
	cp $T/broken/nginx.conf $T/broken.orig &&
	! "$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-config $T/broken/nginx.conf >$T/out 2>$T/err &&
	hasf $T/err "the host'"'"'s nginx config is broken before tug touched it: nginx -t -c $T/broken/nginx.conf fails: [emerg] unknown directive \"this\"" &&
	cmp $T/broken/nginx.conf $T/broken.orig &&
	test -z "$(ls $T/broken/conf.d)" && ! test -e $T/broken/tug-$U &&
	! test -e $SUDO_TUG
'

step 'a host config that does not include conf.d: refused, what to add named, nothing left' '
	host_nginx $T/noinc && sed -i "/conf.d/d" $T/noinc/nginx.conf &&
	! "$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-config $T/noinc/nginx.conf >$T/out 2>$T/err &&
	hasf $T/err "$T/noinc/nginx.conf does not include $T/noinc/conf.d/*.conf: add \`include $T/noinc/conf.d/*.conf;\` inside its http {} block" &&
	test -z "$(ls $T/noinc/conf.d)" && ! test -e $T/noinc/tug-$U &&
	! test -e $SUDO_TUG
'

cat >$T/early.yml <<EOF
site: early
image: tug-test/app:1
hosts: [h$N]
domains: [early.t26.test]
port: 8080
env: {SITE: early, VERSION: "1"}
health: {path: /up, interval: 200ms}
tls: off
EOF

step 'agent mode first: a site served by the agent'"'"'s own nginx on 8080' '
	"$TUG" -q host bootstrap h$N --proxy nginx --proxy-port 8080 >$T/out 2>&1 &&
	"$TUG" -q site apply $T/early.yml >/dev/null &&
	"$TUG" -q deploy early >$T/out 2>&1 &&
	test "$(curl -sS -m 5 -H "Host: early.t26.test" http://$ADDR:8080/)" = "early 1" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: early.t26.test" http://$ADDR/)" = 404
'

step 'bootstrap --proxy-mode system while serving: the site moves to port 80, 8080 loses nothing' '
	rm -f $T/stop
	"$LOAD" -c 8 -S 1 -s "/slow?ms=1000" -H early.t26.test -n 500 \
	    "http://$ADDR:8080/" $T/stop >$T/load.move 2>&1 &
	lpid=$!
	sleep 0.5
	{ "$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-config $SYS/nginx.conf >$T/out 2>$T/err || { cat $T/err; false; }; }
	brc=$?
	sleep 0.5; touch $T/stop; wait $lpid; lrc=$?
	cat $T/load.move
	test $brc = 0 && test $lrc = 0 &&
	has $T/err "h$N: the host'"'"'s nginx serving on port 80" &&
	hasf $T/err "site early moved: the host'"'"'s nginx proxy answers for early.t26.test from release 1" &&
	test "$(get early.t26.test)" = "early 1" &&
	test "$(curl -sS -m 5 -H "Host: early.t26.test" http://$ADDR:8080/)" = "early 1"
'
echo "# while moving, on the old port: $(cat $T/load.move 2>/dev/null)"

step 'what system-mode bootstrap made: include dir, snippet, sudoers rule for exactly two commands' '
	test "$(stat -c "%U %a" $SYS/tug-$U)" = "$U 700" &&
	printf "# tug: the sites of tug-agent as %s (tug host bootstrap --proxy-mode system).\n# tug host rm --purge removes this file.\ninclude %s/tug-%s/tug.conf;\n" \
	    $U $SYS $U >$T/want && cmp $T/want $SYS/conf.d/tug-$U.conf &&
	test "$(stat -c "%U %a" $SUDO_TUG)" = "root 440" &&
	visudo -c -q -f $SUDO_TUG &&
	has $SUDO_TUG "$U ALL=(root) NOPASSWD: /usr/sbin/nginx -t -c $SYS/nginx.conf, /usr/sbin/nginx -s reload -c $SYS/nginx.conf"
'

step 'bootstrap again retires the agent'"'"'s own nginx gracefully; port 80 keeps serving' '
	"$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-config $SYS/nginx.conf >$T/out 2>$T/err &&
	has $T/err "the agent'"'"'s own nginx (pid [0-9]*), which served before the move, quit gracefully" &&
	! curl -s -m 2 -o /dev/null http://$ADDR:8080/ &&
	test "$(get early.t26.test)" = "early 1"
'

ns_sudo_unboot $N

step 'after bootstrap the SSH user may run those two commands as root, and nothing else' '
	{ runuser -u $U -- sudo -n -l >$T/l 2>&1 || { cat $T/l; false; }; } &&
	tr -s " \n" " " <$T/l >$T/l1 &&
	hasf $T/l1 "may run the following commands on $(hostname): (root) NOPASSWD: /usr/sbin/nginx -t -c $SYS/nginx.conf, /usr/sbin/nginx -s reload -c $SYS/nginx.conf" &&
	test "$(grep -c NOPASSWD $T/l)" = 1 &&
	! runuser -u $U -- sudo -n /usr/sbin/nginx -T -c $SYS/nginx.conf >/dev/null 2>&1 &&
	! runuser -u $U -- sudo -n id >/dev/null 2>&1 &&
	runuser -u $U -- sudo -n /usr/sbin/nginx -t -c $SYS/nginx.conf >/dev/null 2>&1
'

cat >$T/web.yml <<EOS
site: web
image: tug-test/app:1
hosts: [h$N]
domains: [web.t26.test]
port: 8080
env: {SITE: web, VERSION: "1"}
health: {path: /up, interval: 200ms}
deploy: {drain: 3s}
tls: off	# HTTPS: 0027
EOS

step 'a site deployed through the host'"'"'s nginx answers on port 80; the host'"'"'s own sites still do' '
	"$TUG" -q site apply $T/web.yml >/dev/null &&
	"$TUG" deploy web >$T/out 2>$T/err &&
	test "$(get web.t26.test)" = "web 1" &&
	test "$(get own.host.test)" = "the host'"'"'s own site" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: nobody.test" http://$ADDR/)" = 404 &&
	ls $SYS/tug-$U/sites/web.conf >/dev/null &&
	test "$(stat -c %U $SYS/tug-$U/sites/web.conf)" = $U
'

# deploy_under_load VERSION: keep-alive clients and slow requests on port 80
# while the site moves to VERSION; both releases must answer, none fail.
deploy_under_load() {
	rm -f $T/stop
	"$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -H web.t26.test -n 2000 -b 2 \
	    "http://$ADDR/" $T/stop >$T/load 2>&1 &
	lpid=$!
	sleep 1
	sed -i "s/VERSION: \"[0-9]*\"/VERSION: \"$1\"/" $T/web.yml &&
	"$TUG" -q site apply $T/web.yml >/dev/null &&
	"$TUG" -q deploy web >$T/dep 2>&1
	drc=$?
	sleep 1
	touch $T/stop
	wait $lpid
	lrc=$?
	cp $T/load $T/load.deploy$1
	test $drc = 0 && test $lrc = 0 && test "$(get web.t26.test)" = "web $1"
}

step 'redeploy under keep-alive load and slow requests through the host'"'"'s nginx: 0 failed' '
	deploy_under_load 2 && has $T/load "\"web 1\":" && has $T/load "\"web 2\":"
'

step 'rollback under the same load: 0 failed' '
	rm -f $T/stop
	"$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -H web.t26.test -n 2000 -b 2 \
	    "http://$ADDR/" $T/stop >$T/load 2>&1 &
	lpid=$!
	sleep 1
	"$TUG" -q rollback --yes web 1 >$T/dep 2>&1; drc=$?
	sleep 1; touch $T/stop; wait $lpid; lrc=$?
	cp $T/load $T/load.rollback
	test $drc = 0 && test $lrc = 0 && test "$(get web.t26.test)" = "web 1"
'

# loaded NAME BODIES CMD...: CMD under the same load, which must lose
# nothing; its figures in $T/load.NAME.
loaded() {
	local name=$1 bodies=$2 lpid lrc crc

	shift 2
	rm -f $T/stop
	"$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -H web.t26.test -n 2000 \
	    -b $bodies "http://$ADDR/" $T/stop >$T/load.$name 2>&1 &
	lpid=$!
	sleep 1
	"$@" >$T/dep 2>&1; crc=$?
	sleep 1; touch $T/stop; wait $lpid; lrc=$?
	test $crc = 0 || { cat $T/dep; return 1; }
	test $lrc = 0 || { cat $T/load.$name; return 1; }
}

step 'an env change under the same load: 0 failed' '
	loaded env 1 "$TUG" -q env set web GREETING=hi &&
	test "$(get web.t26.test)" = "web 1" &&
	ns_docker $N inspect -f "{{.Config.Env}}" \
	    $(ns_docker $N ps -q --filter label=tug.site=web) | grep -q "GREETING=hi"
'

step 'restart under the same load: a fresh container of the serving release, 0 failed' '
	old=$(ns_docker $N ps -q --filter label=tug.site=web) && test -n "$old" &&
	loaded restart 1 "$TUG" -q restart web &&
	new=$(ns_docker $N ps -q --filter label=tug.site=web) &&
	test -n "$new" && test "$new" != "$old" &&
	test "$(get web.t26.test)" = "web 1"
'

echo "# redeploy: $(cat $T/load.deploy2 2>/dev/null)"
echo "# rollback: $(cat $T/load.rollback 2>/dev/null)"
echo "# env change: $(cat $T/load.env 2>/dev/null)"
echo "# restart: $(cat $T/load.restart 2>/dev/null)"

step 'hostile input never reaches the host'"'"'s config' '
	! "$TUG" host bootstrap h$N --proxy nginx --proxy-mode system \
	    --proxy-config "$SYS/nginx.conf;id" >$T/out 2>$T/err &&
	has $T/err "invalid --proxy-binary or --proxy-config" &&
	! "$TUG" host bootstrap h$N --proxy-mode system >$T/out 2>$T/err &&
	has $T/err "--proxy-mode system is for --proxy nginx" &&
	nsenter --net=$NS nginx -t -c $SYS/nginx.conf 2>/dev/null
'

step 'host rm --purge without sudo: refused with the command to run, the host kept' '
	! "$TUG" host rm --yes h$N --purge >$T/out 2>$T/err &&
	has $T/err "system-undo nginx --user $U --binary /usr/sbin/nginx --config $SYS/nginx.conf\` as root on the host" &&
	has $T/err "h$N is kept" &&
	"$TUG" host list | grep -q "^h$N "
'

boot_sudo || bail "sudo for purge"

step 'host rm --purge takes back exactly what bootstrap added; the host'"'"'s nginx still serves its own' '
	{ "$TUG" host rm --yes h$N --purge >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	{ test -z "$(leftovers)" || { echo "left: $(leftovers)"; false; }; } &&
	! "$TUG" host list | grep -q "^h$N " &&
	nsenter --net=$NS nginx -t -q -c $SYS/nginx.conf &&
	test "$(get own.host.test)" = "the host'"'"'s own site" &&
	test -z "$(ls $SYS/conf.d)" &&
	# The reload is graceful: old workers may answer for a moment.
	for _ in $(seq 50); do
		c=$(curl -s -o /dev/null -w "%{http_code}" -H "Host: web.t26.test" http://$ADDR/)
		[ "$c" = 404 ] && break
		sleep 0.1
	done
	test "$c" = 404 || { echo "web.t26.test still answers $c"; false; }
'

finish
