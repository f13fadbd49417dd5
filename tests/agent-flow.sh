# agent-flow.sh - one site's whole life driven through tug-agent, shared by
# the pipe test (0003) and the OpenSSH test (0004). The caller sets RUN, the
# argv that starts `tug-agent serve` (directly or through ssh), KILL the
# agentctl options that kill that agent for real (-P PIDFILE behind ssh),
# and calls agent_flow SITE.

# req OUT OP JSON [AGENTCTL-OPTIONS...]: one request, its frames in OUT.
req() {
	local out=$1 op=$2 args=$3

	shift 3
	"$AGENTCTL" -t 120 "$@" -r "$op" "$args" -- "${RUN[@]}" >"$out" 2>"$out.err"
}

# The value of a numeric field in a RESULT line.
field() {
	grep '"type":"RESULT"' "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" | head -n 1
}

agent_flow() {
	S=$1
	site_purge "$S"
	$DOCKER rmi -f "tug-test/load-$S:1" >/dev/null 2>&1
	at_exit "site_purge $S; $DOCKER rmi -f tug-test/load-$S:1"
	SPEC="\"site\":\"$S\",\"port\":8080,\"health\":{\"path\":\"/up\",\"interval_ms\":200,\"cmd\":[\"/bin/wget\",\"-q\",\"-O-\",\"http://127.0.0.1:8080/up\"]}"

	step 'image.load streams a gzipped docker-save tarball into Docker' '
		mkdir -p $T/rootfs && head -c 300000 /dev/urandom >$T/rootfs/blob &&
		tar -C $T/rootfs -cf $T/rootfs.tar . &&
		$DOCKER import $T/rootfs.tar tug-test/load-$S:1 >/dev/null &&
		id=$($DOCKER image inspect -f "{{.Id}}" tug-test/load-$S:1) &&
		$DOCKER save tug-test/load-$S:1 | gzip >$T/img.tar.gz &&
		$DOCKER rmi tug-test/load-$S:1 >/dev/null &&
		! $DOCKER image inspect tug-test/load-$S:1 >/dev/null 2>&1 &&
		req $T/load image.load "{}" -d $T/img.tar.gz &&
		has $T/load "\"loaded\":\[\"tug-test/load-$S:1\"\]" &&
		test "$($DOCKER image inspect -f "{{.Id}}" tug-test/load-$S:1)" = "$id" &&
		req $T/insp image.inspect "{\"ref\":\"tug-test/load-$S:1\"}" &&
		has $T/insp "\"id\":\"$id\""
	'

	step 'image.load of a broken tarball fails with Docker'"'"'s reason' '
		head -c 70000 /dev/urandom >$T/junk.tar &&
		! req $T/junk image.load "{}" -d $T/junk.tar &&
		has $T/junk "\"ok\":false,\"error\":{\"code\":\"docker\",\"message\":\"docker could not load the image"
	'

	step 'site.apply r1: published on 127.0.0.1, healthy, answers with its version' '
		req $T/r1 site.apply "{$SPEC,\"release\":1,\"image\":\"tug-test/app:1\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v1\",\"STDERR_LINES\":\"3\"}}" &&
		has $T/r1 "\"step\":\"healthy\"" &&
		has $T/r1 "\"ok\":true" &&
		port=$(field $T/r1 port) && test -n "$port" &&
		$DOCKER port tug-$S-r1 8080/tcp | grep -qx "127.0.0.1:$port" &&
		test "$(curl -fsS http://127.0.0.1:$port/)" = "$S v1" &&
		test "$($DOCKER inspect -f "{{.State.Health.Status}} {{.HostConfig.Init}} {{index .Config.Labels \"tug.site\"}} {{index .Config.Labels \"tug.release\"}} {{index .Config.Labels \"tug.controller\"}}" tug-$S-r1)" = "healthy true $S 1 $TUG_CONTROLLER_ID"
	'

	step 'site.apply r2 replaces r1 and serves the new version' '
		req $T/r2 site.apply "{$SPEC,\"release\":2,\"image\":\"tug-test/app:2\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v2\",\"STDERR_LINES\":\"3\"}}" &&
		has $T/r2 "\"replaced\":\[\"tug-$S-r1\"\]" &&
		port=$(field $T/r2 port) &&
		test "$(curl -fsS http://127.0.0.1:$port/)" = "$S v2" &&
		test "$(site_containers $S | wc -l)" -eq 1 &&
		! $DOCKER inspect tug-$S-r1 >/dev/null 2>&1
	'

	step 'site.apply of the same release and spec reuses the container' '
		req $T/r2b site.apply "{$SPEC,\"release\":2,\"image\":\"tug-test/app:2\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v2\",\"STDERR_LINES\":\"3\"}}" &&
		has $T/r2b "\"reused\":true" &&
		test "$(site_containers $S | wc -l)" -eq 1
	'

	step 'logs: tail shows stdout and stderr demultiplexed' '
		port=$(host_port tug-$S-r2) &&
		curl -fsS http://127.0.0.1:$port/tail-marker >/dev/null;
		req $T/logs logs "{\"site\":\"$S\",\"tail\":\"all\"}" &&
		has $T/logs "\"stream\":\"stderr\",\"seq\":0,\"lines\":\[\"stderr line 1\"" &&
		has $T/logs "\"stream\":\"stdout\".*GET /tail-marker HTTP/1.1\\\\\" 404" &&
		has $T/logs "\"stderr_lines\":3"
	'

	step 'logs: a line longer than 64 KiB arrives whole, in 64 KiB pieces' '
		site_purge $S-long &&
		req $T/ll site.apply "{\"site\":\"$S-long\",\"port\":8080,\"health\":{\"path\":\"/up\",\"interval_ms\":200},\"release\":1,\"image\":\"tug-test/app:1\",\"env\":{\"LONG_LINE\":\"150000\"}}" &&
		req $T/llogs logs "{\"site\":\"$S-long\",\"tail\":\"all\"}" &&
		req $T/llrm site.remove "{\"site\":\"$S-long\"}" &&
		grep -o "xxxx*" $T/llogs | awk "{ n += length(\$0); c++ } END { print n, c }" >$T/llen &&
		test "$(cat $T/llen)" = "150000 3"
	'

	step 'logs -f: follows new request lines and ends cleanly on CANCEL' '
		port=$(host_port tug-$S-r2) &&
		{ req $T/follow logs "{\"site\":\"$S\",\"tail\":0,\"follow\":true}" -c "GET /follow-me" & } &&
		pid=$! &&
		for i in $(seq 50); do
			curl -fsS http://127.0.0.1:$port/follow-me >/dev/null 2>&1;
			grep -q "\"type\":\"RESULT\"" $T/follow 2>/dev/null && break;
			sleep 0.1;
		done;
		wait $pid &&
		has $T/follow "\"kind\":\"log\",\"stream\":\"stdout\",\"seq\":0," &&
		has $T/follow "\"kind\":\"log\",\"stream\":\"stdout\",\"seq\":[0-9]*,\"lines\":\[\".*GET /follow-me" &&
		has $T/follow "\"cancelled\":true"
	'

	step 'site.status reports the running release' '
		req $T/st site.status "{\"site\":\"$S\"}" &&
		has $T/st "\"current\":2" &&
		has $T/st "\"name\":\"tug-$S-r2\",.*\"release\":2,\"state\":\"running\"" &&
		has $T/st "\"health\":\"healthy\""
	'

	step 'site.stop stops it, site.start brings it back' '
		req $T/stop site.stop "{\"site\":\"$S\"}" &&
		has $T/stop "\"stopped\":\[\"tug-$S-r2\"\]" &&
		test "$($DOCKER inspect -f "{{.State.Running}}" tug-$S-r2)" = false &&
		req $T/start site.start "{\"site\":\"$S\"}" &&
		has $T/start "\"started\":\[\"tug-$S-r2\"\]" &&
		for i in $(seq 50); do
			port=$(host_port tug-$S-r2) &&
			curl -fsS http://127.0.0.1:$port/ >$T/body 2>/dev/null && break;
			sleep 0.1;
		done &&
		test "$(cat $T/body)" = "$S v2"
	'

	step 'a release that never becomes healthy is kept, stopped, for its logs; the old one keeps serving' '
		! req $T/r3 site.apply "{\"site\":\"$S\",\"port\":8080,\"health\":{\"path\":\"/up\",\"interval_ms\":200,\"retries\":3},\"release\":3,\"image\":\"tug-test/app:2\",\"env\":{\"SITE\":\"$S\",\"HEALTH\":\"fail\"}}" &&
		has $T/r3 "\"ok\":false,\"error\":{\"code\":\"health\",\"message\":\"release 3 did not become healthy: GET /up answered 500; release 2 keeps serving (its container is kept, stopped, until the next deploy: tug logs $S --release 3)" &&
		test "$($DOCKER inspect -f "{{.State.Status}}" tug-$S-r3)" = exited &&
		port=$(host_port tug-$S-r2) &&
		test "$(curl -fsS http://127.0.0.1:$port/)" = "$S v2"
	'

	step 'an agent killed in the middle of an apply: running it again converges' '
		req $T/r4k site.apply "{$SPEC,\"release\":4,\"image\":\"tug-test/app:1\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v4\"}}" -k health ${KILL[@]+"${KILL[@]}"};
		test $? -eq 3 &&
		has $T/r4k "removing tug-$S-r3, kept from a failed deploy" &&
		! $DOCKER inspect tug-$S-r3 >/dev/null 2>&1 &&
		$DOCKER inspect tug-$S-r4 >/dev/null &&
		test "$(site_containers $S | wc -l)" -eq 2 &&
		req $T/r4 site.apply "{$SPEC,\"release\":4,\"image\":\"tug-test/app:1\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v4\"}}" &&
		has $T/r4 "\"step\":\"recover\"" &&
		has $T/r4 "\"replaced\":\[\"tug-$S-r2\"\]" &&
		test "$(site_containers $S | wc -l)" -eq 1 &&
		port=$(field $T/r4 port) &&
		test "$(curl -fsS http://127.0.0.1:$port/)" = "$S v4"
	'

	step 'killed right after create, then a newer release: no orphan is left' '
		req $T/r5k site.apply "{$SPEC,\"release\":5,\"image\":\"tug-test/app:1\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v5\"}}" -k start ${KILL[@]+"${KILL[@]}"};
		test $? -eq 3 &&
		req $T/r6 site.apply "{$SPEC,\"release\":6,\"image\":\"tug-test/app:2\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v6\"}}" &&
		has $T/r6 "removing tug-$S-r5 left by an interrupted apply" &&
		test "$(site_containers $S | wc -l)" -eq 1 &&
		$DOCKER inspect tug-$S-r6 >/dev/null
	'

	step 'site.remove leaves no container behind' '
		req $T/rm site.remove "{\"site\":\"$S\"}" &&
		has $T/rm "\"removed\":\[\"tug-$S-r6\"\]" &&
		test -z "$(site_containers $S)" &&
		req $T/st2 site.status "{\"site\":\"$S\"}" &&
		has $T/st2 "\"containers\":\[\]" &&
		! req $T/stop2 site.stop "{\"site\":\"$S\"}" &&
		has $T/stop2 "\"code\":\"not_found\""
	'

	step 'image.remove deletes the loaded image; a second time is not_found' '
		req $T/irm image.remove "{\"ref\":\"tug-test/load-$S:1\"}" &&
		has $T/irm "\"untagged\":\[\"tug-test/load-$S:1\"\]" &&
		! req $T/irm2 image.remove "{\"ref\":\"tug-test/load-$S:1\"}" &&
		has $T/irm2 "\"code\":\"not_found\""
	'
}
