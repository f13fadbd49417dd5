#!/bin/bash
# 0012-deploy: sites on the three namespace hosts, through each host's own
# nginx. Specs checked whole, a two-host site served by Host header,
# redeploy and rollback under continuous load with zero failed requests, a
# release that never gets healthy, max_failures stopping a rollout, the
# per-site lease, env and secrets (never shown, never stored in clear),
# hostile specs, tugd killed in the middle of a deploy, and removal.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
LOAD=$TUG_BUILD/tests/load
# load HOSTNUM: the zero-downtime load (tests/tools/load.c) on host N's
# proxy until $T/stop: 8 keep-alive clients, 2 slow requests of 2 s always
# in flight, at least 2,000 requests, both releases seen.
load() {
	"$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -H blog.test -n 2000 -b 2 \
	    "http://$(ns_addr $1):8080/" $T/stop
}
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
"$TUG" init >/dev/null || bail "tug init"
"$TUG" key >$T/tugd.pub || bail "tug key"
$DOCKER save tug-test/app:1 tug-test/app:2 >$T/images.tar || bail "docker save"
for n in 1 2 3; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	# Images reach the hosts' engines by hand until tug image push.
	ns_docker $n load -i $T/images.tar >/dev/null || bail "image load $n"
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey \
	    --group all >/dev/null || bail "host add h$n"
	for c in $(ns_docker $n ps -aq --filter label=tug.site); do
		ns_docker $n rm -f $c >/dev/null
	done
done
at_exit "ns_agent_reset 1; ns_agent_reset 2; ns_agent_reset 3; ns_host_down 1 2 3"

# get N HOST [PATH]: the body host N's proxy answers for that Host.
get() {
	curl -sS --max-time 5 -H "Host: $2" "http://$(ns_addr $1):8080${3:-/}"
}

containers() {
	ns_docker $1 ps -aq --filter label=tug.site=$2 | wc -l
}

cat >$T/blog.yml <<EOS
site: blog
image: tug-test/app:1
hosts: [h1, h2]
domains: [blog.test, www.blog.test]
port: 8080
env: {SITE: blog}
health: {path: /up, interval: 200ms, retries: 25, cmd: [/bin/wget, -q, -O-, "http://127.0.0.1:8080/up"]}
deploy: {batch: 1, max_failures: 0, drain: 2500ms}
EOS

step 'host bootstrap --proxy nginx sets up each host'"'"'s nginx' '
	"$TUG" host bootstrap --all --proxy nginx --proxy-port 8080 >$T/out 2>$T/err &&
	grep -q "h2: nginx serving on port 8080" $T/err &&
	for n in 1 2 3; do
		curl -s -o /dev/null -w "%{http_code}" -H "Host: nobody.test" \
		    http://$(ns_addr $n):8080/ | grep -qx 404 || return 1
	done
'

step 'site apply --dry-run shows the changes and stores nothing' '
	"$TUG" site apply $T/blog.yml --dry-run >$T/out &&
	grep -q "site blog: would be created" $T/out &&
	grep -q "+ image: tug-test/app:1" $T/out &&
	grep -q "+ domain: www.blog.test" $T/out &&
	! "$TUG" site list | grep -q "^blog "
'

step 'a broken spec is refused with file:line:col, nothing stored' '
	sed "s/^image:/imgae:/" $T/blog.yml >$T/typo.yml &&
	! "$TUG" site apply $T/typo.yml 2>$T/err &&
	grep -q "$T/typo.yml:2:1: unknown key .imgae.; did you mean .image.?" $T/err &&
	printf "site: evil\nimage: a\nhosts: [h1]\nport: 80\ndomains: [\"a.test; location / {\"]\n" >$T/evil.yml &&
	! "$TUG" site apply $T/evil.yml 2>$T/err &&
	grep -q "evil.yml:5:[0-9]*: invalid domain" $T/err &&
	for d in "a{{x}}.test" "a\`id\`.test" "a b.test" "$(printf %0300d 0).test"; do
		printf "site: evil\nimage: a\nhosts: [h1]\nport: 80\ndomains: [\x27%s\x27]\n" "$d" >$T/evil.yml &&
		! "$TUG" site apply $T/evil.yml 2>$T/err &&
		grep -q "invalid domain" $T/err || return 1
	done &&
	printf "site: \"../x\"\nimage: a\nhosts: [h1]\nport: 80\ndomains: [a.test]\n" >$T/evil.yml &&
	! "$TUG" site apply $T/evil.yml 2>$T/err && grep -q "invalid site name" $T/err &&
	printf "site: ev\nimage: a\nhosts: [h1]\nport: 80\ndomains: [a.test]\nvolumes: [\"x:/a/../b\"]\n" >$T/evil.yml &&
	! "$TUG" site apply $T/evil.yml 2>$T/err && grep -q "evil.yml:6:" $T/err &&
	! "$TUG" site list | grep -q "^evil\|^ev " &&
	for n in 1 2 3; do
		test -z "$(ls /home/tughost$n/.tug-agent/nginx/sites/ 2>/dev/null)" || return 1
	done
