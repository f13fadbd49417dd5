#!/bin/bash
# 0025-proxy-traefik: the Traefik backend (DESIGN §6 "Proxy backends"), on
# namespace host 10. No Traefik exists on these machines, so its output is
# tested for form: with provider file, the exact <dir>/tug-<site>.yml of a
# plain site, two domains, a wildcard, a cert resolver, a stopped site, and
# its removal, each written by rename (no temp file left, a new inode);
# with provider docker, the exact labels on the site's container. Hostile
# domains and setup fields are refused as bad_args before anything is
# written; static sites and certificate files are refused with their
# messages; a half-done switch is put back from its .prev.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"

N=10		# this file's own host: the other proxy tests run at the same time
NS=/run/netns/tugh$N
bed_keypair "$T/id" || bail "cannot make a key"
ns_host_up $N "$T/id.pub" || bail "host $N"
at_exit "ns_host_down $N"
$DOCKER save tug-test/app:1 | ns_docker $N load >/dev/null ||
	bail "cannot load the image into host $N"

STATE=$(mktemp -d /tmp/tug25.XXXXXX) || bail "no state dir"
at_exit "rm -rf $STATE"
DIR=$T/traefik		# the directory a Traefik file provider would watch
mkdir -m 755 $DIR || bail "no traefik dir"
RUN=(nsenter --net=$NS env DOCKER_HOST=unix:///run/tug-test/h$N/docker.sock
    "$AGENT" serve --state-dir "$STATE")
ns_purge $N tug-test
at_exit "ns_purge $N tug-test"

req() {
	"$AGENTCTL" -t 120 -r "$2" "$3" -- "${RUN[@]}" >"$1" 2>"$1.err"
}

refused() {	# OP JSON PATTERN: refused with bad_args PATTERN
	"$AGENTCTL" -r "$1" "$2" -- "${RUN[@]}" >$T/out 2>&1
	test $? -eq 1 || { echo "$1 $2 was not refused:"; cat $T/out; return 1; }
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$3"
}

# apply OUT SITE RELEASE DOMAINS-JSON [EXTRA]
apply() {
	req "$1" site.apply "{\"site\":\"$2\",\"release\":$3,\"image\":\"tug-test/app:1\",\"port\":8080,\"drain_ms\":0,\"env\":{\"SITE\":\"$2\",\"VERSION\":\"v$3\"},\"health\":{\"path\":\"/up\",\"interval_ms\":200},\"proxy\":{\"domains\":$4}${5:+,$5}}"
}

port_of() {	# SITE RELEASE: the container's published port
	ns_docker $N inspect -f "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}" "tug-$1-r$2"
}

# same FILE [PORT]: FILE holds exactly the text on stdin, @PORT@ read as PORT.
same() {
	sed "s/@PORT@/${2-}/g" >$T/want && diff -u $T/want "$1"
}

# What is in the watched directory, names, modes, sizes and contents; any
# temp file or change shows.
snap() {
	(cd $DIR && ls -lAn --time-style=+ && find . -type f | sort | xargs -r md5sum)
}

# The traefik.* labels of a container, one key=value a line, sorted.
labels() {
	ns_docker $N inspect -f '{{json .Config.Labels}}' "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in sorted(d):
    if k.startswith("traefik."):
        print("%s=%s" % (k, d[k]))'
}

BIN=$(command -v traefik || echo /usr/local/bin/traefik)
SETUP="\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"$DIR\""

step 'proxy.setup kind traefik, provider file: recorded, nothing written, nothing asked' '
	req $T/setup proxy.setup "{$SETUP}" &&
	has $T/setup "\"step\":\"proxy\",\"message\":\"setting up traefik on 0.0.0.0:18080\"" &&
	has $T/setup "\"value\":{\"kind\":\"traefik\",\"listen\":18080,\"address\":\"0.0.0.0\",\"pid\":0,\"version\":\"unknown\",\"prefix\":\"$DIR/\",\"binary\":\"$BIN\",\"started\":false,\"reloaded\":false," &&
	echo "{\"kind\":\"traefik\",\"listen\":18080,\"tls_listen\":0,\"address\":\"0.0.0.0\",\"binary\":\"$BIN\",\"traefik\":{\"provider\":\"file\",\"entrypoints\":[\"web\"],\"tls_entrypoints\":[\"websecure\"],\"dir\":\"$DIR\"}}" >$T/pj &&
	printf "%s" "$(cat $T/pj)" | cmp - $STATE/proxy.json &&
	test -d $STATE/traefik && test "$(stat -c %a $STATE/traefik)" = 700 &&
	test -z "$(ls -A $DIR)"
