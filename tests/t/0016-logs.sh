#!/bin/bash
# 0016-logs: tug logs on a site of the three namespace hosts. Lines of every
# host merged in Docker's time order with a host prefix, --tail, --host,
# --since, --timestamps and --json; following through the kill of one
# host's agent with no line lost or repeated; Ctrl-C and a killed CLI
# leaving no logs job on any agent; bad input refused with its reason.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
"$TUG" init >/dev/null || bail "tug init"
"$TUG" key >$T/tugd.pub || bail "tug key"
KEY=$TUG_HOME/id_ed25519
$DOCKER save tug-test/app:1 >$T/images.tar || bail "docker save"
for n in 1 2 3; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	ns_docker $n load -i $T/images.tar >/dev/null || bail "image load $n"
	for c in $(ns_docker $n ps -aq --filter label=tug.site); do
		ns_docker $n rm -f $c >/dev/null
	done
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey \
	    >/dev/null || bail "host add h$n"
done
at_exit "ns_agent_reset 1; ns_agent_reset 2; ns_agent_reset 3; ns_host_down 1 2 3"
"$TUG" -q host bootstrap --all --proxy nginx --proxy-port 8080 >/dev/null ||
    bail "proxy"
cat >$T/logs.yml <<EOS
site: logs
image: tug-test/app:1
hosts: [h1, h2, h3]
domains: [logs.test]
port: 8080
env: {LOG_LINES: "200"}
health: {path: /up, interval: 200ms}
EOS
"$TUG" site apply $T/logs.yml >/dev/null || bail "site apply"
"$TUG" -q deploy logs >$T/deploy 2>&1 || { cat $T/deploy; bail "deploy"; }

# say N TAG [COUNT]: host N's container writes COUNT lines tagged TAG.
say() {
	curl -fsS --max-time 10 -H "Host: logs.test" \
	    "http://$(ns_addr $1):8080/log?n=${3:-1}&tag=$2" >/dev/null
}

# The agent process on host N, and how many threads it runs: one, the
# watch tugd keeps open on a host that serves a site (agent/watch.c), and
# one per job.
agent_pid() {
	pgrep -u tughost$1 -f "tug-agent-[0-9a-f]* serve" | head -n 1
}
agent_threads() {
	awk '/^Threads:/ { print $2 }' /proc/$(agent_pid $1)/status
}

idle() {
	test "$(agent_threads 1)" = 2 && test "$(agent_threads 2)" = 2 &&
	    test "$(agent_threads 3)" = 2
}
busy() {
	test "$(agent_threads 1)" -gt 2 && test "$(agent_threads 2)" -gt 2 &&
	    test "$(agent_threads 3)" -gt 2
}
count() {
	grep -c -- "$2" "$1"
}

# The watches open within a few seconds of the deploy.
until_true 10 idle || bail "no watch on the agents: $(agent_threads 1) $(agent_threads 2) $(agent_threads 3) threads"

step 'logs of three hosts: all there, prefixed, merged in time order' '
	for i in 1 2 3 4; do
		for n in 1 2 3; do
			say $n ord-$i-h$n || return 1
		done
	done &&
	"$TUG" logs logs --tail all --timestamps >$T/out 2>$T/err &&
	for n in 1 2 3; do
		test "$(grep "^h$n | " $T/out | grep -c "bench/1.0\" n=")" = 200 &&
		grep -q "^h$n | 20[0-9-]*T[0-9:.]*Z listening on 8080$" $T/out || return 1
		for i in 1 2 3 4; do
			grep -q "^h$n | .* tag=ord-$i-h$n n=1 " $T/out || return 1
		done
	done &&
	! grep -qv "^h[123] | " $T/out &&
	sed "s/^h[123] | //" $T/out | cut -d" " -f1 >$T/times &&
	test "$(wc -l <$T/times)" = "$(wc -l <$T/out)" &&
	sort -c $T/times &&
	test "$(grep -o "tag=ord-[0-9]-h[0-9] n=1 " $T/out | cut -c9-12 | tr "\n" " ")" = \
	    "1-h1 1-h2 1-h3 2-h1 2-h2 2-h3 3-h1 3-h2 3-h3 4-h1 4-h2 4-h3 " &&
	"$TUG" logs logs --tail all >$T/plain &&
	test "$(wc -l <$T/plain)" = "$(wc -l <$T/out)" &&
	! grep -q "^h[123] | 20[0-9][0-9]-" $T/plain &&
	grep -q "^h2 | 10.0.0.[0-9]* - - .* tag=ord-4-h2 n=1 t=" $T/plain
'

