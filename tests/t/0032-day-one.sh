#!/bin/bash
# 0032-day-one: the manners a person meets on a first day (issue 13).
# Destructive commands ask on a terminal and need --yes elsewhere; Ctrl-C
# during a deploy leaves it running in tugd and says how to follow it;
# --detach and --follow; colour that NO_COLOR turns off; an env set that
# changes nothing redeploys nothing; a secret the spec requires cannot be
# unset; deploy implies view_logs and a denial names the grant to ask for;
# a mistyped TUG_HOME says it started an empty tugd. The terminal steps
# are driven through tmux, as a person would. Host 12, this file's own.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
command -v tmux >/dev/null || bail "no tmux"
N=12
ns_test_host $N tug-test/app:1 tug-test/app:2 || bail "host $N"
ns_test_add $N --proxy nginx --proxy-port 8080 || bail "host h$N"

# spec NAME IMAGE [EXTRA]: a site on h12 (EXTRA: more lines of its spec).
spec() {
	cat >$T/$1.yml <<EOS
site: $1
image: $2
hosts: [h$N]
domains: [$1.t32.test]
port: 8080
health: {path: /up, interval: 200ms}
${3:-}
EOS
}
spec web tug-test/app:1 'secrets: [DB_PASS]'
spec gone tug-test/app:1
"$TUG" -q site apply $T/web.yml >/dev/null &&
	"$TUG" -q env set web DB_PASS=pw1 --secret --no-deploy >/dev/null &&
	"$TUG" -q deploy web >/dev/null &&
	"$TUG" -q site apply $T/gone.yml >/dev/null || bail "site web"
S=tug0032-$$
at_exit "tmux ls -F \"#S\" | grep \"^tug0032-$$-\" | xargs -r -I{} tmux kill-session -t ={}"
at_exit "TUG_HOME=$T/typo tugd_stop; TUG_HOME=$T/fresh tugd_stop"

# pane_wait PATTERN [TENTHS]: until the tmux pane shows PATTERN (grep -E).
pane_wait() {
	local i

	for ((i = 0; i < ${2:-100}; i++)); do
		tmux capture-pane -p -t $S | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	echo "the pane never showed '$1':"
	tmux capture-pane -p -t $S
	return 1
}

# in_tmux CMD: a fresh session running CMD, then "rc=N" once it ends; $S
# names it. The one before goes once it is made (the last session's end
# would take the tmux server with it), the rest when the file ends.
_tk=0
in_tmux() {
	local old=$S

	_tk=$((_tk + 1))
	S=tug0032-$$-$BASHPID-$_tk
	tmux new-session -d -s $S -x 200 -y 40 \
	    "env TUG_HOME=$TUG_HOME TERM=xterm $1; echo rc=\$?; sleep 60" ||
	    return
	tmux kill-session -t "=$old" 2>/dev/null
	return 0
}

# releases SITE: how many releases the site has.
releases() { "$TUG" --json releases $1 | jq '.releases | length'; }

# refused CMD...: tug CMD with stdin not a terminal exits 2 (usage), its
# stderr in $T/err.
refused() {
	"$TUG" "$@" </dev/null >/dev/null 2>$T/err
	[ $? -eq 2 ] || { echo "tug $* did not exit 2:"; cat $T/err; return 1; }
}

step 'destructive commands refuse without --yes when stdin is not a terminal; nothing is done' '
	"$TUG" -q user add temp >/dev/null &&
	refused site rm gone &&
	grep -qx "tug site rm: this would remove site gone from all its hosts: its containers, proxy config and files. Add --yes to do it: stdin is not a terminal, so tug cannot ask" $T/err &&
	refused site rm gone --volumes &&
	grep -q "and its named volumes (its data). Add --yes" $T/err &&
	refused host rm h$N &&
	grep -q "this would forget host h$N. Add --yes" $T/err &&
	refused user rm temp &&
	grep -q "this would remove user temp with their keys and grants. Add --yes" $T/err &&
	refused rollback web 1 &&
	grep -q "this would roll web back to release 1. Add --yes" $T/err &&
	refused rollback web &&
	grep -q "this would roll web back to its previous good release. Add --yes" $T/err &&
	"$TUG" site list | grep -q "^gone " &&
	"$TUG" host list | grep -q "^h$N " &&
	"$TUG" user list | grep -q "^temp " &&
	[ "$(releases web)" = 1 ] &&
	"$TUG" site rm --help | grep -q -- "-y, --yes"
'