'

step 'hostile proxy.setup fields are refused as bad_args; proxy.json and the dir stay' '
	cp $STATE/proxy.json $T/pj.before && snap >$T/snap0 &&
	touch $T/afile && ln -s $DIR $T/alink &&
	mkdir -m 755 $T/notmine && chown nobody $T/notmine &&
	mkdir -m 1777 $T/everyone &&
	refused proxy.setup "{\"kind\":\"haproxy\",\"listen\":18080}" "unsupported proxy kind .haproxy.: nginx, caddy or traefik" &&
	refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080}" "traefik_dir is required with provider file" &&
	refused proxy.setup "{$SETUP,\"provider\":\"nginx\"}" "invalid traefik setting .nginx.: unknown traefik provider: file or docker" &&
	refused proxy.setup "{$SETUP,\"provider\":\"File\"}" "invalid traefik setting .File.: unknown traefik provider" &&
	refused proxy.setup "{$SETUP,\"provider\":\"docker\"}" "traefik_dir is for provider file only" &&
	for d in "rel/dir:must be absolute" "$DIR/../x:.\.\.. component not allowed" "$DIR/a b:only letters" "$DIR/\`x\`:only letters" "/:traefik_dir cannot be /"; do
		refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"${d%%:*}\"}" "[^\"]*${d#*:}" || { echo "dir $d"; exit 1; }
	done &&
	refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"/nonexistent-tug25\"}" "invalid traefik_dir ./nonexistent-tug25.: no such directory" &&
	refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"$T/afile\"}" "invalid traefik_dir .$T/afile.: not a directory" &&
	refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"$T/alink\"}" "invalid traefik_dir .$T/alink.: a symbolic link" &&
	refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"$T/notmine\"}" "invalid traefik_dir .$T/notmine.: not owned by the agent.s user" &&
	refused proxy.setup "{\"kind\":\"traefik\",\"listen\":18080,\"traefik_dir\":\"$T/everyone\"}" "invalid traefik_dir .$T/everyone.: writable by every user" &&
	for e in "we\`b:only letters, digits" "\`) || Host(\`x:must start with a letter or digit" "web,websecure:only letters" "web secure:only letters" "-web:must start with a letter or digit" "web\\n:only letters" "web\\\"x:only letters" "w\u00e9b:only letters" ":empty"; do
		refused proxy.setup "{$SETUP,\"entrypoints\":[\"${e%%:*}\"]}" "invalid traefik setting .*: ${e#*:}" || { echo "entrypoint $e"; exit 1; }
	done &&
	refused proxy.setup "{$SETUP,\"entrypoints\":[]}" "invalid traefik setting: no entrypoints (at least one name)" &&
	refused proxy.setup "{$SETUP,\"entrypoints\":[\"web\",\"web\"]}" "invalid traefik setting .web.: listed twice" &&
	refused proxy.setup "{$SETUP,\"entrypoints\":\"web\"}" "args.entrypoints: expected an array" &&
	refused proxy.setup "{$SETUP,\"entrypoints\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}" "args.entrypoints: more than 8 items" &&
	refused proxy.setup "{$SETUP,\"entrypoints\":[\"$(printf a%.0s $(seq 64))\"]}" "args.entrypoints\[0\]: longer than 63 bytes" &&
	refused proxy.setup "{$SETUP,\"entrypoints\":[7]}" "args.entrypoints\[0\]: expected a string" &&
	for r in "le\`) || Host(\`evil.test:only letters" "le,x:only letters" "l\u00e9:only letters" "_le:must start"; do
		refused proxy.setup "{$SETUP,\"cert_resolver\":\"${r%%:*}\"}" "invalid traefik setting .*: ${r#*:}" || { echo "resolver $r"; exit 1; }
	done &&
	refused proxy.setup "{$SETUP,\"cert_resolver\":\"\"}" "invalid cert_resolver ..: empty" &&
	refused proxy.setup "{$SETUP,\"cert_resolver\":\"$(printf a%.0s $(seq 64))\"}" "args.cert_resolver: longer than 63 bytes" &&
	refused proxy.setup "{$SETUP,\"tls_entrypoints\":[\"websecure\"]}" "tls_entrypoints need a cert_resolver" &&
	refused proxy.setup "{$SETUP,\"cert_resolver\":\"le\",\"tls_entrypoints\":[\"web\`\"]}" "invalid traefik setting .web\`.: only letters" &&
	cmp $T/pj.before $STATE/proxy.json && snap | diff $T/snap0 -
