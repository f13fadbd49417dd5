#!/bin/bash
# 0014-image-push: images without a registry. tug image push reads an image
# once from the controller's Docker (or a docker-save tarball) and streams it
# to several namespace hosts at once, skipping hosts that hold it already;
# a host that drops out fails alone.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
for n in 1 2 3; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	ns_docker $n rmi -f tug-test/app:2 tug-test/push:1 >/dev/null 2>&1
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey \
	    --group web >/dev/null || bail "host add h$n"
done
at_exit "ns_agent_reset 1; ns_agent_reset 2; ns_agent_reset 3; ns_host_down 1 2 3"
at_exit "ip netns exec tugh3 iptables -F"
# A fresh image of a few MiB that no host has.
mkdir -p $T/rootfs && head -c 3000000 /dev/urandom >$T/rootfs/blob &&
tar -C $T/rootfs -cf $T/rootfs.tar . &&
$DOCKER import $T/rootfs.tar tug-test/push:1 >/dev/null || bail "import"
at_exit "$DOCKER rmi -f tug-test/push:1"
ID=$($DOCKER image inspect -f '{{.Id}}' tug-test/push:1)

step 'push to three hosts at once: each engine holds the same image id' '
	"$TUG" image push tug-test/push:1 --hosts h1,h2,h3 >$T/out 2>$T/err &&
	grep -q "^h1: loaded" $T/out && grep -q "^h3: loaded" $T/out &&
	grep -q "streaming tug-test/push:1 to 3 hosts" $T/err &&
	for n in 1 2 3; do
		test "$(ns_docker $n image inspect -f "{{.Id}}" tug-test/push:1)" = "$ID" || return 1
	done
'

step 'push again: every host is skipped, nothing is sent' '
	"$TUG" image push tug-test/push:1 --hosts h1,h2,h3 >$T/out 2>$T/err &&
	test "$(grep -c ": skipped" $T/out)" = 3 &&
	grep -q "h2: already holds tug-test/push:1" $T/err &&
	grep -q "0.0 MiB" $T/out
'

step 'push to the hosts of a site, only where missing' '
	printf "site: web\nimage: tug-test/app:2\ngroup: web\ndomains: [web.test]\nport: 8080\n" >$T/web.yml &&
	"$TUG" site apply $T/web.yml >/dev/null &&
	ns_docker 2 rmi -f tug-test/app:2 >/dev/null 2>&1;
	"$TUG" image push tug-test/app:2 --site web >$T/out 2>$T/err &&
	grep -q "^h2: loaded" $T/out &&
	grep -q "^h1: \(loaded\|skipped\)" $T/out &&
	ns_docker 2 image inspect tug-test/app:2 >/dev/null
'

step 'push a docker-save tarball from the controller'"'"'s disk' '
	$DOCKER save tug-test/push:1 >$T/push.tar &&
	ns_docker 1 rmi -f tug-test/push:1 >/dev/null &&
	"$TUG" image push tug-test/push:1 --hosts h1 --file $T/push.tar >$T/out &&
	grep -q "^h1: loaded" $T/out &&
	test "$(ns_docker 1 image inspect -f "{{.Id}}" tug-test/push:1)" = "$ID"
'

step 'a host that does not answer fails alone, within the stall bound, with the reason; the others load' '
	for n in 1 2 3; do ns_docker $n rmi -f tug-test/push:1 >/dev/null; done &&
	ip netns exec tugh3 iptables -I INPUT -p tcp --dport 22 -j DROP &&
	ip netns exec tugh3 iptables -I OUTPUT -p tcp --sport 22 -j DROP &&
	! "$TUG" image push tug-test/push:1 --hosts h1,h2,h3 >$T/out 2>$T/err;
	ip netns exec tugh3 iptables -F;
	grep -q "failed on 1 of 3 hosts" $T/err &&
	grep -q "^tug: h3: \(took no data for 20 s: its link or its agent is stuck\|connection lost: no answer to a ping for 20 s\|cannot connect to 10.77.3.2:22: Timeout\)" $T/err &&
	ns_docker 1 image inspect tug-test/push:1 >/dev/null &&
	ns_docker 2 image inspect tug-test/push:1 >/dev/null
'

step 'bad input: no target, two targets, bad ref, unknown image, broken tarball' '
	! "$TUG" image push tug-test/push:1 2>$T/err && grep -q "name the target" $T/err &&
	! "$TUG" image push tug-test/push:1 --site web --hosts h1 2>$T/err && grep -q "one of them" $T/err &&
	! "$TUG" image push "Bad;Ref" --hosts h1 2>$T/err && grep -q "invalid image reference" $T/err &&
	! "$TUG" image push tug-test/nope:1 --hosts h1 2>$T/err && grep -q "no such image" $T/err &&
	! "$TUG" image push tug-test/push:1 --hosts nohost 2>$T/err && grep -q "no host .nohost." $T/err &&
	head -c 100000 /dev/urandom >$T/junk.tar &&
	! "$TUG" image push tug-test/junk:1 --hosts h1,h2 --file $T/junk.tar >$T/out 2>$T/err &&
	grep -q "failed on 2 of 2 hosts" $T/err &&
	! "$TUG" image push tug-test/push:1 --hosts h1 --file relative.tar 2>$T/err &&
	grep -q "absolute path" $T/err
'

finish
