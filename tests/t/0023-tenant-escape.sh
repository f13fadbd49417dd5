#!/bin/bash
# 0023-tenant-escape: alice holds every action on site a and deploy on
# host h6; site b on the same host belongs to bob. Each way out of site a
# that a tenant tried is tried again as alice, by the CLI (--as from tugd's
# own account, as the forced command does) and over SSH, and each is
# refused with its exact error or reaches nothing of b: b's volume, a host
# alice holds no grant on, fleet flags that widen a scope, b's wildcard
# domain and the probe name, b's env, b's traffic when b is stopped, b's
# container over the network, streams that starve b's deploys, and b's
# grants after b is made again.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=6
H=h$N
SVCU=tug23svc
PORT=${TUG_TEST_0023_SSH_PORT:-2223}
SVC=$T/svc
SOCK=$SVC/tugd.sock
bed_user $SVCU || bail "user $SVCU"
install -d -o $SVCU -g "$(id -gn $SVCU)" -m 755 $SVC || bail "svc dir"
for k in ops alice bob; do
	bed_keypair $T/$k >/dev/null && chmod 644 $T/$k.pub || bail "key $k"
done
bed_sshd /run/tug-test/sshd-0023 $PORT $SVCU $T/ops.pub >/dev/null || bail "sshd"
at_exit "bed_sshd_stop /run/tug-test/sshd-0023"

# as_svc CMD...: tug as tugd's own account (admin, or --as someone).
as_svc() {
	su -s /bin/sh $SVCU -c "TUG_NO_AUTOSTART=1 $TUG --socket $SOCK $*"
}
# alice CMD...: tug as alice, as her forced command runs it.
alice() {
	as_svc --as alice "$@"
}
# remote KEY CMD...: ssh $SVCU@controller with KEY's forced command.
remote() {
	local key=$1

	shift
	ssh -F /dev/null -i $T/$key -p $PORT -o IdentitiesOnly=yes \
	    -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR $SVCU@127.0.0.1 -- "$@"
}
# denied WANT CMD...: tug CMD as alice fails with exactly "tug: WANT".
denied() {
	local want=$1 re='^permission denied: ([^ ]+) may not ([^ ]+) ([^ ]+)$'

	shift
	[[ $want =~ $re ]] && want="$want; an admin can grant it: tug grant ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
	! alice "$@" >$T/out 2>$T/err </dev/null &&
	grep -qxF "tug: $want" $T/err || {
		echo "expected 'tug: $want' from tug $*, got:"
		cat $T/out $T/err
		return 1
	}
}

env -u TUG_AUTHORIZED_KEYS su -s /bin/sh $SVCU -c "TUG_HOME=$SVC/home $TUGD --socket $SOCK" ||
	bail "tugd as $SVCU"