'

step 'a plain site: exactly its file, written by rename, not confirmed' '
	apply $T/a1 t25a 1 "[\"t25a.test\"]" &&
	has $T/a1 "\"step\":\"proxy\",\"message\":\"traefik config for t25a.test (release 1) written; not confirmed: the agent cannot ask traefik\"" &&
	has $T/a1 "\"proxy\":{\"kind\":\"traefik\",\"domains\":\[\"t25a.test\"\],\"changed\":true,\"test_ms\":0,\"reload_ms\":0,\"confirm_ms\":0}" &&
	same $DIR/tug-t25a.yml $(port_of t25a 1) <<-\EOF &&
	# site t25a, release 1: written by tug-agent for Traefik'"'"'s file provider,
	# replaced on every deploy.
	# domains: t25a.test
	http:
	  routers:
	    tug-t25a:
	      rule: '"'"'Host(`t25a.test`)'"'"'
	      entryPoints:
	        - '"'"'web'"'"'
	      service: tug-t25a
	  services:
	    tug-t25a:
	      loadBalancer:
	        servers:
	          - url: '"'"'http://127.0.0.1:@PORT@'"'"'
	EOF
	test "$(stat -c %a $DIR/tug-t25a.yml)" = 644 &&
	test "$(ls -A $DIR)" = tug-t25a.yml && test -z "$(ls -A $STATE/traefik)" &&
	labels tug-t25a-r1 >$T/la && test ! -s $T/la
'

step 'a site with two domains: one rule, Host() || Host()' '
	apply $T/b1 t25b 1 "[\"t25b.test\",\"www.t25b.test\"]" &&
	same $DIR/tug-t25b.yml $(port_of t25b 1) <<-\EOF &&
	# site t25b, release 1: written by tug-agent for Traefik'"'"'s file provider,
	# replaced on every deploy.
	# domains: t25b.test www.t25b.test
	http:
	  routers:
	    tug-t25b:
	      rule: '"'"'Host(`t25b.test`) || Host(`www.t25b.test`)'"'"'
	      entryPoints:
	        - '"'"'web'"'"'
	      service: tug-t25b
	  services:
	    tug-t25b:
	      loadBalancer:
	        servers:
	          - url: '"'"'http://127.0.0.1:@PORT@'"'"'
	EOF
	cp $DIR/tug-t25b.yml $T/b1.yml
'

step 'a wildcard domain: HostRegexp, the dots escaped, any labels before it' '
	apply $T/c1 t25c 1 "[\"*.t25c.test\",\"t25c.test\"]" &&
	has $T/c1 "traefik config for \*.t25c.test (release 1) written" &&
	same $DIR/tug-t25c.yml $(port_of t25c 1) <<-\EOF &&
	# site t25c, release 1: written by tug-agent for Traefik'"'"'s file provider,
	# replaced on every deploy.
	# domains: *.t25c.test t25c.test
	http:
	  routers:
	    tug-t25c:
	      rule: '"'"'HostRegexp(`^(?:[a-z0-9-]+\.)+t25c\.test$`) || Host(`t25c.test`)'"'"'
	      entryPoints:
	        - '"'"'web'"'"'
	      service: tug-t25c
	  services:
	    tug-t25c:
	      loadBalancer:
	        servers:
	          - url: '"'"'http://127.0.0.1:@PORT@'"'"'
	EOF
	test "$(ls -A $DIR | tr "\n" " ")" = "tug-t25a.yml tug-t25b.yml tug-t25c.yml "
