# deploy-lib.sh - the timed pieces that deploy.sh and edge.sh share: a
# clock, medians, polling a proxy until a release answers, the Kamal-style
# peer (the docker CLI over one multiplexed ssh connection) and Docker's
# own floor. Source after tests/lib.sh and tests/netns.sh.

ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# serving_after T0 URL HOSTHDR HEADER VALUE [CURL-ARGS...]: ms from T0 until
# URL answers with that header value (polled every 5 ms); fails after 60 s.
serving_after() {
	local t0=$1 url=$2 host=$3 hdr=$4 val=$5

	shift 5
	until curl -fsS -D - -o /dev/null -H "Host: $host" "$@" "$url" \
	    2>/dev/null | grep -qi "^$hdr: $val"; do
		[ $(($(ms) - t0)) -lt 60000 ] || { echo "$url never answered" \
		    "with $hdr: $val" >&2; return 1; }
		sleep 0.005
	done
	echo $(($(ms) - t0))
}

# docker_floor N: Docker's own floor on host N, in ms: the Engine API's
# create and start of the fixture app publishing 8080 on 127.0.0.1, then
# the first 200 from the published port. The container is removed after.
docker_floor() {
	local n=$1 sock=/run/tug-test/h$1/docker.sock t0 id port r

	t0=$(ms)
	id=$(curl -fsS --unix-socket $sock -H 'Content-Type: application/json' \
	    -d '{"Image":"tug-test/app:1","Labels":{"tug.bench":"floor"},"HostConfig":{"Init":true,"PortBindings":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":""}]}},"ExposedPorts":{"8080/tcp":{}}}' \
	    http://d/v1.41/containers/create | sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p') &&
	    [ -n "$id" ] || return 1
	curl -fsS --unix-socket $sock -X POST -H 'Content-Length: 0' \
	    http://d/v1.41/containers/$id/start || return 1
	port=$(curl -fsS --unix-socket $sock http://d/v1.41/containers/$id/json |
	    sed -n 's/.*"8080\/tcp":\[{"HostIp":"127.0.0.1","HostPort":"\([0-9]*\)".*/\1/p')
	until nsenter --net=/run/netns/tugh$n curl -fs -o /dev/null \
	    http://127.0.0.1:$port/ 2>/dev/null; do
		sleep 0.005
	done
	r=$(($(ms) - t0))
	curl -fsS --unix-socket $sock -X DELETE \
	    "http://d/v1.41/containers/$id?force=true" >/dev/null
	echo "$r"
}

# floor_runs N RUNS: docker_floor RUNS times; the runs, space-separated.
floor_runs() {
	local i out=()

	for i in $(seq "$2"); do
		out+=("$(docker_floor "$1")") || return 1
	done
	echo "${out[*]}"
}

# The Kamal-style peer on host N's agent-mode nginx: peer_setup N opens the
# multiplexed ssh connection (tugd's key) and clears leftovers; peer_deploy
# N R runs release R (docker run, wait healthy, swap the upstream, nginx -t,
# reload) and leaves the ms until nginx answered from it in $T/peer.ms,
# then stops the one before; peer_clean R removes the last.
peer_setup() {
	local c

	SSHC=(ssh -i "$TUG_HOME/id_ed25519" -o BatchMode=yes
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	    -o LogLevel=ERROR -o ControlMaster=auto -o ControlPath=$T/cm-%r@%h
	    -o ControlPersist=60 tughost$1@$(ns_addr $1))
	PEER_URL=http://$(ns_addr $1):8080/
	NGX='-p $HOME/.tug-agent/nginx -c nginx.conf'
	"${SSHC[@]}" true || return 1
	at_exit "ssh -o ControlPath=$T/cm-%r@%h -O exit tughost$1@$(ns_addr $1)"
	for c in $(ns_docker $1 ps -aq --filter label=tug.bench=peer); do
		ns_docker $1 rm -f $c >/dev/null
	done
}

peer_deploy() {
	local n=$2 port

	"${SSHC[@]}" docker run -d --name peer-$n --label tug.bench=peer \
	    --label tug.bench.run=$n -e RUN=$n -p 127.0.0.1::8080 \
	    --init --health-cmd "'/bin/wget -q -O- http://127.0.0.1:8080/up'" \
	    --health-interval 200ms tug-test/app:1 >/dev/null || return 1
	until [ "$("${SSHC[@]}" docker inspect -f '{{.State.Health.Status}}' peer-$n)" = healthy ]; do
		sleep 0.05
	done
	port=$("${SSHC[@]}" docker port peer-$n 8080/tcp | head -1 | sed 's/.*://')
	printf 'upstream peer { server 127.0.0.1:%s; }\nserver { include listen.conf; server_name peer.test; add_header X-Peer %s always; location / { proxy_pass http://peer; } }\n' \
	    "$port" "$n" | "${SSHC[@]}" "cat > .tug-agent/nginx/sites/peer.conf" &&
	"${SSHC[@]}" "/usr/sbin/nginx $NGX -t -q && /usr/sbin/nginx $NGX -s reload 2>/dev/null" || return 1
	serving_after "$t0" "$PEER_URL" peer.test X-Peer "$n" >$T/peer.ms
	if [ "$n" -gt 0 ]; then
		peer_rm "tug.bench.run=$((n - 1))"
	fi
}

# peer_rm LABEL: stop and remove the peer's containers with that label
# (only ours: every one carries tug.bench=peer).
peer_rm() {
	local c

	for c in $("${SSHC[@]}" docker ps -aq --filter label=tug.bench=peer \
	    --filter "label=$1"); do
		"${SSHC[@]}" "docker stop -t 10 $c >/dev/null && docker rm $c >/dev/null"
	done
}

peer_clean() {
	peer_rm "tug.bench.run=$1"
	"${SSHC[@]}" "rm -f .tug-agent/nginx/sites/peer.conf; /usr/sbin/nginx $NGX -s reload 2>/dev/null"
}