svc_pid=$(as_svc --json status | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
[ -n "$svc_pid" ] || bail "no pid of the $SVCU tugd"
at_exit "kill $svc_pid"
as_svc init >/dev/null && as_svc key >$T/tugd.pub || bail "init"
ns_host_up $N $T/tugd.pub || bail "host $N"
ns_agent_reset $N
ns_purge $N t23
at_exit "ns_purge $N t23; ns_agent_reset $N; ns_host_down $N"
$DOCKER save tug-test/app:1 | ns_docker $N load >/dev/null || bail "image load"
as_svc -q host add $H tughost$N@$(ns_addr $N) --accept-new-hostkey --group web \
    >/dev/null || bail "host add"
as_svc -q host bootstrap $H --proxy nginx --proxy-port 8080 \
    --subnet-pool 10.77.192.0/18 >/dev/null || bail "bootstrap"
# A second host tugd knows, in the same group, that alice holds nothing on.
sqlite3 $SVC/home/tug.db "
	INSERT INTO hosts (name, address, port, ssh_user, hostkey, created_at)
	    VALUES ('h7', '127.0.0.1', 1, 'x', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 0);
	INSERT INTO host_groups SELECT id, 'web' FROM hosts WHERE name = 'h7';" ||
	bail "host h7"
{ as_svc user add alice && as_svc user add bob &&
	as_svc user key add alice $T/alice.pub && as_svc user key add bob $T/bob.pub &&
	as_svc grant alice admin site:a && as_svc grant alice deploy host:$H &&
	as_svc grant bob admin site:b && as_svc grant bob deploy host:$H
} >/dev/null || bail "users"

# spec NAME DOMAIN [MORE]: a site on $H.
spec() {
	printf 'site: %s\nimage: tug-test/app:1\nhosts: [%s]\ndomains: ["%s"]\nport: 8080\nenv: {SITE: %s}\nhealth: {path: /up, interval: 200ms}\n%b' \
	    "$1" "${HOSTS:-$H}" "$2" "$1" "${3:-}" >$T/$1.yml
}
spec b "*.example.test" 'volumes: ["data:/data"]\n'
as_svc --as bob site apply $T/b.yml >/dev/null && as_svc --as bob -q deploy b >/dev/null ||
	bail "site b"
ns_docker $N run --rm --label t23=1 -v tug-b_data:/d tug-test/app:1 \
    /bin/busybox sh -c 'echo b-s3cret >/d/secret' || bail "b's data"
spec a a.test
alice site apply $T/a.yml >/dev/null && alice -q deploy a >/dev/null || bail "site a"

via() {	# via HOST: what the host's proxy answers for HOST
	curl -sS -m 5 -o $T/via -w "%{http_code}" -H "Host: $1" http://$(ns_addr $N):8080/
}

step 'b'"'"'s volume: a spec of a naming it gets a volume of a'"'"'s own; a bind mount of it is refused' '
	printf "site: a\nimage: tug-test/app:1\nhosts: [$H]\ndomains: [a.test]\nport: 8080\nvolumes: [\"tug-b_data:/steal\"]\nhealth: {cmd: [/bin/busybox, cat, /steal/secret], interval: 200ms, retries: 5}\n" >$T/a.yml &&
	alice site apply $T/a.yml >/dev/null &&
	! alice deploy a >$T/out 2>&1 &&
	! grep -q "b-s3cret" $T/out &&
	test "$(ns_docker $N volume inspect -f "{{index .Labels \"tug.site\"}}" tug-a_tug-b_data)" = a &&
	test "$(ns_docker $N run --rm --label t23=1 -v tug-b_data:/d tug-test/app:1 /bin/busybox cat /d/secret)" = b-s3cret &&
	spec a a.test "volumes: [\"/var/lib/docker/volumes/tug-b_data/_data:/steal\"]\n" &&
	alice site apply $T/a.yml >/dev/null &&
	! alice deploy a >$T/out 2>&1 &&
	grep -q "bind mounts are allowed only under the agent.s --bind-root directories" $T/out &&
	spec a a.test && alice site apply $T/a.yml >/dev/null && alice -q deploy a >/dev/null
'

step 'site rm a --volumes removes a'"'"'s volumes only, and alice'"'"'s grant on a with it' '
	alice site rm --yes a --volumes >/dev/null &&
	! ns_docker $N volume inspect tug-a_tug-b_data >/dev/null 2>&1 &&
	test "$(ns_docker $N run --rm --label t23=1 -v tug-b_data:/d tug-test/app:1 /bin/busybox cat /d/secret)" = b-s3cret &&
	! as_svc user show alice | grep -q "site:a" &&
	denied "permission denied: alice may not edit_config site:a" site apply $T/a.yml &&
	as_svc grant alice admin site:a >/dev/null &&
	alice site apply $T/a.yml >/dev/null && alice -q deploy a >/dev/null
'

step 'a host alice holds no grant on, by hosts: or by group:' '
	HOSTS="$H, h7" spec a a.test &&
	denied "permission denied: alice may not deploy host:h7" site apply $T/a.yml &&
	printf "site: a\nimage: tug-test/app:1\ngroup: web\ndomains: [a.test]\nport: 8080\n" >$T/ag.yml &&
	denied "permission denied: alice may not deploy host:h7" site apply $T/ag.yml &&
	spec a a.test
'

step 'fleet flags cannot widen a scope; every host of the group is asked' '
	denied "name hosts, a --group or --all, not more than one of them" host check --group web --all &&
	denied "name hosts, a --group or --all, not more than one of them" host bootstrap --group web --all &&
	denied "permission denied: alice may not view host:h7" host check --group web &&
	denied "permission denied: alice may not admin host:$H" host bootstrap --group web
'

step 'b'"'"'s wildcard covers its names, and the probe name is no one'"'"'s' '
	spec a shop.example.test &&
	denied "$T/a.yml: domain '"'"'shop.example.test'"'"' is covered by '"'"'*.example.test'"'"' of site '"'"'b'"'"'" site apply $T/a.yml &&
	spec a "tug-probe.example.test" &&
	denied "$T/a.yml:4:11: domain '"'"'tug-probe.example.test'"'"' is reserved: tug confirms proxy switches with the name tug-probe.DOMAIN" site apply $T/a.yml &&
	spec a "*.test" &&
	denied "$T/a.yml: domain '"'"'*.test'"'"' covers '"'"'*.example.test'"'"' of site '"'"'b'"'"'" site apply $T/a.yml &&
	spec a a.test &&
	test "$(via shop.example.test)" = 200 && test "$(cat $T/via)" = "b 1"
'

step 'nothing of b: its env, logs, spec, releases, status, stop' '
	denied "permission denied: alice may not view_env site:b" env list b &&
	denied "permission denied: alice may not view_logs site:b" logs b &&
	denied "permission denied: alice may not edit_config site:b" site apply --dry-run $T/b.yml &&
	denied "permission denied: alice may not view site:b" releases b &&
	denied "permission denied: alice may not view site:b" site status b &&
	denied "permission denied: alice may not deploy site:b" stop b &&
	denied "permission denied: alice may not manage site:b" site rm --yes b --volumes &&
	! alice site list | grep -q "^b "
'

step 'b'"'"'s container cannot be reached from a'"'"'s over the network' '
	BIP=$(ns_docker $N inspect -f "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}" tug-b-r1) &&
	test -n "$BIP" &&
	{ ! ns_docker $N exec $(ns_docker $N ps -q --filter label=tug.site=a) /bin/busybox timeout 3 /bin/busybox wget -q -O- http://$BIP:8080/ >$T/cross 2>&1 ||
	    { echo "a reached b: $(cat $T/cross)"; false; }; }
'

step 'log streams of a cannot starve b: its deploy and host check go on' '
	pids= &&
	for i in 1 2 3 4 5 6; do
		{ alice logs a -f >$T/f.$i 2>&1 & } && pids="$pids $!"
	done &&
	sleep 2 &&
	as_svc --as bob -q deploy b >/dev/null &&
	as_svc host check $H >$T/out && grep -q "^$H *yes" $T/out &&
	grep -l "too many log streams for site .a. on this host" $T/f.* >/dev/null &&
	kill $pids && wait
'

step 'a stopped b answers 503 from the proxy; a local listener on its old port gets nothing' '
	OLD=$(ns_docker $N port tug-b-r2 8080/tcp | head -n 1 | sed "s/.*://") &&
	test -n "$OLD" &&
	as_svc --as bob stop b >/dev/null &&
	test "$(via x.example.test)" = 503 &&
	nsenter --net=/run/netns/tugh$N python3 -c "
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"127.0.0.1\", $OLD)); s.listen(8); s.settimeout(4)
try:
    c, _ = s.accept(); print(\"got a connection\"); sys.exit(1)
except socket.timeout:
    print(\"nothing\")
" >$T/listener & lp=$! &&
	sleep 0.5 &&
	test "$(via x.example.test)" = 503 && test "$(via shop.example.test)" = 503 &&
	wait $lp && grep -qx nothing $T/listener &&
	as_svc --as bob start b >/dev/null &&
	test "$(via x.example.test)" = 200
'

step 'over SSH: the same walls' '
	HOSTS="$H, h7" spec a a.test &&
	! remote alice site apply - <$T/a.yml 2>$T/err &&
	grep -qx "tug: permission denied: alice may not deploy host:h7; an admin can grant it: tug grant alice deploy host:h7" $T/err &&
	! remote alice host check --group web --all 2>$T/err &&
	grep -qx "tug: name hosts, a --group or --all, not more than one of them" $T/err &&
	! remote alice env list b 2>$T/err &&
	grep -qx "tug: permission denied: alice may not view_env site:b; an admin can grant it: tug grant alice view_env site:b" $T/err &&
	! remote alice --as bob env list b 2>$T/err &&
	! grep -q "^DATA\|SITE" $T/err &&
	spec a shop.example.test &&
	! remote alice site apply - <$T/a.yml 2>$T/err &&
	grep -q "domain .shop.example.test. is covered by .\*.example.test. of site .b." $T/err &&
	spec a a.test
'

step 'b made again by an admin: bob'"'"'s old grants are gone, alice gains none' '
	as_svc --as bob site rm --yes b --volumes >/dev/null &&
	! as_svc user show bob | grep -q "site:b" &&
	denied "permission denied: alice may not edit_config site:b" site apply $T/b.yml &&
	as_svc site apply $T/b.yml >/dev/null &&
	! as_svc --as bob deploy b 2>$T/err &&
	grep -qx "tug: permission denied: bob may not deploy site:b; an admin can grant it: tug grant bob deploy site:b" $T/err
'

finish
