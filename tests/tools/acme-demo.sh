#!/bin/bash
# acme-demo.sh - one certificate through real HTTP-01, the way the agent is
# to get one for nginx in system mode: Pebble (tests/tools/pebble.sh) as
# the CA, lego run unprivileged inside a test host's netns with a fixed
# argv, writing the challenge into a webroot that the host's own nginx
# (root, in the netns, on 10.77.N.2:80) serves; then nginx serves the
# certificate on 443 and curl checks it against Pebble's issuing root.
#
# Usage, as root:  bash tests/tools/acme-demo.sh [N]	(N: 11 or 12; 11)
# Needs: pebble, lego, nginx (tests/setup.sh).  Exits 0 when curl got the
# page over HTTPS with the new certificate.
#
# It makes, and on exit removes, only its own things: a temp dir
# (/tmp/tug-acme-demo.*) holding every config, pid file, log and key; the
# nginx and Pebble it started, stopped by their pids (checked against their
# command lines, which name that dir); and netns tugh$N with veth tugv$N
# when it had to make them (one that was there is used and left).  It
# makes no Docker objects.  TUG_KEEP=1 keeps the temp dir.

set -u
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=pebble.sh
. "$TOOLS/pebble.sh"

N=${1:-11}
case $N in 11 | 12) ;; *) echo "usage: $0 [11|12]" >&2; exit 2 ;; esac
ADDR=10.77.$N.2		# the test host
ROOTSIDE=10.77.$N.1	# its root-namespace side: where Pebble listens
NAME=acme-demo.tug.test
LEGO=/usr/bin/lego
NGINX=/usr/sbin/nginx
# The unprivileged user lego runs as (the agent's SSH user in real life).
RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

[ "$(id -u)" -eq 0 ] || { echo "acme-demo: run as root" >&2; exit 2; }
for b in "$LEGO" "$NGINX" /usr/bin/pebble /usr/bin/pebble-challtestsrv; do
	[ -x "$b" ] || { echo "acme-demo: no $b (bash tests/setup.sh)" >&2; exit 2; }
done

D=$(mktemp -d /tmp/tug-acme-demo.XXXXXX) || exit 1
chmod 755 "$D"
made_netns=

say() {
	echo "acme-demo: $*"
}

die() {
	echo "acme-demo: FAILED: $*" >&2
	exit 1
}

# nginx_pid: our nginx master, by its pid file, if it runs from our conf.
nginx_pid() {
	local pid

	pid=$(cat "$D/nginx/nginx.pid" 2>/dev/null) || return 1
	_pb_running "$pid" || return 1
	# The master retitles itself: "nginx: master process nginx -p D ...".
	case $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) in
	*" -c $D/nginx/nginx.conf"*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

