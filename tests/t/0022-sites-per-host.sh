#!/bin/bash
# 0022-sites-per-host: 100 sites on one namespace host, each on a Docker
# network of its own with a /27 from the pool bootstrap gave the agent:
# every one answers through the proxy, and pairs picked across the range
# cannot reach each other's containers (Docker isolates the bridges; the
# probe runs inside a container). Deploys go four at a time.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=5
SITES=${TUG_TEST_0022_SITES:-100}
POOL=10.77.192.0/18	# inside the test host's own 10.77.0.0/16
ns_test_host $N || bail "host $N"
ns_test_add $N --proxy nginx --proxy-port 8080 --subnet-pool $POOL ||
	bail "host h$N"

name() {
	printf 's%03d' "$1"
}

# probe N URL: GET URL from inside site N's container, at most 3 s.
probe() {
	ns_docker $N exec tug-$(name $1)-r1 /bin/busybox timeout 3 \
	    /bin/busybox wget -q -O- "$2"
}

ip_of() {
	ns_docker $N inspect -f "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}" \
	    tug-$(name $1)-r1
}

step "$SITES sites applied and deployed on one host, four at a time" '
	for i in $(seq $SITES); do
		s=$(name $i) &&
		printf "site: %s\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [%s.test]\nport: 8080\nenv: {SITE: %s}\nhealth: {path: /up, interval: 200ms}\n" \
		    $s $s $s >$T/$s.yml &&
		"$TUG" site apply $T/$s.yml >/dev/null || exit 1
	done &&
	seq $SITES | while read -r i; do name $i; echo; done |
	    xargs -P 4 -I{} sh -c "\"$TUG\" -q deploy {} >$T/{}.out 2>&1 || { echo {} failed; cat $T/{}.out; exit 255; }" &&
	test "$("$TUG" site list | grep -c "^s[0-9]* *container *1 ")" = $SITES
'

step 'every site answers through the proxy, and none with another'"'"'s page' '
	for i in $(seq $SITES); do
		s=$(name $i) &&
		test "$(curl -sS -m 5 -H "Host: $s.test" http://$(ns_addr $N):8080/)" = "$s 1" ||
		{ echo "$s: $(curl -sS -m 5 -H "Host: $s.test" http://$(ns_addr $N):8080/)"; exit 1; }
	done
'

step 'each site on its own network, a distinct /27 from the pool, never the default bridge' '
	for i in $(seq $SITES); do
		s=$(name $i) &&
		test "$(ns_docker $N inspect -f "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}" tug-$s-r1)" = "tug-$s " &&
		ns_docker $N network inspect -f "{{range .IPAM.Config}}{{.Subnet}}{{end}}" tug-$s || exit 1
	done >$T/subnets &&
	test "$(wc -l <$T/subnets)" = $SITES &&
	test "$(sort -u $T/subnets | wc -l)" = $SITES &&
	! grep -v "^10\.77\.\(19[2-9]\|2[0-5][0-9]\)\.[0-9]*/27$" $T/subnets
'

step 'pairs across the range cannot reach each other, each reaches itself' '
	last=$SITES && mid=$(( (SITES + 1) / 2 )) &&
	for pair in "1 2" "$mid $((mid + 1))" "$last 1" "2 $last"; do
		set -- $pair &&
		probe $1 http://$(ip_of $1):8080/ >$T/self &&
		test "$(cat $T/self)" = "$(name $1) 1" &&
		{ ! probe $1 http://$(ip_of $2):8080/ >$T/cross 2>&1 ||
		    { echo "$(name $1) reached $(name $2): $(cat $T/cross)"; exit 1; }; } ||
		exit 1
	done
'

finish
