#!/bin/bash
# 0028-proxy-caddy-system: the host's own Caddy in system mode (DESIGN §6)
# on namespace host 15, with automatic HTTPS from Pebble over real HTTP-01.
# The host has no systemd, so its Caddy runs as the test starts it, the way
# system-setup says: as the user caddy with group tug, umask 0007 and
# CAP_NET_BIND_SERVICE (setpriv), on 80 and 443, `caddy run --resume`
# with its admin API on a unix socket in a directory of group tug. Then the
# agent drives it without sudo: site routes by @id, a certificate per name
# from Pebble, HTTP redirected to HTTPS, HSTS; a redeploy and a rollback
# create one upstream file each and reload nothing, so even a client that
# never retries loses no request; a renewal gives a new serial; a name the
# CA cannot validate fails the deploy with Pebble's words while the old
# release serves on; purge takes back exactly what bootstrap added. Last,
# one site on two hosts: this Caddy and the system nginx of host 16.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
. "$TESTS_DIR/tools/pebble.sh"
command -v caddy >/dev/null || bail "no caddy (apt-get install caddy)"
command -v pebble >/dev/null || bail "no pebble (apt-get install pebble)"
command -v lego >/dev/null || bail "no lego (apt-get install lego)"
command -v sudo >/dev/null || bail "no sudo"
command -v setpriv >/dev/null || bail "no setpriv"
getent passwd caddy >/dev/null || bail "no user caddy (Debian's caddy package)"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=15
M=16				# the system nginx of the two-host step
U=tughost$N
ADDR=$(ns_addr $N)
NS=/run/netns/tugh$N
LOAD=$TUG_BUILD/tests/load
# The host's Caddy: its home, the Caddyfile of its own site, and the
# directory of group tug bootstrap makes for its admin socket. Caddy runs
# as the user caddy, so not inside $T, which is private.
SYS=$(mktemp -d /tmp/tug28sys.XXXXXX) && chmod 755 $SYS || bail "mktemp"
D=$SYS/tug-$U			# the socket's directory
SOCK=$D/admin.sock
[ "${TUG_KEEP:-0}" = 1 ] || at_exit "rm -rf $SYS"
# tugd's renewal thread: one pass per site and host a week (see below).
export TUG_RENEW_CHECK_S=604800
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
ns_host_up $N $T/tugd.pub || bail "host $N"
ns_agent_reset $N
ns_purge $N
at_exit "ns_purge $N; ns_agent_reset $N; ns_host_down $N"
$DOCKER save tug-test/app:1 | ns_docker $N load >/dev/null || bail "image load"
at_exit "ns_sudo_unboot $N"
ns_sudo_unboot $N
# Group tug is the machine's: the test takes back only its own user.
at_exit "id -nG $U 2>/dev/null | grep -qw tug && gpasswd -d $U tug"
id -nG $U | grep -qw tug && gpasswd -q -d $U tug >/dev/null
at_exit "ns_syscaddy_stop $SYS"
printf 'http://own.host.test {\n\trespond "the host'"'"'s own site" 200\n}\n' \
    >$SYS/Caddyfile

mkdir -p $T/pebble
pebble_start $T/pebble 10.77.$N.1 || bail "pebble"
at_exit pebble_stop
for d in sec.t28.test www.sec.t28.test; do
	pebble_dns_add $d $ADDR || bail "dns $d"
done

boot() {	# bootstrap h15 in system mode with the test's paths
	"$TUG" host bootstrap h$N --proxy caddy --proxy-mode system \
	    --proxy-config $SYS/Caddyfile --proxy-admin $SOCK "$@"
}

# What bootstrap may leave on the host: nothing of this list before.
leftovers() {
	ls -d $D $D.setup 2>/dev/null
	id -nG $U | grep -qw tug && echo "$U in group tug"
}

# https NAME [PATH]: the body over HTTPS, checked against Pebble's root.
https() {
	curl -sS -m 10 --cacert "$PEBBLE_ROOT" --resolve "$1:443:$ADDR" \
	    "https://$1${2:-/}"
}

# admin PATH: Caddy's admin API, as root (what the agent asks, as tug).
admin() {
	curl -sS -m 5 --unix-socket $SOCK "http://localhost$1"
}

# The strict client: keep-alive HTTPS clients that never retry. Every
# request without a 200 answer is a failure, a connection closed under a
# request included (python's http.client, as in 0024, with TLS and SNI).
cat >$T/ka.py <<'EOF'
import http.client, os, socket, ssl, sys, threading, time
addr, port, host, clients, stop, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=ca)
class Conn(http.client.HTTPSConnection):
    def connect(self):
        s = socket.create_connection((addr, port), self.timeout)
        self.sock = ctx.wrap_socket(s, server_hostname=host)
