# pebble.sh - an ACME test CA for the tests: Debian's pebble and
# pebble-challtestsrv, with real HTTP-01 validation against the test
# hosts' own addresses (tests/netns.sh).
#
# Source this file (bash, as root); it only defines functions.  Every
# function says why on stderr and returns non-zero on failure, prints
# nothing on success unless it is asked for something, and never exits the
# caller's shell.  Processes are started, found and stopped by their pids
# (checked against their command lines), never by name: other tests and
# real sites share the machine.
#
#	pebble_certs DIR ADDR		CA + cert for Pebble's HTTPS listener
#	pebble_start DIR ADDR [OFFSET]	challtestsrv and pebble up (see below)
#	pebble_use DIR			the PEBBLE_* variables of a running DIR
#	pebble_restart			pebble again: no accounts, a new root
#	pebble_stop [DIR]		both stopped, by their pid files
#	pebble_dns_add NAME ADDR	NAME resolves to ADDR (A record)
#	pebble_dns_del NAME		NAME no longer resolves
#	pebble_root [FILE]		issuing root (/roots/0) into FILE
#
# pebble_start sets, for the caller and its subshells (not exported):
#	PEBBLE_DIR	DIR
#	PEBBLE_ADDR	ADDR
#	PEBBLE_OFFSET	OFFSET
#	PEBBLE_URL	the ACME directory, https://ADDR:14000+OFFSET/dir
#	PEBBLE_CA	PEM of the CA behind that listener's certificate: what
#			an ACME client must trust to talk to Pebble at all
#	PEBBLE_ROOT	PEM of the root that signs issued certificates
#			(pebble_root refreshes it; it changes at every start)
#	PEBBLE_MGMT	https://127.0.0.1:15000+OFFSET (Pebble's management)
#	PEBBLE_DNS	127.0.0.1:14500+OFFSET (challtestsrv's DNS, udp+tcp)
#	PEBBLE_DNS_MGMT	http://127.0.0.1:15500+OFFSET (its management API)
#
# Where things listen.  A client inside a test host's netns (10.77.N.2)
# reaches the root namespace through its default route, 10.77.N.1, and
# Linux delivers a packet to any address local to the root namespace
# whatever link it came in on: so ADDR is the root side of a test host,
# 10.77.M.1, and every up test host reaches the ACME directory there
# (host M must stay up), or 127.0.0.1 when only the root namespace talks
# ACME.  Nothing else leaves loopback: the management APIs and the DNS are
# on 127.0.0.1.  Pebble's VA asks that DNS and connects to port 80 (or 443
# for TLS-ALPN-01) of the address it answers: a test host's 10.77.N.2.
#
# Names resolve only once pebble_dns_add has said so (no default address,
# IPv4 or IPv6), so a name never added makes Pebble refuse the order; so
# does a name pointing at a host with nothing on port 80.  pebble_dns_add
# takes only the address of a test host that is up (routed through its
# veth): the root namespace's default route leads off the machine, and
# the VA would follow it.  Pebble refuses
# every name under blocked.test at once, at new-order (rejectedIdentifier).
#
# The caller's environment picks Pebble's behaviour at pebble_start and
# pebble_restart (PEBBLE_EAB and PEBBLE_CERT_VALIDITY, which go into the
# config file, at pebble_start only):
#	PEBBLE_VA_ALWAYS_VALID=1	every challenge passes, nothing checked
#	PEBBLE_AUTHZREUSE		% of valid authorizations reused (0)
#	PEBBLE_WFE_NONCEREJECT		% of good nonces rejected (0)
#	PEBBLE_VA_NOSLEEP		no random 0-15 s wait before a
#					validation (1)
#	PEBBLE_CHAIN_LENGTH		certificates in the chain, root
#					included (Pebble's default: 3)
#	PEBBLE_EAB=KID:HMAC		accounts need External Account
#					Binding with that key (base64url
#					HMAC); unset: no EAB
#	PEBBLE_CERT_VALIDITY		seconds a certificate is valid
#					(7776000: 90 days, as Let's Encrypt;
#					Pebble's own default is 5 years)
# (in brackets: this file's defaults, chosen for fast, repeatable tests).
#
# OFFSET (0..99) moves all four ports, so tests running side by side each
# have their own Pebble; without it, pebble_start takes the first offset
# whose ports are all free, under a lock.