step '--tail counts from the end of each host; --host picks one' '
	"$TUG" logs logs --tail 3 >$T/out &&
	test "$(wc -l <$T/out)" = 9 &&
	for n in 1 2 3; do
		test "$(count $T/out "^h$n | ")" = 3 || return 1
	done &&
	test "$(count $T/out "tag=ord-4-h[123] n=")" = 3 &&
	! grep -q "tag=ord-2" $T/out &&
	"$TUG" logs logs --host h2 -n 2 >$T/out &&
	test "$(wc -l <$T/out)" = 2 && test "$(count $T/out "^h2 | ")" = 2 &&
	"$TUG" logs logs --tail 0 >$T/out && test ! -s $T/out &&
	"$TUG" logs logs >$T/out && test "$(wc -l <$T/out)" = 300
'

step '--json: one object per line with host, stream, time and line' '
	"$TUG" logs logs --tail 2 --json >$T/out &&
	test "$(wc -l <$T/out)" = 6 &&
	test "$(grep -c "^{\"host\":\"h[123]\",\"stream\":\"stdout\",\"time\":\"20[0-9-]*T[0-9:.]*Z\",\"line\":\".*\"}$" $T/out)" = 6 &&
	grep -q "\"line\":\"10.0.0.[0-9]* - - \[23/Nov/2026:08:00:00 +0000\] \\\\\"GET /page/000001 HTTP/1.1\\\\\" 200 1001 \\\\\"-\\\\\" \\\\\"bench/1.0\\\\\" tag=ord-4-h3 n=1 t=[0-9]*\"" $T/out &&
	"$TUG" --json logs logs --tail 1 --host h1 | grep -q "^{\"host\":\"h1\","
'

step '--since: only the lines written after that time' '
	sleep 1.1 && since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ) &&
	say 1 late-h1 && say 3 late-h3 &&
	"$TUG" logs logs --tail all --since "$since" >$T/out &&
	test "$(wc -l <$T/out)" = 4 &&
	grep -q "^h1 | .*tag=late-h1 n=1" $T/out &&
	grep -q "^h3 | .*tag=late-h3 n=1" $T/out &&
	test "$(count $T/out "GET /log?n=1&tag=late")" = 2 &&
	"$TUG" logs logs --tail all --since 10m >$T/out &&
	test "$(count $T/out "tag=ord-1-h1 n=")" = 1 &&
	"$TUG" logs logs --tail all --since $(($(date +%s) + 3600)) >$T/out &&
	test ! -s $T/out &&
	"$TUG" logs logs --tail all --since 2d >$T/out &&
	test "$(count $T/out "tag=ord-1-h1 n=")" = 1 &&
	"$TUG" logs logs --tail all --since "$(date -u +%Y-%m-%d)" >$T/out &&
	test "$(count $T/out "tag=late-h3 n=")" = 1 &&
	"$TUG" logs logs --tail all --since "$(date -u -d "+1 day" +%Y-%m-%dT%H:%M)" >$T/out &&
	test ! -s $T/out
'

step 'follow through a killed agent: later lines arrive once, none lost' '
	"$TUG" logs logs -f --tail 0 >$T/follow 2>$T/follow.err & pid=$!
	{
		until_true 10 busy &&
		say 1 before 20 && say 2 before 20 &&
		until_true 10 eval "test \$(count $T/follow \"^h1 | .*tag=before n=\") = 20" &&
		old=$(agent_pid 1) && test -n "$old" &&
		ns_ssh 1 "$KEY" kill -9 "$old" &&
		say 1 after 50 && say 1 after2 30 && say 2 after 10 &&
		until_true 20 eval "test \$(count $T/follow \"^h1 | .*tag=after2 n=\") = 30" &&
		sleep 0.5
	}; ok=$?
	kill -INT $pid; wait $pid; rc=$?
	cat $T/follow.err
	test $ok = 0 && test $rc = 130 &&
	test "$(agent_pid 1)" != "$old" &&
	grep -q "h1: connection lost; resuming from its last line" $T/follow.err &&
	test "$(count $T/follow "^h1 | .*tag=before n=")" = 20 &&
	test "$(count $T/follow "^h2 | .*tag=before n=")" = 20 &&
	test "$(count $T/follow "^h1 | .*tag=after n=")" = 50 &&
	test "$(count $T/follow "^h2 | .*tag=after n=")" = 10 &&
	test "$(count $T/follow "^h1 | .*\"GET /log?n=20&tag=before ")" = 1 &&
	test "$(count $T/follow "^h1 | .*\"GET /log?n=50&tag=after ")" = 1 &&
	test -z "$(sort $T/follow | uniq -d)" &&
	for i in $(seq 50); do
		test "$(count $T/follow "^h1 | .*tag=after n=$i ")" = 1 || return 1
	done &&
	! grep -q "^h3 | " $T/follow &&
	until_true 5 idle
'

step 'Ctrl-C cancels the job on every agent' '
	"$TUG" logs logs -f >$T/out 2>$T/err & pid=$!
	{
		until_true 10 busy && until_true 5 eval "test -s $T/out" &&
		say 3 live &&
		until_true 5 eval "grep -q \"^h3 | .*tag=live n=1 \" $T/out"
	}; ok=$?
	kill -INT $pid; wait $pid; rc=$?
	test $ok = 0 && test $rc = 130 &&
	until_true 5 idle
