#!/bin/bash
# edge.sh - the production edge (issue 11), all from one run:
#  1. from `tug deploy` to the new release serving over HTTPS through the
#     host's own nginx (system mode, host 13) and the host's own Caddy
#     (system mode, host 15), beside the agent-mode nginx path over
#     HTTP (host 1), the Kamal-style peer (docker CLI over one ssh
#     connection, host 1) and Docker's own floor (API create + start, first
#     200 on the published port, host 1);
#  2. the time to issue a certificate through each backend, from Pebble
#     with real HTTP-01 validation (tug cert renew: issue, install, reload,
#     confirm);
#  3. requests per second through each proxy to the same kind of
#     container, 8 keep-alive clients for 5 s (a sanity figure).
# Run: TUG_BUILD=$PWD/build bash tests/bench/edge.sh

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
. "$TESTS_DIR/tools/pebble.sh"
. "$TESTS_DIR/bench/deploy-lib.sh"
RUNS=${BENCH_RUNS:-5}
LOAD=$TUG_BUILD/tests/load
A=${EDGE_AGENT_HOST:-1}		# agent-mode nginx, the peer, the floor
S=${EDGE_SYSTEM_HOST:-13}	# the host's own nginx
C=${EDGE_CADDY_HOST:-15}	# the host's own Caddy
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "images"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
SYS=$(mktemp -d /tmp/tugedge.XXXXXX) && chmod 755 $SYS || bail "mktemp"
at_exit "rm -rf $SYS"
for n in $A $S $C; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	ns_purge $n
	$DOCKER save tug-test/app:1 | ns_docker $n load >/dev/null || bail "load $n"
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey >/dev/null ||
	    bail "host add h$n"
done
at_exit "ns_purge $A; ns_purge $S; ns_purge $C; ns_agent_reset $A; ns_agent_reset $S; ns_agent_reset $C; ns_host_down $A $S $C"
at_exit "ns_sudo_unboot $S; rm -f /etc/sudoers.d/tug-tughost$S"
"$TUG" -q host bootstrap h$A --proxy nginx --proxy-port 8080 >/dev/null || bail "proxy h$A"
ns_sysnginx_conf $SYS && ns_sysnginx_start $S $SYS || bail "the host's nginx"
at_exit "ns_sysnginx_stop $SYS"
ns_sudo_boot $S && "$TUG" -q host bootstrap h$S --proxy nginx --proxy-mode system \
    --proxy-config $SYS/nginx.conf >/dev/null && ns_sudo_unboot $S || bail "system h$S"
# The host's Caddy (tests/t/0028): bootstrap makes its socket dir, Caddy
# starts as it was told, bootstrap again completes.
SYSC=$(mktemp -d /tmp/tugedgec.XXXXXX) && chmod 755 $SYSC || bail "mktemp"
at_exit "rm -rf $SYSC"
DC=$SYSC/tug-tughost$C
at_exit "ns_syscaddy_stop $SYSC"
at_exit "ns_sudo_unboot $C; id -nG tughost$C 2>/dev/null | grep -qw tug && gpasswd -d tughost$C tug"
printf 'http://own.host.test {\n\trespond "own" 200\n}\n' >$SYSC/Caddyfile
cboot() {
	"$TUG" -q host bootstrap h$C --proxy caddy --proxy-mode system \
	    --proxy-config $SYSC/Caddyfile --proxy-admin $DC/admin.sock
}
ns_sudo_boot $C || bail "sudo $C"
cboot >/dev/null 2>&1
ns_syscaddy_start $C $SYSC $DC && cboot >/dev/null || bail "caddy h$C"
ns_sudo_unboot $C
mkdir -p $T/pebble && pebble_start $T/pebble 10.77.$S.1 || bail "pebble"
at_exit pebble_stop
pebble_dns_add ngx.edge.test $(ns_addr $S) && pebble_dns_add cdy.edge.test $(ns_addr $C) ||
	bail "dns"
"$TUG" -q acme set --ca "$PEBBLE_URL" --email ops@tug.test --trust-root "$PEBBLE_CA" ||
	bail "acme set"

spec() {	# spec SITE HOST DOMAIN TLS
	printf 'site: %s\nimage: tug-test/app:1\nhosts: [%s]\ndomains: [%s]\nport: 8080\nhealth: {path: /up, interval: 200ms}\ntls: %s\n' \
	    "$1" "$2" "$3" "$4" >$T/$1.yml && "$TUG" -q site apply $T/$1.yml >/dev/null
}
spec plain h$A plain.edge.test off && spec ngx h$S ngx.edge.test auto &&
	spec cdy h$C cdy.edge.test auto || bail "specs"

t0=$(ms)
"$TUG" -q deploy ngx >$T/first 2>&1 || { cat $T/first; bail "first ngx deploy"; }
first_ngx=$(($(ms) - t0))
t0=$(ms)
"$TUG" -q deploy cdy >$T/first 2>&1 || { cat $T/first; bail "first caddy deploy"; }
first_cdy=$(($(ms) - t0))
"$TUG" -q deploy plain >/dev/null || bail "first plain deploy"

# runs SITE URL [CURL-ARGS...]: RUNS deploys, each timed until URL answers
# from the new release.
runs() {
	local site=$1 url=$2 host r rel out=()

	shift 2
	host=$(sed -n 's/^domains: \[\(.*\)\]/\1/p' $T/$site.yml)
	for r in $(seq "$RUNS"); do
		rel=$(($("$TUG" --json releases $site | grep -o '"release":[0-9]*' |
		    head -1 | cut -d: -f2) + 1))
		t0=$(ms)
		"$TUG" -q deploy $site >$T/d 2>&1 &
		out+=($(serving_after "$t0" "$url" "$host" X-Tug-Release "$rel" "$@"))
		wait $! || { cat $T/d >&2; return 1; }
	done
	echo "${out[*]}"
}
ROOT=$PEBBLE_ROOT
ngx_runs=($(runs ngx https://ngx.edge.test/ --cacert "$ROOT" \
    --resolve ngx.edge.test:443:$(ns_addr $S))) || bail "ngx runs"
