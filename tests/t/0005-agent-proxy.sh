#!/bin/bash
# 0005-agent-proxy: the nginx proxy of DESIGN §6 step 4, driven through
# tug-agent over a pipe: proxy.setup starts an unprivileged-style nginx in
# the agent's state dir, site.apply switches a site's domains to each new
# release and confirms it through the proxy, with no failed request during a
# redeploy; hostile domains never reach a config, and a config nginx refuses
# leaves the previous release serving.

. "$(dirname "$0")/../lib.sh"
bed_dockerd || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
STATE=$T/state
RUN=("$AGENT" serve --state-dir "$STATE")
S=t5proxy
site_purge $S
site_purge $S-b
at_exit "site_purge $S; site_purge $S-b"

proxy_init && TLSPORT=$(free_port) || bail "no free port"

# req OUT OP JSON: one request, its frames in OUT.
req() {
	"$AGENTCTL" -t 120 -r "$2" "$3" -- "${RUN[@]}" >"$1" 2>"$1.err"
}

# refused OP JSON PATTERN: the request is refused with bad_args PATTERN.
refused() {
	"$AGENTCTL" -r "$1" "$2" -- "${RUN[@]}" >$T/out 2>&1
	test $? -eq 1 || { echo "$1 $2 was not refused:"; cat $T/out; return 1; }
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$3"
}

SPEC="\"site\":\"$S\",\"port\":8080,\"drain_ms\":500,\"health\":{\"path\":\"/up\",\"interval_ms\":200}"
DOMAINS='"proxy":{"domains":["a.test","www.a.test"]}'
apply() {	# OUT RELEASE IMAGE-VERSION VERSION [EXTRA-ARGS]
	req "$1" site.apply "{$SPEC,\"release\":$2,\"image\":\"tug-test/app:$3\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"$4\"}${5:+,$5}}"
}

step 'site.apply with domains but no proxy set up: error proxy, nothing created' '
	! apply $T/np 1 1 v1 "$DOMAINS" &&
	has $T/np "\"code\":\"proxy\",\"message\":\"no proxy on this host: set one up with proxy.setup" &&
	test -z "$(site_containers $S)"
'

step 'proxy.setup refuses bad ports, addresses and kinds' '
	refused proxy.setup "{\"listen\":80}" "listen port 80 out of range 1024-65535" &&
	refused proxy.setup "{\"listen\":70000}" "listen port 70000 out of range" &&
	refused proxy.setup "{}" "args.listen: missing" &&
	refused proxy.setup "{\"listen\":\"18000\"}" "args.listen: expected an unsigned" &&
	refused proxy.setup "{\"listen\":$PORT,\"tls_listen\":$PORT}" "tls_listen port $PORT out of range 1024-65535 or equal" &&
	refused proxy.setup "{\"listen\":$PORT,\"address\":\"1.2.3.4; x\"}" "invalid address .1.2.3.4; x.: expected an IPv4" &&
	refused proxy.setup "{\"listen\":$PORT,\"address\":\"::1\"}" "invalid address" &&
	refused proxy.setup "{\"listen\":$PORT,\"kind\":\"haproxy\"}" "unsupported proxy kind .haproxy.: nginx, caddy or traefik" &&
	! test -e $STATE/proxy.json
'

step 'proxy.setup starts nginx; unknown hosts get 404 from the default server' '
	req $T/setup proxy.setup "{\"kind\":\"nginx\",\"listen\":$PORT,\"tls_listen\":$TLSPORT,\"address\":\"127.0.0.1\"}" &&
	has $T/setup "\"kind\":\"nginx\",\"listen\":$PORT,\"tls_listen\":$TLSPORT,\"address\":\"127.0.0.1\",\"pid\":[1-9]" &&
	has $T/setup "\"started\":true" &&
	pid=$(cat $STATE/nginx/logs/nginx.pid) &&
	test "$(cat /proc/$pid/comm)" = nginx &&
	has $STATE/proxy.json "\"kind\":\"nginx\",\"listen\":$PORT" &&
	for d in client_body proxy fastcgi uwsgi scgi; do
		grep -q "^	${d}_temp_path temp/$d;" $STATE/nginx/nginx.conf || return 1
	done &&
	has $STATE/nginx/nginx.conf "^	include sites/\*.conf;" &&
	via nobody.test &&
	has $T/via.h "^HTTP/1.1 404"