lock = threading.Lock()
tot = {"ok": 0, "failed": 0, "bodies": {}, "errors": {}}
def worker():
    c = None
    end = time.time() + 180
    while not os.path.exists(stop) and time.time() < end:
        if c is None:
            c = Conn(host, port, timeout=10)
        try:
            c.request("GET", "/", headers={"Host": host})
            r = c.getresponse()
            b = r.read()
            with lock:
                if r.status == 200:
                    tot["ok"] += 1
                    k = b.decode(errors="replace").strip()
                    tot["bodies"][k] = tot["bodies"].get(k, 0) + 1
                else:
                    tot["failed"] += 1
                    tot["errors"][str(r.status)] = tot["errors"].get(str(r.status), 0) + 1
            if r.getheader("Connection", "").lower() == "close":
                c.close(); c = None
        except Exception as e:
            with lock:
                tot["failed"] += 1
                n = type(e).__name__
                tot["errors"][n] = tot["errors"].get(n, 0) + 1
            c.close(); c = None
ts = [threading.Thread(target=worker) for _ in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
print("total=%d ok=%d failed=%d errors=%s bodies=%s" % (tot["ok"] + tot["failed"], tot["ok"], tot["failed"], tot["errors"], tot["bodies"]))
sys.exit(1 if tot["failed"] else 0)
EOF

"$TUG" -q host add h$N $U@$ADDR --accept-new-hostkey >/dev/null ||
	bail "host add"

step 'without sudo rights bootstrap refuses, names sudo, and changes nothing' '
	! boot >$T/out 2>$T/err &&
	hasf $T/err "h$N: sudo -n refused (sudo: a password is required): system mode needs passwordless sudo once" &&
	has $T/err "system-setup caddy --user $U --binary /usr/bin/caddy --config $SYS/Caddyfile --admin $SOCK\` as root on the host" &&
	test -z "$(leftovers)"
'

ns_sudo_boot $N || bail "sudo for bootstrap"

step 'no caddy at --proxy-binary: refused, with --install-deps named, nothing made' '
	! boot --proxy-binary /opt/none/caddy >$T/out 2>$T/err &&
	hasf $T/err "h$N: tug-agent: caddy is not installed: no program at /opt/none/caddy (tug host bootstrap --install-deps installs Debian'"'"'s caddy)" &&
	test -z "$(leftovers)"
'

step 'hostile paths never reach the host: refused by tugd' '
	! "$TUG" host bootstrap h$N --proxy caddy --proxy-mode system \
	    --proxy-admin "$SOCK;id" >$T/out 2>$T/err &&
	has $T/err "invalid --proxy-admin" &&
	! "$TUG" host bootstrap h$N --proxy caddy --proxy-admin $SOCK >$T/out 2>$T/err &&
	has $T/err "proxy-admin goes with --proxy caddy --proxy-mode system" &&
	! "$TUG" host bootstrap h$N --proxy caddy --proxy-mode system \
	    --proxy-config "$SYS/Caddyfile x" >$T/out 2>$T/err &&
	has $T/err "invalid --proxy-binary or --proxy-config" &&
	test -z "$(leftovers)"
'