_pb_lockdir=/run/tug-test

_pb_err() {
	echo "pebble: $*" >&2
	return 1
}

# _pb_running PID: PID exists and is not a zombie (see _bed_running).
_pb_running() {
	local stat

	case $1 in '' | *[!0-9]*) return 1 ;; esac
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	case ${stat%% *} in Z | X) return 1 ;; esac
	return 0
}

# _pb_is PID NAME WORD [CWD]: PID runs, is called NAME, has WORD (a path
# or address of ours) among its arguments and, given CWD, runs in CWD
# (both daemons are started in their DIR: challtestsrv's command line
# names no file of ours).
_pb_is() {
	local comm

	case $1 in '' | *[!0-9]*) return 1 ;; esac
	read -r comm 2>/dev/null <"/proc/$1/comm" || return 1
	# comm is cut at 15 characters: "pebble-challtes".
	[ "$comm" = "${2:0:15}" ] || return 1
	tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qxF -- "$3" ||
	    return 1
	if [ -n "${4-}" ]; then
		[ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$4" ] || return 1
	fi
	_pb_running "$1"
}

# _pb_ours PIDFILE NAME WORD [CWD]: print the pid in PIDFILE if _pb_is
# says it is ours: a stale pid file never makes us signal a stranger.
_pb_ours() {
	local pid

	pid=$(cat "$1" 2>/dev/null) || return 1
	_pb_is "$pid" "$2" "$3" "${4-}" && echo "$pid"
}

# _pb_strays NAME WORD: pids of every process _pb_is finds to be NAME with
# WORD, should a pid file have been lost (only for a WORD naming a file of
# ours, which no other test's process has).
_pb_strays() {
	local p

	for p in /proc/[0-9]*; do
		_pb_is "${p#/proc/}" "$1" "$2" && echo "${p#/proc/}"
	done
	return 0
}

# _pb_kill PID...: TERM, up to 5 s, then KILL.
_pb_kill() {
	local pid left i

	[ $# -gt 0 ] || return 0
	kill "$@" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		left=
		for pid; do
			_pb_running "$pid" && left="$left $pid"
		done
		[ -n "$left" ] || return 0
		sleep 0.05
	done
	# shellcheck disable=SC2086 # a list of pids
	kill -9 $left 2>/dev/null
	sleep 0.2
	for pid; do
		if _pb_running "$pid"; then
			_pb_err "pid $pid will not die"
			return
		fi
	done
	return 0
}

# _pb_tcp_free PORT / _pb_udp_free PORT: nothing listens on PORT.
_pb_tcp_free() {
	[ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

_pb_udp_free() {
	[ -z "$(ss -Hlun "sport = :$1" 2>/dev/null)" ]
}

# _pb_ports_free OFFSET: all four ports of OFFSET are free.
_pb_ports_free() {
	_pb_tcp_free $((14000 + $1)) && _pb_tcp_free $((15000 + $1)) &&
	    _pb_tcp_free $((14500 + $1)) && _pb_udp_free $((14500 + $1)) &&
	    _pb_tcp_free $((15500 + $1))
}

# _pb_addr_ok ADDR: an IPv4 address this file may listen on: loopback, or
# the root side of a test host (10.77.N.1) that exists.
_pb_addr_ok() {
	case $1 in
	127.0.0.1) return 0 ;;
	10.77.[0-9].1 | 10.77.[0-9][0-9].1) ;;
	*) _pb_err "will not listen on '$1' (127.0.0.1 or 10.77.N.1 only)"
	   return ;;
	esac
	ip -4 -o addr show 2>/dev/null | grep -qF " inet $1/" ||
	    _pb_err "no local address $1: is that test host up?"
}