step 'on a terminal (tmux) user rm asks: n keeps the user, y removes them' '
	in_tmux "$TUG user rm temp" &&
	pane_wait "Remove user temp with their keys and grants\? \[y/N\]" &&
	tmux send-keys -t $S n Enter &&
	pane_wait "^rc=" &&
	tmux capture-pane -p -t $S >$T/pane &&
	grep -qx "tug user rm: not confirmed; nothing done" $T/pane &&
	grep -qx "rc=1" $T/pane &&
	"$TUG" user list | grep -q "^temp " &&
	in_tmux "$TUG user rm temp" &&
	pane_wait "\[y/N\]" &&
	tmux send-keys -t $S y Enter &&
	pane_wait "^rc=" &&
	tmux capture-pane -p -t $S | grep -qx "rc=0" &&
	! "$TUG" user list | grep -q "^temp " &&
	"$TUG" site rm --yes gone >/dev/null &&
	! "$TUG" site list | grep -q "^gone "
'

step 'Ctrl-C during a deploy (tmux): the deploy goes on in tugd, and tug says how to follow it' '
	spec web tug-test/app:1 "secrets: [DB_PASS]
deploy: {drain: 3s}" &&
	"$TUG" -q site apply $T/web.yml >/dev/null &&
	in_tmux "$TUG deploy web --image tug-test/app:2" &&
	pane_wait "release 2 of web" &&
	tmux send-keys -t $S C-c &&
	pane_wait "^rc=" &&
	tmux capture-pane -p -J -t $S >$T/pane &&
	grep -qx "tug: you stopped watching, not the deploy: it goes on in tugd. Follow it: tug deploy --follow web" $T/pane &&
	grep -qx "rc=130" $T/pane &&
	"$TUG" deploy --follow web >$T/out 2>$T/err &&
	grep -q "^release 2 of web (tug-test/app:2, by root): rolling out, followed$" $T/err &&
	grep -q "^h$N: deployed in [0-9]* s$" $T/err &&
	grep -q "^web: release 2 (tug-test/app:2) serving on 1 host" $T/out &&
	"$TUG" --json releases web | jq -en "input | .current == 2 and .releases[0].status == \"done\""
'

step 'deploy --detach returns once the release is made; --follow watches it to its end' '
	t0=$(date +%s%3N) &&
	"$TUG" deploy web --image tug-test/app:1 --detach >$T/out 2>$T/err &&
	t1=$(date +%s%3N) &&
	grep -qx "release 3 of web is rolling out in tugd; follow it: tug deploy --follow web" $T/out &&
	[ $((t1 - t0)) -lt 2500 ] &&
	"$TUG" --json releases web | jq -en "input | .releases[0].release == 3 and .releases[0].status == \"deploying\"" &&
	"$TUG" deploy --follow web >$T/out 2>$T/err &&
	grep -q "^web: release 3 (tug-test/app:1) serving on 1 host" $T/out &&
	spec web tug-test/app:1 "secrets: [DB_PASS]" &&
	"$TUG" -q site apply $T/web.yml >/dev/null &&
	"$TUG" --json deploy web --detach | jq -en "input | .site == \"web\" and .release == 4 and .detached == true" &&
	"$TUG" --json deploy --follow web | jq -en "input | .release == 4 and .deployed == 1" &&
	"$TUG" deploy --follow web >$T/out 2>$T/err &&
	grep -q "^release 4 of web (tug-test/app:1, by root): no deploy is running; this is how the last ended$" $T/err &&
	grep -q "^web: release 4 " $T/out
'

step 'a followed deploy that fails exits 1 with the host'"'"'s error; --follow needs only view' '
	"$TUG" -q env set web PORT=nope --no-deploy >/dev/null &&
	"$TUG" deploy web --detach >/dev/null &&
	! "$TUG" deploy --follow web >$T/out 2>$T/err &&
	grep -q "h$N: failed: .*exit" $T/err &&
	grep -q "release 5 of web failed on 1 of 1 hosts" $T/err &&
	"$TUG" -q env unset web PORT --no-deploy >/dev/null &&
	"$TUG" -q user add watcher >/dev/null &&
	"$TUG" -q grant watcher view site:web >/dev/null &&
	! "$TUG" --as watcher deploy --follow web >/dev/null 2>$T/err &&
	grep -q "release 5 of web failed" $T/err &&
	! "$TUG" --as watcher deploy web 2>$T/err &&
	grep -qx "tug: permission denied: watcher may not deploy site:web; an admin can grant it: tug grant watcher deploy site:web" $T/err &&
	! "$TUG" deploy --follow web --image tug-test/app:1 2>$T/err &&
	grep -q "it takes no --image" $T/err
'