step 'no systemd and no caddy on the socket yet: bootstrap readies the directory and says how to start caddy' '
	! boot >$T/out 2>$T/err &&
	hasf $T/err "h$N: tug-agent: the host'"'"'s caddy does not answer on $SOCK (" &&
	hasf $T/err "and this host has no systemd to start it: start it with umask 0007, in group tug, as root or with CAP_NET_BIND_SERVICE: \`/usr/bin/caddy run --resume --config $D/initial.json --pidfile $D/caddy.pid\`; then bootstrap again" &&
	has $T/err "added $U to group tug" &&
	test "$(stat -c "%U %G %a" $D)" = "$U tug 2770" &&
	id -nG $U | grep -qw tug &&
	test "$(stat -c "%U %a" $D/initial.json)" = "root 644" &&
	hasf $D/initial.json "\"listen\": \"unix/$SOCK\"" &&
	hasf $D/initial.json "\"origins\": [" &&
	hasf $D/initial.json "own.host.test" &&
	test "$(stat -c "%U %a" $D.setup)" = "root 600"
'

ns_syscaddy_start $N $SYS $D || bail "the host's caddy"

step 'with the host'"'"'s caddy running as it was told: bootstrap completes, no sudo rule, a new session with group tug' '
	{ boot >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	has $T/err "h$N: the host'"'"'s caddy serving on port 80" &&
	has $T/err "a new session for the agent, now of group tug" &&
	! ls /etc/sudoers.d/tug-$U 2>/dev/null &&
	test "$(curl -sS -m 5 -H "Host: own.host.test" http://$ADDR/)" = "the host'"'"'s own site" &&
	pid=$(cat $SYS/caddy.pid) && test "$(stat -c %U /proc/$pid)" = caddy &&
	grep -q "^CapAmb:.*0*400$" /proc/$pid/status &&
	test "$(stat -c "%U %G %a" $SOCK)" = "caddy tug 770" &&
	admin /config/ >$T/cfg &&
	has $T/cfg "\"@id\":\"tug-probe\"" &&
	has $T/cfg "\"tug\":{\"encoder\":{\"format\":\"json\"}" &&
	has /home/$U/.tug-agent/proxy.json "\"kind\":\"caddy\"" &&
	has /home/$U/.tug-agent/proxy.json "\"mode\":\"system\",\"config\":\"$SOCK\",\"dir\":\"$D\""
'

ns_sudo_unboot $N

step 'proxy.status through the agent, which has no sudo: running, its pid, the host'"'"'s paths' '
	runuser -u $U -- sudo -n -l >$T/sl 2>&1; ! grep -q NOPASSWD $T/sl &&
	nsenter --net=$NS runuser -u $U -- env DOCKER_HOST=unix:///run/tug-test/h$N/docker.sock \
	    "$AGENTCTL" -r proxy.status "{}" -- "$AGENT" serve --state-dir /home/$U/.tug-agent >$T/ps 2>&1 &&
	has $T/ps "\"configured\":true,\"kind\":\"caddy\",\"running\":true,\"pid\":$(cat $SYS/caddy.pid)," &&
	has $T/ps "\"mode\":\"system\",\"binary\":\"/usr/bin/caddy\",\"config\":\"$SOCK\",\"dir\":\"$D\""
'

cat >$T/sec.yml <<EOS
site: sec
image: tug-test/app:1
hosts: [h$N]
domains: [sec.t28.test, www.sec.t28.test]
port: 8080
env: {SITE: sec, VERSION: "1"}
health: {path: /up, interval: 200ms}
deploy: {drain: 3s}
tls: {hsts: true}
EOS

"$TUG" acme set --ca "$PEBBLE_URL" --email ops@tug.test \
    --trust-root "$PEBBLE_CA" >/dev/null || bail "acme set"

step 'the first deploy: caddy gets a certificate per name over real HTTP-01 and serves HTTPS' '
	"$TUG" -q site apply $T/sec.yml >/dev/null &&
	{ "$TUG" deploy sec >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	test "$(https sec.t28.test)" = "sec 1" &&
	test "$(https www.sec.t28.test)" = "sec 1" &&
	curl -sS -m 10 --cacert "$PEBBLE_ROOT" --resolve "sec.t28.test:443:$ADDR" \
	    -D $T/h -o /dev/null https://sec.t28.test/ &&
	has $T/h "^[Ss]trict-[Tt]ransport-[Ss]ecurity: max-age=31536000" &&
	has $T/h "^[Xx]-[Tt]ug-[Rr]elease: 1" &&
	grep -q "\"msg\":\"certificate obtained successfully\",\"identifier\":\"www.sec.t28.test\"" $D/caddy.log &&
	grep -q "\"challenge_type\":\"http-01\"" $D/caddy.log &&
	admin /id/tug-tls-sec >$T/pol &&
	has $T/pol "\"subjects\":\[\"sec.t28.test\",\"www.sec.t28.test\"\]" &&
	has $T/pol "\"trusted_roots_pem_files\":\[\"$D/roots/[0-9a-f]*.pem\"\]" &&
	ls $D/up/sec/ >$T/up && has $T/up "^r1-p[0-9]*$" &&
	test "$(curl -sS -m 5 -H "Host: own.host.test" http://$ADDR/)" = "the host'"'"'s own site"
'

# Caddy 2.6.2 makes an account in every goroutine that needs one and may
# keep one's URL with another's key: every later request then fails with
# "JWS verification error" (agent/acme-account.c). The account is the
# agent's: one at the CA, and the one Caddy keeps, found by its key.
ACCTS=/home/$U/.tug-agent/acme/agent-accounts
caddy_acct() {	# the account in Caddy's storage: its URL, its public key
	local u=$SYS/home/data/caddy/acme/*/users/ops@tug.test
	sed -n 's/.*"location": *"\([^"]*\)".*/\1/p' $u/ops.json &&
	    openssl pkey -in $u/ops.key -pubout
}
agent_acct() {
	sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' $ACCTS/*.json &&
	    openssl pkey -in $ACCTS/*.key -pubout
}
step 'one ACME account, the agent'"'"'s: the CA has one, and Caddy keeps that one, found by its key' '
	test "$(grep -c "There are now [0-9]* accounts in memory" $T/pebble/pebble.log)" = 1 &&
	test "$(ls $ACCTS | wc -l)" = 2 &&
	test "$(stat -c %a $ACCTS/*.key)" = 600 &&
	caddy_acct >$T/acct.caddy && agent_acct >$T/acct.agent &&
	has $T/acct.agent "^https://10.77.$N.1:[0-9]*/my-account/" &&
	cmp $T/acct.caddy $T/acct.agent &&
	admin /id/tug-tls-sec >$T/pol && has $T/pol "\"account_key\":\"-----BEGIN EC PRIVATE KEY-----"
'

# tugd's renewal thread asks each host of a tls-auto site for cert.renew
# (30 days) within a minute of its first deploy. The agent's cert.renew
# cannot read Caddy's certificates (one per name, keys in Caddy's storage),
# so it hands the request to the backend, which cannot tell it from tug
# cert renew and renews now: two reloads. Let that pass happen before the
# steps that count reloads; the next is a week away (TUG_RENEW_CHECK_S).
renewed_by_tugd() {
	grep -q "\"msg\":\"certificate renewed successfully\",\"identifier\":\"$1\"" $D/caddy.log
}

# tugd's renewal thread looks every 10 s for what is due; Caddy
# renews its own certificates, so the pass must leave them alone (no
# renewal, no reload: the load steps below count reloads).
step 'tugd'"'"'s scheduled renewal leaves Caddy'"'"'s own certificates alone' '
	for _ in $(seq 60); do
		"$TUG" cert list sec >$T/cl 2>&1
		grep -q "renewal checked" $T/cl && break
		sleep 0.5
	done
	has $T/cl "^h$N: renewal checked " &&
	! renewed_by_tugd sec.t28.test && ! renewed_by_tugd www.sec.t28.test
'

step 'plain HTTP redirects to HTTPS (Caddy'"'"'s own redirect)' '
	curl -s -o /dev/null -D $T/h -H "Host: sec.t28.test" "http://$ADDR/a?b=1" &&
	has $T/h "^HTTP/1.1 308" && has $T/h "^Location: https://sec.t28.test/a?b=1"
'

step 'site status and cert list show the host'"'"'s certificate: issuer, name, expiry, the serial served' '
	"$TUG" site status sec >$T/out &&
	has $T/out "^h$N: certificate from Pebble Intermediate CA [0-9a-f]* for sec.t28.test, expires 20[0-9-]* [0-9:]* UTC (in 8[89] days), serial [0-9A-F]*$" &&
	"$TUG" cert list sec >$T/cl && has $T/cl "^h$N: certificate from Pebble" &&
	openssl s_client -connect $ADDR:443 -servername sec.t28.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial >$T/serial &&
	has $T/serial "serial=$(sed -n "s/.*serial \([0-9A-F]*\)$/\1/p" $T/out)"
'

# under_load OUT BODIES CMD...: the load tool (libcurl: keep-alive HTTPS,
# slow requests in flight) and the strict client side by side while CMD
# runs; both must lose nothing.
under_load() {
	local out=$1 bodies=$2
	shift 2
	rm -f $T/stop
	"$LOAD" -c 8 -S 2 -s "/slow?ms=2000" -k "$PEBBLE_ROOT" \
	    -r "sec.t28.test:443:$ADDR" -n 2000 -b $bodies \
	    https://sec.t28.test/ $T/stop >$out 2>&1 &
	lpid=$!
	python3 $T/ka.py $ADDR 443 sec.t28.test 4 $T/stop "$PEBBLE_ROOT" >$out.strict 2>&1 &
	spid=$!
	sleep 1
	"$@" >$T/cmd.out 2>&1; crc=$?
	cp $T/cmd.out $out.cmd
	sleep 1; touch $T/stop; wait $lpid; lrc=$?; wait $spid; src=$?
	test $crc = 0 || { cat $T/cmd.out; return 1; }
	test $lrc = 0 || test -n "${RELOADS-}" || { cat $out; return 1; }
	test $src = 0 || test -n "${RELOADS-}" || { cat $out.strict; return 1; }
}

# bounded OUT RELOADS: what a reload costs and nothing else: no HTTP error
# answer, only requests on a connection Caddy closed (python's
# RemoteDisconnected and resets, libcurl's HTTP/2 stream errors), at most
# one per client (12 of them) and reload.
bounded() {
	python3 - "$1" "$1.strict" $((12 * $2)) <<'PY'
import ast, json, re, sys
conn = ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError",
        "Error in the HTTP2 framing layer", "Failure when receiving data from the peer",
        "Send failure: Broken pipe", "Server returned nothing (no headers, no data)")
bad = 0
for f in sys.argv[1:3]:
    t = open(f).read()
    m = re.search(r"failed=(\d+) .*errors=(\{.*?\})( |$)", t)
    try:
        errs = json.loads(m.group(2))
    except ValueError:
        errs = ast.literal_eval(m.group(2))
    odd = [k for k in errs if k not in conn]
    bad += int(m.group(1))
    if odd:
        print("not a closed connection: %s in %s" % (odd, t)); sys.exit(1)
if bad > int(sys.argv[3]):
    print("%d failed, over %s" % (bad, sys.argv[3])); sys.exit(1)
PY
}

redeploy() {
	sed -i "s/VERSION: \"[0-9]*\"/VERSION: \"$1\"/" $T/sec.yml &&
	"$TUG" -q site apply $T/sec.yml && "$TUG" deploy sec
}

autosave=$SYS/home/config/caddy/autosave.json

step 'redeploy under keep-alive HTTPS load, slow requests and a strict client: 0 failed, no reload' '
	before=$(stat -c %Y.%y $autosave) &&
	under_load $T/load.deploy 2 redeploy 2 &&
	test "$(https sec.t28.test)" = "sec 2" &&
	test "$(stat -c %Y.%y $autosave)" = "$before" &&
	has $T/load.deploy.strict "failed=0 " && has $T/load.deploy.strict "sec 1" &&
	has $T/load.deploy.strict "sec 2"
'

step 'rollback under the same load: 0 failed, no reload' '
	before=$(stat -c %Y.%y $autosave) &&
	under_load $T/load.rollback 2 "$TUG" rollback --yes sec 1 &&
	test "$(https sec.t28.test)" = "sec 1" &&
	test "$(stat -c %Y.%y $autosave)" = "$before"
'

step 'an env change (a redeploy) under the same load: 0 failed, no reload' '
	before=$(stat -c %Y.%y $autosave) &&
	under_load $T/load.env 1 "$TUG" -q env set sec GREETING=hi &&
	test "$(https sec.t28.test)" = "sec 1" &&
	test "$(stat -c %Y.%y $autosave)" = "$before" &&
	has $T/load.env.strict "failed=0 " &&
	ns_docker $N inspect -f "{{.Config.Env}}" \
	    $(ns_docker $N ps -q --filter label=tug.site=sec) | grep -q "GREETING=hi"
'

step 'restart under the same load: a fresh container of the serving release, 0 failed, no reload' '
	before=$(stat -c %Y.%y $autosave) &&
	old=$(ns_docker $N ps -q --filter label=tug.site=sec) && test -n "$old" &&
	under_load $T/load.restart 1 "$TUG" -q restart sec &&
	new=$(ns_docker $N ps -q --filter label=tug.site=sec) &&
	test -n "$new" && test "$new" != "$old" &&
	test "$(https sec.t28.test)" = "sec 1" &&
	test "$(stat -c %Y.%y $autosave)" = "$before" &&
	has $T/load.restart.strict "failed=0 "
'

step 'cert renew under load: a new serial, caddy serves it; its two reloads cost closed connections only' '
	old=$(openssl s_client -connect $ADDR:443 -servername sec.t28.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial) &&
	RELOADS=2 under_load $T/load.renew 1 "$TUG" cert renew sec &&
	bounded $T/load.renew 2 &&
	has $T/cmd.out "^h$N: renewed (the old serial was" &&
	new=$(openssl s_client -connect $ADDR:443 -servername sec.t28.test </dev/null 2>/dev/null |
	    openssl x509 -noout -serial) &&
	test -n "$new" && test "$old" != "$new" &&
	has $T/cmd.out "^h$N: certificate from Pebble Intermediate CA [0-9a-f]* for sec.t28.test, expires .* serial ${new#serial=}$" &&
	"$TUG" cert list sec >$T/cl && has $T/cl "serial ${new#serial=}$" &&
	test "$(https sec.t28.test)" = "sec 1" &&
	admin /id/tug-tls-sec >$T/pol && hasnt $T/pol renewal_window_ratio
'
for f in deploy rollback renew; do
	echo "# $f, load tool: $(cat $T/load.$f 2>/dev/null)"
	echo "# $f, strict client: $(cat $T/load.$f.strict 2>/dev/null)"
done

step 'a route change reloads caddy: measured with the strict client (the residue, docs/proxies.md)' '
	rm -f $T/stop
	python3 $T/ka.py $ADDR 443 sec.t28.test 8 $T/stop "$PEBBLE_ROOT" >$T/reload.strict 2>&1 &
	spid=$!
	sleep 1
	for h in false true false true; do
		sed -i "s/^tls: .*/tls: {hsts: $h}/" $T/sec.yml &&
		"$TUG" -q site apply $T/sec.yml && "$TUG" -q deploy sec >/dev/null || break
		sleep 0.5
	done
	sleep 0.5; touch $T/stop; wait $spid
	echo "# four reloads (hsts toggled), strict client: $(cat $T/reload.strict)"
	has $T/reload.strict "ok=[1-9]"
'
echo "# four reloads (hsts toggled), strict client: $(cat $T/reload.strict 2>/dev/null)"

cat >$T/bad.yml <<EOS
site: bad
image: tug-test/app:1
hosts: [h$N]
domains: [nodns.t28.test]
port: 8080
env: {SITE: bad}
health: {path: /up, interval: 200ms}
EOS

step 'a name the test DNS does not know: the deploy fails with Pebble'"'"'s reason, nothing left in caddy' '
	"$TUG" -q site apply $T/bad.yml >/dev/null &&
	! "$TUG" deploy bad >$T/out 2>$T/err &&
	hasf $T/err "the ACME CA did not issue a certificate for nodns.t28.test: authorization failed: HTTP 400 urn:ietf:params:acme:error:connection - Get \"http://nodns.t28.test:80/.well-known/acme-challenge/...\": could not resolve URL" &&
	admin /config/ >$T/cfg && hasnt $T/cfg nodns && hasnt $T/cfg tug-site-bad &&
	! ls $D/up/bad 2>/dev/null &&
	test "$(https sec.t28.test)" = "sec 2"
'

step 'a new name for a serving site that cannot be issued: the old release and certificates keep serving' '
	sed -i "s/^domains: .*/domains: [sec.t28.test, www.sec.t28.test, new.sec.t28.test]/" $T/sec.yml &&
	sed -i "s/VERSION: \"[0-9]*\"/VERSION: \"3\"/" $T/sec.yml &&
	"$TUG" -q site apply $T/sec.yml >/dev/null &&
	{ ! "$TUG" deploy sec >$T/out 2>$T/err || { echo "the deploy went:"; cat $T/err; false; }; } &&
	hasf $T/err "the ACME CA did not issue a certificate for new.sec.t28.test: " &&
	has $T/err "new.sec.t28.test:80/.well-known/acme-challenge/...[^ ]*: could not resolve URL" &&
	test "$(https sec.t28.test)" = "sec 2" &&
	test "$(https www.sec.t28.test)" = "sec 2" &&
	admin /id/tug-site-sec >$T/r && hasnt $T/r new.sec &&
	admin /id/tug-tls-sec >$T/pol && hasnt $T/pol new.sec &&
	! https new.sec.t28.test >/dev/null 2>&1
'

cat >$T/flaky.yml <<EOS
site: flaky
image: tug-test/app:1
hosts: [h$N]
domains: [fail.t28.test]
port: 8080
env: {SITE: flaky, VERSION: "1"}
health: {path: /up, interval: 200ms}
tls: off
EOS

# Caddy's requests for fail.t28.test to any upstream are reset: the new
# release answers its health check, but not through Caddy.
block=(OUTPUT -p tcp --dport 32768:65535 -m string --string "Host: fail.t28.test"
    --algo bm -j REJECT --reject-with tcp-reset)
at_exit "nsenter --net=$NS iptables -D ${block[*]:0:8} 'Host: fail.t28.test' ${block[*]:9} 2>/dev/null"

step 'a plain (tls off) site; a switch whose confirmation fails: the previous upstream is put back' '
	"$TUG" -q site apply $T/flaky.yml >/dev/null && "$TUG" -q deploy flaky &&
	test "$(curl -sS -m 5 -H "Host: fail.t28.test" http://$ADDR/)" = "flaky 1" &&
	admin /id/tug-site-flaky >$T/r && hasnt $T/r tug-tls &&
	sed -i "s/VERSION: \"1\"/VERSION: \"2\"/" $T/flaky.yml &&
	"$TUG" -q site apply $T/flaky.yml >/dev/null &&
	nsenter --net=$NS iptables -I "${block[@]}" &&
	{ ! "$TUG" deploy flaky >$T/out 2>$T/err || { echo "the deploy went:"; cat $T/err; false; }; };
	rc=$?; nsenter --net=$NS iptables -D "${block[@]}"; test $rc = 0 &&
	has $T/err "caddy does not answer for fail.t28.test from release 2 after [0-9]* ms (" &&
	ls $D/up/flaky >$T/up && test "$(wc -l <$T/up)" = 1 && has $T/up "^r1-p" &&
	! test -e /home/$U/.tug-agent/caddy/sites/flaky.prev &&
	test "$(curl -sS -m 5 -H "Host: fail.t28.test" http://$ADDR/)" = "flaky 1"
'

# The agent itself, as the host's SSH user, for input tugd never sends.
agent() {
	nsenter --net=$NS runuser -u $U -- env DOCKER_HOST=unix:///run/tug-test/h$N/docker.sock \
	    "$AGENTCTL" -r "$1" "$2" -- "$AGENT" serve --state-dir /home/$U/.tug-agent >$T/out 2>&1
}

step 'hostile domains are refused before anything reaches caddy'"'"'s JSON' '
	admin /config/ >$T/cfg.before &&
	for d in "a\\\"b.test" "a\\\\b.test" "x\\\"}]}.test" "a\\nb.test" "*.*.x.test" "a.*.test" "*" "{http.request.host}" "a b.test"; do
		agent site.apply "{\"site\":\"evil\",\"release\":9,\"image\":\"tug-test/app:1\",\"port\":8080,\"proxy\":{\"domains\":[\"$d\"],\"tls\":\"auto\"}}";
		test $? -eq 1 && has $T/out "\"code\":\"bad_args\",\"message\":\"invalid domain " || { echo "domain $d"; exit 1; }
	done &&
	agent site.apply "{\"site\":\"evil\",\"release\":9,\"image\":\"tug-test/app:1\",\"port\":8080,\"proxy\":{\"domains\":[\"*.evil.t28.test\"],\"tls\":\"auto\",\"acme\":{\"ca\":\"$PEBBLE_URL\",\"email\":\"ops@tug.test\"}}}";
	has $T/out "\"code\":\"proxy\",\"message\":\"\*.evil.t28.test: a wildcard needs a DNS-01 challenge" &&
	admin /config/ >$T/cfg.after && cmp $T/cfg.before $T/cfg.after &&
	test -z "$(ns_docker $N ps -aq --filter name=tug-evil-r9)"
'

cat >$T/gone.yml <<EOS
site: gone
image: tug-test/app:1
hosts: [h$N]
domains: [gone.t28.test]
port: 8080
env: {SITE: gone, VERSION: "1"}
health: {path: /up, interval: 200ms}
EOS

step 'site rm: its route, policy and upstream leave caddy, its name no longer answers' '
	"$TUG" -q site rm --yes bad >/dev/null 2>&1;
	pebble_dns_add gone.t28.test $ADDR &&
	"$TUG" -q site apply $T/gone.yml && "$TUG" -q deploy gone &&
	test "$(https gone.t28.test)" = "gone 1" &&
	"$TUG" -q site rm --yes gone >$T/out 2>&1 &&
	admin /config/ >$T/cfg && hasnt $T/cfg tug-site-gone && hasnt $T/cfg tug-tls-gone &&
	! ls $D/up/gone 2>/dev/null &&
	test "$(https gone.t28.test 2>/dev/null)" != "gone 1" &&
	test "$(https sec.t28.test)" = "sec 2"
'

# A site on two hosts: this Caddy and host 16's system nginx, set up as
# 0027 does on host 14, each with a certificate of its own from Pebble.
# The VA validates a name at the one address the test DNS gives it, so
# the site comes to host 16 in a second deploy, the name pointing there.
SYS16=$(mktemp -d /tmp/tug28ngx.XXXXXX) && chmod 755 $SYS16 || bail "mktemp"
at_exit "rm -rf $SYS16"
ns_host_up $M $T/tugd.pub || bail "host $M"
ns_agent_reset $M
ns_purge $M
at_exit "ns_purge $M; ns_agent_reset $M; ns_host_down $M"
$DOCKER save tug-test/app:1 | ns_docker $M load >/dev/null || bail "image load $M"
at_exit "ns_sudo_unboot $M; rm -f /etc/sudoers.d/tug-tughost$M"
ns_sysnginx_conf $SYS16 && ns_sysnginx_start $M $SYS16 || bail "host $M's nginx"
at_exit "ns_sysnginx_stop $SYS16"
"$TUG" -q host add h$M tughost$M@$(ns_addr $M) --accept-new-hostkey >/dev/null ||
	bail "host add $M"
ns_sudo_boot $M || bail "sudo $M"
"$TUG" -q host bootstrap h$M --proxy nginx --proxy-mode system \
    --proxy-config $SYS16/nginx.conf >$T/out 2>&1 || { cat $T/out; bail "bootstrap $M"; }
ns_sudo_unboot $M

cat >$T/both.yml <<EOS
site: both
image: tug-test/app:1
hosts: [h$N]
domains: [both.t28.test]
port: 8080
env: {SITE: both, VERSION: "1"}
health: {path: /up, interval: 200ms}
EOS

step 'one site on a Caddy host and a system-nginx host: each serves HTTPS with a Pebble certificate of its own' '
	pebble_dns_add both.t28.test $ADDR &&
	"$TUG" -q site apply $T/both.yml && "$TUG" -q deploy both &&
	sed -i "s/^hosts: .*/hosts: [h$N, h$M]/; s/VERSION: \"1\"/VERSION: \"2\"/" $T/both.yml &&
	pebble_dns_del both.t28.test && pebble_dns_add both.t28.test $(ns_addr $M) &&
	"$TUG" -q site apply $T/both.yml &&
	{ "$TUG" deploy both >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	for a in $ADDR $(ns_addr $M); do
		test "$(curl -sS -m 10 --cacert "$PEBBLE_ROOT" --resolve "both.t28.test:443:$a" https://both.t28.test/)" = "both 2" || exit 1
	done &&
	"$TUG" cert list both >$T/cl &&
	has $T/cl "^h$N: certificate from Pebble Intermediate CA [0-9a-f]* for both.t28.test" &&
	has $T/cl "^h$M: certificate from Pebble Intermediate CA [0-9a-f]* for both.t28.test" &&
	test "$(grep -c serial $T/cl)" = 2 &&
	test "$(sed -n "s/.*serial //p" $T/cl | sort -u | wc -l)" = 2
'

step 'a CA that forgot the account (Pebble restarted): cert renew finds out first, makes a new one, renews' '
	agent_acct >$T/acct.old && body=$(https sec.t28.test) &&
	test -n "$body" && pebble_restart && pebble_root &&
	{ "$TUG" cert renew sec >$T/renew.out 2>$T/renew.err ||
	    { cat $T/renew.err; false; }; } &&
	has $T/renew.out "^h$N: renewed (the old serial was" &&
	test "$(https sec.t28.test)" = "$body" &&
	agent_acct >$T/acct.new && ! cmp -s $T/acct.old $T/acct.new &&
	caddy_acct >$T/acct.caddy && cmp $T/acct.caddy $T/acct.new &&
	hasnt $D/caddy.log "accountDoesNotExist"
'

step 'host rm --purge without sudo: refused with the command to run, the host kept' '
	! "$TUG" host rm --yes h$N --purge >$T/out 2>$T/err &&
	has $T/err "system-undo caddy --user $U --binary /usr/bin/caddy --config /etc/caddy/Caddyfile --admin $SOCK\` as root on the host" &&
	has $T/err "h$N is kept" &&
	"$TUG" host list | grep -q "^h$N "
'

ns_sudo_boot $N || bail "sudo for purge"

step 'host rm --purge takes back exactly what bootstrap added; the host'"'"'s caddy still serves its own site' '
	{ "$TUG" host rm --yes h$N --purge >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	has $T/err "removed $U from group tug" &&
	{ test -z "$(leftovers)" || { echo "left: $(leftovers)"; false; }; } &&
	! "$TUG" host list | grep -q "^h$N " &&
	test "$(curl -sS -m 5 -H "Host: own.host.test" http://$ADDR/)" = "the host'"'"'s own site" &&
	! https sec.t28.test >/dev/null 2>&1 &&
	nsenter --net=$NS curl -sS -m 5 http://localhost:2019/config/ >$T/cfg &&
	hasnt $T/cfg "tug-" && hasnt $T/cfg "$D" && has $T/cfg own.host.test
'

finish
