#!/bin/bash
# 0031-drift: drift noticed and healed (docs/architecture.md, "Drift").
# Each host's agent keeps a watch open to tugd and says, within a second
# or so, when a site's serving container vanishes, stops or turns
# unhealthy; tug site list and site status show it within 5 s and the
# audit log records it. A site with heal (the default) gets its serving
# release redeployed on that host, no new release, with a doubling backoff
# and a cap; one with heal: false is only reported; a stopped site is
# neither. Everything is done behind tug's back with docker itself, on
# host 19, this file's own.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=19
U=tughost$N
ADDR=$(ns_addr $N)
# tugd's first heal after 300 ms, then 600 ms, 1.2 s ... (5 tries).
export TUG_HEAL_FIRST_MS=300
ns_test_host $N || bail "host $N"
ns_test_add $N --proxy nginx --proxy-port 8080 --proxy-tls-port 8443 ||
	bail "host h$N"

# site NAME HEAL: a site whose Docker health check fails once /tmp/sick
# exists in its container.
site() {
	cat >$T/$1.yml <<EOS
site: $1
image: tug-test/app:1
hosts: [h$N]
domains: [$1.t31.test]
port: 8080
env: {SITE: $1}
health: {path: /up, interval: 200ms, retries: 3, cmd: [/bin/busybox, test, "!", -e, /tmp/sick]}
heal: $2
EOS
	"$TUG" -q site apply $T/$1.yml >/dev/null && "$TUG" -q deploy $1 >/dev/null
}
site d false && site h true || bail "deploy"

# ctr SITE: the id of the site's running or stopped container on the host.
ctr() { ns_site_ctrs $N $1 -a | head -n 1; }

# state SITE: "STATE" from site list, or "STATE HOSTSTATE" under drift.
state() {
	"$TUG" --json site list | jq -r --arg s "$1" \
	    '.sites[] | select(.name == $s) | [.state, (.drift[0].state // empty)] | join(" ")'
}

# wait_state SITE WANT SECONDS: until state says WANT; prints the ms it took.
wait_state() {
	local t0=$(date +%s%3N) now got

	while :; do
		got=$(state $1)
		now=$(date +%s%3N)
		[ "$got" = "$2" ] && { echo $((now - t0)); return 0; }
		[ $((now - t0)) -ge $(($3 * 1000)) ] && break
		sleep 0.1
	done
	echo "site $1: '$got' after $3 s, not '$2'" >&2
	return 1
}

# mark: from now on audited counts only rows written after this.
AFTER=0
mark() {
	AFTER=$("$TUG" --json audit --limit 1 | jq -en 'input | .rows[0].id')
}

# audited SITE OP RE: the audit log has an OP row about SITE matching RE,
# written since the last mark.
audited() {
	"$TUG" --json audit --site $1 --limit 200 |
	    jq -en --arg op "$2" --arg t "$3" --argjson after "$AFTER" \
	    'input | [.rows[] | select(.id > $after and .op == $op and (.result | test($t)))] | length > 0' >/dev/null ||
	    { echo "no $2 row saying '$3' about $1"; "$TUG" audit --site $1 | head -20; return 1; }
}

# until_audited SECONDS SITE OP TEXT: audited, within SECONDS. A heal can
# be done before site list is asked, so a heal's drift is seen here.
until_audited() {
	local i

	for ((i = 0; i < $1 * 5; i++)); do
		audited "$2" "$3" "$4" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	audited "$2" "$3" "$4"
}

# releases SITE: how many releases the site has.
releases() { "$TUG" --json releases $1 | jq '.releases | length'; }

# answers SITE: the site answers through the host's proxy.
answers() {
	curl -fsS --max-time 5 -H "Host: $1.t31.test" http://$ADDR:8080/ |
	    grep -q "^$1 "
}

step 'a first deploy that fails says nothing served before it' '
	printf "site: z\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [z.t31.test]\nport: 8080\nenv: {HEALTH: fail}\nhealth: {path: /up, interval: 100ms, retries: 3}\n" >$T/z.yml &&
	"$TUG" -q site apply $T/z.yml >/dev/null &&
	! "$TUG" deploy z >$T/out 2>$T/err &&
	grep -q "release 1 did not become healthy: .*; nothing served before it, and nothing serves now" $T/err &&
	! grep -q "previous release" $T/err &&
	"$TUG" -q site rm --yes z >/dev/null
'

step 'a crash-looping app fails the deploy at once, with its exit code and last lines' '
	printf "site: crash\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [crash.t31.test]\nport: 8080\nenv: {PORT: nope}\nhealth: {path: /up, interval: 100ms, retries: 3000}\n" >$T/crash.yml &&
	"$TUG" -q site apply $T/crash.yml >/dev/null &&
	t0=$(date +%s) &&
	! "$TUG" deploy crash >$T/out 2>$T/err &&
	echo "failed after $(($(date +%s) - t0)) s" >>$T/err &&
	{ test $(($(date +%s) - t0)) -lt 30 &&
	grep -q "release 1 did not become healthy: the container \(exited\|keeps exiting\) with code 1" $T/err &&
	grep -q "h$N: its last lines:" $T/err &&
	grep -q "h$N:   | app: PORT: Invalid argument" $T/err &&
	! grep -q "not published" $T/err || { cat $T/err; false; }; } &&
	"$TUG" -q site rm --yes crash >/dev/null
