#!/bin/bash
# 0011-fleet-hosts: tugd and three hosts, each a network namespace with its
# own address, sshd, dockerd and SSH user. Add (pinning host keys) and
# bootstrap them, check them in parallel, refuse a regenerated host key and
# wrong credentials, lose a host in the middle of a fleet command, replace
# the agent when tug's build changes, restart tugd under connected hosts,
# and serve two clients at once.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
"$TUG" init >/dev/null || bail "tug init"
"$TUG" key >$T/tugd.pub || bail "tug key"
for n in 1 2 3; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n	# earlier runs
done
at_exit "ns_host_down 1 2 3"
# Steps run in subshells: what they start is cleaned up from here.
at_exit "ip netns exec tugh2 iptables -F"
at_exit "bed_sshd_stop /run/tug-test/sshd-0011"

# Agents left running on a host (by the host's own user).
agents_on() {
	pgrep -u tughost$1 -f "tug-agent-[0-9a-f]* serve" | wc -l
}

step 'add without a pinned key is refused and names the fingerprint' '
	fp=$(ssh-keyscan -t ed25519 $(ns_addr 1) 2>/dev/null | ssh-keygen -l -f - | cut -d" " -f2) &&
	test -n "$fp" &&
	! "$TUG" host add h1 tughost1@$(ns_addr 1) 2>$T/err &&
	grep -q "unknown host key $fp; check it and pass --hostkey $fp, or --accept-new-hostkey" $T/err &&
	! "$TUG" host list | grep -q h1
'

step 'add with --hostkey that does not match is refused, as a mismatch, not a change' '
	! "$TUG" host add h1 tughost1@$(ns_addr 1) --hostkey SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 2>$T/err &&
	grep -q "h1: .*:22 presented host key SHA256:[A-Za-z0-9+/]*, not the SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA given with --hostkey; nothing was added" $T/err &&
	! grep -q "HOST KEY CHANGED\|pinned" $T/err &&
	! "$TUG" host list | grep -q "^h1 "
'

step 'add three hosts: keys pinned, agents installed, facts stored' '
	fp=$(ssh-keyscan -t ed25519 $(ns_addr 1) 2>/dev/null | ssh-keygen -l -f - | cut -d" " -f2) &&
	"$TUG" host add h1 tughost1@$(ns_addr 1) --hostkey "$fp" --group web >$T/out 2>$T/progress &&
	grep -q "host key $fp pinned, agent installed" $T/out &&
	grep -q "h1: uploading tug-agent" $T/progress &&
	grep -q "h1: verified sha256" $T/progress &&
	{ "$TUG" host add h2 tughost2@$(ns_addr 2):22 --accept-new-hostkey --group web >$T/o2 2>&1 || { cat $T/o2; false; }; } &&
	"$TUG" host add h3 tughost3@$(ns_addr 3) --accept-new-hostkey --group db >/dev/null 2>&1 &&
	sum=$(sha256sum "$AGENT" | cut -c1-16) &&
	for n in 1 2 3; do
		test -x /home/tughost$n/.tug/bin/tug-agent-$sum || return 1
	done &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM hosts WHERE facts LIKE '\''%docker%'\''")" = 3
'

step 'host list shows groups and connected sessions' '
	for i in $(seq 50); do
		"$TUG" host list >$T/list && test "$(grep -c connected $T/list)" = 3 && break
		sleep 0.1
	done &&
	grep -q "^h1 *10.77.1.2:22 *tughost1 *web *connected" $T/list &&
	grep -q "^h3 *10.77.3.2:22 *tughost3 *db *connected" $T/list &&
	"$TUG" --json host list | grep -q "\"name\":\"h2\",\"address\":\"10.77.2.2\""
'

step 'check all three: each host reports its own engine' '
	"$TUG" host check >$T/out &&
	grep -q "^3 of 3 hosts reachable" $T/out &&
	grep -q "^h2 *yes *0.1.0 *20.10" $T/out &&
	"$TUG" --json host check h1 h3 >$T/json &&
	grep -q "\"total\":2" $T/json &&
	grep -q "\"name\":\"h1\",\"reachable\":true,\"rtt_ms\":[0-9]*,\"agent_version\":\"0.1.0\"" $T/json &&
	"$TUG" host check --group web >$T/out &&
	grep -q "^2 of 2 hosts reachable" $T/out &&
	for n in 1 2 3; do
		test "$(agents_on $n)" = 1 || return 1
	done
