#!/bin/bash
# 0001-agent-basics: tug-agent's command line, its sentinel and HELLO with
# the host's facts, ping and facts over a pipe, and `tug-agent check`.

. "$(dirname "$0")/../lib.sh"
bed_dockerd || bail "no dockerd"
STATE=$T/state

step 'version and help' '
	"$AGENT" version | grep -q "^tug-agent [0-9.]* (protocol 2)$" &&
	"$AGENT" --help | grep -q "usage: tug-agent serve" &&
	"$AGENT" serve --help | grep -q "bind-root"
'

step 'unknown command and bad option exit 2 with usage' '
	{ "$AGENT" frobnicate 2>$T/err; test $? -eq 2; } &&
	grep -q "unknown command .frobnicate." $T/err &&
	{ "$AGENT" serve --nope 2>$T/err; test $? -eq 2; } &&
	grep -q usage $T/err
'

step 'relative or odd paths are refused at start-up' '
	! "$AGENT" serve --state-dir relative </dev/null 2>$T/err &&
	grep -q "must be absolute" $T/err &&
	! "$AGENT" serve --docker-socket "/a/../b" </dev/null 2>$T/err &&
	grep -q "not allowed" $T/err
'

step 'sentinel line comes before the first frame' '
	"$AGENT" serve --state-dir "$STATE" </dev/null >$T/raw &&
	head -c 18 $T/raw | grep -qx "TUG-AGENT 1 READY"
'

step 'HELLO carries the host facts' '
	"$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir "$STATE" >$T/out &&
	has $T/out "\"type\":\"HELLO\",\"id\":0" &&
	has $T/out "\"proto\":2" &&
	has $T/out "\"role\":\"agent\"" &&
	has $T/out "\"arch\":\"$(uname -m)\"" &&
	has $T/out "\"kernel\":\"$(uname -r)\"" &&
	has $T/out "\"cpus\":$(nproc)" &&
	has $T/out "\"memory\":[1-9]" &&
	has $T/out "\"disk_free\":[1-9]" &&
	has $T/out "\"api_version\":\"1\.[0-9]*\"" &&
	has $T/out "\"agent_version\":\"[0-9.]*\""
'

step 'ping and facts answer with RESULTs of their own id' '
	"$AGENTCTL" -r ping "{}" -r facts "{}" -- "$AGENT" serve --state-dir "$STATE" >$T/out &&
	has $T/out "\"type\":\"RESULT\",\"id\":1,\"body\":{\"ok\":true,\"value\":{\"time_ms\"" &&
	has $T/out "\"type\":\"RESULT\",\"id\":2,\"body\":{\"ok\":true,\"value\":{\"os\""
'

step 'DOCKER_HOST selects the socket; a bad one is reported, not fatal' '
	DOCKER_HOST=unix:///nonexistent.sock "$AGENTCTL" -r ping "{}" -r image.list "{}" -- \
	    "$AGENT" serve --state-dir "$STATE" >$T/out;
	test $? -eq 1 &&
	has $T/out "\"socket\":\"/nonexistent.sock\"" &&
	has $T/out "\"id\":1,\"body\":{\"ok\":true" &&
	has $T/out "\"id\":2,\"body\":{\"ok\":false,\"error\":{\"code\":\"docker\",\"message\":\"cannot reach Docker at /nonexistent.sock: no such socket"
'

step 'check prints facts and fails without Docker' '
	"$AGENT" check --state-dir "$STATE" >$T/out &&
	has $T/out "\"docker\":{\"socket\"" &&
	! "$AGENT" check --state-dir "$STATE" --docker-socket /nonexistent.sock >$T/out 2>$T/err &&
	grep -q "cannot reach Docker at /nonexistent.sock" $T/err
'

step 'state dir is created private' '
	test "$(stat -c %a "$STATE")" = 700
'

# One controller per state dir: the first HELLO's id is recorded.
ID1=$TUG_CONTROLLER_ID	# lib.sh: every test's controller
ID2=0123456789abcdef0123456789abcdef
step 'the first HELLO records the controller id in the state dir, 0600' '
	test "$(cat "$STATE/controller")" = $ID1 &&
	test "$(stat -c %a "$STATE/controller")" = 600 &&
	rm -rf $T/fresh &&
	TUG_CONTROLLER_ID=$ID2 "$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir $T/fresh >$T/out &&
	has $T/out "\"id\":1,\"body\":{\"ok\":true" &&
	test "$(cat $T/fresh/controller)" = $ID2 &&
	TUG_CONTROLLER_ID=$ID2 "$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir $T/fresh >$T/out &&
	has $T/out "\"id\":1,\"body\":{\"ok\":true"
'

step 'a HELLO from another controller: ERROR wrong_controller naming the state dir, close' '
	TUG_CONTROLLER_ID=$ID2 "$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir "$STATE" >$T/out 2>$T/err;
	test $? -eq 1 &&
	has $T/out "\"type\":\"ERROR\",\"id\":0,\"body\":{\"code\":\"wrong_controller\",\"message\":\"this host is already managed by another tug controller: the agent.s state dir $STATE belongs to controller $ID1, not $ID2" &&
	hasnt $T/out "\"type\":\"RESULT\"" &&
	has $T/err "agent exited 1" &&
	test "$(cat "$STATE/controller")" = $ID1
'

step 'a HELLO without a controller id, or a malformed one: ERROR bad_message, close' '
	TUG_CONTROLLER_ID= "$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir $T/none >$T/out 2>$T/err;
	test $? -eq 1 &&
	has $T/out "\"code\":\"bad_message\",\"message\":\"controller: missing\"" &&
	has $T/err "agent exited 1" &&
	! test -e $T/none/controller &&
	for bad in 0123456789ABCDEF0123456789ABCDEF 0123 0123456789abcdef0123456789abcdef0 \
	    "0123456789abcdef0123456789abcdeg" "../../../../etc/passwd"; do
		TUG_CONTROLLER_ID=$bad "$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir $T/none >$T/out 2>$T/err;
		test $? -eq 1 &&
		has $T/out "\"code\":\"bad_message\",\"message\":\"controller: expected 32 lowercase hex digits\"" &&
		hasnt $T/out "\"type\":\"RESULT\"" || return 1
	done &&
	! test -e $T/none/controller
'

step 'a damaged controller record refuses every HELLO' '
	mkdir -p $T/dmg && echo nonsense >$T/dmg/controller &&
	"$AGENTCTL" -r ping "{}" -- "$AGENT" serve --state-dir $T/dmg >$T/out 2>$T/err;
	test $? -eq 1 &&
	has $T/out "\"code\":\"io\",\"message\":\"$T/dmg/controller is damaged (expected 32 lowercase hex digits): remove it"
'

finish
