#!/bin/bash
# deploy.sh - tug against the way Kamal deploys, on the namespace hosts:
#  1. from `tug deploy` to the new release serving through the proxy on one
#     host, beside the same steps done with the docker CLI over ssh (run,
#     wait healthy, swap the nginx upstream, test, reload, confirm, stop the
#     old one), each step one exec on a multiplexed SSH connection. Both
#     clocks stop when the proxy first answers from the new release (the
#     bench polls it); stopping the old container is done but not timed;
#  2. `tug image push` of a ~100 MB image to 3 hosts, beside
#     `docker save | ssh host docker load` to each in turn.
#  3. Docker's own floor on the same host: the Engine API's create + start
#     and the first 200 on the published port (deploy-lib.sh).
# Goals (issues 4, 11): deploy <= 0.8x the peer and <= 1.1x the floor,
# image push <= 0.5x.
# Run: TUG_BUILD=build bash tests/bench/deploy.sh

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
. "$TESTS_DIR/bench/deploy-lib.sh"
RUNS=${BENCH_RUNS:-5}
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "images"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
KEY=$TUG_HOME/id_ed25519
for n in 1 2 3; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey >/dev/null ||
	    bail "host add h$n"
done
at_exit "ns_agent_reset 1; ns_agent_reset 2; ns_agent_reset 3; ns_host_down 1 2 3"
"$TUG" -q host bootstrap h1 --proxy nginx --proxy-port 8080 >/dev/null || bail "proxy"
"$TUG" -q image push tug-test/app:1 --hosts h1 >/dev/null || bail "push"

# --- 1. one deploy on one host ----------------------------------------------
cat >$T/bench.yml <<EOS
site: bench
image: tug-test/app:1
hosts: [h1]
domains: [bench.test]
port: 8080
health: {path: /up, interval: 200ms, cmd: [/bin/wget, -q, -O-, "http://127.0.0.1:8080/up"]}
EOS
"$TUG" site apply $T/bench.yml >/dev/null || bail "site apply"
"$TUG" -q deploy bench >/dev/null || bail "first deploy"
URL1=http://$(ns_addr 1):8080/
tug_runs=()
for r in $(seq "$RUNS"); do
	t0=$(ms)
	"$TUG" -q deploy bench >$T/d.$r 2>&1 &
	tug_runs+=($(serving_after "$t0" $URL1 bench.test X-Tug-Release $((r + 1))))
	wait $! || { cat $T/d.$r; bail "deploy $r"; }
done
curl -fsS -H "Host: bench.test" http://$(ns_addr 1):8080/ >/dev/null || bail "not serving"

# The same steps by hand over ssh, as Kamal does them (deploy-lib.sh).
peer_setup 1 || bail "ssh"
# Leftovers of an earlier run.
t0=$(ms)
peer_deploy 1 0 || bail "peer deploy 0"
peer_runs=()
for r in $(seq "$RUNS"); do
	t0=$(ms)
	peer_deploy 1 "$r" || bail "peer deploy $r"
	peer_runs+=($(cat $T/peer.ms))
done
peer_clean "$RUNS"
"$TUG" -q site rm --yes bench >/dev/null

floor=($(floor_runs 1 "$RUNS")) || bail "docker floor"
tug_ms=$(printf '%s\n' "${tug_runs[@]}" | median)
peer_ms=$(printf '%s\n' "${peer_runs[@]}" | median)
floor_ms=$(printf '%s\n' "${floor[@]}" | median)
echo "deploy of one site on one host, through its nginx (median of $RUNS)"
printf '  %-46s %7s ms   runs %s\n' "tug deploy (until the proxy serves it)" "$tug_ms" "${tug_runs[*]}"
printf '  %-46s %7s ms   runs %s\n' "docker CLI over one ssh connection (Kamal)" "$peer_ms" "${peer_runs[*]}"
printf '  %-46s %7s ms   runs %s\n' "Docker's floor (API create+start, first 200)" "$floor_ms" "${floor[*]}"
printf '  %-46s %7s      goal <= 0.80\n' "ratio to the peer" "$(awk -v a="$tug_ms" -v b="$peer_ms" 'BEGIN { printf "%.2f", a / b }')"
printf '  %-46s %7s      goal <= 1.10\n' "ratio to the floor" "$(awk -v a="$tug_ms" -v b="$floor_ms" 'BEGIN { printf "%.2f", a / b }')"

# --- 2. a ~100 MB image to three hosts ----------------------------------------
mkdir -p $T/big && head -c 100000000 /dev/urandom >$T/big/blob &&
    tar -C $T/big -cf $T/big.tar . && $DOCKER import $T/big.tar tug-test/big:1 >/dev/null ||
    bail "big image"
at_exit "$DOCKER rmi -f tug-test/big:1"
rm -f $T/big.tar $T/big/blob
clean_big() { for n in 1 2 3; do ns_docker $n rmi -f tug-test/big:1 >/dev/null 2>&1; done; }
clean_big
t0=$(ms)
"$TUG" -q image push tug-test/big:1 --hosts h1,h2,h3 >$T/push || { cat $T/push; bail "push"; }
push_ms=$(($(ms) - t0))
clean_big
t0=$(ms)
for n in 1 2 3; do
	$DOCKER save tug-test/big:1 | ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR tughost$n@$(ns_addr $n) docker load >/dev/null ||
	    bail "ssh load $n"
done
ssh_ms=$(($(ms) - t0))
clean_big
echo "a ~100 MB image to 3 hosts"
printf '  %-46s %7s ms\n' "tug image push --hosts h1,h2,h3" "$push_ms"
printf '  %-46s %7s ms\n' "docker save | ssh docker load, host by host" "$ssh_ms"
printf '  %-46s %7s      goal <= 0.50\n' "ratio" "$(awk -v a="$push_ms" -v b="$ssh_ms" 'BEGIN { printf "%.2f", a / b }')"