'

step 'proxy.setup again is idempotent: same nginx, not even reloaded' '
	pid=$(cat $STATE/nginx/logs/nginx.pid) &&
	cp $STATE/nginx/nginx.conf $T/conf.before &&
	req $T/setup2 proxy.setup "{\"listen\":$PORT,\"tls_listen\":$TLSPORT,\"address\":\"127.0.0.1\"}" &&
	has $T/setup2 "\"pid\":$pid,.*\"started\":false,\"reloaded\":false" &&
	cmp $T/conf.before $STATE/nginx/nginx.conf &&
	req $T/st proxy.status "{}" &&
	has $T/st "\"configured\":true,\"kind\":\"nginx\",\"running\":true,\"pid\":$pid,\"listen\":$PORT,.*\"sites\":\[\]"
'

step 'site.apply r1 with two domains: both answer v1 through nginx' '
	apply $T/r1 1 1 v1 "$DOMAINS" &&
	has $T/r1 "\"step\":\"proxy\",\"message\":\"nginx answers for a.test from release 1" &&
	has $T/r1 "\"proxy\":{\"kind\":\"nginx\",\"domains\":\[\"a.test\",\"www.a.test\"\],\"changed\":true" &&
	via a.test && test "$(cat $T/via)" = "$S v1" &&
	has $T/via.h "^X-Tug-Release: 1" &&
	via www.a.test && test "$(cat $T/via)" = "$S v1" &&
	has $STATE/nginx/sites/$S.conf "server_name a.test www.a.test;" &&
	! test -e $STATE/nginx/sites/$S.prev &&
	has $STATE/journal/$S.json "\"step\":\"done\""
'

step 'unknown Host: 404 from the default server, not the site' '
	via b.test && has $T/via.h "^HTTP/1.1 404" && hasnt $T/via.h "X-Tug-Release"
'

# Once site.apply has answered, no nginx worker with the old config may
# take a request (nginx starts new workers 100 ms before it stops the old).
step 'site.apply r2 switches the proxy to v2, for every request after it' '
	apply $T/r2 2 2 v2 "$DOMAINS" &&
	has $T/r2 "\"replaced\":\[\"tug-$S-r1\"\]" &&
	for i in $(seq 20); do
		via a.test && test "$(cat $T/via)" = "$S v2" &&
		has $T/via.h "^X-Tug-Release: 2" || return 1
	done
'

step 'the same release and spec again: container reused, proxy only confirmed' '
	apply $T/r2b 2 2 v2 "$DOMAINS" &&
	has $T/r2b "\"reused\":true" &&
	has $T/r2b "nginx already answers for a.test from release 2" &&
	has $T/r2b "\"changed\":false"
'

