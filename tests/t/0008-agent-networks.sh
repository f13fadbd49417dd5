#!/bin/bash
# 0008-agent-networks: each site on its own Docker network (DESIGN §5b), on
# a namespace host whose dockerd isolates bridge networks with iptables:
# the agent (run in the host's netns, as tugd would run it over SSH) puts
# each site's containers on tug-<site> only, with a /27 from the subnet
# pool that proxy.setup records; a container of one site cannot reach
# another site's container, while both answer through the proxy; NET_RAW
# is dropped; the network goes with site.remove.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=8	# the controller tests use hosts 1-3
ADDR=$(ns_addr $N)
bed_keypair "$T/id" || bail "cannot make a key"
ns_host_up $N "$T/id.pub" || bail "host $N"
at_exit "ns_host_down $N"
$DOCKER save tug-test/app:1 tug-test/app:2 | ns_docker $N load >/dev/null ||
	bail "cannot load the images into host $N"

STATE=$T/state
RUN=(nsenter --net=/run/netns/tugh$N env DOCKER_HOST=unix:///run/tug-test/h$N/docker.sock
    "$AGENT" serve --state-dir "$STATE")
PORT=18080	# inside the host's own netns
POOL=10.77.192.0/18	# inside the test host's own 10.77.0.0/16

# Whatever this test makes on the host: tug's objects and its own (the
# networks it makes by hand carry tug-test). Host N is this test's alone.
ns_purge $N tug-test
at_exit "ns_purge $N tug-test"
at_exit nginx_stop

req() {
	"$AGENTCTL" -t 120 -r "$2" "$3" -- "${RUN[@]}" >"$1" 2>"$1.err"
}

refused() {	# OP JSON PATTERN
	"$AGENTCTL" -r "$1" "$2" -- "${RUN[@]}" >$T/out 2>&1
	test $? -eq 1 || { echo "$1 $2 was not refused:"; cat $T/out; return 1; }
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$3"
}

apply() {	# OUT SITE RELEASE [EXTRA]
	req "$1" site.apply "{\"site\":\"$2\",\"release\":$3,\"image\":\"tug-test/app:1\",\"port\":8080,\"env\":{\"SITE\":\"$2\",\"VERSION\":\"v$3\"},\"health\":{\"path\":\"/up\",\"interval_ms\":200},\"proxy\":{\"domains\":[\"$2.test\"]}${4:+,$4}}"
}

# via HOST: GET / through the host's proxy, from the root namespace.
via8() {
	curl -sS -m 5 -D $T/via.h -o $T/via -H "Host: $1" "http://$ADDR:$PORT/" >/dev/null
}

# probe CONTAINER URL: GET URL from inside the container, for at most 3 s
# (busybox wget -T crashes in the fixture image: timeout bounds it).
probe() {
	ns_docker $N exec "$1" /bin/busybox timeout 3 /bin/busybox wget -q -O- "$2"
}

# The site's container's address (on whichever network it is: step 3
# shows it is on one, its own).
ip_of() {
	ns_docker $N inspect -f "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}" "tug-$1-r$2"
}

# The subnet of a network.
subnet_of() {
	ns_docker $N network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$1"
}

# in_pool CIDR: a /27 inside 10.77.192.0/18?
in_pool() {
	case $1 in
	10.77.*.*/27) ;;
	*) echo "$1 is not a /27 of 10.77"; return 1 ;;
	esac
	local third=${1#10.77.}
	third=${third%%.*}
	test "$third" -ge 192 && test "$third" -le 255 || { echo "$1 is outside $POOL"; return 1; }
}

step 'proxy.setup refuses a bad subnet_pool' '
	refused proxy.setup "{\"listen\":$PORT,\"subnet_pool\":\"10.77.192.0/25\"}" "invalid subnet_pool .10.77.192.0/25.: the prefix must be from /8 to /24" &&
	refused proxy.setup "{\"listen\":$PORT,\"subnet_pool\":\"10.77.192.1/18\"}" "invalid subnet_pool .10.77.192.1/18.: host bits are set" &&
	refused proxy.setup "{\"listen\":$PORT,\"subnet_pool\":\"10.77.192.0\"}" "invalid subnet_pool .10.77.192.0.: expected an IPv4 network" &&
	refused proxy.setup "{\"listen\":$PORT,\"subnet_pool\":\"10.77.192.0/18;x\"}" "invalid subnet_pool" &&
	refused proxy.setup "{\"listen\":$PORT,\"subnet_pool\":\"fd00::/64\"}" "invalid subnet_pool" &&
	! test -e $STATE/proxy.json
'

step 'proxy.setup records the subnet pool' '
	req $T/setup proxy.setup "{\"listen\":$PORT,\"subnet_pool\":\"$POOL\"}" &&
	has $T/setup "\"subnet_pool\":\"$POOL\"" &&
	has $STATE/proxy.json "\"subnet_pool\":\"$POOL\""
'

