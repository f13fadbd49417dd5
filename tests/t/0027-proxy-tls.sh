#!/bin/bash
# 0027-proxy-tls: automatic HTTPS through the host's own nginx (system
# mode) on namespace host 14, with certificates from Pebble, the ACME test
# CA, over real HTTP-01: challtestsrv answers the test names with the
# host's address and Pebble fetches each token from its port 80. curl
# checks every certificate against Pebble's issuing root. Redeploy,
# rollback and renewal under HTTPS keep-alive load lose nothing; a
# certificate that cannot be issued fails the deploy with the CA's words
# while the old release keeps serving.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
. "$TESTS_DIR/tools/pebble.sh"
command -v lego >/dev/null || bail "no lego (apt-get install lego)"
command -v pebble >/dev/null || bail "no pebble (apt-get install pebble)"
command -v sudo >/dev/null || bail "no sudo"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=14
U=tughost$N
ADDR=$(ns_addr $N)
LOAD=$TUG_BUILD/tests/load
SYS=$(mktemp -d /tmp/tug27sys.XXXXXX) && chmod 755 $SYS || bail "mktemp"
at_exit "rm -rf $SYS"
ns_test_host $N || bail "host $N"
at_exit "ns_sudo_unboot $N; rm -f /etc/sudoers.d/tug-$U"
ns_sysnginx_conf $SYS && ns_sysnginx_start $N $SYS || bail "the host's nginx"
at_exit "ns_sysnginx_stop $SYS"

# Pebble on the root side of host 14's veth: the agent reaches it there.
mkdir -p $T/pebble
pebble_start $T/pebble 10.77.$N.1 || bail "pebble"
at_exit pebble_stop
for d in sec.t27.test www.sec.t27.test; do
	pebble_dns_add $d $ADDR || bail "dns $d"
done

"$TUG" -q host add h$N $U@$ADDR --accept-new-hostkey >/dev/null || bail "host add"
ns_sudo_boot $N || bail "sudo"
"$TUG" -q host bootstrap h$N --proxy nginx --proxy-mode system \
    --proxy-config $SYS/nginx.conf >$T/out 2>&1 || { cat $T/out; bail "bootstrap"; }
ns_sudo_unboot $N

# https NAME [PATH]: the body over HTTPS, the certificate checked against
# Pebble's issuing root.
https() {
	curl -sS -m 10 --cacert "$PEBBLE_ROOT" --resolve "$1:443:$ADDR" \
	    "https://$1${2:-/}"
}

cat >$T/sec.yml <<EOS
site: sec
image: tug-test/app:1
hosts: [h$N]
domains: [sec.t27.test, www.sec.t27.test]
port: 8080
env: {SITE: sec, VERSION: "1"}
health: {path: /up, interval: 200ms}
deploy: {drain: 3s}
tls: {hsts: true}
EOS

step 'tls auto with no ACME contact: the deploy says what to set, nothing serves' '
	"$TUG" -q site apply $T/sec.yml >/dev/null &&
	! "$TUG" deploy sec >$T/out 2>$T/err &&
	has $T/err "site sec wants a certificate (tls: auto is the default on the host'"'"'s own proxy) and no ACME contact is set: tug acme set --email you@example.com, or tls: off in its spec" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: sec.t27.test" http://$ADDR/)" = 404
'

step 'tug acme set: the CA, a contact and a trust root for its HTTPS' '
	! "$TUG" acme set --ca "ftp://x" >$T/out 2>&1 &&
	has $T/out "--ca: an http(s) URL" &&
	! "$TUG" acme set --email "no-at-sign" >$T/out 2>&1 &&
	has $T/out "--email: an address local@domain" &&
	"$TUG" acme set --ca "$PEBBLE_URL" --email ops@tug.test \
	    --trust-root "$PEBBLE_CA" >$T/out &&
	"$TUG" acme show >$T/out &&
	has $T/out "^ca: $PEBBLE_URL$" && has $T/out "^email: ops@tug.test$" &&
	has $T/out "^trust root: set$"
'

