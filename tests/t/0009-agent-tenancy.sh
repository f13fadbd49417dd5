#!/bin/bash
# 0009-agent-tenancy: a site owns what it touches (DESIGN §5b), driven
# through tug-agent over a pipe: containers of another controller are
# never seen, stopped or removed, and containers made before tug.controller
# existed are adopted.

. "$(dirname "$0")/../lib.sh"
bed_dockerd || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
STATE=$T/state
RUN=("$AGENT" serve --state-dir "$STATE")
ME=$TUG_CONTROLLER_ID
OTHER=ffffffffffffffffffffffffffffffff
S=t9own
V=t9vol
# The containers and volumes this test makes by hand carry no
# tug.controller, or another one: site_purge would not see them.
test_purge() {
	local ids

	site_purge $S
	site_purge $V
	for v in 1 2 3 4; do site_purge t9s$v; done
	ids=$($DOCKER ps -aq --filter label=tug-test=0009)
	[ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null
	for v in tug-${V}_xy ${V}-legacy ${V}-foreign tug-t9w_data tug-${V}_theirs; do
		$DOCKER volume rm -f $v >/dev/null 2>&1
	done
}
test_purge
at_exit test_purge

req() {
	"$AGENTCTL" -t 120 -r "$2" "$3" -- "${RUN[@]}" >"$1" 2>"$1.err"
}

step 'a container of another controller is not this site'"'"'s; one without the label is adopted' '
	$DOCKER run -d --name tug-$S-r1 --label tug.site=$S --label tug.release=1 \
	    --label tug-test=0009 tug-test/app:1 >/dev/null &&
	$DOCKER run -d --name $S-other --label tug.site=$S --label tug.release=7 \
	    --label tug.controller=$OTHER --label tug-test=0009 tug-test/app:1 >/dev/null &&
	req $T/st site.status "{\"site\":\"$S\"}" &&
	has $T/st "\"name\":\"tug-$S-r1\"" &&
	hasnt $T/st "$S-other" &&
	! req $T/logs logs "{\"site\":\"$S\",\"release\":7}" &&
	has $T/logs "\"code\":\"not_found\",\"message\":\"site .$S. has no release 7 on this host"
'

step 'site.apply retires the adopted container, labels its own, leaves the other alone' '
	req $T/r2 site.apply "{\"site\":\"$S\",\"release\":2,\"image\":\"tug-test/app:2\",\"port\":8080,\"health\":{\"path\":\"/up\",\"interval_ms\":200}}" &&
	has $T/r2 "\"replaced\":\[\"tug-$S-r1\"\]" &&
	test "$($DOCKER inspect -f "{{index .Config.Labels \"tug.site\"}} {{index .Config.Labels \"tug.controller\"}}" tug-$S-r2)" = "$S $ME" &&
	test "$($DOCKER inspect -f "{{.State.Running}}" $S-other)" = true
'

step 'site.stop and site.remove act on this controller'"'"'s containers only' '
	req $T/stop site.stop "{\"site\":\"$S\"}" &&
	has $T/stop "\"stopped\":\[\"tug-$S-r2\"\]" &&
	test "$($DOCKER inspect -f "{{.State.Running}}" $S-other)" = true &&
	req $T/rm site.remove "{\"site\":\"$S\"}" &&
	has $T/rm "\"removed\":\[\"tug-$S-r2\"\]" &&
	! $DOCKER inspect tug-$S-r2 >/dev/null 2>&1 &&
	test "$($DOCKER inspect -f "{{.State.Running}}" $S-other)" = true
'

# Volumes belong to their site: tug-<site>_<name>, made and labelled by
# the agent; older sites' volumes only by name, and only while no other
# owner's container uses them.
VAPPLY="\"site\":\"$V\",\"release\":1,\"image\":\"tug-test/app:1\",\"port\":8080,\"health\":{\"path\":\"/up\",\"interval_ms\":200}"

refused() {	# JSON PATTERN: site.apply refused with bad_args
	"$AGENTCTL" -r site.apply "$1" -- "${RUN[@]}" >$T/out 2>&1
	test $? -eq 1 || { echo "site.apply $1 was not refused:"; cat $T/out; return 1; }
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$2"
}

step 'a named volume must be tug-<site>_NAME: another site'"'"'s, or any other, is refused' '
	refused "{$VAPPLY,\"volumes\":[\"tug-other_data:/data\"]}" "invalid volume .tug-other_data:/data.: a named volume of site .$V. is called tug-${V}_NAME (or is listed in legacy_volumes)" &&
	refused "{$VAPPLY,\"volumes\":[\"data:/data\"]}" "invalid volume .data:/data.: a named volume of site .$V. is called tug-${V}_NAME" &&
	refused "{$VAPPLY,\"volumes\":[\"tug-${V}_:/data\"]}" "invalid volume .tug-${V}_:/data.: the NAME in tug-${V}_NAME must be at least 2 characters" &&
	refused "{$VAPPLY,\"volumes\":[\"tug-${V}-x_data:/data\"]}" "invalid volume .tug-${V}-x_data:/data.: a named volume of site" &&
	refused "{$VAPPLY,\"legacy_volumes\":[\"../x\"]}" "invalid volume name .../x. in legacy_volumes" &&
	refused "{$VAPPLY,\"legacy_volumes\":\"x\"}" "args.legacy_volumes: expected an array" &&
	test -z "$($DOCKER ps -aq --filter label=tug.site=$V)"
'

step 'a volume called tug-<site>_x that tug did not make is refused: not ours' '
	$DOCKER volume create tug-${V}_xy >/dev/null &&
	! req $T/vx site.apply "{$VAPPLY,\"volumes\":[\"tug-${V}_xy:/data\"]}" &&
	has $T/vx "\"code\":\"not_owner\",\"message\":\"volume .tug-${V}_xy. exists but is not site .$V..s: it has no tug labels: tug did not make it\"" &&
	test -z "$($DOCKER ps -aq --filter label=tug.site=$V)"
'

step 'the site'"'"'s own volume is made with its labels and mounted; the next release keeps it' '
	req $T/v1 site.apply "{$VAPPLY,\"volumes\":[\"tug-${V}_data:/data\"]}" &&
	has $T/v1 "\"step\":\"volume\",\"message\":\"created volume tug-${V}_data\"" &&
	test "$($DOCKER volume inspect -f "{{index .Labels \"tug.site\"}} {{index .Labels \"tug.controller\"}}" tug-${V}_data)" = "$V $ME" &&
	test "$($DOCKER inspect -f "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}" tug-$V-r1)" = "tug-${V}_data:/data " &&
	req $T/v2 site.apply "{${VAPPLY/\"release\":1/\"release\":2},\"volumes\":[\"tug-${V}_data:/data\"]}" &&
	hasnt $T/v2 "created volume" &&
	has $T/v2 "\"replaced\":\[\"tug-$V-r1\"\]"
'

step 'a legacy volume: used only by the site'"'"'s own containers it is accepted' '
	$DOCKER volume create ${V}-legacy >/dev/null &&
	$DOCKER create --name tug-$V-r2old --label tug.site=$V --label tug.release=2 \
	    --label tug-test=0009 -v ${V}-legacy:/old tug-test/app:1 >/dev/null &&
	req $T/v3 site.apply "{${VAPPLY/\"release\":1/\"release\":3},\"volumes\":[\"tug-${V}_data:/data\",\"${V}-legacy:/old\"],\"legacy_volumes\":[\"${V}-legacy\"]}" &&
	has $T/v3 "\"ok\":true" &&
	test "$($DOCKER inspect -f "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}" tug-$V-r3 | tr " " "\n" | sort | xargs)" = "${V}-legacy:/old tug-${V}_data:/data"
'

step 'a legacy volume another owner uses, or labelled for another site, or missing: refused' '
	$DOCKER volume create ${V}-foreign >/dev/null &&
	$DOCKER create --name ${V}-stranger --label tug-test=0009 -v ${V}-foreign:/x tug-test/app:1 >/dev/null &&
	! req $T/v4 site.apply "{${VAPPLY/\"release\":1/\"release\":4},\"volumes\":[\"${V}-foreign:/x\"],\"legacy_volumes\":[\"${V}-foreign\"]}" &&
	has $T/v4 "\"code\":\"not_owner\",\"message\":\"legacy volume .${V}-foreign. is used by container .${V}-stranger., which is not site .$V..s: it has no tug labels: tug did not make it\"" &&
	$DOCKER volume create --label tug.site=t9w --label tug.controller=$ME tug-t9w_data >/dev/null &&
	! req $T/v5 site.apply "{${VAPPLY/\"release\":1/\"release\":4},\"volumes\":[\"tug-t9w_data:/x\"],\"legacy_volumes\":[\"tug-t9w_data\"]}" &&
	has $T/v5 "\"code\":\"not_owner\",\"message\":\"legacy volume .tug-t9w_data. is not site .$V..s: it belongs to site .t9w.\"" &&
	! req $T/v6 site.apply "{${VAPPLY/\"release\":1/\"release\":4},\"volumes\":[\"${V}-nowhere:/x\"],\"legacy_volumes\":[\"${V}-nowhere\"]}" &&
	has $T/v6 "\"code\":\"not_found\",\"message\":\"legacy volume .${V}-nowhere. is not on this host" &&
	! $DOCKER volume inspect ${V}-nowhere >/dev/null 2>&1 &&
	! $DOCKER inspect tug-$V-r4 >/dev/null 2>&1 &&
	test "$($DOCKER inspect -f "{{.State.Running}}" tug-$V-r3)" = true
'

step 'site.remove volumes:true removes the site'"'"'s own volumes and its legacy ones, nothing else' '
	$DOCKER volume create --label tug.site=$V --label tug.controller=$OTHER tug-${V}_theirs >/dev/null &&
	"$AGENTCTL" -r site.remove "{\"site\":\"$V\",\"volumes\":[\"tug-${V}_data\"]}" -- "${RUN[@]}" >$T/out 2>&1;
	has $T/out "\"code\":\"bad_args\",\"message\":\"args.volumes: expected true or false\"" &&
	req $T/rm site.remove "{\"site\":\"$V\",\"volumes\":true,\"legacy_volumes\":[\"${V}-legacy\"]}" &&
	has $T/rm "\"volumes_removed\":\[\"tug-${V}_data\",\"${V}-legacy\"\]" &&
	! $DOCKER volume inspect tug-${V}_data >/dev/null 2>&1 &&
	! $DOCKER volume inspect ${V}-legacy >/dev/null 2>&1 &&
	$DOCKER volume inspect tug-${V}_xy >/dev/null &&
	$DOCKER volume inspect ${V}-foreign >/dev/null &&
	$DOCKER volume inspect tug-t9w_data >/dev/null &&
	$DOCKER volume inspect tug-${V}_theirs >/dev/null &&
	! req $T/rm2 site.remove "{\"site\":\"$V\",\"volumes\":true,\"legacy_volumes\":[\"${V}-foreign\"]}" &&
	has $T/rm2 "\"code\":\"not_owner\",\"message\":\"legacy volume .${V}-foreign. is used by container .${V}-stranger." &&
	$DOCKER volume inspect ${V}-foreign >/dev/null &&
	req $T/rm3 site.remove "{\"site\":\"$V\"}" &&
	has $T/rm3 "\"volumes_removed\":\[\]"
'

# Fair shares: log streams have slots of their own (12, 4 a site), and
# control ops 16 that streams never take.
step 'a fifth log stream of one site is refused; ping and site.status still answer' '
	for v in 1 2 3 4; do
		$DOCKER run -d --name tug-t9s$v-r1 --label tug.site=t9s$v --label tug.release=1 \
		    --label tug.controller=$ME --label tug-test=0009 tug-test/app:1 >/dev/null || return 1
	done &&
	F="{\"site\":\"t9s1\",\"tail\":0,\"follow\":true}" &&
	"$AGENTCTL" -t 60 -E 2000 -r logs "$F" -r logs "$F" -r logs "$F" -r logs "$F" -r logs "$F" \
	    -r ping "{}" -r site.status "{\"site\":\"t9s1\"}" -- "${RUN[@]}" >$T/five 2>&1;
	test $? -eq 1 &&
	has $T/five "\"type\":\"ERROR\",\"id\":5,\"body\":{\"code\":\"busy\",\"message\":\"too many log streams for site .t9s1. on this host (4)\"}" &&
	has $T/five "\"type\":\"RESULT\",\"id\":6,\"body\":{\"ok\":true,\"value\":{\"time_ms\"" &&
	has $T/five "\"type\":\"RESULT\",\"id\":7,\"body\":{\"ok\":true,\"value\":{\"site\":\"t9s1\"" &&
	test "$(grep -c "\"cancelled\":true" $T/five)" -eq 4