'

step 'a redeploy replaces the file by rename (a new inode, no temp file); the same again changes nothing' '
	ino=$(stat -c %i $DIR/tug-t25a.yml) &&
	apply $T/a2 t25a 2 "[\"t25a.test\"]" &&
	has $T/a2 "\"replaced\":\[\"tug-t25a-r1\"\]" &&
	test "$(stat -c %i $DIR/tug-t25a.yml)" != "$ino" &&
	has $DIR/tug-t25a.yml "^# site t25a, release 2: " &&
	has $DIR/tug-t25a.yml "url: .http://127.0.0.1:$(port_of t25a 2).$" &&
	test "$(ls -A $DIR | tr "\n" " ")" = "tug-t25a.yml tug-t25b.yml tug-t25c.yml " &&
	test -z "$(ls -A $STATE/traefik)" &&
	ino=$(stat -c %i $DIR/tug-t25a.yml) &&
	apply $T/a2b t25a 2 "[\"t25a.test\"]" &&
	has $T/a2b "traefik config for t25a.test (release 2) already in place; not confirmed" &&
	has $T/a2b "\"changed\":false" &&
	test "$(stat -c %i $DIR/tug-t25a.yml)" = "$ino"
'

step 'a domain another site'"'"'s file routes is refused; that file stays' '
	! apply $T/b2 t25b 2 "[\"t25a.test\"]" &&
	has $T/b2 "\"code\":\"proxy\",\"message\":\"release 2 was not switched to: domain .t25a.test. is already served by another site on this proxy" &&
	cmp $T/b1.yml $DIR/tug-t25b.yml &&
	test -z "$(ns_docker $N ps -aq --filter name=tug-t25b-r2)"
'

step 'with a cert resolver: a TLS router beside the plain one, tls.certResolver and the domains' '
	req $T/setupt proxy.setup "{$SETUP,\"entrypoints\":[\"web\",\"web-alt\"],\"tls_entrypoints\":[\"websecure\"],\"cert_resolver\":\"le\"}" &&
	has $STATE/proxy.json "\"traefik\":{\"provider\":\"file\",\"entrypoints\":\[\"web\",\"web-alt\"\],\"tls_entrypoints\":\[\"websecure\"\],\"dir\":\"$DIR\",\"cert_resolver\":\"le\"}" &&
	apply $T/a3 t25a 3 "[\"t25a.test\",\"*.t25a.test\"]" &&
	same $DIR/tug-t25a.yml $(port_of t25a 3) <<-\EOF &&
	# site t25a, release 3: written by tug-agent for Traefik'"'"'s file provider,
	# replaced on every deploy.
	# domains: t25a.test *.t25a.test
	http:
	  routers:
	    tug-t25a:
	      rule: '"'"'Host(`t25a.test`) || HostRegexp(`^(?:[a-z0-9-]+\.)+t25a\.test$`)'"'"'
	      entryPoints:
	        - '"'"'web'"'"'
	        - '"'"'web-alt'"'"'
	      service: tug-t25a
	    tug-t25a-tls:
	      rule: '"'"'Host(`t25a.test`) || HostRegexp(`^(?:[a-z0-9-]+\.)+t25a\.test$`)'"'"'
	      entryPoints:
	        - '"'"'websecure'"'"'
	      service: tug-t25a
	      tls:
	        certResolver: '"'"'le'"'"'
	        domains:
	          - main: '"'"'t25a.test'"'"'
	          - main: '"'"'*.t25a.test'"'"'
	  services:
	    tug-t25a:
	      loadBalancer:
	        servers:
	          - url: '"'"'http://127.0.0.1:@PORT@'"'"'
	EOF
	cp $DIR/tug-t25a.yml $T/a3.yml
'