cdy_runs=($(runs cdy https://cdy.edge.test/ --cacert "$ROOT" \
    --resolve cdy.edge.test:443:$(ns_addr $C))) || bail "caddy runs"
plain_runs=($(runs plain http://$(ns_addr $A):8080/)) || bail "plain runs"

peer_setup $A || bail "ssh"
t0=$(ms)
peer_deploy $A 0 || bail "peer 0"
peer_runs=()
for r in $(seq "$RUNS"); do
	t0=$(ms)
	peer_deploy $A "$r" || bail "peer $r"
	peer_runs+=($(cat $T/peer.ms))
done
peer_clean "$RUNS"
floor=($(floor_runs $A "$RUNS")) || bail "floor"

# Issuance through each backend: tug cert renew, real HTTP-01.
issue_runs=()
cissue_runs=()
for r in $(seq 3); do
	t0=$(ms)
	"$TUG" -q cert renew ngx >$T/renew 2>&1 || { cat $T/renew; bail "renew"; }
	issue_runs+=($(($(ms) - t0)))
	t0=$(ms)
	"$TUG" -q cert renew cdy >$T/renew 2>&1 || { cat $T/renew; bail "caddy renew"; }
	cissue_runs+=($(($(ms) - t0)))
done

# Requests per second, 8 keep-alive clients, 5 s, no slow requests.
rps() {	# rps URL [LOAD-ARGS...]
	local url=$1 total

	shift
	rm -f $T/stop
	( sleep 5; touch $T/stop ) &
	"$LOAD" -c 8 -S 0 "$@" "$url" $T/stop >$T/rps 2>&1
	total=$(sed -n 's/^total=\([0-9]*\) .*/\1/p' $T/rps)
	echo $((total / 5))
}
rps_ngx=$(rps https://ngx.edge.test/ -k "$ROOT" -r ngx.edge.test:443:$(ns_addr $S))
rps_plain=$(rps http://$(ns_addr $A):8080/ -H plain.edge.test)
rps_cdy=$(rps https://cdy.edge.test/ -k "$ROOT" -r cdy.edge.test:443:$(ns_addr $C))
port=$(ns_docker $A port tug-plain-r$((RUNS + 1)) 8080/tcp | head -1 | sed 's/.*://')
rm -f $T/stop2
nsenter --net=/run/netns/tugh$A "$LOAD" -c 8 -S 0 http://127.0.0.1:$port/ \
    $T/stop2 >$T/rps2 2>&1 &
lp=$!
sleep 5
touch $T/stop2
wait $lp
rps_direct=$(($(sed -n 's/^total=\([0-9]*\) .*/\1/p' $T/rps2) / 5))

line() { printf '  %-52s %7s %s\n' "$1" "$2" "${3:-}"; }
m() { printf '%s\n' "$@" | median; }
echo "deploy until the new release serves (median of $RUNS)"
line "tug, the host's nginx (system mode), over HTTPS" "$(m "${ngx_runs[@]}") ms" "runs ${ngx_runs[*]}"
line "tug, the host's caddy (system mode), over HTTPS" "$(m "${cdy_runs[@]}") ms" "runs ${cdy_runs[*]}"
line "tug, the agent's own nginx, over HTTP" "$(m "${plain_runs[@]}") ms" "runs ${plain_runs[*]}"
line "docker CLI over one ssh connection (Kamal)" "$(m "${peer_runs[@]}") ms" "runs ${peer_runs[*]}"
line "Docker's floor (API create+start, first 200)" "$(m "${floor[@]}") ms" "runs ${floor[*]}"
line "HTTPS nginx / peer (goal <= 0.80)" "$(awk -v a="$(m "${ngx_runs[@]}")" -v b="$(m "${peer_runs[@]}")" 'BEGIN { printf "%.2f", a / b }')"
line "HTTPS nginx / floor (goal <= 1.10)" "$(awk -v a="$(m "${ngx_runs[@]}")" -v b="$(m "${floor[@]}")" 'BEGIN { printf "%.2f", a / b }')"
line "HTTPS caddy / peer (goal <= 0.80)" "$(awk -v a="$(m "${cdy_runs[@]}")" -v b="$(m "${peer_runs[@]}")" 'BEGIN { printf "%.2f", a / b }')"
line "HTTPS caddy / floor (goal <= 1.10)" "$(awk -v a="$(m "${cdy_runs[@]}")" -v b="$(m "${floor[@]}")" 'BEGIN { printf "%.2f", a / b }')"
echo "a certificate from Pebble, real HTTP-01 (lego polls after 5 s)"
line "first deploy with issuance, the host's nginx" "$first_ngx ms"
line "first deploy with issuance, the host's caddy" "$first_cdy ms"
line "tug cert renew, the host's nginx (median of 3)" "$(m "${issue_runs[@]}") ms" "runs ${issue_runs[*]}"
line "tug cert renew, the host's caddy (median of 3)" "$(m "${cissue_runs[@]}") ms" "runs ${cissue_runs[*]}"
echo "requests per second, 8 keep-alive clients, 5 s"
line "the host's nginx, HTTPS" "$rps_ngx"
line "the host's caddy, HTTPS" "$rps_cdy"
line "the agent's own nginx, HTTP" "$rps_plain"
line "the container itself (no proxy, a new connection each)" "$rps_direct"
