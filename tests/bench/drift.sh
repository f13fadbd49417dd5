#!/bin/bash
# drift.sh - drift noticed and healed (docs/architecture.md, "Drift"), on
# namespace host 19: the time from a serving container removed behind
# tug's back to `tug site list` showing it, and from there to healed (the
# same release serving again), each the median of 10; and what the
# agent's once-a-second watch costs with SITES sites on the host: CPU of
# the agent and of the host's dockerd over 60 s, beside the same 60 s
# with no watch (tugd stopped).
#
# Run: TUG_BUILD=build bash tests/bench/drift.sh [SITES]   (root)

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
SITES=${1:-10}
N=19
U=tughost$N
ADDR=$(ns_addr $N)
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
ns_test_host $N || bail "host $N"
ns_test_add $N --proxy nginx --proxy-port 8080 --proxy-tls-port 8443 ||
	bail "host h$N"

for i in $(seq $SITES); do
	cat >$T/s$i.yml <<EOS
site: s$i
image: tug-test/app:1
hosts: [h$N]
domains: [s$i.drift.test]
port: 8080
health: {path: /up, interval: 100ms}
EOS
	"$TUG" -q site apply $T/s$i.yml >/dev/null &&
	    "$TUG" -q deploy s$i >/dev/null || bail "deploy s$i"
done

state() {
	"$TUG" --json site list | jq -r '.sites[] | select(.name == "s1") |
	    [.state, (.drift[0].state // empty)] | join(" ")'
}
now_ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Wait for the watch's first word.
for _ in $(seq 50); do [ "$(state)" = ok ] && break; sleep 0.1; done
: >$T/seen; : >$T/healed
for r in $(seq 10); do
	c=$(ns_site_ctrs $N s1)
	[ -n "$c" ] || bail "no container of s1"
	t0=$(now_ms)
	ns_docker $N rm -f $c >/dev/null
	while [ "$(state)" = ok ]; do sleep 0.02; done
	t1=$(now_ms)
	while [ "$(state)" != ok ]; do
		[ $(($(now_ms) - t1)) -lt 30000 ] || bail "not healed in 30 s"
		sleep 0.02
	done
	t2=$(now_ms)
	echo $((t1 - t0)) >>$T/seen
	echo $((t2 - t1)) >>$T/healed
	sleep 1
done
printf '%-44s %6s ms (%s)\n' "drift seen in site list, median of 10" \
    "$(median <$T/seen)" "$(sort -n $T/seen | tr '\n' ' ')"
printf '%-44s %6s ms (%s)\n' "healed after that, median of 10" \
    "$(median <$T/healed)" "$(sort -n $T/healed | tr '\n' ' ')"

# CPU ticks (utime + stime) of a pid.
ticks() { awk '{ print $14 + $15 }' /proc/$1/stat; }
HZ=$(getconf CLK_TCK)
agent=$(pgrep -u $U -f "tug-agent-[0-9a-f]* serve" | head -n 1)
dockerd=$(cat /run/tug-test/h$N/dockerd.pid)
[ -n "$agent" ] && [ -n "$dockerd" ] || bail "no agent or dockerd pid"
a0=$(ticks $agent); d0=$(ticks $dockerd)
sleep 60
a1=$(ticks $agent); d1=$(ticks $dockerd)
# The same minute without the watch: tugd gone, so is its session.
tugd_stop
for _ in $(seq 50); do kill -0 $agent 2>/dev/null || break; sleep 0.1; done
d2=$(ticks $dockerd)
sleep 60
d3=$(ticks $dockerd)
printf '%-44s %6s ms CPU a minute\n' "agent, watching $SITES sites" \
    $(((a1 - a0) * 1000 / HZ))
printf '%-44s %6s ms CPU a minute\n' "host's dockerd, answering the watch" \
    $(((d1 - d0) * 1000 / HZ))
printf '%-44s %6s ms CPU a minute\n' "host's dockerd, no watch (peer)" \
    $(((d3 - d2) * 1000 / HZ))