'

step 'each agent drives its own host'"'"'s engine (DOCKER_HOST from sshd)' '
	for n in 1 2 3; do
		sqlite3 "$TUG_HOME/tug.db" "SELECT facts FROM hosts WHERE name = '\''h$n'\''" |
		    grep -q "\"socket\":\"/run/tug-test/h$n/docker.sock\"" || return 1
	done
'

step 'check of an unknown host or group is refused' '
	! "$TUG" host check nope 2>$T/err && grep -q "no host .nope." $T/err &&
	! "$TUG" host check --group nogroup 2>$T/err && grep -q "no host in group .nogroup." $T/err
'

# Bootstrap connects on its own; check, logs and deploys go through
# tugd's persistent sessions, which must check the pin as well: tugd is
# restarted so that they connect again (a session open before the new
# key would not notice it).
step 'a regenerated host key is refused, naming both fingerprints, by bootstrap and by tugd'"'"'s own sessions' '
	old=$(sqlite3 "$TUG_HOME/tug.db" "SELECT hostkey FROM hosts WHERE name = '\''h3'\''") &&
	ns_regen_hostkey 3 &&
	new=$(ssh-keyscan -t ed25519 $(ns_addr 3) 2>/dev/null | ssh-keygen -l -f - | cut -d" " -f2) &&
	test "$old" != "$new" &&
	"$TUG" host bootstrap h3 >$T/out 2>$T/err;
	grep -q "HOST KEY CHANGED: 10.77.3.2:22 presented $new but $old is pinned" $T/err &&
	tugd_stop &&
	! "$TUG" host check h3 >$T/out 2>$T/err &&
	grep -q "HOST KEY CHANGED: 10.77.3.2:22 presented $new but $old is pinned" $T/out $T/err &&
	! "$TUG" host check --all >$T/out 2>$T/err &&
	grep -q "^2 of 3 hosts reachable" $T/out &&
	"$TUG" host rm --yes h3 >/dev/null &&
	"$TUG" host add h3 tughost3@$(ns_addr 3) --hostkey "$new" --group db >/dev/null 2>&1
'

step 'wrong user or wrong key: refused with the reason' '
	! "$TUG" host add hx tughost2@$(ns_addr 1) --accept-new-hostkey 2>$T/err &&
	grep -q "hx: tughost2@10.77.1.2 refused our key" $T/err &&
	ssh-keygen -q -t ed25519 -N "" -f $T/other >/dev/null &&
	! "$TUG" host add hy tughost1@$(ns_addr 1) --accept-new-hostkey --key $T/other 2>$T/err &&
	grep -q "hy: tughost1@10.77.1.2 refused our key ($T/other)" $T/err &&
	! "$TUG" host add hz tughost1@$(ns_addr 1) --accept-new-hostkey --key $T/missing 2>$T/err &&
	grep -q "cannot read the key .$T/missing." $T/err &&
	! "$TUG" host list | grep -q "^h[xyz] "
'

step 'a host lost in the middle of a fleet command: its error, the others complete' '
	"$TUG" host check >/dev/null &&
	ip netns exec tugh2 iptables -I INPUT -p tcp --dport 22 -j DROP &&
	ip netns exec tugh2 iptables -I OUTPUT -p tcp --sport 22 -j DROP &&
	t0=$(date +%s%3N) &&
	{ "$TUG" host check --timeout 2000 >$T/out 2>$T/err; test $? -eq 1; } &&
	t1=$(date +%s%3N) &&
	test $((t1 - t0)) -lt 6000 &&
	grep -q "^2 of 3 hosts reachable" $T/out &&
	grep -q "^h2 *no" $T/out &&
	grep -q "^h1 *yes" $T/out && grep -q "^h3 *yes" $T/out &&
	grep -q "h2" $T/err
