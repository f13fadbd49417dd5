#!/bin/bash
# logs.sh - tug logs against its peers, on the three namespace hosts, each
# running a container that has written 200,000 access-log lines:
#  1. `tug logs SITE --tail all > /dev/null` (all three hosts, merged by
#     time), beside (a) the three Docker engines serving the same logs
#     through their API in parallel, read on each host (curl on the
#     engine's socket in the host's namespace), and (b) `ssh host docker
#     logs NAME` from the three hosts in parallel;
#  2. bytes on the wire with and without compression: the frame bytes
#     (header and payload as sent, deflated or not) of the logs jobs that
#     tugd read off the hosts' SSH channels, SSH's own framing aside;
#  3. the median latency from a line written in a container (it carries
#     its write time, in microseconds) to its arrival on the stdout of
#     `tug logs -f`.
# Goals (issue 5): >= 0.8x (a), >= 3x (b), >= 3x fewer bytes with
# compression, median latency <= 50 ms.
# Run: TUG_BUILD=build bash tests/bench/logs.sh   (root; BENCH_RUNS, LINES)

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
RUNS=${BENCH_RUNS:-5}
LINES=${LINES:-200000}
SAMPLES=50
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "images"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
KEY=$TUG_HOME/id_ed25519
for n in 1 2 3; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	for c in $(ns_docker $n ps -aq --filter label=tug.site=logbench); do
		ns_docker $n rm -f $c >/dev/null
	done
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey >/dev/null ||
	    bail "host add h$n"
done
at_exit "ns_agent_reset 1; ns_agent_reset 2; ns_agent_reset 3; ns_host_down 1 2 3"
"$TUG" -q host bootstrap --all --proxy nginx --proxy-port 8080 >/dev/null || bail "proxy"
"$TUG" -q image push tug-test/app:1 --hosts h1,h2,h3 >/dev/null || bail "push"
cat >$T/logbench.yml <<EOS
site: logbench
image: tug-test/app:1
hosts: [h1, h2, h3]
domains: [logbench.test]
port: 8080
env: {LOG_LINES: "$LINES"}
health: {path: /up, interval: 200ms, retries: 100}
EOS
"$TUG" site apply $T/logbench.yml >/dev/null || bail "site apply"
"$TUG" -q deploy logbench >$T/deploy 2>&1 || { cat $T/deploy; bail "deploy"; }
at_exit "\"$TUG\" -q site rm --yes logbench"

ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for n in 1 2 3; do
	id[$n]=$(ns_docker $n ps -q --no-trunc --filter label=tug.site=logbench)
	name[$n]=$(ns_docker $n ps --format '{{.Names}}' --filter label=tug.site=logbench)
	[ -n "${id[$n]}" ] || bail "no container on h$n"
done

# --- 1. throughput ------------------------------------------------------------
"$TUG" logs logbench --tail all --stats >$T/out 2>$T/stats || bail "tug logs"
lines=$(wc -l <$T/out)
bytes=$(sed -n 's/^\([0-9]*\) lines, \([0-9]*\) bytes of lines.*/\2/p' $T/stats)
[ "$lines" -ge $((3 * LINES)) ] || bail "tug logs gave $lines lines, not $((3 * LINES))"
rm -f $T/out
# docker_api [TS]: the three engines' log APIs read in parallel, each in
# its host's namespace.
docker_api() {
	local n
	for n in 1 2 3; do
		ip netns exec tugh$n curl -fsS --unix-socket /run/tug-test/h$n/docker.sock \
		    -o /dev/null "http://docker/containers/${id[$n]}/logs?stdout=1&stderr=1&tail=all&timestamps=${1:-0}" &
	done
	wait
}
ssh_logs() {
	local n
	for n in 1 2 3; do
		ns_ssh $n "$KEY" docker logs "${name[$n]}" >/dev/null 2>&1 &
	done
	wait
}
tug_runs=() api_runs=() apits_runs=() ssh_runs=()
for r in $(seq "$RUNS"); do
	t0=$(ms); "$TUG" logs logbench --tail all >/dev/null || bail "tug logs"
	tug_runs+=($(($(ms) - t0)))
	t0=$(ms); docker_api 0; api_runs+=($(($(ms) - t0)))
	t0=$(ms); docker_api 1; apits_runs+=($(($(ms) - t0)))
	t0=$(ms); ssh_logs; ssh_runs+=($(($(ms) - t0)))