step 'deploy --image sets the site'"'"'s image: a plain deploy keeps it and says so' '
	"$TUG" deploy web --image tug-test/app:2 >$T/out 2>$T/err &&
	grep -q "^changes from release 4: image tug-test/app:1 -> tug-test/app:2$" $T/err &&
	"$TUG" deploy web >$T/out 2>$T/err &&
	grep -qx "image tug-test/app:2, which deploy --image set (the spec says tug-test/app:1; a spec with a new image: takes over)" $T/err &&
	grep -q "^changes from release 6: none (the same image and spec, a fresh container)$" $T/err &&
	grep -q "^web: release 7 (tug-test/app:2)" $T/out &&
	"$TUG" site apply $T/web.yml >$T/out &&
	grep -qx "image: deploys keep tug-test/app:2, which deploy --image set (the spec says tug-test/app:1 until its image: changes)" $T/out &&
	"$TUG" --json site list | jq -en "input | .sites[] | select(.name == \"web\") | .image == \"tug-test/app:2\""
'

step 'a rollback says what it reverts; a spec with a new image: takes the choice back' '
	"$TUG" rollback --yes web 4 >$T/out 2>$T/err &&
	grep -q "^changes from release 7: image tug-test/app:2 -> tug-test/app:1; env stays as it is set now$" $T/err &&
	grep -q "^web: release 8 (tug-test/app:1, a rollback to 4)" $T/out &&
	spec web tug-test/app:2 "secrets: [DB_PASS]
deploy: {drain: 500ms}" &&
	sed -i "s/^domains: .*/domains: [web.t32.test, www.t32.test]/" $T/web.yml &&
	"$TUG" site apply $T/web.yml >$T/out &&
	grep -qx "image: the spec now names tug-test/app:2, which deploy --image set; the spec decides again" $T/out &&
	"$TUG" deploy web >$T/out 2>$T/err &&
	! grep -q "which deploy --image set" $T/err &&
	grep -q "^changes from release 8: image tug-test/app:1 -> tug-test/app:2; domains web.t32.test -> web.t32.test,www.t32.test; settings: deploy$" $T/err &&
	spec web tug-test/app:1 "secrets: [DB_PASS]" &&
	"$TUG" site apply $T/web.yml >$T/out &&
	! grep -q "^image:" $T/out &&
	"$TUG" deploy web >$T/out 2>$T/err &&
	grep -q "^web: release 10 (tug-test/app:1)" $T/out
'