'

step 'a CLI killed outright: tugd sees it go and cancels every job' '
	"$TUG" logs logs -f --tail 1 >$T/out 2>$T/err & pid=$!
	{ until_true 10 busy && until_true 5 eval "test -s $T/out"; }; ok=$?
	kill -9 $pid; wait $pid;
	test $ok = 0 && until_true 5 idle &&
	"$TUG" logs logs --tail 1 >$T/out && test "$(wc -l <$T/out)" = 3
'

step 'a stdout that goes away ends a follow' '
	"$TUG" logs logs -f --tail 5 2>$T/err | head -n 2 >$T/out &&
	test "$(wc -l <$T/out)" = 2 &&
	until_true 5 idle
'

# tugd's resident memory, in KiB.
tugd_rss() {
	awk '/^VmRSS:/ { print $2 }' /proc/$(tugd_pid)/status
}

# Under AddressSanitizer freed memory waits in a quarantine (256 MB), which
# this step would count as held: its tugd runs without one.
step 'a client that stops reading: tugd holds a bounded amount, then delivers every line once' '
	for n in 1 2 3; do say $n big 150000 & done; wait &&
	tugd_stop &&
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" "$TUG" status >/dev/null &&
	before=$(tugd_rss) &&
	mkfifo $T/slow &&
	{ "$TUG" logs logs --tail all >$T/slow 2>$T/slow.err & } && pid=$! &&
	exec 7<$T/slow &&
	sleep 6 &&
	held=$(( $(tugd_rss) - before )) &&
	echo "tugd grew by $held KiB while the client did not read" &&
	test $held -lt 40960 &&
	cat <&7 >$T/slow.out && exec 7<&- &&
	wait $pid &&
	for n in 1 2 3; do
		test "$(grep -c "^h$n | .*tag=big n=" $T/slow.out)" = 150000 || exit 1
	done &&
	test "$(grep "tag=big n=" $T/slow.out | sort | uniq -d | wc -l)" = 0
'

step 'requests per user are bounded: past the limit one is refused, saying which limit, others go on' '
	"$TUG" user add other >/dev/null && "$TUG" grant other view global >/dev/null &&
	tugd_stop &&
	TUG_REQUESTS_PER_USER=2 "$TUG" status >/dev/null &&
	{ "$TUG" logs logs -f >/dev/null 2>&1 & } && f1=$! &&
	{ "$TUG" logs logs -f >/dev/null 2>&1 & } && f2=$! &&
	until_true 10 busy &&
	! "$TUG" site list >$T/out 2>$T/err &&
	grep -qx "tug: root is running 2 requests, the limit per user: try again when some have finished" $T/err &&
	"$TUG" --as other site list | grep -q "^logs " &&
	kill $f1 $f2 && wait &&
	until_true 5 idle &&
	"$TUG" site list | grep -q "^logs " &&
	tugd_stop && "$TUG" status >/dev/null
'

step 'bad input is refused with its reason' '
	! "$TUG" logs "bad;name" 2>$T/err &&
	grep -q "invalid site name .bad;name.: only lowercase letters" $T/err &&
	! "$TUG" logs nosuch 2>$T/err && grep -q "no site .nosuch." $T/err &&
	! "$TUG" logs logs --tail abc 2>$T/err &&
	grep -q "invalid --tail .abc.: a number of lines" $T/err &&
	! "$TUG" logs logs --tail -5 2>$T/err && grep -q "invalid --tail .-5." $T/err &&
	! "$TUG" logs logs --since yesterday 2>$T/err &&
	grep -q "invalid --since .yesterday.: a Unix time, a duration" $T/err &&
	! "$TUG" logs logs --host h9 2>$T/err &&
	grep -q "site .logs. does not run on host .h9. (its hosts: h1, h2, h3)" $T/err &&
	! "$TUG" logs logs --host "H;1" 2>$T/err && grep -q "invalid host name .H;1." $T/err &&
	{ "$TUG" logs 2>$T/err; test $? = 2; } && grep -q "usage: tug logs SITE" $T/err &&
	{ "$TUG" logs logs --bogus 2>$T/err; test $? = 2; } &&
	grep -q "unknown option .--bogus." $T/err &&
	"$TUG" logs --help >$T/out && grep -q "^  -f, --follow" $T/out &&
	grep -q "^  -n, --tail" $T/out &&
	printf "site: quiet\nimage: tug-test/app:1\nhosts: [h1, h3]\ndomains: [quiet.test]\nport: 8080\n" >$T/quiet.yml &&
	"$TUG" site apply $T/quiet.yml >/dev/null &&
	! "$TUG" logs quiet 2>$T/err &&
	grep -q "h1: site .quiet. has no container on this host" $T/err &&
	grep -q "logs failed on 2 of 2 hosts" $T/err &&
	"$TUG" site rm --yes quiet >/dev/null && "$TUG" site rm --yes logs >/dev/null
'

finish
