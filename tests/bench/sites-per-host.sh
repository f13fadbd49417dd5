#!/bin/bash
# sites-per-host.sh - 100 sites on one namespace host (issue 10): tug site
# apply and tug deploy of each in turn, every site on a network of its own.
# Prints the median and 95th percentile of the per-site deploy time, the
# 1st deploy beside the 100th (nothing may grow with the site count beyond
# the proxy reload), and the agent's and nginx's memory at the end. The
# peer, from the same run on the same host: the Kamal-style steps with the
# docker CLI over one multiplexed ssh connection (network create, run,
# wait for health) for as many containers, without a proxy.
# Run: TUG_BUILD=build bash tests/bench/sites-per-host.sh  (BENCH_SITES=100)

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
SITES=${BENCH_SITES:-100}
N=5
POOL=10.77.192.0/18
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "images"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
KEY=$TUG_HOME/id_ed25519
ns_host_up $N $T/tugd.pub || bail "host $N"
ns_agent_reset $N
ns_purge $N bench.peer
at_exit "ns_purge $N bench.peer; ns_agent_reset $N; ns_host_down $N"
$DOCKER save tug-test/app:1 | ns_docker $N load >/dev/null || bail "image load"
"$TUG" -q host add h$N tughost$N@$(ns_addr $N) --accept-new-hostkey >/dev/null ||
	bail "host add"
"$TUG" -q host bootstrap h$N --proxy nginx --proxy-port 8080 --subnet-pool $POOL \
    >/dev/null || bail "bootstrap"
ms() { date +%s%3N; }
pct() {	# P: the P-th percentile of the numbers on stdin
	sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print v[i] }'
}

for i in $(seq $SITES); do
	s=$(printf 's%03d' $i)
	printf "site: %s\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [%s.test]\nport: 8080\nenv: {SITE: %s}\nhealth: {path: /up, interval: 200ms}\n" \
	    $s $s $s >$T/$s.yml
	"$TUG" site apply $T/$s.yml >/dev/null || bail "apply $s"
done
: >$T/tug.ms
for i in $(seq $SITES); do
	s=$(printf 's%03d' $i)
	t0=$(ms)
	"$TUG" -q deploy $s >$T/d.out 2>&1 || { cat $T/d.out; bail "deploy $s"; }
	echo $(($(ms) - t0)) >>$T/tug.ms
done
agent_kb=$(for p in $(pgrep -u tughost$N -f "tug-agent-[0-9a-f]* serve"); do
	awk '/^VmRSS:/ { print $2 }' /proc/$p/status; done | awk '{ s += $1 } END { print s }')
nginx_kb=$(for p in $(pgrep -u tughost$N nginx); do
	awk '/^VmRSS:/ { print $2 }' /proc/$p/status; done | awk '{ s += $1 } END { print s }')
nginx_n=$(pgrep -u tughost$N nginx | wc -l)

# The peer: the same containers by hand over one multiplexed connection.
SSHO=(-o ControlMaster=auto -o ControlPath=$T/cm -o ControlPersist=60
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -i "$KEY")
SSH=(ssh "${SSHO[@]}" tughost$N@$(ns_addr $N))
"${SSH[@]}" true || bail "ssh"
: >$T/peer.ms
for i in $(seq $SITES); do
	p=$(printf 'p%03d' $i)
	t0=$(ms)
	"${SSH[@]}" "docker network create --label bench.peer=1 --subnet 10.77.$((128 + i / 8)).$(( (i % 8) * 32 ))/27 bench-$p >/dev/null &&
	    docker run -d --label bench.peer=1 --network bench-$p --name bench-$p -e SITE=$p \
	    -p 127.0.0.1::8080 --health-cmd '/bin/busybox wget -q -O- http://127.0.0.1:8080/up' \
	    --health-interval 200ms tug-test/app:1 >/dev/null &&
	    until [ \"\$(docker inspect -f '{{.State.Health.Status}}' bench-$p)\" = healthy ]; do sleep 0.05; done" ||
	    bail "peer $p"
	echo $(($(ms) - t0)) >>$T/peer.ms
done

echo "# sites-per-host: $SITES sites on one host, deployed one after another"
printf '%-44s %8s %8s %8s %8s\n' "" median p95 first last
printf '%-44s %8s %8s %8s %8s\n' "tug deploy (health-gated, proxy switched)" \
    "$(pct 50 <$T/tug.ms)" "$(pct 95 <$T/tug.ms)" "$(head -n 1 $T/tug.ms)" "$(tail -n 1 $T/tug.ms)"
printf '%-44s %8s %8s %8s %8s\n' "docker CLI over ssh (network, run, healthy)" \
    "$(pct 50 <$T/peer.ms)" "$(pct 95 <$T/peer.ms)" "$(head -n 1 $T/peer.ms)" "$(tail -n 1 $T/peer.ms)"
echo "(ms per site; the peer has no proxy at all)"
echo "agent: ${agent_kb} KiB resident; nginx: ${nginx_kb} KiB in $nginx_n processes, serving $SITES sites"