'

step 'site apply, deploy: a two-host site answers through each host'"'"'s nginx' '
	"$TUG" site apply $T/blog.yml >$T/out &&
	grep -q "site blog: created" $T/out &&
	"$TUG" deploy blog >$T/out 2>$T/err &&
	grep -q "blog: release 1 (tug-test/app:1) serving on 2 hosts" $T/out &&
	grep -q "h1: .*healthy" $T/err &&
	test "$(get 1 blog.test)" = "blog 1" &&
	test "$(get 2 www.blog.test)" = "blog 1" &&
	test "$(containers 3 blog)" = 0 &&
	curl -sS -D - -o /dev/null -H "Host: blog.test" http://$(ns_addr 1):8080/ | grep -qi "^X-Tug-Release: 1"
'

step 'site list, site status, releases' '
	"$TUG" site list >$T/out &&
	grep -q "^blog *container *1 *ok *tug-test/app:1 *blog.test,www.blog.test" $T/out &&
	"$TUG" site status blog >$T/out &&
	grep -q "^h1 *tug-blog-r1 *1 *running *healthy" $T/out &&
	grep -q "^h2 *tug-blog-r1 *1 *running *healthy" $T/out &&
	"$TUG" releases blog >$T/out &&
	grep -q "^1 \* *tug-test/app:1 *done *root" $T/out
'

step 'redeploy under keep-alive load with slow requests in flight: at least 2,000 requests, none failed, both releases seen' '
	rm -f $T/stop && { load 1 >$T/load 2>&1 & } &&
	pid=$! &&
	"$TUG" deploy blog --image tug-test/app:2 >$T/out 2>$T/err;
	rc=$?; touch $T/stop; wait $pid; lrc=$?;
	cat $T/load && test $rc -eq 0 && test $lrc -eq 0 &&
	grep -q "release 2 (tug-test/app:2)" $T/out &&
	has $T/load " failed=0 slow_ok=[1-9][0-9]* slow_failed=0 " &&
	has $T/load "\"blog 1\":" && has $T/load "\"blog 2\":" &&
	test "$(get 1 blog.test)" = "blog 2" && test "$(get 2 blog.test)" = "blog 2" &&
	test "$(containers 1 blog)" = 1 &&
	"$TUG" site list >$T/out &&
	grep -q "^blog *container *2 *ok *tug-test/app:2 *blog.test,www.blog.test" $T/out
'

step 'rollback under the same load: back to release 1'"'"'s image, none failed' '
	rm -f $T/stop && { load 2 >$T/load 2>&1 & } &&
	pid=$! &&
	"$TUG" rollback --yes blog >$T/out 2>$T/err;
	rc=$?; touch $T/stop; wait $pid; lrc=$?;
	cat $T/load && test $rc -eq 0 && test $lrc -eq 0 &&
	grep -q "release 3 (tug-test/app:1, a rollback to 1)" $T/out &&
	has $T/load " failed=0 slow_ok=[1-9][0-9]* slow_failed=0 " &&
	test "$(get 2 blog.test)" = "blog 1" &&
	"$TUG" releases blog >$T/out &&
	grep -q "^3 \* *tug-test/app:1 *done (of 1)" $T/out &&
	"$TUG" site list >$T/out &&
	grep -q "^blog *container *3 *ok *tug-test/app:1 " $T/out
'