step 'the first deploy gets a certificate over real HTTP-01 and serves HTTPS' '
	"$TUG" deploy sec >$T/out 2>$T/err || { cat $T/err; false; }
	test "$(https sec.t27.test)" = "sec 1" &&
	test "$(https www.sec.t27.test)" = "sec 1" &&
	curl -sS -m 10 --cacert "$PEBBLE_ROOT" --resolve "sec.t27.test:443:$ADDR" \
	    -D $T/h -o /dev/null https://sec.t27.test/ &&
	has $T/h "^[Ss]trict-[Tt]ransport-[Ss]ecurity: max-age=31536000" &&
	! ls $SYS/tug-$U/sites/_acme.* 2>/dev/null
'

step 'plain HTTP redirects to HTTPS; the challenge path stays plain' '
	curl -s -o /dev/null -D $T/h -H "Host: sec.t27.test" "http://$ADDR/a?b=1" &&
	has $T/h "^HTTP/1.1 301" && has $T/h "^Location: https://sec.t27.test/a?b=1" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: sec.t27.test" \
	    http://$ADDR/.well-known/acme-challenge/none)" = 404
'

step 'site status and cert list show each host'"'"'s certificate: issuer, names, expiry' '
	"$TUG" site status sec >$T/out &&
	has $T/out "^h$N: certificate from Pebble Intermediate CA [0-9a-f]* for sec.t27.test, www.sec.t27.test, expires 20[0-9-]* [0-9:]* UTC (in 8[89] days), serial [0-9A-F]*$" &&
	"$TUG" cert list sec >$T/cl &&
	has $T/cl "^h$N: certificate from Pebble" &&
	"$TUG" --json cert list sec >$T/cj &&
	has $T/cj "\"names\":\[\"sec.t27.test\",\"www.sec.t27.test\"\]" &&
	openssl s_client -connect $ADDR:443 -servername sec.t27.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial >$T/serial &&
	has $T/serial "serial=$(sed -n "s/.*serial \([0-9A-F]*\)$/\1/p" $T/out)"
'

# under_load OUT CMD...: HTTPS keep-alive clients and slow requests while
# CMD runs; 0 failed, and (with -b 2) both releases seen.
under_load() {
	local out=$1 bodies=$2
	shift 2
	rm -f $T/stop
	"$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -k "$PEBBLE_ROOT" \
	    -r "sec.t27.test:443:$ADDR" -n 2000 -b $bodies \
	    https://sec.t27.test/ $T/stop >$out 2>&1 &
	lpid=$!
	sleep 1
	"$@" >$T/cmd.out 2>&1; crc=$?
	sleep 1; touch $T/stop; wait $lpid; lrc=$?
	test $crc = 0 || { cat $T/cmd.out; return 1; }
	test $lrc = 0 || { cat $out; return 1; }
}

redeploy() {
	sed -i "s/VERSION: \"[0-9]*\"/VERSION: \"$1\"/" $T/sec.yml &&
	"$TUG" -q site apply $T/sec.yml && "$TUG" -q deploy sec
}

step 'redeploy under HTTPS keep-alive load with slow requests: 0 failed, both releases seen' '
	under_load $T/load.deploy 2 redeploy 2 &&
	test "$(https sec.t27.test)" = "sec 2"
'

step 'rollback under the same load: 0 failed' '
	under_load $T/load.rollback 2 "$TUG" -q rollback --yes sec 2 &&
	test "$(https sec.t27.test)" = "sec 1"
'

step 'an env change (a redeploy) under the same load: 0 failed' '
	under_load $T/load.env 1 "$TUG" -q env set sec GREETING=hi &&
	test "$(https sec.t27.test)" = "sec 1" &&
	"$TUG" env list sec | grep -q "^GREETING  *hi " &&
	ns_docker $N inspect -f "{{.Config.Env}}" \
	    $(ns_docker $N ps -q --filter label=tug.site=sec) | grep -q "GREETING=hi"
'

step 'restart under the same load: a fresh container of the serving release, 0 failed' '
	old=$(ns_docker $N ps -q --filter label=tug.site=sec) && test -n "$old" &&
	under_load $T/load.restart 1 "$TUG" -q restart sec &&
	new=$(ns_docker $N ps -q --filter label=tug.site=sec) &&
	test -n "$new" && test "$new" != "$old" &&
	test "$(https sec.t27.test)" = "sec 1"
'