'

step 'the lost host comes back: reconnected without a restart' '
	ip netns exec tugh2 iptables -F &&
	ns_sshd_stop 2 && ns_sshd_start 2 &&
	for i in $(seq 100); do
		"$TUG" host check h2 --timeout 2000 >$T/out 2>&1 && break
		sleep 0.2
	done &&
	grep -q "^1 of 1 hosts reachable" $T/out
'

step 'tugd restarted while hosts are connected: sessions come back, no agent left behind' '
	"$TUG" host check >/dev/null &&
	old=$(tugd_pid) && tugd_stop &&
	"$TUG" host check >$T/out &&
	grep -q "^3 of 3 hosts reachable" $T/out &&
	test "$(tugd_pid)" != "$old" &&
	for n in 1 2 3; do
		for i in $(seq 50); do
			test "$(agents_on $n)" = 1 && break
			sleep 0.1
		done
		test "$(agents_on $n)" = 1 || { pgrep -a -u tughost$n; return 1; }
	done
'

step 'two CLI clients at once' '
	"$TUG" host check >$T/a 2>&1 & a=$!
	"$TUG" host check >$T/b 2>&1 & b=$!
	"$TUG" host list >$T/c 2>&1 &&
	wait $a && wait $b &&
	grep -q "^3 of 3 hosts reachable" $T/a &&
	grep -q "^3 of 3 hosts reachable" $T/b &&
	grep -q "^h1 " $T/c
'

step 'the agent is replaced when tug'"'"'s build changes' '
	cp "$AGENT" $T/tug-agent-next && printf "tug-build-2" >>$T/tug-agent-next &&
	newsum=$(sha256sum $T/tug-agent-next | cut -c1-16) &&
	oldsum=$(sha256sum "$AGENT" | cut -c1-16) &&
	tugd_stop &&
	TUG_AGENT=$T/tug-agent-next "$TUGD" &&
	"$TUG" host check >$T/out &&
	grep -q "^3 of 3 hosts reachable" $T/out &&
	for n in 1 2 3; do
		test -x /home/tughost$n/.tug/bin/tug-agent-$newsum &&
		! test -e /home/tughost$n/.tug/bin/tug-agent-$oldsum || return 1
	done &&
	"$TUG" status | grep -q "agent   $newsum"
'

step 'a host whose user may not use Docker: bootstrap says so' '
	bed_user tugnodock && gpasswd -d tugnodock docker >/dev/null 2>&1;
	install -d -o tugnodock -m 700 /home/tugnodock/.ssh &&
	install -o tugnodock -m 600 $T/tugd.pub /home/tugnodock/.ssh/authorized_keys &&
	bed_sshd /run/tug-test/sshd-0011 2231 tugnodock $T/tugd.pub >/dev/null &&
	! "$TUG" host add nodock tugnodock@127.0.0.1:2231 --accept-new-hostkey 2>$T/err &&
	grep -q "nodock: tug-agent cannot reach Docker: .*permission denied (add this user to the docker group)" $T/err
'

step 'an agent that cannot load a library: bootstrap names it' '
	printf "int tug_missing(void) { return 0; }\n" >$T/m.c &&
	printf "int tug_missing(void); int main(void) { return tug_missing(); }\n" >$T/main.c &&
	cc -shared -fPIC -o $T/libtugmissing.so $T/m.c &&
	cc -o $T/fake-agent $T/main.c -L$T -ltugmissing &&
	rm $T/libtugmissing.so &&
	tugd_stop &&
	TUG_AGENT=$T/fake-agent "$TUGD" &&
	! "$TUG" host bootstrap h1 >$T/out 2>$T/err &&
	grep -q "h1: tug-agent cannot run: missing shared library libtugmissing.so (on Debian or Ubuntu: tug host bootstrap h1 --install-deps" $T/err &&
	! "$TUG" host bootstrap h1 --install-deps >$T/out 2>$T/err &&
	grep -q "installing the agent.s packages failed: .*sudo" $T/err &&
	tugd_stop && "$TUGD"
'

finish
