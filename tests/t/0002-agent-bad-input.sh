#!/bin/bash
# 0002-agent-bad-input: whatever the controller side sends, the agent answers
# with an ERROR frame saying what was wrong and never crashes: broken frames,
# wrong types, unknown ops, requests before HELLO, hostile names and specs.

. "$(dirname "$0")/../lib.sh"
bed_dockerd || bail "no dockerd"
STATE=$T/state
RUN=("$AGENT" serve --state-dir "$STATE")
site_purge ok

# raw NAME BYTES-AS-PRINTF: a file of raw bytes.
raw() {
	printf "$2" >"$T/$1"
}

# A frame of payload P (printf escapes), its length computed here.
frame() {
	local f=$T/frame.tmp len

	printf "$2" >"$f"
	len=$(stat -c %s "$f")
	printf "\\x$(printf %02x $((len >> 24 & 255)))\\x$(printf %02x $((len >> 16 & 255)))\\x$(printf %02x $((len >> 8 & 255)))\\x$(printf %02x $((len & 255)))\\x00" >"$T/$1"
	cat "$f" >>"$T/$1"
}

# agent exits by itself (not a signal) after the raw input
raw_run() {
	"$AGENTCTL" -t 20 -R "$T/$1" "${@:2}" -- "${RUN[@]}" >$T/out 2>$T/err
	local rc=$?
	cat $T/out $T/err
	test $rc -eq 0
}

step 'truncated frame: ERROR bad_frame, clean exit' '
	raw trunc "\\x00\\x00\\x00\\x10\\x00\\x93\\x03" &&
	raw_run trunc &&
	has $T/out "\"code\":\"bad_frame\",\"message\":\"truncated frame" &&
	has $T/err "agent exited 1"
'

step 'length over the 1 MiB cap: refused before reading it' '
	raw huge "\\x7f\\xff\\xff\\xff\\x00" &&
	raw_run huge &&
	has $T/out "\"code\":\"bad_frame\",\"message\":\"frame of 2147483647 bytes exceeds the 1048576 byte cap"
'

step 'unknown frame flags' '
	raw flags "\\x00\\x00\\x00\\x01\\x80\\x90" &&
	raw_run flags &&
	has $T/out "unknown frame flags 0x80"
'

step 'payload that is not [type, id, body]: ERROR, agent goes on' '
	frame notarr "\\x81\\xa1k\\x01" &&
	frame ping "\\x93\\x03\\x07\\x80" &&
	cat $T/notarr $T/ping >$T/both &&
	raw_run both &&
	has $T/out "\"code\":\"bad_message\",\"message\":\"payload is not \[type, id, body\]" &&
	has $T/out "\"type\":\"PONG\",\"id\":7"
'

step 'wrong types: string id, array body, unknown type' '
	frame strid "\\x93\\x03\\xa1x\\x80" && raw_run strid &&
	has $T/out "message id is not an unsigned integer" &&
	frame arrbody "\\x93\\x03\\x01\\x90" && raw_run arrbody &&
	has $T/out "message body is not a map" &&
	frame t99 "\\x93\\x63\\x01\\x80" && raw_run t99 &&
	has $T/out "unknown message type"
'

step 'trailing bytes and duplicate keys' '
	frame trail "\\x93\\x03\\x01\\x80\\xc0" && raw_run trail &&
	has $T/out "1 trailing bytes" &&
	frame dup "\\x93\\x05\\x01\\x82\\xa2op\\xa4ping\\xa2op\\xa4ping" && raw_run dup &&
	has $T/out "duplicate key .op."
'

step 'zlib payload that does not inflate' '
	printf "\\x00\\x00\\x00\\x04\\x01\\x78\\x9c\\x00\\x00" >$T/z && raw_run z &&
	has $T/out "bad zlib payload"
'

step 'REQUEST before HELLO: ERROR not_ready' '
	frame req "\\x93\\x05\\x01\\x82\\xa2op\\xa4ping\\xa4args\\x80" &&
	raw_run req -B &&
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"not_ready\",\"message\":\"expected HELLO first\"}"
'