'

step 'a thirteenth log stream on the host is refused; ping and site.status still answer' '
	set -- &&
	for v in 1 2 3; do
		for k in 1 2 3 4; do
			set -- "$@" -r logs "{\"site\":\"t9s$v\",\"tail\":0,\"follow\":true}"
		done
	done &&
	"$AGENTCTL" -t 60 -E 2000 "$@" -r logs "{\"site\":\"t9s4\",\"tail\":0,\"follow\":true}" \
	    -r ping "{}" -r site.status "{\"site\":\"t9s4\"}" -- "${RUN[@]}" >$T/thirteen 2>&1;
	test $? -eq 1 &&
	has $T/thirteen "\"type\":\"ERROR\",\"id\":13,\"body\":{\"code\":\"busy\",\"message\":\"too many log streams on this host (12)\"}" &&
	has $T/thirteen "\"type\":\"RESULT\",\"id\":14,\"body\":{\"ok\":true" &&
	has $T/thirteen "\"type\":\"RESULT\",\"id\":15,\"body\":{\"ok\":true" &&
	test "$(grep -c "\"cancelled\":true" $T/thirteen)" -eq 12 &&
	test "$(grep -c "\"code\":\"busy\"" $T/thirteen)" -eq 1
'

# The test holds the site lock, so each site.stop waits for it, holding its
# control slot, until the session ends (nothing ends early by a race).
step 'sixteen control jobs at once: the seventeenth is refused, a log stream is not' '
	set -- &&
	for k in $(seq 16); do set -- "$@" -r site.stop "{\"site\":\"t9s5\"}"; done &&
	mkdir -p $STATE/journal &&
	{ flock 8 && "$AGENTCTL" -t 60 -E 2000 "$@" -r ping "{}" \
	    -r logs "{\"site\":\"t9s1\",\"tail\":0,\"follow\":true}" \
	    -- "${RUN[@]}" >$T/control 2>&1 8>&-; test $? -eq 1; } 8>$STATE/journal/t9s5.lock &&
	has $T/control "\"type\":\"ERROR\",\"id\":17,\"body\":{\"code\":\"busy\",\"message\":\"too many control jobs running on this host (16)\"}" &&
	has $T/control "\"type\":\"RESULT\",\"id\":18,\"body\":{\"ok\":true,\"value\":{\"stdout_lines\":0,\"stderr_lines\":0,\"bytes\":0,\"cancelled\":true}" &&
	test "$(grep -c "\"code\":\"cancelled\"" $T/control)" -eq 16 &&
	test "$(grep -c "\"code\":\"busy\"" $T/control)" -eq 1
'

finish