step 'site list marks a spec applied but not deployed as pending' '
	sed "s/^port: 8080$/port: 8080\nstop_timeout: 9s/" $T/blog.yml >$T/blog9.yml &&
	grep -q "^stop_timeout: 9s" $T/blog9.yml &&
	"$TUG" -q site apply $T/blog9.yml >/dev/null &&
	"$TUG" site list >$T/out &&
	grep -q "^blog *container *3 *ok, spec pending *tug-test/app:1 " $T/out &&
	"$TUG" --json site list | jq -en "input | .sites[] | select(.name == \"blog\") | .pending == true" >/dev/null &&
	"$TUG" -q site apply $T/blog.yml >/dev/null &&
	"$TUG" --json site list | jq -en "input | .sites[] | select(.name == \"blog\") | .pending == false" >/dev/null
'

step 'a release that never gets healthy: deploy fails, the old one keeps serving, the failed one is kept stopped for its logs' '
	! "$TUG" env set blog HEALTH=fail >$T/out 2>$T/err &&
	{ grep -q "^h1: [0-9.]* s: docker reports \(starting\|unhealthy\); GET /up answered 500$" $T/err || { cat $T/err; false; }; } &&
	grep -q "did not become healthy" $T/err &&
	grep -q "release 4 of blog failed on 1 of 2 hosts" $T/err &&
	grep -q "did not become healthy: .*; release 3 keeps serving (its container is kept, stopped, until the next deploy: tug logs blog --release 4)" $T/err &&
	test "$(get 1 blog.test)" = "blog 1" && test "$(get 2 blog.test)" = "blog 1" &&
	test "$(containers 1 blog)" = 2 &&
	"$TUG" site status blog >$T/out &&
	grep -q "^h1 *tug-blog-r3 *3 *running *healthy *[0-9]*[smhd] *0 *tug-test/app:1$" $T/out &&
	grep -q "^h1 *tug-blog-r4 *4 *exited" $T/out &&
	"$TUG" logs blog --release 4 --host h1 --tail all >$T/out &&
	grep -q "^h1 | .*\"GET /up HTTP/1.[01]\" 500 " $T/out &&
	! "$TUG" logs blog --release 4 --host h2 2>$T/err &&
	grep -q "site .blog. has no release 4 on this host" $T/err &&
	"$TUG" releases blog | grep -q "^4 *tug-test/app:1 *failed" &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT state FROM deployments d JOIN releases r ON r.id = d.release_id WHERE r.number = 4 ORDER BY d.id" | tr "\n" " ")" = "failed skipped " &&
	"$TUG" env unset blog HEALTH >$T/out 2>$T/err &&
	grep -q "release 5" $T/out &&
	grep -q "^h1: removing tug-blog-r4, kept from a failed deploy$" $T/err &&
	test "$(containers 1 blog)" = 1
'

step 'max_failures stops a rollout: later hosts are skipped' '
	cat >$T/wide.yml <<EOS &&
site: wide
image: tug-test/app:1
group: all
domains: [wide.test]
port: 8080
health: {path: /up, interval: 200ms, retries: 10}
deploy: {batch: 1, max_failures: 0}
EOS
	"$TUG" site apply $T/wide.yml >/dev/null &&
	"$TUG" -q env set wide HEALTH=fail --no-deploy >/dev/null &&
	! "$TUG" deploy wide >$T/out 2>$T/err &&
	grep -q "h1: .*did not become healthy" $T/err &&
	grep -q "the rollout was stopped (max_failures)" $T/err &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT host || \"=\" || state FROM deployments d JOIN releases r ON r.id = d.release_id JOIN sites s ON s.id = r.site_id WHERE s.name = '\''wide'\'' ORDER BY d.id" | tr "\n" " ")" = "h1=failed h2=skipped h3=skipped " &&
	test "$(containers 2 wide)" = 0 &&
	"$TUG" -q env unset wide HEALTH --no-deploy >/dev/null
'

step 'an image missing on a host stops the deploy before a release number is taken' '
	n=$("$TUG" --json releases wide | jq ".releases | length") &&
	ns_docker 1 rmi tug-test/app:2 >/dev/null &&
	! "$TUG" deploy wide --image tug-test/app:2 >$T/out 2>$T/err &&
	grep -qx "tug: image tug-test/app:2 is not on h1: push it there first (tug image push tug-test/app:2 --site wide), or deploy an image that names its registry. No release was made" $T/err &&
	test "$("$TUG" --json releases wide | jq ".releases | length")" = "$n" &&
	ns_docker 1 load -i $T/images.tar >/dev/null