done
tug_ms=$(printf '%s\n' "${tug_runs[@]}" | median)
api_ms=$(printf '%s\n' "${api_runs[@]}" | median)
apits_ms=$(printf '%s\n' "${apits_runs[@]}" | median)
ssh_ms=$(printf '%s\n' "${ssh_runs[@]}" | median)
rate() {	# MS: "N lines/s, M MB/s" for the whole log
	awk -v l="$lines" -v b="$bytes" -v ms="$1" \
	    'BEGIN { printf "%7.0f lines/s %6.1f MB/s", l / ms * 1000, b / ms / 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "logs of 3 hosts x $LINES lines ($lines lines, $((bytes / 1000000)) MB of text), median of $RUNS"
printf '  %-44s %6s ms  %s   runs %s\n' "tug logs --tail all (merged by time)" "$tug_ms" "$(rate "$tug_ms")" "${tug_runs[*]}"
printf '  %-44s %6s ms  %s   runs %s\n' "(a) Docker API x3 in parallel, on each host" "$api_ms" "$(rate "$api_ms")" "${api_runs[*]}"
printf '  %-44s %6s ms  %s   runs %s\n' "    the same with timestamps=1 (as tug asks)" "$apits_ms" "$(rate "$apits_ms")" "${apits_runs[*]}"
printf '  %-44s %6s ms  %s   runs %s\n' "(b) ssh host docker logs, x3 in parallel" "$ssh_ms" "$(rate "$ssh_ms")" "${ssh_runs[*]}"
printf '  %-44s %6s      goal >= 0.80\n' "tug speed / (a)" "$(ratio "$api_ms" "$tug_ms")"
printf '  %-44s %6s      goal >= 3.00\n' "tug speed / (b)" "$(ratio "$ssh_ms" "$tug_ms")"

# --- 2. bytes on the wire ------------------------------------------------------
wire() {	# ARGS: the frame bytes tugd read for one tug logs --tail all
	"$TUG" logs logbench --tail all --stats "$@" 2>&1 >/dev/null |
	    sed -n 's/.* bytes of lines in \([0-9]*\) bytes of frames.*/\1/p'
}
zw=$(wire)
pw=$(wire --no-compress)
[ -n "$zw" ] && [ -n "$pw" ] || bail "no byte counts"
echo "bytes on the wire: frames of the logs jobs as tugd read them off SSH"
printf '  %-44s %12s bytes\n' "lines (text, without Docker's timestamps)" "$bytes"
printf '  %-44s %12s bytes\n' "frames, compress:true" "$zw"
printf '  %-44s %12s bytes\n' "frames, compress:false" "$pw"
printf '  %-44s %12s      goal >= 3.00\n' "fewer with compression" "$(ratio "$pw" "$zw")"

# --- 3. latency ------------------------------------------------------------------
# Each line that arrives, with the time it arrived (bash's clock, no fork).
stamp() {
	local l

	while IFS= read -r l; do
		echo "${EPOCHREALTIME/./} $l"
	done
}
"$TUG" logs logbench -f --tail 0 2>$T/follow.err > >(stamp >$T/follow) &
fpid=$!
sleep 1.5
for i in $(seq "$SAMPLES"); do
	n=$(((i - 1) % 3 + 1))
	curl -fsS --max-time 5 -H "Host: logbench.test" \
	    "http://$(ns_addr $n):8080/log?n=1&tag=lat$i" >/dev/null || bail "write $i"
	sleep 0.1
done
for i in $(seq 50); do
	[ "$(grep -c "tag=lat[0-9]* n=1 t=" $T/follow)" -ge "$SAMPLES" ] && break
	sleep 0.1
done
kill -INT $fpid
wait $fpid
sleep 0.2
got=$(grep -c "tag=lat[0-9]* n=1 t=" $T/follow)
sed -n 's/^\([0-9]*\) .* tag=lat[0-9]* n=1 t=\([0-9]*\)$/\1 \2/p' $T/follow |
    awk '{ print ($1 - $2) / 1000 }' >$T/lat
lat=$(median <$T/lat)
echo "latency: a line written in a container to tug logs -f's stdout ($got of $SAMPLES samples)"
printf '  %-44s %6s ms   goal <= 50\n' "median" "$lat"
printf '  %-44s %6s ms\n' "min / max" "$(sort -n $T/lat | head -1) / $(sort -n $T/lat | tail -1)"