step 'certificate files are refused by this backend before anything is made' '
	snap >$T/snap1 &&
	! apply $T/tls t25a 9 "[\"t25a.test\"],\"tls_cert\":\"/etc/x.pem\",\"tls_key\":\"/etc/x.key\"" &&
	has $T/tls "\"code\":\"proxy\",\"message\":\"the traefik backend takes no certificate files: give proxy.setup a cert_resolver and Traefik obtains the certificates itself\"" &&
	test -z "$(ns_docker $N ps -aq --filter name=tug-t25a-r9)" &&
	snap | diff $T/snap1 -
'

step 'site.stop: the service has no servers (Traefik answers 503), no port anywhere' '
	old=$(port_of t25a 3) &&
	req $T/stop site.stop "{\"site\":\"t25a\"}" &&
	has $T/stop "\"message\":\"traefik config for t25a.test (release 3, stopped) written; not confirmed: the agent cannot ask traefik\"" &&
	has $T/stop "\"stopped\":\[\"tug-t25a-r3\"\]" &&
	same $DIR/tug-t25a.yml <<-\EOF &&
	# site t25a, release 3: stopped by tug-agent'"'"'s site.stop; its service has no
	# servers, so Traefik answers 503 itself.
	# domains: t25a.test *.t25a.test
	http:
	  routers:
	    tug-t25a:
	      rule: '"'"'Host(`t25a.test`) || HostRegexp(`^(?:[a-z0-9-]+\.)+t25a\.test$`)'"'"'
	      entryPoints:
	        - '"'"'web'"'"'
	        - '"'"'web-alt'"'"'
	      service: tug-t25a
	    tug-t25a-tls:
	      rule: '"'"'Host(`t25a.test`) || HostRegexp(`^(?:[a-z0-9-]+\.)+t25a\.test$`)'"'"'
	      entryPoints:
	        - '"'"'websecure'"'"'
	      service: tug-t25a
	      tls:
	        certResolver: '"'"'le'"'"'
	        domains:
	          - main: '"'"'t25a.test'"'"'
	          - main: '"'"'*.t25a.test'"'"'
	  services:
	    tug-t25a:
	      loadBalancer:
	        servers: []
	EOF
	hasnt $DIR/tug-t25a.yml "127.0.0.1" && hasnt $DIR/tug-t25a.yml ":$old"
'

step 'site.start: the server is back, the file as before the stop' '
	req $T/start site.start "{\"site\":\"t25a\"}" &&
	has $T/start "\"started\":\[\"tug-t25a-r3\"\]" &&
	has $T/start "traefik config for t25a.test (release 3) written; not confirmed" &&
	cmp $T/a3.yml $DIR/tug-t25a.yml
'

step 'hostile domains are refused as bad_args before anything is written or made' '
	snap >$T/snap2 &&
	long=$(printf "a%.0s" $(seq 250)).test &&
	for d in "a\`b.test" "t25a.test\`) || Host(\`evil.test" ") || Host(\`evil.test" "a.test) || Host(x" "a'"'"'b.test" "a\\\"b.test" "a\\\\b.test" "a\\nb.test" "a\\rb.test" "A.test" "T25A.TEST" "\u00fcn\u00efcode.test" "xn--\u00fc.test" "$(printf "a%.0s" $(seq 64)).test" "*.*.x.test" "*x.test" "a.*.test" "*." "*" "a b.test" "a,b.test" "a\$(id).test" "a/b.test" "a:80.test" "-a.test" "a..test" ""; do
		refused site.apply "{\"site\":\"t25a\",\"release\":9,\"image\":\"tug-test/app:1\",\"port\":8080,\"proxy\":{\"domains\":[\"$d\"]}}" "invalid domain " || { echo "domain $d"; exit 1; }
	done &&
	refused site.apply "{\"site\":\"t25a\",\"release\":9,\"image\":\"tug-test/app:1\",\"port\":8080,\"proxy\":{\"domains\":[\"$long\"]}}" "args.proxy.domains\[0\]: longer than 253 bytes" &&
	snap | diff $T/snap2 - &&
	cmp $T/a3.yml $DIR/tug-t25a.yml &&
	! grep -rl "evil\|(id)" $DIR &&
	test -z "$(ns_docker $N ps -aq --filter name=tug-t25a-r9)"