step 'colour on a terminal: errors in red, hosts done in green; NO_COLOR and a pipe turn it off' '
	in_tmux "$TUG deploy nosuch" &&
	pane_wait "^rc=" &&
	tmux capture-pane -p -e -t $S | grep -qF "$(printf "\033[31mtug: no site")" &&
	in_tmux "NO_COLOR=1 $TUG deploy nosuch" &&
	pane_wait "^rc=" &&
	tmux capture-pane -p -e -t $S >$T/pane &&
	grep -q "^tug: no site" $T/pane &&
	! grep -qF "$(printf "\033[")" $T/pane &&
	! "$TUG" deploy nosuch 2>$T/err &&
	! grep -qF "$(printf "\033")" $T/err &&
	in_tmux "$TUG restart web" &&
	pane_wait "^rc=" &&
	tmux capture-pane -p -e -t $S | grep -qF "$(printf "\033[32mh$N: deployed in")"
'

step 'env set that changes nothing redeploys nothing; a change does' '
	n=$(releases web) &&
	"$TUG" env set web A=1 >$T/out 2>&1 &&
	[ "$(releases web)" = $((n + 1)) ] &&
	"$TUG" env set web A=1 >$T/out 2>&1 &&
	grep -qx "unchanged: it holds that value already; nothing to redeploy" $T/out &&
	"$TUG" env set web DB_PASS=pw1 --secret >$T/out 2>&1 &&
	grep -q "^unchanged" $T/out &&
	[ "$(releases web)" = $((n + 1)) ] &&
	! "$TUG" env set web DB_PASS=pw1 2>$T/err &&
	grep -qx "tug: DB_PASS is a secret of the spec of web (secrets:): set it with --secret" $T/err &&
	"$TUG" env set web DB_PASS=pw2 --secret >$T/out 2>&1 &&
	[ "$(releases web)" = $((n + 2)) ] &&
	"$TUG" env set web A=1 B=2 >$T/out 2>&1 &&
	[ "$(releases web)" = $((n + 3)) ] &&
	"$TUG" env set web A=2 B=2 >$T/out 2>&1 &&
	[ "$(releases web)" = $((n + 4)) ] &&
	"$TUG" env list web | grep -q "^A *2 *set"
'

step 'a secret the spec requires cannot be unset; others can' '
	! "$TUG" env unset web DB_PASS 2>$T/err &&
	grep -qx "tug: DB_PASS is a secret the spec of web requires (secrets:): without it no release can start. Set a new value (tug env set web DB_PASS --secret), or drop it from the spec first" $T/err &&
	"$TUG" env list web | grep -q "^DB_PASS .*set" &&
	"$TUG" env unset web A --no-deploy >/dev/null
'

step 'deploy implies view_logs: a deployer reads the site'"'"'s logs, not its env' '
	"$TUG" -q user add dep >/dev/null &&
	"$TUG" -q grant dep deploy site:web >/dev/null &&
	"$TUG" --as dep logs web --tail 5 >$T/out 2>$T/err &&
	! "$TUG" --as dep env list web 2>$T/err &&
	grep -qx "tug: permission denied: dep may not view_env site:web; an admin can grant it: tug grant dep view_env site:web" $T/err
'

step 'site show: image and where it comes from, serving release, domains, TLS, each host, the newest releases' '
	cur=$("$TUG" --json releases web | jq .current) &&
	"$TUG" site show web >$T/out &&
	{ grep -qx "site      web (container)" $T/out &&
	grep -qx "image     tug-test/app:1 (from the spec)" $T/out &&
	grep -q "^serving   release $cur (tug-test/app:1), by root, 20[0-9-]* [0-9:]* UTC$" $T/out &&
	grep -qx "domains   web.t32.test" $T/out &&
	grep -qx "tls       auto" $T/out &&
	grep -q "^h$N *tug-web-r$cur *$cur *running *none *[0-9]*[smh] *0 *tug-test/app:1$" $T/out &&
	grep -q "^$cur *tug-test/app:1 *done *root" $T/out &&
	! grep -q "^spec " $T/out || { cat $T/out; false; }; } &&
	"$TUG" deploy web --image tug-test/app:2 >/dev/null 2>&1 &&
	"$TUG" site show web >$T/out &&
	grep -qx "image     tug-test/app:2 (from the last deploy --image)" $T/out &&
	spec web tug-test/app:1 "secrets: [DB_PASS]
env: {X: 1}" &&
	"$TUG" -q site apply $T/web.yml >/dev/null &&
	"$TUG" site show web >$T/out &&
	grep -qx "spec      applied since the serving release, not deployed yet (tug deploy web)" $T/out &&
	"$TUG" --json site status web | jq -en "input | .pending == true and .image_from == \"deploy --image\" and (.hosts[0].containers[0].restarts == 0)"
'

# times_ok: the JSON on stdin holds times, and each is RFC 3339 in UTC.
times_ok() {
	jq -en 'input | [.. | objects | to_entries[] | select(.key | test("(_at|^at_ms|^since|^last_seen|^not_after)$")) | .value] | (length > 0) and all(. == null or (type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$")))'
}

step '--json: every time is an RFC 3339 string in UTC' '
	"$TUG" --json releases web | times_ok &&
	"$TUG" --json site status web | times_ok &&
	"$TUG" --json user list | times_ok &&
	"$TUG" --json user show dep | times_ok &&
	"$TUG" --json audit --limit 3 | times_ok &&
	"$TUG" --json host list | times_ok &&
	"$TUG" --json audit --limit 1 | jq -en "input | .rows[0].at_ms | test(\"[.][0-9]{3}Z$\")"
'

step 'a stopped site shows as stopped in site list; start brings it back' '
	"$TUG" -q stop web >/dev/null &&
	until_true 5 listed "^web *container *[0-9]* *stopped" &&
	"$TUG" -q start web >/dev/null &&
	until_true 5 listed "^web *container *[0-9]* *ok"
'

step 'a secret not set stops a deploy before a release number is taken' '
	spec sec tug-test/app:1 "secrets: [TOKEN]" &&
	"$TUG" -q site apply $T/sec.yml >/dev/null &&
	! "$TUG" deploy sec 2>$T/err &&
	grep -qx "tug: secret TOKEN of site sec is not set (tug env set sec TOKEN=... --secret)" $T/err &&
	test "$("$TUG" --json releases sec | jq ".releases | length")" = 0 &&
	! "$TUG" deploy --follow sec 2>$T/err &&
	grep -qx "tug: site .sec. has no release yet: tug deploy sec" $T/err &&
	"$TUG" site rm --yes sec >/dev/null
'

step 'a mistyped TUG_HOME says it started a new, empty tugd; tug init does not' '
	TUG_HOME=$T/typo "$TUG" status >$T/out 2>$T/err &&
	grep -qx "tug: started a new, empty tugd at $T/typo: run \`tug init\`, or set TUG_HOME to the one you meant" $T/err &&
	TUG_HOME=$T/typo "$TUG" status >$T/out 2>$T/err &&
	! grep -q "empty tugd" $T/err &&
	TUG_HOME=$T/typo tugd_stop &&
	TUG_HOME=$T/fresh "$TUG" init >$T/out 2>$T/err &&
	! grep -q "empty tugd" $T/err &&
	TUG_HOME=$T/fresh tugd_stop
'

finish