'

step 'hosts that disagree: a rollout that failed on h2 leaves h1 on the new release, and site list says so' '
	"$TUG" -q deploy wide >/dev/null &&
	printf "FROM tug-test/app:1\nENV HEALTH=fail\n" | ns_docker 2 build -q -t tug-test/app:mix - >/dev/null 2>&1 &&
	ns_docker 1 tag tug-test/app:2 tug-test/app:mix &&
	ns_docker 3 tag tug-test/app:2 tug-test/app:mix &&
	! "$TUG" deploy wide --image tug-test/app:mix >$T/out 2>$T/err &&
	grep -q "release [0-9]* of wide failed on 1 of 3 hosts" $T/err &&
	until_true 5 listed "^wide *container *[0-9]* *release [0-9]* on h1 " &&
	"$TUG" --json site list | jq -en "input | .sites[] | select(.name == \"wide\") | .state == \"mixed\"" &&
	"$TUG" -q deploy wide >/dev/null &&
	until_true 5 listed "^wide *container *[0-9]* *ok " &&
	for n in 1 2 3; do ns_docker $n rmi tug-test/app:mix >/dev/null || exit 1; done
'

step 'a second deploy of the same site is refused, naming the holder' '
	{ "$TUG" deploy wide >$T/a 2>&1 & } && pid=$! &&
	for i in $(seq 100); do
		sqlite3 "$TUG_HOME/tug.db" "SELECT holder FROM locks" | grep -q root && break
		sleep 0.05
	done &&
	! "$TUG" deploy wide 2>$T/err &&
	grep -q "site .wide. is being changed by root (tug pid [0-9]*) since" $T/err &&
	wait $pid && grep -q "serving on 3 hosts" $T/a
'

step 'secrets: set, masked, never stored or audited in clear, reach the app' '
	"$TUG" env set blog DB_PASSWORD=hunter2-s3cret --secret >$T/out 2>&1 &&
	"$TUG" env set blog MODE=prod --no-deploy >/dev/null &&
	"$TUG" env list blog >$T/out &&
	grep -q "^DB_PASSWORD *\*\*\*\*\*\*\*\* *set" $T/out &&
	grep -q "^MODE *prod *set" $T/out &&
	grep -q "^SITE *blog *spec" $T/out &&
	! grep -rq "hunter2" $T/out "$TUG_HOME/tugd.log" &&
	! sqlite3 "$TUG_HOME/tug.db" .dump | grep -q "hunter2" &&
	! grep -aq "hunter2" "$TUG_HOME"/tug.db* &&
	sqlite3 "$TUG_HOME/tug.db" "SELECT args FROM audit WHERE op = '\''env.set'\''" | grep -q "\"keys\":\[\"DB_PASSWORD\"\]" &&
	test "$(stat -c %a "$TUG_HOME/secret.key")" = 600 &&
	ns_docker 1 inspect -f "{{range .Config.Env}}{{println .}}{{end}}" $(ns_docker 1 ps -q --filter label=tug.site=blog) | grep -qx "DB_PASSWORD=hunter2-s3cret" &&
	! "$TUG" --json env list blog | grep -q hunter2
'

step 'a spec naming a secret that is not set refuses to deploy' '
	sed "s/^env: {SITE: blog}/env: {SITE: blog}\nsecrets: [API_TOKEN]/" $T/blog.yml >$T/blog2.yml &&
	"$TUG" site apply $T/blog2.yml >/dev/null &&
	! "$TUG" deploy blog 2>$T/err &&
	grep -q "secret API_TOKEN of site blog is not set (tug env set blog API_TOKEN=... --secret)" $T/err &&
	"$TUG" site apply $T/blog.yml >/dev/null
'