# pebble_certs DIR ADDR: DIR/ca.pem (+ ca.key), a CA of our own, and
# DIR/pebble.pem (+ pebble.key) for Pebble's listener, signed by it, for
# localhost, 127.0.0.1 and ADDR.  Kept when already there and good for
# ADDR for another day; the CA is kept as long as it exists.
pebble_certs() {
	local dir=${1-} addr=${2-} cnf

	[ -n "$dir" ] && [ -n "$addr" ] ||
	    _pb_err "usage: pebble_certs DIR ADDR" || return
	mkdir -p "$dir" || _pb_err "cannot create $dir" || return
	if ! [ -s "$dir/ca.pem" ] || ! [ -s "$dir/ca.key" ]; then
		rm -f "$dir/pebble.pem" "$dir/pebble.key"
		openssl req -x509 -new -newkey ec \
		    -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		    -subj "/CN=tug test pebble listener CA" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign \
		    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>"$dir/openssl.err" ||
		    _pb_err "cannot make the CA in $dir:" \
		    "$(cat "$dir/openssl.err")" || return
	fi
	if [ -s "$dir/pebble.pem" ] && [ -s "$dir/pebble.key" ] &&
	    openssl x509 -noout -in "$dir/pebble.pem" -checkip "$addr" \
		2>/dev/null | grep -q 'does match' &&
	    openssl x509 -noout -in "$dir/pebble.pem" -checkend 86400 \
		>/dev/null 2>&1; then
		return 0
	fi
	cnf=$dir/pebble.cnf
	printf '%s\n' "subjectAltName=DNS:localhost,DNS:pebble,IP:127.0.0.1,IP:$addr" \
	    "basicConstraints=critical,CA:FALSE" \
	    "keyUsage=critical,digitalSignature" \
	    "extendedKeyUsage=serverAuth" >"$cnf" ||
	    _pb_err "cannot write $cnf" || return
	{
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -subj /CN=pebble -keyout "$dir/pebble.key" \
		    -out "$dir/pebble.csr" &&
		    openssl x509 -req -in "$dir/pebble.csr" -CA "$dir/ca.pem" \
			-CAkey "$dir/ca.key" -CAcreateserial -days 825 \
			-extfile "$cnf" -out "$dir/pebble.pem"
	} >/dev/null 2>"$dir/openssl.err" ||
	    _pb_err "cannot make Pebble's certificate in $dir:" \
	    "$(cat "$dir/openssl.err")" || return
	rm -f "$dir/pebble.csr" "$dir/openssl.err"
}

# _pb_vars DIR: the PEBBLE_* variables from DIR/pebble.env.
_pb_vars() {
	local addr off

	[ -s "$1/pebble.env" ] || _pb_err "no Pebble set up in $1" || return
	read -r addr off <"$1/pebble.env" ||
	    _pb_err "cannot read $1/pebble.env" || return
	# shellcheck disable=SC2034 # for the caller
	PEBBLE_DIR=$1 PEBBLE_ADDR=$addr PEBBLE_OFFSET=$off
	PEBBLE_URL=https://$addr:$((14000 + off))/dir
	PEBBLE_CA=$1/ca.pem
	PEBBLE_ROOT=$1/root.pem
	PEBBLE_MGMT=https://127.0.0.1:$((15000 + off))
	PEBBLE_DNS=127.0.0.1:$((14500 + off))
	PEBBLE_DNS_MGMT=http://127.0.0.1:$((15500 + off))
}

# pebble_use DIR: set the PEBBLE_* variables for the Pebble of DIR (one
# that pebble_start started, maybe from another shell).
pebble_use() {
	local dir

	[ -n "${1-}" ] || _pb_err "usage: pebble_use DIR" || return
	dir=$(cd "$1" 2>/dev/null && pwd) || _pb_err "no directory $1" ||
	    return
	_pb_vars "$dir"
}