'

step 'an app on another port than the spec says: named as such' '
	printf "site: wrongport\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [wp.t31.test]\nport: 9090\nhealth: {path: /up, interval: 100ms, retries: 5}\n" >$T/wp.yml &&
	"$TUG" -q site apply $T/wp.yml >/dev/null &&
	! "$TUG" deploy wrongport >$T/out 2>$T/err &&
	grep -q "GET /up: nothing answers on port 9090 in the container (does the app listen on port 9090?)" $T/err &&
	"$TUG" -q site rm --yes wrongport >/dev/null
'

step 'both sites deployed: site list says ok' '
	wait_state d ok 5 >/dev/null && wait_state h ok 5 >/dev/null
'

step 'a container removed behind tug'"'"'s back shows as vanished within 5 s, audited' '
	mark &&
	c=$(ctr d) && test -n "$c" && ns_docker $N rm -f $c >/dev/null &&
	ms=$(wait_state d "drift vanished" 5) && echo "# vanished seen after $ms ms" >$T/lat.d &&
	"$TUG" site status d >$T/out 2>&1 &&
	grep -q "release 1 vanished since" $T/out &&
	until_audited 5 d drift "release 1 vanished"
'
cat $T/lat.d 2>/dev/null

step 'heal: false: it stays vanished, no heal is tried; a deploy mends it' '
	sleep 3 && test "$(state d)" = "drift vanished" &&
	test "$("$TUG" --json audit --site d | jq -en "input | [.rows[] | select(.op == \"heal\")] | length")" = 0 &&
	"$TUG" -q deploy d >/dev/null &&
	wait_state d ok 5 >/dev/null && answers d
'

step 'a container Docker finds unhealthy shows as unhealthy, and ok again when it recovers' '
	mark &&
	c=$(ctr d) && ns_docker $N exec $c /bin/busybox touch /tmp/sick &&
	wait_state d "drift unhealthy" 5 >/dev/null &&
	until_audited 5 d drift "unhealthy" &&
	ns_docker $N exec $c /bin/busybox rm /tmp/sick &&
	wait_state d ok 5 >/dev/null &&
	until_audited 5 d drift "ok again"
'

step 'heal: a removed container is redeployed, the same release, and serves' '
	mark &&
	c=$(ctr h) && ns_docker $N rm -f $c >/dev/null &&
	t0=$(date +%s%3N) &&
	until_audited 10 h drift "release 1 (vanished|down|dead-upstream)" &&
	until_audited 20 h heal "redeployed release 1" &&
	ms=$(wait_state h ok 20) && echo "# healed $(($(date +%s%3N) - t0)) ms after the removal" >$T/lat.h &&
	test "$(releases h)" = 1 &&
	c2=$(ctr h) && test -n "$c2" && test "$c2" != "$c" &&
	test "$(ns_docker $N inspect -f "{{.State.Running}} {{index .Config.Labels \"tug.release\"}}" $c2)" = "true 1" &&
	answers h
'
cat $T/lat.h 2>/dev/null

step 'heal: a container stopped behind tug'"'"'s back is down, then healed' '
	mark &&
	c=$(ctr h) && ns_docker $N stop -t 1 $c >/dev/null &&
	until_audited 10 h drift "release 1 (down|dead-upstream)" &&
	wait_state h ok 20 >/dev/null && answers h && test "$(releases h)" = 1 &&
	test "$(ns_docker $N inspect -f "{{.State.Running}}" $(ctr h))" = true
'

step 'tug stop is not drift: site list says stopped, nothing is healed; start serves again' '
	"$TUG" -q stop h >/dev/null && sleep 2 &&
	test "$(state h)" = stopped &&
	test -z "$(ns_docker $N ps -q --filter label=tug.site=h)" &&
	"$TUG" -q start h >/dev/null && wait_state h ok 5 >/dev/null && answers h
'

step 'a heal that cannot work gives up after 5 tries, shown and audited' '
	mark &&
	c=$(ctr h) && ns_docker $N rm -f $c >/dev/null &&
	ns_docker $N tag tug-test/app:1 tug-test/app:held &&
	ns_docker $N rmi tug-test/app:1 >/dev/null &&
	wait_state h "drift vanished" 5 >/dev/null &&
	for i in $(seq 100); do
		"$TUG" site status h >$T/out 2>&1
		grep -q "heal gave up after 5 tries" $T/out && break
		sleep 0.2
	done &&
	grep -q "heal gave up after 5 tries" $T/out &&
	until_audited 10 h heal "giving up" &&
	ns_docker $N tag tug-test/app:held tug-test/app:1 &&
	ns_docker $N rmi tug-test/app:held >/dev/null &&
	"$TUG" -q deploy h >/dev/null && wait_state h ok 5 >/dev/null
'

finish