cleanup() {
	local pid

	if pid=$(nginx_pid); then
		_pb_kill "$pid"
	fi
	pebble_stop "$D/pebble"
	if [ -n "$made_netns" ]; then
		ip link del "tugv$N" 2>/dev/null
		ip netns del "tugh$N"
	fi
	if [ "${TUG_KEEP:-0}" = 1 ]; then
		say "kept $D"
	else
		rm -rf "$D"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The test host: netns tugh$N, eth0 $ADDR, default route via the root side
# (what tests/netns.sh's ns_host_up makes, minus sshd and dockerd).
if ! [ -e "/run/netns/tugh$N" ]; then
	made_netns=1
	{
		ip netns add "tugh$N" &&
		    ip link add "tugv$N" type veth peer name eth0 \
			netns "tugh$N" &&
		    ip addr add "$ROOTSIDE/24" dev "tugv$N" &&
		    ip link set "tugv$N" up &&
		    ip -n "tugh$N" link set lo up &&
		    ip -n "tugh$N" addr add "$ADDR/24" dev eth0 &&
		    ip -n "tugh$N" link set eth0 up &&
		    ip -n "tugh$N" route add default via "$ROOTSIDE"
	} || die "cannot make netns tugh$N"
fi
INNS=(nsenter "--net=/run/netns/tugh$N")

# Pebble, with real validation; NAME resolves to the test host.
pebble_start "$D/pebble" "$ROOTSIDE" || die "pebble_start"
pebble_dns_add "$NAME" "$ADDR" || die "pebble_dns_add"
say "ACME directory $PEBBLE_URL"

# The host's nginx: port 80 answers HTTP-01 from the webroot and sends the
# rest to https; 443 is added once there is a certificate.
mkdir -p "$D/nginx/logs" "$D/nginx/tmp" "$D/nginx/certs" "$D/webroot" \
    "$D/acme" || die "mkdir"
chown nobody:nogroup "$D/webroot" "$D/acme" || die "chown"

# nginx_conf [tls]: write nginx.conf, with the 443 server when asked.
nginx_conf() {
	local t

	{
		cat <<-EOF
		worker_processes 1;
		user nobody nogroup;
		pid $D/nginx/nginx.pid;
		error_log $D/nginx/logs/error.log;
		events { worker_connections 64; }
		http {
		    access_log $D/nginx/logs/access.log;
		EOF
		for t in client_body proxy fastcgi uwsgi scgi; do
			echo "    ${t}_temp_path $D/nginx/tmp/$t;"
		done
		cat <<-EOF
		    server {
		        listen $ADDR:80;
		        location /.well-known/acme-challenge/ {
		            root $D/webroot;
		            default_type text/plain;
		        }
		        location / { return 301 https://\$host\$request_uri; }
		    }
		EOF
		[ "${1-}" = tls ] && cat <<-EOF
		    server {
		        listen $ADDR:443 ssl;
		        server_name $NAME;
		        ssl_certificate $D/nginx/certs/$NAME.crt;
		        ssl_certificate_key $D/nginx/certs/$NAME.key;
		        location / { return 200 "hello from $NAME\n"; }
		    }
		EOF
		echo "}"
	} >"$D/nginx/nginx.conf.tmp" &&
	    mv "$D/nginx/nginx.conf.tmp" "$D/nginx/nginx.conf"
}

NG=("$NGINX" -p "$D/nginx" -c "$D/nginx/nginx.conf")
nginx_conf || die "cannot write nginx.conf"
"${INNS[@]}" "${NG[@]}" || die "nginx did not start: $(cat "$D/nginx/logs/error.log")"
for _ in $(seq 50); do
	nginx_pid >/dev/null && break
	sleep 0.05
done
nginx_pid >/dev/null || die "nginx wrote no pid file"

# lego, exactly as the agent is to run it: a fixed argv, no shell, no
# hook, an environment of one variable (the CA for Pebble's own TLS).
ACME=(--server "$PEBBLE_URL" --accept-tos --email ops@tug.test
    --path "$D/acme" --key-type ec256 --http --http.webroot "$D/webroot"
    --domains "$NAME")
lego_run() {
	"${INNS[@]}" "${RUNAS[@]}" env -i "LEGO_CA_CERTIFICATES=$PEBBLE_CA" \
	    timeout 120 "$LEGO" "${ACME[@]}" "$@"
}
start=$(date +%s%N)
lego_run run >"$D/lego.out" 2>"$D/lego.err" ||
    die "lego run: $(cat "$D/lego.err")"
say "issued in $((($(date +%s%N) - start) / 1000000)) ms"
CRT=$D/acme/certificates/$NAME.crt
KEY=$D/acme/certificates/$NAME.key
openssl x509 -in "$CRT" -noout -subject -issuer -enddate | sed 's/^/    /'

# Install for nginx: copies, each by rename (lego rewrites its files in
# place), then reload and wait until 443 answers with this certificate.
for f in "$CRT" "$KEY"; do
	if ! install -m 600 "$f" "$D/nginx/certs/.tmp" ||
	    ! mv "$D/nginx/certs/.tmp" "$D/nginx/certs/${f##*/}"; then
		die "cannot install $f"
	fi
done
nginx_conf tls || die "cannot write nginx.conf"
"${INNS[@]}" "${NG[@]}" -t 2>"$D/nginx-t.err" ||
    die "nginx -t: $(cat "$D/nginx-t.err")"
"${INNS[@]}" "${NG[@]}" -s reload 2>"$D/reload.err" ||
    die "nginx -s reload: $(cat "$D/reload.err")"

# The check: Pebble's issuing root, NAME pinned to the test host.
want=$(openssl x509 -in "$CRT" -noout -serial)
ok=
for _ in $(seq 50); do
	if out=$(curl -sS -m 5 --cacert "$PEBBLE_ROOT" \
	    --resolve "$NAME:443:$ADDR" "https://$NAME/" 2>"$D/curl.err"); then
		ok=1
		break
	fi
	sleep 0.1
done
[ -n "$ok" ] || die "curl https://$NAME/: $(cat "$D/curl.err")"
[ "$out" = "hello from $NAME" ] || die "unexpected page: $out"
got=$(openssl s_client -connect "$ADDR:443" -servername "$NAME" \
    </dev/null 2>/dev/null | openssl x509 -noout -serial)
[ "$got" = "$want" ] || die "nginx serves $got, lego issued $want"
say "curl --cacert <issuing root> https://$NAME/ -> '$out' ($want)"

# Renewal is the same argv with renew: a no-op while the certificate has
# more than 30 days left (Pebble's here are good for 90).
lego_run renew --days 30 --no-random-sleep >/dev/null 2>"$D/renew.err" ||
    die "lego renew: $(cat "$D/renew.err")"
grep -q 'no renewal' "$D/renew.err" ||
    die "lego renew renewed a fresh certificate: $(cat "$D/renew.err")"
say "renew --days 30: $(tail -n 1 "$D/renew.err" | cut -d' ' -f3-)"
say "ok"