# _pb_challtestsrv_start: challtestsrv's DNS and management API on
# loopback, every challenge server of its own off (the test hosts' nginx
# answers HTTP-01), and no default address for unknown names.
_pb_challtestsrv_start() {
	local d=$PEBBLE_DIR pid i

	# In a subshell that cds and execs: $! is challtestsrv itself.
	(
		cd "$d" &&
		    exec pebble-challtestsrv -defaultIPv4 "" -defaultIPv6 "" \
		    -dns01 "$PEBBLE_DNS" -http01 "" -https01 "" \
		    -tlsalpn01 "" -management "${PEBBLE_DNS_MGMT#http://}"
	) </dev/null >>"$d/challtestsrv.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$d/challtestsrv.pid" ||
	    _pb_err "cannot write $d/challtestsrv.pid" || return
	for ((i = 0; i < 100; i++)); do
		# Any answer from the management API will do.
		if curl -s -o /dev/null -m 1 "$PEBBLE_DNS_MGMT/"; then
			return 0
		fi
		_pb_running "$pid" || break
		sleep 0.05
	done
	_pb_err "pebble-challtestsrv (pid $pid) did not come up;" \
	    "$d/challtestsrv.log:"
	tail -n 20 "$d/challtestsrv.log" >&2
	return 1
}

# _pb_pebble_start: pebble with DIR/pebble-config.json, resolving through
# challtestsrv, with the test-friendly defaults above unless the caller's
# environment says otherwise; up when its directory answers.
_pb_pebble_start() {
	local d=$PEBBLE_DIR pid i

	# A pebble that cannot bind exits, but only after our probe found
	# whoever holds the port: make sure nobody does.
	_pb_tcp_free $((14000 + PEBBLE_OFFSET)) &&
	    _pb_tcp_free $((15000 + PEBBLE_OFFSET)) ||
	    _pb_err "ports $((14000 + PEBBLE_OFFSET)) or" \
	    "$((15000 + PEBBLE_OFFSET)) taken: another pebble there?" ||
	    return
	echo "--- $(date -u '+%F %T') pebble_start" \
	    "PEBBLE_VA_ALWAYS_VALID=${PEBBLE_VA_ALWAYS_VALID:-0}" \
	    >>"$d/pebble.log" || _pb_err "cannot write $d/pebble.log" || return
	(
		cd "$d" &&
		    exec env PEBBLE_VA_NOSLEEP="${PEBBLE_VA_NOSLEEP:-1}" \
		    PEBBLE_AUTHZREUSE="${PEBBLE_AUTHZREUSE:-0}" \
		    PEBBLE_WFE_NONCEREJECT="${PEBBLE_WFE_NONCEREJECT:-0}" \
		    PEBBLE_VA_ALWAYS_VALID="${PEBBLE_VA_ALWAYS_VALID:-0}" \
		    ${PEBBLE_CHAIN_LENGTH:+"PEBBLE_CHAIN_LENGTH=$PEBBLE_CHAIN_LENGTH"} \
		    pebble -config "$d/pebble-config.json" \
		    -dnsserver "$PEBBLE_DNS"
	) </dev/null >>"$d/pebble.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$d/pebble.pid" ||
	    _pb_err "cannot write $d/pebble.pid" || return
	rm -f "$PEBBLE_ROOT"
	for ((i = 0; i < 200; i++)); do
		if curl -s -o /dev/null -m 1 --cacert "$PEBBLE_CA" \
		    "$PEBBLE_URL" && _pb_running "$pid"; then
			pebble_root "$PEBBLE_ROOT"
			return
		fi
		_pb_running "$pid" || break
		sleep 0.05
	done
	_pb_err "pebble (pid $pid) did not answer at $PEBBLE_URL;" \
	    "$d/pebble.log:"
	tail -n 20 "$d/pebble.log" >&2
	return 1
}