step 'HELLO of another protocol version: ERROR version, close' '
	frame hello9 "\\x93\\x01\\x00\\x81\\xa5proto\\x09" &&
	raw_run hello9 -B &&
	has $T/out "\"code\":\"version\",\"message\":\"protocol 9 not supported" &&
	has $T/err "agent exited 1"
'

step 'unknown op, request without args, op of the wrong type' '
	"$AGENTCTL" -r "rm -rf /" "{}" -- "${RUN[@]}" >$T/out;
	has $T/out "\"code\":\"unknown_op\",\"message\":\"unknown op .rm -rf /.\"" &&
	frame noargs "\\x93\\x05\\x02\\x81\\xa2op\\xa4ping" && raw_run noargs &&
	has $T/out "\"id\":2,\"body\":{\"code\":\"bad_message\",\"message\":\"request without args\"" &&
	frame opint "\\x93\\x05\\x03\\x82\\xa2op\\x05\\xa4args\\x80" && raw_run opint &&
	has $T/out "op: expected a string"
'

step 'DATA for no job, DATA to an op that takes none' '
	frame data "\\x93\\x09\\x2a\\x82\\xa3seq\\x00\\xa5bytes\\xc4\\x01x" && raw_run data &&
	has $T/out "\"id\":42,\"body\":{\"code\":\"not_found\""
'

# bad_args SPEC PATTERN: site.apply with SPEC is refused with PATTERN.
bad_args() {
	"$AGENTCTL" -r site.apply "$1" -- "${RUN[@]}" >$T/out 2>&1
	test $? -eq 1 || { echo "site.apply $1 was not refused:"; cat $T/out; return 1; }
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$2"
}
OK='"release":1,"image":"tug-test/app:1","port":8080'

step 'hostile site names are refused' '
	bad_args "{\"site\":\"Blog\",$OK}" "invalid site name .Blog.: must start with a lowercase letter" &&
	bad_args "{\"site\":\"a;rm -rf /\",$OK}" "invalid site name .a;rm -rf /.: only lowercase" &&
	bad_args "{\"site\":\"../etc\",$OK}" "invalid site name" &&
	bad_args "{\"site\":\"\",$OK}" "invalid site name ..: empty" &&
	bad_args "{\"site\":\"a b\",$OK}" "invalid site name .a b.: only lowercase" &&
	bad_args "{\"site\":\"$(printf %050d 0 | tr 0 a)\",$OK}" "args.site: longer than 40 bytes" &&
	bad_args "{\"site\":7,$OK}" "args.site: expected a string" &&
	bad_args "{$OK}" "args.site: missing"
'

step 'bad env keys and values are refused' '
	bad_args "{\"site\":\"ok\",$OK,\"env\":{\"A-B\":\"1\"}}" "invalid env key .A-B.: only letters" &&
	bad_args "{\"site\":\"ok\",$OK,\"env\":{\"1X\":\"1\"}}" "invalid env key .1X.: must start" &&
	bad_args "{\"site\":\"ok\",$OK,\"env\":{\"A=B\":\"1\"}}" "invalid env key .A=B." &&
	bad_args "{\"site\":\"ok\",$OK,\"env\":{\"A\":1}}" "args.env.A: expected a string" &&
	bad_args "{\"site\":\"ok\",$OK,\"env\":{\"A\":\"x\\u0000y\"}}" "args.env.A: contains a NUL byte"
'

step 'bad volume specs are refused' '
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"/etc:/data\"]}" "invalid volume ./etc:/data.: bind mounts are allowed only under" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"data:/a/../b\"]}" "invalid volume .data:/a/../b.: .... component" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"data\"]}" "invalid volume .data.: expected" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"da ta:/x\"]}" "invalid volume" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"data:/x:rwx\"]}" "invalid volume .data:/x:rwx.: mode must be" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"data:/\"]}" "invalid volume .data:/.: cannot mount over" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"tug-other_data:/x\"]}" "invalid volume .tug-other_data:/x.: a named volume of site .ok. is called tug-ok_NAME"
'