'

step 'a static site is refused with its reason; no tree is unpacked, nothing written' '
	snap >$T/snap3 &&
	mkdir -p $T/tree && echo "<h1>static</h1>" >$T/tree/index.html &&
	tar -C $T/tree -cf $T/s1.tar . &&
	! "$AGENTCTL" -t 60 -d $T/s1.tar -r static.apply "{\"site\":\"t25s\",\"release\":1,\"proxy\":{\"domains\":[\"t25s.test\"]}}" -- "${RUN[@]}" >$T/s1 2>$T/s1.err &&
	has $T/s1 "\"code\":\"proxy\",\"message\":\"the traefik backend serves no static sites: Traefik cannot serve files; use nginx or caddy for this host.s proxy\"" &&
	! test -e $STATE/static/t25s/1 &&
	snap | diff $T/snap3 -
'

step 'an agent killed inside a switch: the next apply puts the previous file back from .prev' '
	"$AGENTCTL" -t 120 -k proxy -r site.apply "{\"site\":\"t25b\",\"release\":3,\"image\":\"tug-test/app:1\",\"port\":8080,\"health\":{\"path\":\"/up\",\"interval_ms\":200},\"proxy\":{\"domains\":[\"t25b.test\"]}}" -- "${RUN[@]}" >$T/b3k 2>&1;
	test $? -eq 3 &&
	echo "half-done" >$DIR/tug-t25b.yml && cp $T/b1.yml $STATE/traefik/t25b.prev &&
	! req $T/b4 site.apply "{\"site\":\"t25b\",\"release\":4,\"image\":\"tug-test/none:1\",\"port\":8080,\"proxy\":{\"domains\":[\"t25b.test\"]}}" &&
	has $T/b4 "\"step\":\"recover\",\"message\":\"restored the traefik config that served before the interrupted switch\"" &&
	has $T/b4 "\"code\":\"not_found\"" &&
	cmp $T/b1.yml $DIR/tug-t25b.yml && ! test -e $STATE/traefik/t25b.prev &&
	test "$(ls -A $DIR | tr "\n" " ")" = "tug-t25a.yml tug-t25b.yml tug-t25c.yml "
'

step 'site.remove deletes the file; proxy.status lists the files left' '
	req $T/rm site.remove "{\"site\":\"t25c\"}" &&
	has $T/rm "\"proxy_removed\":true" &&
	test "$(ls -A $DIR | tr "\n" " ")" = "tug-t25a.yml tug-t25b.yml " &&
	req $T/st proxy.status "{}" &&
	has $T/st "\"configured\":true,\"kind\":\"traefik\",\"running\":false,\"pid\":0,\"listen\":18080,\"address\":\"0.0.0.0\",\"version\":\"unknown\",\"prefix\":\"$DIR/\"" &&
	has $T/st "\"sites\":\[\"t25a\",\"t25b\"\]" &&
	req $T/rm2 site.remove "{\"site\":\"t25c\"}" && has $T/rm2 "\"proxy_removed\":false"
'

