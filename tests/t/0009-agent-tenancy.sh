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
# The containers this test makes by hand carry no tug.controller, or
# another one: site_purge would not see them.
test_purge() {
	local ids

	site_purge $S
	ids=$($DOCKER ps -aq --filter label=tug-test=0009)
	[ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null
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

finish