step 'two sites, each only on its own network, with a /27 from the pool' '
	ns_docker $N network create --subnet 10.77.192.0/27 --label tug-test=0008 t8-squatter >/dev/null &&
	apply $T/a t8a 1 &&
	has $T/a "\"step\":\"network\",\"message\":\"created network tug-t8a on 10.77.192.32/27\"" &&
	apply $T/b t8b 1 "\"cap_drop\":[\"NET_ADMIN\"]" &&
	for s in t8a t8b; do
		test "$(ns_docker $N inspect -f "{{.HostConfig.NetworkMode}}" tug-$s-r1)" = tug-$s &&
		test "$(ns_docker $N inspect -f "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}" tug-$s-r1)" = "tug-$s " &&
		test "$(ns_docker $N network inspect -f "{{index .Labels \"tug.site\"}} {{index .Labels \"tug.controller\"}} {{.Driver}}" tug-$s)" = "$s $TUG_CONTROLLER_ID bridge" &&
		in_pool "$(subnet_of tug-$s)" || return 1
	done &&
	test "$(subnet_of tug-t8a)" != "$(subnet_of tug-t8b)" &&
	test "$(ns_docker $N port tug-t8a-r1 8080/tcp | sed "s/:.*//")" = 127.0.0.1
'

step 'each site answers through the proxy' '
	via8 t8a.test && test "$(cat $T/via)" = "t8a v1" &&
	via8 t8b.test && test "$(cat $T/via)" = "t8b v1"
'

step 'a container of site a cannot reach site b'"'"'s container; each reaches its own' '
	AIP=$(ip_of t8a 1) && BIP=$(ip_of t8b 1) &&
	test -n "$AIP" && test -n "$BIP" &&
	probe tug-t8a-r1 http://$AIP:8080/ >$T/self &&
	test "$(cat $T/self)" = "t8a v1" &&
	probe tug-t8b-r1 http://$BIP:8080/ >$T/self &&
	test "$(cat $T/self)" = "t8b v1" &&
	{ ! probe tug-t8a-r1 http://$BIP:8080/ >$T/cross 2>&1 ||
	    { echo "site t8a reached site t8b at $BIP:"; cat $T/cross; false; }; } &&
	{ ! probe tug-t8b-r1 http://$AIP:8080/ >$T/cross 2>&1 ||
	    { echo "site t8b reached site t8a at $AIP:"; cat $T/cross; false; }; }
'

step 'NET_RAW is dropped, with the caps the spec drops; net_raw:true keeps it' '
	test "$(ns_docker $N inspect -f "{{json .HostConfig.CapDrop}}" tug-t8a-r1)" = "[\"NET_RAW\"]" &&
	test "$(ns_docker $N inspect -f "{{json .HostConfig.CapDrop}}" tug-t8b-r1)" = "[\"NET_ADMIN\",\"NET_RAW\"]" &&
	apply $T/b2 t8b 2 "\"net_raw\":true" &&
	has $T/b2 "\"replaced\":\[\"tug-t8b-r1\"\]" &&
	hasnt $T/b2 "\"step\":\"network\"" &&
	test "$(ns_docker $N inspect -f "{{json .HostConfig.CapDrop}}" tug-t8b-r2)" = "[]" &&
	test "$(ns_docker $N inspect -f "{{.HostConfig.NetworkMode}}" tug-t8b-r2)" = tug-t8b
'

step 'a network named tug-<site> that is not the site'"'"'s: not_owner, nothing created' '
	ns_docker $N network create --label tug-test=0008 tug-t8c >/dev/null &&
	! apply $T/c t8c 1 &&
	has $T/c "\"code\":\"not_owner\",\"message\":\"network .tug-t8c. exists but is not site .t8c..s: it has no tug labels: tug did not make it\"" &&
	test -z "$(ns_docker $N ps -aq --filter label=tug.site=t8c)"
'

step 'site.remove takes the site'"'"'s network along, and nothing else' '
	req $T/rm site.remove "{\"site\":\"t8a\"}" &&
	has $T/rm "\"network_removed\":true" &&
	! ns_docker $N network inspect tug-t8a >/dev/null 2>&1 &&
	ns_docker $N network inspect tug-t8b >/dev/null &&
	ns_docker $N network inspect t8-squatter >/dev/null &&
	req $T/rmc site.remove "{\"site\":\"t8c\"}" &&
	has $T/rmc "\"network_removed\":false" &&
	ns_docker $N network inspect tug-t8c >/dev/null &&
	via8 t8b.test && test "$(cat $T/via)" = "t8b v2"
'

# Docker's default address pools hold 31 networks per engine (docker0
# takes one): 40 sites need the agent's own pool.
MANY=$(seq -f "t8m%g" 1 40)

# many OP ARGS-OF-SITE: OP on every site of MANY, 10 to an agent; the
# frames in $T/many, for the caller to count.
many() {
	local op=$1 args=$2 s k=0 set=()

	for s in $MANY; do
		set+=(-r "$op" "${args//SITE/$s}")
		k=$((k + 1))
		if [ $k -eq 10 ]; then
			"$AGENTCTL" -t 120 "${set[@]}" -- "${RUN[@]}" >>$T/many 2>&1
			k=0 set=()
		fi
	done
}

step '40 sites, 40 networks: more than Docker'"'"'s own pools hold' '
	many site.apply "{\"site\":\"SITE\",\"release\":1,\"image\":\"tug-test/app:1\"}" &&
	n=$(grep -c "\"ok\":true" $T/many) &&
	{ test "$n" -eq 40 || { echo "$n of 40 applies ok:"; grep -m 2 "\"ok\":false" $T/many; false; }; } &&
	for s in $MANY; do
		in_pool "$(subnet_of tug-$s)" || return 1
	done &&
	test "$(for s in $MANY; do subnet_of tug-$s; done | sort -u | wc -l)" -eq 40 &&
	: >$T/many &&
	many site.remove "{\"site\":\"SITE\"}" &&
	test "$(grep -c "\"network_removed\":true" $T/many)" -eq 40
'

step 'proxy.setup without subnet_pool keeps the recorded pool' '
	req $T/setup2 proxy.setup "{\"listen\":$PORT}" &&
	has $T/setup2 "\"subnet_pool\":\"$POOL\"" &&
	has $STATE/proxy.json "\"subnet_pool\":\"$POOL\""
'

finish