# pebble_start DIR ADDR [OFFSET]: pebble-challtestsrv and pebble running,
# their config, pid files and logs in DIR, the ACME directory on ADDR (see
# above) at port 14000+OFFSET, and the PEBBLE_* variables set.  Whatever
# an earlier pebble_start left running in DIR is stopped first.
pebble_start() {
	local dir=${1-} addr=${2-} off=${3-} o eab_req eab_keys

	[ -n "$dir" ] && [ -n "$addr" ] ||
	    _pb_err "usage: pebble_start DIR ADDR [OFFSET]" || return
	case $off in
	'' | [0-9] | [0-9][0-9]) ;;
	*) _pb_err "pebble_start: bad offset '$off' (0..99)"; return ;;
	esac
	eab_req=false eab_keys=
	if [ -n "${PEBBLE_EAB-}" ]; then
		[[ $PEBBLE_EAB =~ ^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$ ]] ||
		    _pb_err "PEBBLE_EAB: '$PEBBLE_EAB' is not KID:HMAC" \
		    "(base64url)" || return
		eab_req=true
		eab_keys="\"${PEBBLE_EAB%%:*}\": \"${PEBBLE_EAB#*:}\""
	fi
	case ${PEBBLE_CERT_VALIDITY:-1} in *[!0-9]*)
		_pb_err "PEBBLE_CERT_VALIDITY: '$PEBBLE_CERT_VALIDITY' is not" \
		    "a number of seconds"
		return ;;
	esac
	_pb_addr_ok "$addr" || return
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) ||
	    _pb_err "cannot create $dir" || return
	pebble_stop "$dir" || return
	pebble_certs "$dir" "$addr" || return
	mkdir -p "$_pb_lockdir" || _pb_err "cannot create $_pb_lockdir" ||
	    return
	# The lock keeps two pebble_starts from taking the same free
	# offset; it is held until both listen.
	(
		flock -w 60 9 || _pb_err "timed out on $_pb_lockdir/pebble.lock" ||
		    exit
		if [ -z "$off" ]; then
			for ((o = 0; o < 100; o++)); do
				_pb_ports_free "$o" && break
			done
			[ "$o" -lt 100 ] ||
			    _pb_err "no free offset: ports 14000-15599 taken" ||
			    exit
			off=$o
		else
			_pb_ports_free "$off" ||
			    _pb_err "a port of offset $off is taken: one of" \
			    "$((14000 + off)) $((14500 + off))/udp+tcp" \
			    "$((15000 + off)) $((15500 + off))" || exit
		fi
		echo "$addr $off" >"$dir/pebble.env" &&
		    cat >"$dir/pebble-config.json" <<-EOF ||
		{
		  "pebble": {
		    "listenAddress": "$addr:$((14000 + off))",
		    "managementListenAddress": "127.0.0.1:$((15000 + off))",
		    "certificate": "$dir/pebble.pem",
		    "privateKey": "$dir/pebble.key",
		    "httpPort": 80,
		    "tlsPort": 443,
		    "ocspResponderURL": "",
		    "externalAccountBindingRequired": $eab_req,
		    "externalAccountMACKeys": {$eab_keys},
		    "certificateValidityPeriod": ${PEBBLE_CERT_VALIDITY:-7776000},
		    "domainBlocklist": ["blocked.test"]
		  }
		}
		EOF
		    _pb_err "cannot write the config in $dir" || exit
		_pb_vars "$dir" && _pb_challtestsrv_start && _pb_pebble_start
	) 9>"$_pb_lockdir/pebble.lock" || { pebble_stop "$dir"; return 1; }
	_pb_vars "$dir"
}

# pebble_restart: pebble (not challtestsrv: the DNS records stay) stopped
# and started again, as a CA that lost its state: every account and
# order is gone and the issuing root is new (PEBBLE_ROOT refreshed).
pebble_restart() {
	local pid

	[ -n "${PEBBLE_DIR-}" ] || _pb_err "pebble_restart: no pebble_start" ||
	    return
	pid=$(_pb_strays pebble "$PEBBLE_DIR/pebble-config.json")
	# shellcheck disable=SC2086 # a list of pids
	_pb_kill $pid || return
	rm -f "$PEBBLE_DIR/pebble.pid"
	_pb_pebble_start
}