# --bind-root names directories, not prefixes: /srv/t2x is not under
# /srv/t2, and no ".." climbs out of it.
step 'a bind mount beside or above the agent'"'"'s --bind-root is refused' '
	RUN=("$AGENT" serve --state-dir "$STATE" --bind-root /srv/t2) &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"/srv/t2x/data:/data\"]}" "invalid volume ./srv/t2x/data:/data.: bind mounts are allowed only under" &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"/srv/t2/../etc:/data\"]}" "invalid volume ./srv/t2/../etc:/data.: " &&
	bad_args "{\"site\":\"ok\",$OK,\"volumes\":[\"/srv:/data\"]}" "invalid volume ./srv:/data.: bind mounts are allowed only under"
'

step 'bad image references are refused' '
	bad_args "{\"site\":\"ok\",\"release\":1,\"image\":\"Upper/case\"}" "invalid image reference .Upper/case." &&
	bad_args "{\"site\":\"ok\",\"release\":1,\"image\":\"app;id\"}" "invalid image reference .app;id." &&
	bad_args "{\"site\":\"ok\",\"release\":1,\"image\":\"app:\"}" "invalid image reference .app:.: tag" &&
	bad_args "{\"site\":\"ok\",\"release\":1,\"image\":\"app@sha256:zz\"}" "invalid image reference" &&
	"$AGENTCTL" -r image.inspect "{\"ref\":\"\$(id)\"}" -- "${RUN[@]}" >$T/out;
	has $T/out "\"code\":\"bad_args\",\"message\":\"invalid image reference"
'

step 'other bad fields: release, port, user, caps, health path' '
	bad_args "{\"site\":\"ok\",\"release\":0,\"image\":\"a\"}" "release must be" &&
	bad_args "{\"site\":\"ok\",\"release\":-1,\"image\":\"a\"}" "args.release: expected an unsigned" &&
	bad_args "{\"site\":\"ok\",$OK,\"port\":70000}" "port 70000 out of range" &&
	bad_args "{\"site\":\"ok\",$OK,\"user\":\"root;id\"}" "invalid user" &&
	bad_args "{\"site\":\"ok\",$OK,\"cap_drop\":[\"all\"]}" "invalid capability .all." &&
	bad_args "{\"site\":\"ok\",$OK,\"health\":{\"path\":\"up now\"}}" "invalid health path" &&
	bad_args "{\"site\":\"ok\",$OK,\"restart\":\"sometimes\"}" "restart must be"
'

step 'hostile proxy domains and TLS paths are refused' '
	bad_args "{\"site\":\"ok\",$OK,\"proxy\":{\"domains\":[\"a.test; return 200\"]}}" "invalid domain .a.test; return 200.: only lowercase" &&
	bad_args "{\"site\":\"ok\",$OK,\"proxy\":{\"domains\":[\"a.test\"],\"tls_cert\":\"/c.pem\",\"tls_key\":\"k.pem\"}}" "invalid proxy.tls_key .k.pem.: must be absolute"
'

step 'bad logs args' '
	"$AGENTCTL" -r logs "{\"site\":\"ok\",\"tail\":\"some\"}" -- "${RUN[@]}" >$T/out;
	has $T/out "\"code\":\"bad_args\",\"message\":\"args.tail: a count or" &&
	"$AGENTCTL" -r logs "{\"site\":\"ok\",\"stdout\":false,\"stderr\":false}" -- "${RUN[@]}" >$T/out;
	has $T/out "neither stdout nor stderr"
'

step 'nothing was created by any refused request' '
	test -z "$(site_containers ok)"
'

step 'random bytes never crash the agent' '
	for i in 1 2 3 4 5 6 7 8; do
		head -c 4096 /dev/urandom >$T/rnd &&
		"$AGENTCTL" -t 20 -R $T/rnd -- "${RUN[@]}" >$T/out 2>$T/err;
		test $? -eq 0 || { cat $T/err; return 1; }
	done
'

finish