step 'proxy.setup on a port in use: nginx'"'"'s reason, the old port keeps serving' '
	BUSY=$(free_port) &&
	{ python3 -c "import socket, time
s = socket.socket(); s.bind((\"127.0.0.1\", $BUSY)); s.listen(); time.sleep(15)" & } &&
	holder=$! &&
	for i in $(seq 50); do
		test -n "$(ss -Hltn "sport = :$BUSY")" && break; sleep 0.1
	done &&
	! req $T/busy proxy.setup "{\"listen\":$BUSY,\"tls_listen\":$TLSPORT,\"address\":\"127.0.0.1\"}";
	rc=$?; kill $holder; wait $holder 2>/dev/null;
	test $rc -eq 0 &&
	has $T/busy "\"code\":\"proxy\",\"message\":\"nginx kept its old config: \[emerg\] bind() to 127.0.0.1:$BUSY failed (98: Address already in use)" &&
	has $STATE/nginx/listen.conf "127.0.0.1:$PORT;" &&
	has $STATE/proxy.json "\"listen\":$PORT," &&
	via a.test && test "$(cat $T/via)" = "$S v2"
'

step 'proxy.setup moves the port: every site follows, the old port closes' '
	NEW=$(free_port) &&
	req $T/mv proxy.setup "{\"listen\":$NEW,\"tls_listen\":$TLSPORT,\"address\":\"127.0.0.1\"}" &&
	has $T/mv "\"reloaded\":true" &&
	test "$(curl -sS -m 5 -H "Host: a.test" http://127.0.0.1:$NEW/)" = "$S v2" &&
	! curl -s -m 2 -H "Host: a.test" http://127.0.0.1:$PORT/ &&
	req $T/back proxy.setup "{\"listen\":$PORT,\"tls_listen\":$TLSPORT,\"address\":\"127.0.0.1\"}" &&
	via a.test && test "$(cat $T/via)" = "$S v2"
'

step 'no failed request through the proxy while r3 replaces r2' '
	rm -f $T/stop $T/loop $T/codes &&
	(
		ok=0 bad=0 end=$((SECONDS + 60))
		for i in $(seq 3000); do
			code=$(curl -s -o /dev/null -w "%{http_code}" -m 5 \
			    -H "Host: a.test" http://127.0.0.1:$PORT/)
			if [ "$code" = 200 ]; then ok=$((ok + 1)); else
				bad=$((bad + 1)); echo "$code" >>$T/codes; fi
			[ -e $T/stop ] || [ $SECONDS -ge $end ] && break
		done
		echo "$ok $bad" >$T/loop
	) &
	loop=$! &&
	sleep 0.3 &&
	apply $T/r3 3 1 v3 "$DOMAINS";
	rc=$?;
	sleep 0.3; touch $T/stop; wait $loop;
	echo "apply: $rc; requests ok, failed: $(cat $T/loop)" &&
	test $rc -eq 0 &&
	read ok bad <$T/loop &&
	test "$bad" -eq 0 && test "$ok" -ge 20 &&
	has $T/r3 "\"replaced\":\[\"tug-$S-r2\"\]" &&
	via a.test && test "$(cat $T/via)" = "$S v3"
'

step 'hostile domains are refused before anything is written' '
	ls $STATE/nginx/sites >$T/sites.before &&
	before=$(site_containers $S) &&
	OK4="\"site\":\"$S\",\"release\":4,\"image\":\"tug-test/app:1\",\"port\":8080" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test; location / {\"]}}" "invalid domain .a.test; location / {.: only lowercase" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a{{x}}.test\"]}}" "invalid domain .a{{x}}.test." &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"\`id\`.test\"]}}" "invalid domain" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a b.test\"]}}" "invalid domain .a b.test." &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test\\nserver_name x\"]}}" "invalid domain .a.test\\\\\\\\nserver_name x." &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"$(printf %0300d 0 | tr 0 a).test\"]}}" "args.proxy.domains\[0\]: longer than 253 bytes" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"A.test\"]}}" "invalid domain .A.test.: only lowercase" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test\",\"www.a.test\",\"a.test\"]}}" "domain .a.test. listed twice" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[]}}" "proxy.domains: at least one domain" &&
	refused site.apply "{$OK4,\"proxy\":{}}" "args.proxy.domains: missing" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test\"],\"tls_cert\":\"/x/c.pem\"}}" "proxy.tls_cert and proxy.tls_key go together" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test\"],\"tls_cert\":\"/x/c.pem;\",\"tls_key\":\"/x/k.pem\"}}" "invalid proxy.tls_cert ./x/c.pem;." &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test\"],\"tls_cert\":\"x/c.pem\",\"tls_key\":\"/x/k.pem\"}}" "invalid proxy.tls_cert .x/c.pem.: must be absolute" &&
	refused site.apply "{$OK4,\"proxy\":{\"domains\":[\"a.test\"],\"tls_cert\":\"/x/../c.pem\",\"tls_key\":\"/x/k.pem\"}}" "invalid proxy.tls_cert" &&
	refused site.apply "{\"site\":\"$S\",\"release\":4,\"image\":\"tug-test/app:1\",\"proxy\":{\"domains\":[\"a.test\"]}}" "proxy needs port" &&
	ls $STATE/nginx/sites >$T/sites.after &&
	cmp $T/sites.before $T/sites.after &&
	test "$(site_containers $S)" = "$before" &&
	! grep -q "a.test; location\|{{\|\`" $STATE/nginx/sites/*.conf
'

step 'a TLS certificate that does not exist: nginx -t refuses, r3 keeps serving' '
	! apply $T/r4 4 2 v4 "\"proxy\":{\"domains\":[\"a.test\"],\"tls_cert\":\"/nonexistent/cert.pem\",\"tls_key\":\"/nonexistent/key.pem\"}" &&
	has $T/r4 "\"ok\":false,\"error\":{\"code\":\"proxy\",\"message\":\"release 4 was not switched to: nginx -t rejected the config: \[emerg\] cannot load certificate \\\\\"/nonexistent/cert.pem\\\\\"" &&
	has $T/r4 "\"step\":\"rollback\"" &&
	! $DOCKER inspect tug-$S-r4 >/dev/null 2>&1 &&
	test "$(site_containers $S | wc -l)" -eq 1 &&
	via a.test && test "$(cat $T/via)" = "$S v3" &&
	has $T/via.h "^X-Tug-Release: 3" &&
	has $STATE/nginx/sites/$S.conf "X-Tug-Release 3 always" &&
	! test -e $STATE/nginx/sites/$S.prev &&
	has $STATE/journal/$S.json "\"current\":3,\"step\":\"failed\""
'

step 'a real certificate: the site answers over TLS as well' '
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=a.test \
	    -keyout $T/key.pem -out $T/cert.pem 2>/dev/null &&
	apply $T/r5 5 2 v5 "\"proxy\":{\"domains\":[\"a.test\",\"www.a.test\"],\"tls_cert\":\"$T/cert.pem\",\"tls_key\":\"$T/key.pem\",\"max_body\":1024}" &&
	test "$(curl -sS -m 5 --cacert $T/cert.pem --resolve a.test:$TLSPORT:127.0.0.1 https://a.test:$TLSPORT/)" = "$S v5" &&
	via a.test && test "$(cat $T/via)" = "$S v5" &&
	code=$(head -c 4096 /dev/zero | curl -s -o /dev/null -w "%{http_code}" -m 5 -H "Host: a.test" --data-binary @- http://127.0.0.1:$PORT/) &&
	test "$code" = 413
'

step 'a domain that another site serves is refused; the site is not created' '
	! req $T/dup site.apply "{\"site\":\"$S-b\",\"port\":8080,\"release\":1,\"image\":\"tug-test/app:1\",\"health\":{\"path\":\"/up\",\"interval_ms\":200},\"proxy\":{\"domains\":[\"b.test\",\"www.a.test\"]}}" &&
	has $T/dup "\"code\":\"proxy\",\"message\":\"release 1 was not switched to: domain .www.a.test. is already served by another site" &&
	test -z "$(site_containers $S-b)" &&
	! test -e $STATE/nginx/sites/$S-b.conf &&
	via www.a.test && test "$(cat $T/via)" = "$S v5"
'

step 'proxy.status lists the site' '
	req $T/st2 proxy.status "{}" &&
	has $T/st2 "\"running\":true,.*\"sites\":\[\"$S\"\]"
'

# A stopped site's entry answers 503 from nginx itself and names no
# loopback port: a local user who binds the freed port gets nothing.
step 'site.stop: the proxy answers 503 itself, and its config names no port' '
	old=$($DOCKER inspect -f "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}" tug-$S-r5) &&
	test -n "$old" &&
	req $T/stop site.stop "{\"site\":\"$S\"}" &&
	has $T/stop "\"step\":\"proxy\",\"message\":\"nginx answers 503 for a.test itself: release 5 is stopped" &&
	has $T/stop "\"stopped\":\[\"tug-$S-r5\"\]" &&
	test "$($DOCKER inspect -f "{{.State.Running}}" tug-$S-r5)" = false &&
	via a.test && has $T/via.h "^HTTP/1.1 503" && has $T/via.h "^X-Tug-Stopped: 5" &&
	hasnt $T/via.h "X-Tug-Release" &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -m 5 --cacert $T/cert.pem --resolve a.test:$TLSPORT:127.0.0.1 https://a.test:$TLSPORT/) &&
	test "$code" = 503 &&
	hasnt $STATE/nginx/sites/$S.conf "proxy_pass" &&
	hasnt $STATE/nginx/sites/$S.conf "upstream" &&
	hasnt $STATE/nginx/sites/$S.conf "127\.0\.0\.1" &&
	hasnt $STATE/nginx/sites/$S.conf ":$old" &&
	has $STATE/nginx/sites/$S.conf "server_name a.test www.a.test;" &&
	has $STATE/journal/$S.json "\"stopped\":true" &&
	req $T/stop2 site.stop "{\"site\":\"$S\"}" &&
	has $T/stop2 "nginx already answers 503 for a.test itself" &&
	has $T/stop2 "\"stopped\":\[\]"
'

step 'a listener on the stopped release'"'"'s port gets none of the site'"'"'s traffic' '
	old=$($DOCKER inspect -f "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}" tug-$S-r5) &&
	rm -f $T/listening $T/accepted &&
	{ python3 -c "
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"127.0.0.1\", $old)); s.listen(16); s.settimeout(3)
open(\"$T/listening\", \"w\").close()
n = 0
try:
    while True:
        c, _ = s.accept(); n += 1; c.close()
except socket.timeout:
    pass
open(\"$T/accepted\", \"w\").write(str(n))
" & } &&
	for i in $(seq 50); do test -e $T/listening && break; sleep 0.1; done &&
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null -w "%{http_code}\n" -m 5 -H "Host: a.test" http://127.0.0.1:$PORT/
	done >$T/codes;
	curl -s -m 2 http://127.0.0.1:$old/ >/dev/null;
	wait &&
	echo "connections the listener took: $(cat $T/accepted) (1: our own check)" &&
	test "$(cat $T/accepted)" = 1 &&
	test "$(sort -u $T/codes)" = 503
'

step 'site.start: healthy again, then the proxy serves it' '
	req $T/start site.start "{\"site\":\"$S\"}" &&
	has $T/start "\"started\":\[\"tug-$S-r5\"\]" &&
	has $T/start "\"step\":\"healthy\"" &&
	has $T/start "switching nginx for a.test back to tug-$S-r5" &&
	via a.test && test "$(cat $T/via)" = "$S v5" && has $T/via.h "^X-Tug-Release: 5" &&
	has $STATE/nginx/sites/$S.conf "proxy_pass" &&
	hasnt $STATE/journal/$S.json "\"stopped\":true"
'

step 'deployed by an older agent (no domains on record): site.stop drops the entry, or parks it given them' '
	python3 -c "import json; p=\"$STATE/journal/$S.json\"; j=json.load(open(p)); del j[\"proxy\"]; json.dump(j, open(p, \"w\"))" &&
	req $T/ostop site.stop "{\"site\":\"$S\"}" &&
	has $T/ostop "removed the nginx config of .$S.: its domains were not recorded" &&
	! test -e $STATE/nginx/sites/$S.conf &&
	via a.test && has $T/via.h "^HTTP/1.1 404" &&
	req $T/ostart site.start "{\"site\":\"$S\",$DOMAINS}" &&
	has $T/ostart "switching nginx for a.test back to tug-$S-r5" &&
	via a.test && test "$(cat $T/via)" = "$S v5" &&
	python3 -c "import json; p=\"$STATE/journal/$S.json\"; j=json.load(open(p)); del j[\"proxy\"]; json.dump(j, open(p, \"w\"))" &&
	req $T/ostop2 site.stop "{\"site\":\"$S\",$DOMAINS}" &&
	via a.test && has $T/via.h "^HTTP/1.1 503" &&
	req $T/ostart2 site.start "{\"site\":\"$S\"}" &&
	via a.test && test "$(cat $T/via)" = "$S v5"
'

step 'an agent killed in the middle of the switch: the next apply converges' '
	"$AGENTCTL" -t 120 -k proxy -r site.apply "{$SPEC,\"release\":6,\"image\":\"tug-test/app:1\",\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v6\"},$DOMAINS}" -- "${RUN[@]}" >$T/r6k 2>&1;
	test $? -eq 3 &&
	apply $T/r6 6 1 v6 "$DOMAINS" &&
	has $T/r6 "\"step\":\"recover\"" &&
	has $T/r6 "\"replaced\":\[\"tug-$S-r5\"\]" &&
	test "$(site_containers $S | wc -l)" -eq 1 &&
	! test -e $STATE/nginx/sites/$S.prev &&
	via a.test && test "$(cat $T/via)" = "$S v6" &&
	has $T/via.h "^X-Tug-Release: 6"
'

step 'site.remove drops the proxy config: the host gets 404 again' '
	req $T/rm site.remove "{\"site\":\"$S\"}" &&
	has $T/rm "\"removed\":\[\"tug-$S-r6\"\],\"proxy_removed\":true" &&
	! test -e $STATE/nginx/sites/$S.conf &&
	via a.test && has $T/via.h "^HTTP/1.1 404" && hasnt $T/via.h "X-Tug-Release" &&
	test -z "$(site_containers $S)"
'

step 'a release without domains drops the site from the proxy' '
	apply $T/d1 1 1 d1 "$DOMAINS" &&
	via a.test && test "$(cat $T/via)" = "$S d1" &&
	apply $T/d2 2 2 d2 &&
	has $T/d2 "removed the nginx config of .$S.: this release has no domains" &&
	! test -e $STATE/nginx/sites/$S.conf &&
	via a.test && has $T/via.h "^HTTP/1.1 404" &&
	req $T/rm2 site.remove "{\"site\":\"$S\"}" &&
	has $T/rm2 "\"proxy_removed\":false"
'

# The way it runs on a host: the agent as the SSH user (in group docker,
# not root), and nginx as that user too, with its own port and prefix.
U=tugproxy
USTATE=$T/ustate
URUN=(setpriv --reuid=$U --regid=$U --init-groups env HOME=/home/$U
    "$AGENT" serve --state-dir "$USTATE")
unginx_stop() {
	local pidfile=$USTATE/nginx/logs/nginx.pid

	[ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
	for _ in $(seq 50); do
		[ -e "$pidfile" ] || return 0
		sleep 0.1
	done
}
at_exit unginx_stop
at_exit "site_purge $S-u"
site_purge $S-u

step 'as an unprivileged user: proxy.setup and a site, nginx not root' '
	bed_user $U &&
	install -d -o $U -m 700 $USTATE &&
	UPORT=$(free_port) &&
	"$AGENTCTL" -t 60 -r proxy.setup "{\"listen\":$UPORT}" -- "${URUN[@]}" >$T/us 2>&1 &&
	has $T/us "\"started\":true" &&
	pid=$(cat $USTATE/nginx/logs/nginx.pid) &&
	test "$(stat -c %U /proc/$pid)" = $U &&
	for w in $(pgrep -P $pid); do test "$(stat -c %U /proc/$w)" = $U || return 1; done &&
	hasnt $USTATE/nginx/nginx.conf "^user " &&
	"$AGENTCTL" -t 60 -r site.apply "{\"site\":\"$S-u\",\"port\":8080,\"release\":1,\"image\":\"tug-test/app:2\",\"env\":{\"SITE\":\"$S-u\",\"VERSION\":\"u1\"},\"health\":{\"path\":\"/up\",\"interval_ms\":200},\"proxy\":{\"domains\":[\"*.u.test\"]}}" -- "${URUN[@]}" >$T/ua 2>&1 &&
	test "$(curl -sS -m 5 -H "Host: x.u.test" http://127.0.0.1:$UPORT/)" = "$S-u u1" &&
	"$AGENTCTL" -t 60 -r site.remove "{\"site\":\"$S-u\"}" -- "${URUN[@]}" >$T/ur 2>&1 &&
	has $T/ur "\"proxy_removed\":true" &&
	test "$(curl -sS -m 5 -o /dev/null -w "%{http_code}" -H "Host: x.u.test" http://127.0.0.1:$UPORT/)" = 404
'

finish