step 'cert renew under load: a new serial, nginx serves it, 0 failed' '
	old=$(openssl s_client -connect $ADDR:443 -servername sec.t27.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial) &&
	under_load $T/load.renew 1 "$TUG" cert renew sec &&
	has $T/cmd.out "^h$N: renewed (the old serial was" &&
	new=$(openssl s_client -connect $ADDR:443 -servername sec.t27.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial) &&
	test -n "$new" && test "$old" != "$new" &&
	has $T/cmd.out "^h$N: certificate from Pebble Intermediate CA [0-9a-f]* for sec.t27.test, www.sec.t27.test, expires .* serial ${new#serial=}$" &&
	test "$(https sec.t27.test)" = "sec 1"
'
step 'tug acme set --host: that host'"'"'s own CA settings, kept by its agent, used over the controller'"'"'s' '
	! "$TUG" acme set --host h$N --email "a;b@x.test" >$T/out 2>&1 &&
	has $T/out "a whole setting" &&
	! "$TUG" acme set --host ghost --email a@x.test >$T/out 2>&1 &&
	has $T/out "no host .ghost." &&
	"$TUG" acme set --host h$N --ca "$PEBBLE_URL" --email host14@tug.test \
	    --trust-root "$PEBBLE_CA" >$T/out &&
	has $T/out "^h$N: ACME settings of its own" &&
	"$TUG" acme show >$T/out && has $T/out "^host h$N: $PEBBLE_URL host14@tug.test (trust root)$" &&
	"$TUG" -q cert renew sec >$T/out &&
	ls -d /home/$U/.tug-agent/acme/accounts/*/host14@tug.test >/dev/null &&
	"$TUG" acme set --host h$N --clear >$T/out &&
	has $T/out "^h$N: the controller'"'"'s ACME settings again" &&
	! test -e /home/$U/.tug-agent/acme/host.json &&
	"$TUG" acme show >$T/out && hasnt $T/out "^host h$N"
'

echo "# redeploy: $(cat $T/load.deploy 2>/dev/null)"
echo "# rollback: $(cat $T/load.rollback 2>/dev/null)"
echo "# env change: $(cat $T/load.env 2>/dev/null)"
echo "# restart: $(cat $T/load.restart 2>/dev/null)"
echo "# renew: $(cat $T/load.renew 2>/dev/null)"

cat >$T/bad.yml <<EOS
site: bad
image: tug-test/app:1
hosts: [h$N]
domains: [nodns.t27.test]
port: 8080
env: {SITE: bad}
health: {path: /up, interval: 200ms}
EOS

step 'a name the test DNS does not know: the deploy fails with Pebble'"'"'s reason, nothing left' '
	"$TUG" -q site apply $T/bad.yml >/dev/null &&
	! "$TUG" deploy bad >$T/out 2>$T/err &&
	has $T/err "the ACME CA did not issue a certificate for nodns.t27.test: \[nodns.t27.test\] acme: error: 400 :: urn:ietf:params:acme:error:connection :: " &&
	has $T/err "could not resolve URL" &&
	! ls $SYS/tug-$U/sites/_acme.* 2>/dev/null &&
	! ls $SYS/tug-$U/sites/bad.conf 2>/dev/null &&
	test "$(https sec.t27.test)" = "sec 1"
'

step 'a new name for a serving site that cannot be issued: the old release and certificate keep serving' '
	sed -i "s/^domains: .*/domains: [sec.t27.test, www.sec.t27.test, new.sec.t27.test]/" $T/sec.yml &&
	sed -i "s/VERSION: \"[0-9]*\"/VERSION: \"3\"/" $T/sec.yml &&
	"$TUG" -q site apply $T/sec.yml &&
	! "$TUG" deploy sec >$T/out 2>$T/err &&
	has $T/err "the ACME CA did not issue a certificate for sec.t27.test" &&
	has $T/err "new.sec.t27.test" &&
	test "$(https sec.t27.test)" = "sec 1" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: new.sec.t27.test" http://$ADDR/)" = 404
'

step 'a spec asks for tls auto, off, or files, nothing else' '
	printf "site: odd\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [odd.test]\nport: 8080\ntls: maybe\n" >$T/odd.yml &&
	! "$TUG" site apply $T/odd.yml >$T/out 2>&1 &&
	has $T/out "odd.yml:6:6: invalid tls .maybe.: auto, off, or {cert: FILE, key: FILE}" &&
	printf "site: odd\nimage: tug-test/app:1\nhosts: [h$N]\ndomains: [odd.test]\nport: 8080\ntls: {cert: /etc/tug/tls/odd/c.pem, key: /etc/tug/tls/odd/k.pem, hsts: true}\n" >$T/odd.yml &&
	! "$TUG" site apply $T/odd.yml >$T/out 2>&1 &&
	has $T/out "tls.hsts goes with automatic certificates"