# pebble_stop [DIR]: the pebble and challtestsrv that pebble_start started
# in DIR (default: PEBBLE_DIR) stopped, by their pid files.  Fine when
# nothing runs.
pebble_stop() {
	local dir=${1-${PEBBLE_DIR-}} pids mgmt

	[ -n "$dir" ] || _pb_err "usage: pebble_stop [DIR]" || return
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd) || _pb_err "cannot enter $dir" || return
	pids="$(_pb_ours "$dir/pebble.pid" pebble "$dir/pebble-config.json")
	    $(_pb_strays pebble "$dir/pebble-config.json")"
	# challtestsrv's command line names no file of ours: its
	# management address (from pebble.env) and working directory do.
	if [ -s "$dir/pebble.env" ]; then
		read -r _ mgmt <"$dir/pebble.env"
		mgmt=127.0.0.1:$((15500 + mgmt))
		pids="$pids $(_pb_ours "$dir/challtestsrv.pid" \
		    pebble-challtestsrv "$mgmt" "$dir")"
	fi
	# shellcheck disable=SC2086 # a list of pids
	_pb_kill $pids || return
	rm -f "$dir/pebble.pid" "$dir/challtestsrv.pid"
}

# _pb_mgmt PATH JSON: POST JSON to challtestsrv's management API.
_pb_mgmt() {
	local code

	[ -n "${PEBBLE_DNS_MGMT-}" ] ||
	    _pb_err "no pebble_start (PEBBLE_DNS_MGMT unset)" || return
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST \
	    -H 'Content-Type: application/json' -d "$2" \
	    "$PEBBLE_DNS_MGMT$1") || code="curl failed"
	[ "$code" = 200 ] ||
	    _pb_err "challtestsrv $1 $2: $code"
}

# _pb_name NAME: a DNS name we are willing to put in JSON.
_pb_name() {
	case $1 in
	'' | *[!A-Za-z0-9.-]*) _pb_err "bad DNS name '$1'" ;;
	esac
}

# _pb_local ADDR: ADDR is a test host's, 10.77.N.2 of a host that is up
# (routed through its veth, tugvN).  Pebble's VA connects to port 80 of
# whatever a name resolves to: the root namespace's default route leads
# off the machine, and its own port 80 (loopback or a 10.77.N.1) may be a
# real site's.
_pb_local() {
	local route

	case $1 in
	10.77.[0-9]*.[0-9]*) ;;
	*) _pb_err "'$1' is not a test host address (10.77.N.2)"; return ;;
	esac
	route=$(ip -4 -o route get "$1" 2>/dev/null | head -n 1)
	route=${route%%\\*}	# -o ends the line with "\    cache"
	case " $route " in
	*" via "* | " local "*) ;;
	*" dev tugv"[0-9]*) return 0 ;;
	esac
	_pb_err "'$1' is not reached through a test host's veth (is it up?):" \
	    "${route:-no route}"
}

# pebble_dns_add NAME ADDR: challtestsrv answers A queries for NAME with
# ADDR (a test host's 10.77.N.2), and AAAA ones with nothing.
pebble_dns_add() {
	[ $# -eq 2 ] || _pb_err "usage: pebble_dns_add NAME ADDR" || return
	_pb_name "$1" || return
	_pb_local "$2" || return
	_pb_mgmt /add-a "{\"host\":\"${1%.}.\",\"addresses\":[\"$2\"]}"
}

# pebble_dns_del NAME: NAME resolves no more.
pebble_dns_del() {
	[ $# -eq 1 ] || _pb_err "usage: pebble_dns_del NAME" || return
	_pb_name "$1" || return
	_pb_mgmt /clear-a "{\"host\":\"${1%.}.\"}"
}

# pebble_root [FILE]: the root that signs what Pebble issues, fetched from
# its management port into FILE (default PEBBLE_ROOT).  Pebble makes a new
# one at every start.
pebble_root() {
	local file=${1-${PEBBLE_ROOT-}}

	[ -n "${PEBBLE_MGMT-}" ] && [ -n "$file" ] ||
	    _pb_err "pebble_root: no pebble_start" || return
	curl -sS -f -m 5 --cacert "$PEBBLE_CA" -o "$file.tmp" \
	    "$PEBBLE_MGMT/roots/0" ||
	    _pb_err "cannot fetch $PEBBLE_MGMT/roots/0" || return
	grep -q -- '-----BEGIN CERTIFICATE-----' "$file.tmp" ||
	    _pb_err "$PEBBLE_MGMT/roots/0 is not a PEM certificate" || return
	mv -f "$file.tmp" "$file"
}