step 'tugd killed in the middle of a deploy: deploying again converges' '
	{ "$TUG" deploy blog --image tug-test/app:2 >$T/a 2>&1 & } &&
	for i in $(seq 200); do
		grep -q "h1: .*waiting for tug-blog-r" $T/a 2>/dev/null && break
		sleep 0.05
	done &&
	pid=$(tugd_pid) && test -n "$pid" && kill -9 $pid || exit 1
	wait
	# Dead once its state lock is free: a tug before that may reach a
	# dying tugd and have its connection reset.
	until_true 5 flock -n "$TUG_HOME/tugd.lock" true &&
	"$TUG" releases blog >$T/rel &&
	hasnt $T/rel " deploying " && test "$(grep -c " interrupted " $T/rel)" = 1 &&
	"$TUG" audit >$T/audit && has $T/audit "release [0-9]* interrupted: tugd stopped during its deploy" &&
	"$TUG" deploy blog --image tug-test/app:2 >$T/out 2>$T/err &&
	for n in 1 2; do
		test "$(containers $n blog)" = 1 || { ns_docker $n ps -a; return 1; }
		test "$(get $n blog.test)" = "blog 2" || return 1
	done
'

step 'stop, start: the proxy still reaches the same port afterwards' '
	"$TUG" stop blog >$T/out && grep -q "blog: done on 2 hosts" $T/out &&
	test "$(ns_docker 1 ps -q --filter label=tug.site=blog | wc -l)" = 0 &&
	"$TUG" start blog >/dev/null &&
	for i in $(seq 50); do test "$(get 1 blog.test)" = "blog 2" && break; sleep 0.1; done &&
	test "$(get 1 blog.test)" = "blog 2"
'

# restart is the serving release again in a fresh container, through the
# whole deploy sequence (health, switch, drain): it loses no request,
# where stop+start dropped 14 of 300.
step 'restart under continuous load: a fresh container of the serving release, none failed' '
	cur=$("$TUG" releases blog | sed -n "s/^\([0-9]*\) \*.*/\1/p") && test -n "$cur" &&
	old1=$(ns_docker 1 ps -q --filter label=tug.site=blog) &&
	old2=$(ns_docker 2 ps -q --filter label=tug.site=blog) &&
	rm -f $T/stop && { "$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -H blog.test -n 2000 \
	    "http://$(ns_addr 1):8080/" $T/stop >$T/load 2>&1 & } &&
	pid=$! &&
	"$TUG" restart blog >$T/out 2>$T/err;
	rc=$?; touch $T/stop; wait $pid; lrc=$?;
	cat $T/load && test $rc -eq 0 && test $lrc -eq 0 &&
	has $T/load " failed=0 slow_ok=[1-9][0-9]* slow_failed=0 " &&
	has $T/out "^blog: release $((cur + 1)) (tug-test/app:2, release $cur restarted) serving on 2 hosts" &&
	for n in 1 2; do
		test "$(containers $n blog)" = 1 || return 1
		test "$(get $n blog.test)" = "blog 2" || return 1
	done &&
	test "$(ns_docker 1 ps -q --filter label=tug.site=blog)" != "$old1" &&
	test "$(ns_docker 2 ps -q --filter label=tug.site=blog)" != "$old2" &&
	"$TUG" releases blog >$T/rel &&
	has $T/rel "^$((cur + 1)) \* *tug-test/app:2 *done (of $cur)"
'

step 'rollback to a release that failed: refused, nothing deployed' '
	bad=$("$TUG" releases blog | sed -n "s/^\([0-9]*\) .* failed .*/\1/p" | head -1) &&
	test -n "$bad" &&
	! "$TUG" rollback --yes blog $bad >$T/out 2>$T/err &&
	has $T/err "release $bad of blog is failed, not one that served: roll back to a done release (tug releases blog)" &&
	"$TUG" releases blog >$T/rel2 && test "$(wc -l <$T/rel2)" = "$(wc -l <$T/rel)"
'

step 'site rm: containers and proxy config gone from every host' '
	"$TUG" site rm --yes blog >$T/out &&
	grep -q "removed site blog from 2 hosts" $T/out &&
	for n in 1 2 3; do
		test "$(containers $n blog)" = 0 || return 1
	done &&
	curl -s -o /dev/null -w "%{http_code}" -H "Host: blog.test" http://$(ns_addr 1):8080/ | grep -qx 404 &&
	! "$TUG" site list | grep -q "^blog " &&
	"$TUG" site rm --yes wide >/dev/null
'

finish
