#!/bin/bash
# 0030-image-keep: deploy.keep for images (docs/site-spec.md). Each host
# keeps the images of a site's newest deploy.keep releases and removes
# older ones that tug brought there (pushed or pulled), once no site on
# the host keeps them; never an image that was there before tug brought
# it, nor one pushed and never deployed. A rollback within keep needs no
# new push; a removed site's images go with it unless another site keeps
# them. Host 18, its own.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=18
U=tughost$N
ADDR=$(ns_addr $N)
# tug-test/app:1, the base of the images below, loaded without tug.
ns_test_host $N || bail "host $N"

# Images of their own id each (a label apiece), made here and removed by
# their tags at the end, on this machine and on the host.
IMGS="0 1 2 3 4 5 9"
for i in $IMGS; do
	printf 'FROM tug-test/app:1\nLABEL tug.test.keep=%s\n' "$i" |
	    $DOCKER build -q -t tug-test/keep:$i - >/dev/null ||
	    bail "build tug-test/keep:$i"
	at_exit "$DOCKER rmi tug-test/keep:$i"
	at_exit "ns_docker $N rmi tug-test/keep:$i"
done
# Wiped from the host, in case an earlier run left them.
for i in $IMGS; do ns_docker $N rmi tug-test/keep:$i >/dev/null 2>&1; done
ns_test_add $N --proxy nginx --proxy-port 8080 --proxy-tls-port 8443 ||
	bail "host h$N"

# spec SITE: a site on h$N that keeps 2 releases.
spec() {
	cat >$T/$1.yml <<EOS
site: $1
image: tug-test/keep:1
hosts: [h$N]
domains: [$1.t30.test]
port: 8080
env: {SITE: $1}
health: {path: /up, interval: 100ms}
deploy: {keep: 2}
EOS
	"$TUG" -q site apply $T/$1.yml >/dev/null
}

# on_host I: tug-test/keep:I is on the host.
on_host() {
	case $1 in
	pre) ns_docker $N image inspect tug-test/keep-pre:0 >/dev/null 2>&1 ;;
	*) ns_docker $N image inspect tug-test/keep:$1 >/dev/null 2>&1 ;;
	esac
}

# push_deploy SITE I: push keep:I, deploy it to SITE; output in $T/out.
push_deploy() {
	"$TUG" -q image push tug-test/keep:$2 --hosts h$N >/dev/null &&
	    "$TUG" deploy $1 --image tug-test/keep:$2 >$T/out 2>&1 ||
	    { cat $T/out; return 1; }
}

spec a && spec b || bail "site apply"

# The host has keep:0's image under another name only: the push loads it,
# and the agent sees the id was there before.
at_exit "ns_docker $N rmi tug-test/keep-pre:0"
step 'an image the host had before tug pushed it is not tug'"'"'s to remove' '
	$DOCKER save tug-test/keep:0 | ns_docker $N load >/dev/null &&
	ns_docker $N tag tug-test/keep:0 tug-test/keep-pre:0 &&
	ns_docker $N rmi tug-test/keep:0 >/dev/null && ! on_host 0 &&
	push_deploy a 0 && on_host 0
'

step 'keep 2: the third release removes the image of the first; two stay' '
	push_deploy a 1 && on_host 1 && on_host 0 &&
	push_deploy a 2 && on_host 2 && on_host 1 &&
	push_deploy a 3 &&
	grep -q "removed image .*tug-test/keep:1" $T/out &&
	! on_host 1 && on_host 2 && on_host 3 &&
	on_host 0
'

step 'an image pushed and never deployed stays' '
	"$TUG" -q image push tug-test/keep:9 --hosts h$N >/dev/null &&
	push_deploy a 4 && on_host 9 && ! on_host 2 && on_host 3 && on_host 4
'

step 'a rollback within keep needs no push: the image is still there' '
	"$TUG" rollback --yes a >$T/out 2>&1 || { cat $T/out; false; } &&
	ns_docker $N ps --filter label=tug.site=a --format "{{.Image}}" |
	    grep -qx tug-test/keep:3 &&
	on_host 3 && on_host 4
'

step 'an image another site keeps stays; it goes when that site is removed' '
	push_deploy b 5 && on_host 5 &&
	push_deploy b 4 && on_host 5 && on_host 4 &&
	push_deploy a 5 && on_host 4 && on_host 3 &&
	"$TUG" site rm --yes b >$T/out 2>&1 || { cat $T/out; false; } &&
	grep -q "^removed site b from 1 host$" $T/out &&
	on_host 5 && on_host 3 && ! on_host 4
'

step 'a damaged record of what the agent brought: deploys go on, nothing is removed' '
	f=/home/$U/.tug-agent/images.json && test -f $f &&
	printf "{not json" >$f &&
	push_deploy a 3 && on_host 3 && on_host 5 &&
	python3 -c "import json,sys; json.load(open(sys.argv[1]))" $f
'

step 'what tug did not bring is all still there' '
	on_host 0 && on_host 9 && on_host pre &&
	ns_docker $N image inspect tug-test/app:1 >/dev/null
'

finish