'

serial() {
	openssl s_client -connect $ADDR:443 -servername sec.t27.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial
}

# tugd again, checking every second and renewing what ends within 91 days
# (Pebble's certificates last 90): its scheduler must renew by itself.
step 'tugd renews before expiry on its own, under load: a new serial, 0 failed, audited' '
	tugd_stop &&
	old=$(serial) && test -n "$old" &&
	rm -f $T/stop &&
	{ "$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -k "$PEBBLE_ROOT" \
	    -r "sec.t27.test:443:$ADDR" -n 500 \
	    https://sec.t27.test/ $T/stop >$T/load.sched 2>&1 & } &&
	lpid=$! &&
	TUG_RENEW_CHECK_S=1 TUG_RENEW_DAYS=91 TUG_RENEW_RETRY_S=1 "$TUG" status >/dev/null &&
	for _ in $(seq 120); do
		new=$(serial)
		[ -n "$new" ] && [ "$new" != "$old" ] && break
		sleep 0.5
	done
	touch $T/stop; wait $lpid; lrc=$?
	test -n "$new" && test "$new" != "$old" && test $lrc = 0 &&
	"$TUG" audit --site sec --limit 50 >$T/audit &&
	has $T/audit "cert.renew.*site:sec,host:h$N.*renewed: serial ${new#serial=}" &&
	"$TUG" cert list sec >$T/cl &&
	has $T/cl "^h$N: renewal checked "
'
echo "# renewed by tugd, under load: $(cat $T/load.sched 2>/dev/null)"

step 'a renewal that fails keeps the serving certificate, is audited, shown, and tried again' '
	before=$(serial) &&
	pebble_stop &&
	for _ in $(seq 60); do
		"$TUG" cert list sec >$T/cl 2>&1
		grep -q "renewal failed" $T/cl && break
		sleep 0.5
	done
	has $T/cl "^h$N: renewal failed .*: h$N: the ACME CA did not issue a certificate for sec.t27.test: .*; the serving certificate stays; next try " &&
	test "$(serial)" = "$before" &&
	test "$(https sec.t27.test)" = "sec 1" &&
	"$TUG" audit --site sec --limit 50 >$T/audit &&
	has $T/audit "cert.renew.*site:sec,host:h$N.*renewal failed" &&
	sleep 3 && "$TUG" audit --limit 200 >$T/audit2 &&
	test "$(grep -c "renewal failed" $T/audit2)" -ge 2
'

printf 'site: down\nimage: tug-test/app:1\nhosts: [h%s]\ndomains: [down.t27.test]\nport: 8080\nhealth: {path: /up, interval: 200ms}\n' \
    $N >$T/down.yml

step 'a first certificate with the CA unreachable: the deploy fails with lego'"'"'s words, nothing serves' '
	"$TUG" -q site apply $T/down.yml >/dev/null &&
	! "$TUG" deploy down >$T/out 2>$T/err &&
	has $T/err "the ACME CA did not issue a certificate for down.t27.test: Could not create client: get directory at .*connect: connection refused" &&
	! ls $SYS/tug-$U/sites/down.conf $SYS/tug-$U/sites/_acme.* 2>/dev/null &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: down.t27.test" http://$ADDR/)" = 404
'

# Pebble again, at the same address: a CA that knows none of its accounts.
# lego's stored account is refused (accountDoesNotExist); the agent makes
# it register anew, and the renewal goes through.
step 'the CA forgot the account (Pebble started again): cert renew registers anew and renews' '
	pebble_start $T/pebble 10.77.$N.1 $PEBBLE_OFFSET && pebble_root &&
	for d in sec.t27.test www.sec.t27.test; do pebble_dns_add $d $ADDR || exit 1; done &&
	before=$(serial) &&
	{ "$TUG" cert renew sec >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	has $T/out "^h$N: renewed (the old serial was" &&
	test "$(serial)" != "$before" &&
	test "$(https sec.t27.test)" = "sec 1"
'
tugd_stop

finish