DSETUP="\"kind\":\"traefik\",\"listen\":18080,\"provider\":\"docker\""
step 'provider docker: the exact labels on the container, nothing written' '
	req $T/setupd proxy.setup "{$DSETUP,\"cert_resolver\":\"le\"}" &&
	has $T/setupd "\"prefix\":\"\"" &&
	has $STATE/proxy.json "\"traefik\":{\"provider\":\"docker\",\"entrypoints\":\[\"web\"\],\"tls_entrypoints\":\[\"websecure\"\],\"cert_resolver\":\"le\"}" &&
	snap >$T/snap4 &&
	apply $T/d1 t25d 1 "[\"t25d.test\",\"*.t25d.test\"]" &&
	has $T/d1 "\"message\":\"traefik config for t25d.test (release 1) already in place; not confirmed: the agent cannot ask traefik\"" &&
	labels tug-t25d-r1 >$T/ld &&
	same $T/ld <<-\EOF &&
	traefik.docker.network=tug-t25d
	traefik.enable=true
	traefik.http.routers.tug-t25d-tls.entrypoints=websecure
	traefik.http.routers.tug-t25d-tls.rule=Host(`t25d.test`) || HostRegexp(`^(?:[a-z0-9-]+\.)+t25d\.test$`)
	traefik.http.routers.tug-t25d-tls.service=tug-t25d
	traefik.http.routers.tug-t25d-tls.tls=true
	traefik.http.routers.tug-t25d-tls.tls.certresolver=le
	traefik.http.routers.tug-t25d-tls.tls.domains[0].main=t25d.test
	traefik.http.routers.tug-t25d-tls.tls.domains[1].main=*.t25d.test
	traefik.http.routers.tug-t25d.entrypoints=web
	traefik.http.routers.tug-t25d.rule=Host(`t25d.test`) || HostRegexp(`^(?:[a-z0-9-]+\.)+t25d\.test$`)
	traefik.http.routers.tug-t25d.service=tug-t25d
	traefik.http.services.tug-t25d.loadbalancer.server.port=8080
	EOF
	ns_docker $N inspect -f "{{index .Config.Labels \"tug.site\"}} {{index .Config.Labels \"tug.controller\"}} {{.HostConfig.NetworkMode}}" tug-t25d-r1 >$T/own &&
	test "$(cat $T/own)" = "t25d $TUG_CONTROLLER_ID tug-t25d" &&
	snap | diff $T/snap4 -
'

step 'provider docker without a resolver, two entrypoints: one router; a new release, the same labels' '
	req $T/setupd2 proxy.setup "{$DSETUP,\"entrypoints\":[\"web\",\"internal\"]}" &&
	apply $T/d2 t25d 2 "[\"t25d.test\"]" &&
	labels tug-t25d-r2 >$T/ld2 &&
	same $T/ld2 <<-\EOF
	traefik.docker.network=tug-t25d
	traefik.enable=true
	traefik.http.routers.tug-t25d.entrypoints=web,internal
	traefik.http.routers.tug-t25d.rule=Host(`t25d.test`)
	traefik.http.routers.tug-t25d.service=tug-t25d
	traefik.http.services.tug-t25d.loadbalancer.server.port=8080
	EOF
'

step 'provider docker: a reused container whose labels route other domains fails the switch and keeps serving' '
	! apply $T/d3 t25d 2 "[\"t25d.test\",\"www.t25d.test\"]" &&
	has $T/d3 "\"code\":\"proxy\",\"message\":\"release 2 was not switched to: the traefik labels of tug-t25d-r2 do not route what this switch asks" &&
	has $T/d3 "deploy a new release" &&
	test "$(ns_docker $N inspect -f "{{.State.Running}}" tug-t25d-r2)" = true &&
	labels tug-t25d-r2 | diff $T/ld2 -
'

step 'provider docker: stop and start write nothing; proxy.status lists the labelled site' '
	snap >$T/snap5 &&
	req $T/dstop site.stop "{\"site\":\"t25d\"}" &&
	has $T/dstop "traefik config for t25d.test (release 2, stopped) already in place; not confirmed" &&
	req $T/dstart site.start "{\"site\":\"t25d\"}" &&
	has $T/dstart "traefik config for t25d.test (release 2) already in place; not confirmed" &&
	req $T/dst proxy.status "{}" && has $T/dst "\"sites\":\[\"t25d\"\]" &&
	snap | diff $T/snap5 -
'

step 'provider docker: hostile domains never reach a label' '
	for d in "a\`b.test" "t25d.test\`) || Host(\`evil.test" "a\\nb.test" "A.test"; do
		refused site.apply "{\"site\":\"t25d\",\"release\":9,\"image\":\"tug-test/app:1\",\"port\":8080,\"proxy\":{\"domains\":[\"$d\"]}}" "invalid domain " || { echo "domain $d"; exit 1; }
	done &&
	test -z "$(ns_docker $N ps -aq --filter name=tug-t25d-r9)"
'

finish
