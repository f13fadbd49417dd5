# netns.sh - test hosts: one network namespace per host, each with its own
# address, sshd, dockerd and SSH user, so that tugd reaches N real-looking
# hosts over SSH on one machine.
#
# Source this file after tests/bed.sh (needs bash and root); it only defines
# functions.  Like bed.sh, every function is idempotent and tolerates
# leftovers from earlier runs, says why on stderr and returns non-zero on
# failure, prints nothing on success and never exits the caller's shell.
#
#	ns_host_up N PUBKEYFILE		host N up: netns, user, dockerd, sshd
#	ns_host_down N...		hosts down (in parallel)
#	ns_sshd_stop N			stop host N's sshd and its connections
#	ns_sshd_start N			start it again, same host key
#	ns_regen_hostkey N		new host key, sshd restarted
#	ns_addr N			print host N's address
#	ns_docker N ARGS...		docker against host N's engine
#	ns_purge N [LABEL...]		what the tests' controller (and LABEL) made, removed
#	ns_ssh N KEY CMD...		run CMD on host N over ssh
#	ns_sysnginx_conf DIR		a host-style nginx.conf in DIR
#	ns_sysnginx_start N DIR		that nginx as root in host N on 80
#	ns_sysnginx_stop DIR		stopped by its pid file
#	ns_sudo_boot N / ns_sudo_unboot N	sudo for all, for bootstrap
#	ns_test_host N [IMAGE...]	a test's own host N (uses lib.sh)
#	ns_test_add N [BOOTSTRAP-ARG...]	tug host add hN, then bootstrap
#	ns_site_ctrs N SITE [ARGS]	ids of SITE's containers on N, the tests' own
#
# Host N (1..19) is:
#	netns tugh$N, veth tugv$N (10.77.N.1, root side) / eth0 (10.77.N.2)
#	user tughost$N (bed_user), home /home/tughost$N
#	dockerd in the netns, socket /run/tug-test/h$N/docker.sock (group
#	    docker), data root /var/lib/tug-test/h$N/docker, log
#	    /run/tug-test/h$N/dockerd.log; its containerd is its own
#	sshd (bed_sshd) in the netns on 10.77.N.2:22 (and the netns' own
#	    127.0.0.1:22), files in /run/tug-test/h$N/sshd, with
#	    SetEnv DOCKER_HOST naming that host's engine
#
# The data root survives ns_host_down, so images loaded into a host's
# engine (docker save tug-test/app:1 | ns_docker N load) are still there
# after the next ns_host_up; so are its containers, stopped.
#
# dockerd must be started with nsenter --net: `ip netns exec` also
# remounts /sys in a new mount namespace, hiding the cgroup mounts, and
# dockerd exits with "Devices cgroup isn't mounted".  sshd does not care,
# but is started the same way.

_ns_run=/run/tug-test
_ns_lib=/var/lib/tug-test
_ns_netns=/run/netns

# _ns_n FUNC N: N must be a host number, 1..19.
_ns_n() {
	case ${2-} in
	[1-9] | 1[0-9]) return 0 ;;
	esac
	_bed_err "$1: bad host number '${2-}' (1..19)"
}

# _ns_in PID N: succeed if PID lives in host N's network namespace.
_ns_in() {
	local ino

	ino=$(stat -L -c %i "$_ns_netns/tugh$2" 2>/dev/null) || return 1
	[ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "net:[$ino]" ]
}

# _ns_kill SECS PID...: TERM every PID, wait up to SECS seconds for all of
# them, then KILL whoever is left.  Zombies count as gone (_bed_running).
_ns_kill() {
	local secs=$1 pid left i

	shift
	[ $# -gt 0 ] || return 0
	kill "$@" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		left=
		for pid; do
			_bed_running "$pid" && left="$left $pid"
		done
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086 # $left is a list of pids
	kill -9 $left 2>/dev/null
	for ((i = 0; i < 20; i++)); do
		left=
		for pid; do
			_bed_running "$pid" && left="$left $pid"
		done
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	_bed_err "pids$left will not die"
}

# _ns_alive PIDFILE NAME WORD...: print the pid in PIDFILE if it runs, is
# called NAME and has WORD... in a row in its command line: _bed_alive,
# but sure the pid is ours (a stale file could name the root namespace's
# dockerd), and fit for pid files without a final newline, as dockerd and
# containerd write them (`read` fails on those: _bed_alive never finds a
# dockerd).
_ns_alive() {
	local pid

	pid=$(cat "$1" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	shift
	_ns_is "$pid" "$@" || return 1
	echo "$pid"
}

# _ns_is PID NAME WORD...: is PID running, called NAME, with WORD... in a
# row in its command line?  sshd retitles itself ("sshd: /usr/sbin/sshd
# -D -f CONF ... [listener] ..."), so arguments are matched as words of
# one string.
_ns_is() {
	local pid=$1 name=$2 comm args

	shift 2
	read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
	[ "$comm" = "$name" ] || return 1
	args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	case " $args" in *" $* "*) ;; *) return 1 ;; esac
	_bed_running "$pid"
}

# _ns_strays NAME WORD...: pids of every process _ns_is finds to be NAME
# with WORD...: ours, by the unique paths we gave them, in case a pid file
# was lost or a process outlived its namespace.
_ns_strays() {
	local p

	for p in /proc/[0-9]*; do
		_ns_is "${p#/proc/}" "$@" && echo "${p#/proc/}"
	done
}

# _ns_tcp_ok ADDR PORT: does something accept connections there?  Bounded
# by timeout: a SYN into a half-made network could hang for minutes.
_ns_tcp_ok() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout 2 "$BASH" -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" \
	    2>/dev/null
}

# ns_addr N: host N's address.
ns_addr() {
	_ns_n ns_addr "${1-}" || return
	echo "10.77.$1.2"
}

# ns_docker N ARGS...: run docker against host N's engine.
ns_docker() {
	_ns_n ns_docker "${1-}" || return
	local n=$1

	shift
	"$DOCKER" -H "unix://$_ns_run/h$n/docker.sock" "$@"
}

# ns_ssh N KEY CMD...: run CMD as tughost$N on host N with KEY only,
# ignoring known_hosts and ~/.ssh/config, like bed_ssh.
ns_ssh() {
	[ $# -ge 3 ] || _bed_err "usage: ns_ssh N KEY CMD..." || return
	_ns_n ns_ssh "$1" || return
	local n=$1 key=$2

	shift 2
	ssh -F /dev/null -i "$key" \
	    -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o LogLevel=ERROR "tughost$n@10.77.$n.2" -- "$@"
}

# _ns_veth_ok N: is tugv$N in the root namespace the peer of eth0 in
# tugh$N?  `ip -o link` prints "IDX: NAME@ifPEERIDX: ... link-netns NS".
_ns_veth_ok() {
	local n=$1 out in

	out=$(ip -o link show dev "tugv$n" 2>/dev/null) || return 1
	in=$(ip -n "tugh$n" -o link show dev eth0 2>/dev/null) || return 1
	case $out in *" link-netns tugh$n"*) ;; *) return 1 ;; esac
	[ "${out%%:*}" = "$(_ns_peer "$in")" ] &&
	    [ "${in%%:*}" = "$(_ns_peer "$out")" ]
}

# _ns_peer LINE: the peer's index in a line of `ip -o link`.
_ns_peer() {
	local p=${1#*@if}

	[ "$p" != "$1" ] && echo "${p%%:*}"
}

# _ns_net N: netns tugh$N with eth0 10.77.N.2/24 (default route via the
# root side), veth tugv$N 10.77.N.1/24 in the root namespace, all up.
_ns_net() {
	local n=$1 ns=tugh$1 v=tugv$1

	# A name left without a namespace mounted on it (a crash between
	# ip's mkdir and mount) makes ip netns add fail: clear it.
	if [ -e "$_ns_netns/$ns" ] &&
	    [ "$(stat -f -c %T "$_ns_netns/$ns")" != nsfs ]; then
		ip netns del "$ns" 2>/dev/null
		rm -f "$_ns_netns/$ns"
	fi
	if ! [ -e "$_ns_netns/$ns" ]; then
		ip netns add "$ns" ||
		    _bed_err "ns_host_up $n: cannot add netns $ns" || return
	fi
	if ! _ns_veth_ok "$n"; then
		# Either end alone, or tugv$N paired with an eth0 in an
		# older namespace that some process still holds: remake.
		ip link del "$v" 2>/dev/null
		ip -n "$ns" link del eth0 2>/dev/null
		ip link add "$v" type veth peer name eth0 netns "$ns" ||
		    _bed_err "ns_host_up $n: cannot add veth $v" || return
	fi
	{
		ip addr replace "10.77.$n.1/24" dev "$v" &&
		    ip link set "$v" up &&
		    ip -n "$ns" link set lo up &&
		    ip -n "$ns" addr replace "10.77.$n.2/24" dev eth0 &&
		    ip -n "$ns" link set eth0 up &&
		    ip -n "$ns" route replace default via "10.77.$n.1"
	} || _bed_err "ns_host_up $n: cannot configure $v / $ns eth0"
}

# _ns_dockerd_args N: dockerd's command line for host N, one word a line,
# exactly as /proc/PID/cmdline shows it once started.
_ns_dockerd_args() {
	local h=$_ns_run/h$1

	printf '%s\n' dockerd \
	    --config-file "$_ns_lib/h$1/daemon.json" \
	    --data-root "$_ns_lib/h$1/docker" \
	    --exec-root "$h/exec" \
	    -H "unix://$h/docker.sock" \
	    --group docker \
	    --pidfile "$h/dockerd.pid" \
	    --containerd-namespace "tugh$1" \
	    --containerd-plugins-namespace "tugh$1-plugins"
}

# _ns_docker_ok N: is host N's engine answering?
_ns_docker_ok() {
	ns_docker "$1" info >/dev/null 2>&1
}

# _ns_dockerd_stop N: stop host N's dockerd, and the containerd it
# supervises should that outlive it (dockerd takes it along, even when
# killed).  dockerd stops running containers first: up to 10 s for one
# that ignores SIGTERM, all in parallel.
_ns_dockerd_stop() {
	local h=$_ns_run/h$1 pids d=$_ns_lib/h$1/docker
	local c=$_ns_run/h$1/exec/containerd/containerd.toml

	# Its pid file names it; so does its --data-root, should the pid
	# file have been lost.
	pids="$(_ns_alive "$h/dockerd.pid" dockerd --data-root "$d")
	    $(_ns_strays dockerd --data-root "$d")"
	# shellcheck disable=SC2086 # a list of pids
	_ns_kill 60 $pids || return
	rm -f "$h/dockerd.pid"
	pids="$(_ns_alive "$h/exec/containerd/containerd.pid" containerd \
	    --config "$c")
	    $(_ns_strays containerd --config "$c")"
	# shellcheck disable=SC2086 # a list of pids
	_ns_kill 10 $pids || return
	rm -f "$h/exec/containerd/containerd.pid"
}

# _ns_dockerd N: host N's own dockerd, running in its netns with the
# command line above; a dockerd from an older namespace or with other
# arguments is replaced.
_ns_dockerd() {
	local n=$1 h=$_ns_run/h$1 conf=$_ns_lib/h$1/daemon.json
	local pid i want args=()

	want=$(_ns_dockerd_args "$n")
	if pid=$(_ns_alive "$h/dockerd.pid" dockerd \
	    --data-root "$_ns_lib/h$n/docker"); then
		if _ns_in "$pid" "$n" &&
		    [ "$(tr '\0' '\n' <"/proc/$pid/cmdline")" = "$want" ]; then
			# Running, or still starting: give it the usual time.
			for ((i = 0; i < 600; i++)); do
				_ns_docker_ok "$n" && return 0
				_bed_running "$pid" || break
				sleep 0.1
			done
		fi
	fi
	# Stop whatever is there: a dockerd from an older namespace, with
	# other arguments, wedged, or lost by its pid file (a second one on
	# the same data root waits 15 s for containerd, then fails, while
	# the first answers on the socket); and any containerd that
	# outlived its dockerd, which the new one would adopt as it is.
	_ns_dockerd_stop "$n" || return

	# Its own config file: dockerd then never reads
	# /etc/docker/daemon.json, and its own trust key gives it an engine
	# ID of its own (the default /etc/docker/key.json is shared).
	printf '{"deprecated-key-path": "%s"}\n' "$_ns_lib/h$n/key.json" \
	    >"$conf" || _bed_err "ns_host_up $n: cannot write $conf" || return

	mapfile -t args <<<"$want"
	echo "--- $(date -u '+%F %T') ns_host_up $n" >>"$h/dockerd.log"
	# As in _bed_dockerd_start: no job control here (we run in
	# ns_host_up's subshell), so setsid does not fork, nohup and nsenter
	# exec, and $! is dockerd itself.  Close the lock for the daemon.
	setsid nohup nsenter --net="$_ns_netns/tugh$n" "${args[@]}" \
	    </dev/null >>"$h/dockerd.log" 2>&1 9>&- &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		_ns_docker_ok "$n" && return 0
		_bed_running "$pid" || break
		sleep 0.1
	done
	if _bed_running "$pid"; then
		_bed_err "ns_host_up $n: dockerd (pid $pid) not answering" \
		    "after 60 s; $h/dockerd.log:"
	else
		_bed_err "ns_host_up $n: dockerd exited; $h/dockerd.log:"
	fi
	tail -n 30 "$h/dockerd.log" >&2
	return 1
}

# _ns_sshd_args N: bed_sshd's arguments for host N, one a line.
_ns_sshd_args() {
	printf '%s\n' "$_ns_run/h$1/sshd" 22 "tughost$1" \
	    "$_ns_run/h$1/authorized_keys" \
	    "ListenAddress 10.77.$1.2:22" \
	    "SetEnv DOCKER_HOST=unix://$_ns_run/h$1/docker.sock"
}

# _ns_sshd_listeners N: host N's listening sshd, by its pid file, and any
# other started from its config.
_ns_sshd_listeners() {
	local conf=$_ns_run/h$1/sshd/sshd_config

	{
		_ns_alive "$_ns_run/h$1/sshd/sshd.pid" sshd -f "$conf"
		_ns_strays sshd -f "$conf"
	} | sort -u
}

# _ns_sshd N [restart]: host N's sshd, running in its netns from the
# arguments above and answering on 10.77.N.2:22 from the root namespace.
# With "restart", or when any of that does not hold, (re)start it with
# bed_sshd run inside the netns: the same config and host key handling,
# plus a ListenAddress on eth0 (bed_sshd's own 127.0.0.1:22 is the
# netns' loopback, harmless).
_ns_sshd() {
	local n=$1 h=$_ns_run/h$1 home pid i want args=()
	local conf=$_ns_run/h$1/sshd/sshd_config

	want=$(_ns_sshd_args "$n")
	home=$(getent passwd "tughost$n" | cut -d: -f6)
	if [ "${2-}" != restart ] &&
	    pid=$(_ns_alive "$h/sshd/sshd.pid" sshd -f "$conf") &&
	    _ns_in "$pid" "$n" &&
	    [ "$(cat "$h/sshd.args" 2>/dev/null)" = "$want" ] &&
	    cmp -s "$h/authorized_keys" "$home/.ssh/authorized_keys" &&
	    _ns_tcp_ok "10.77.$n.2" 22; then
		return 0
	fi

	rm -f "$h/sshd.args"
	# bed_sshd restarts the sshd its pid file names; one whose pid file
	# was lost would keep the port.  Connections stay up.
	# shellcheck disable=SC2046 # a list of pids
	_ns_kill 5 $(_ns_sshd_listeners "$n") || return
	mapfile -t args <<<"$want"
	# bed_sshd, as this shell defines it, in a shell in the netns.
	# shellcheck disable=SC2016 # "$@" is the inner shell's
	nsenter --net="$_ns_netns/tugh$n" "$BASH" -c \
	    "$(declare -f _bed_err _bed_running _bed_alive _bed_kill bed_sshd)
	    bed_sshd \"\$@\"" bed_sshd "${args[@]}" 9>&- ||
	    _bed_err "ns_host_up $n: sshd did not start" || return
	for ((i = 0; i < 100; i++)); do
		if _ns_tcp_ok "10.77.$n.2" 22; then
			printf '%s\n' "$want" >"$h/sshd.args"
			return 0
		fi
		sleep 0.05
	done
	_bed_err "ns_host_up $n: sshd runs but 10.77.$n.2:22 does not" \
	    "answer from the root namespace"
}

# _ns_lock N CMD...: run CMD with host N's lock held, in a subshell.
# Concurrent ns_* calls on one host take turns.
_ns_lock() {
	local n=$1

	shift
	mkdir -p "$_ns_run" && chmod 755 "$_ns_run" ||
	    _bed_err "cannot create $_ns_run" || return
	(
		flock -w 120 9 || _bed_err "timed out on h$n.lock" || exit
		"$@"
	) 9>"$_ns_run/h$n.lock"
}

# ns_host_up N PUBKEYFILE: host N, up and answering: its netns and veth,
# user tughost$N, dockerd and sshd letting tughost$N in with the key in
# PUBKEYFILE.  Whatever already stands and fits is kept.
ns_host_up() {
	[ $# -eq 2 ] || _bed_err "usage: ns_host_up N PUBKEYFILE" || return
	_ns_n ns_host_up "$1" || return
	[ -s "$2" ] || _bed_err "ns_host_up $1: no public key in $2" || return
	_ns_lock "$1" _ns_host_up "$@"
}

_ns_host_up() {
	local n=$1 pub=$2 h=$_ns_run/h$1

	# The socket's directory must let tughost$N through.
	{
		mkdir -p "$h" "$_ns_lib/h$n" && chmod 755 "$h"
	} || _bed_err "ns_host_up $n: cannot create $h" || return
	_ns_net "$n" || return
	bed_user "tughost$n" || return
	_ns_dockerd "$n" || return
	# Our own copy of the key, for ns_sshd_start.
	if ! cmp -s "$pub" "$h/authorized_keys"; then
		install -m 644 "$pub" "$h/authorized_keys" ||
		    _bed_err "ns_host_up $n: cannot copy $pub" || return
	fi
	_ns_sshd "$n"
}

# ns_host_down N...: each host N down: its sshd (with its connections) and
# dockerd stopped by their pid files, anything else still in its netns
# (containerd shims, docker-proxy, sessions' commands) killed, leftover
# mounts undone, netns and veth deleted.  The data root (images,
# containers) and the sshd host key stay.
ns_host_down() {
	local n pid pids=() rc=0

	[ $# -gt 0 ] || _bed_err "usage: ns_host_down N..." || return
	for n; do
		_ns_n ns_host_down "$n" || return
	done
	# In parallel: each dockerd takes a second or more to stop.
	for n; do
		_ns_lock "$n" _ns_host_down "$n" &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || rc=1
	done
	return "$rc"
}

_ns_host_down() {
	local n=$1 pids=() pid

	_ns_sshd_stop "$n" || return
	_ns_dockerd_stop "$n" || return
	if [ -e "$_ns_netns/tugh$n" ]; then
		# Whatever is left in our own namespace: containerd shims,
		# docker-proxy, commands of dropped SSH sessions.  Never
		# this shell.
		for pid in $(ip netns pids "tugh$n" 2>/dev/null); do
			[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] ||
			    pids+=("$pid")
		done
		_ns_kill 5 "${pids[@]}" || return
	fi
	_ns_umount "$n"
	# Deleting one end of a veth deletes both.
	ip link del "tugv$n" 2>/dev/null
	if [ -e "$_ns_netns/tugh$n" ]; then
		ip netns del "tugh$n" ||
		    _bed_err "ns_host_down $n: cannot delete netns tugh$n" ||
		    return
	fi
	rm -f "$_ns_run/h$n/sshd.args"
}

# _ns_umount N: with host N's daemons gone, unmount whatever they left
# mounted under its directories, deepest first: dockerd makes its data
# root a shared bind mount of itself and removes it on a clean shutdown
# only; a killed one also leaves overlays and container netns files.
_ns_umount() {
	local m

	awk -v a="$_ns_lib/h$1/" -v b="$_ns_run/h$1/" '
		index($2 "/", a) == 1 || index($2 "/", b) == 1 { print $2 }
	' /proc/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

# _ns_sshd_stop N: stop host N's sshd and every sshd below it, so that
# open connections drop as they would with the host: the commands they
# ran see their channel close.  (bed_sshd_stop alone leaves them up.)
_ns_sshd_stop() {
	local dir=$_ns_run/h$1/sshd tops kids

	tops=$(_ns_sshd_listeners "$1")
	[ -n "$tops" ] || { rm -f "$dir/sshd.pid"; return 0; }
	# Their descendants named sshd: per-connection monitors and their
	# unprivileged children.
	kids=$(ps -e -o pid=,ppid=,comm= | awk -v tops="$tops" '
		BEGIN { split(tops, t); for (i in t) top[t[i]] = 1 }
		{ up[$1] = $2; name[$1] = $3 }
		END {
			for (p in up) {
				if (name[p] != "sshd" || p in top) continue
				for (q = up[p]; q > 1; q = up[q])
					if (q in top) { print p; break }
			}
		}')
	# shellcheck disable=SC2086 # lists of pids
	_ns_kill 5 $tops $kids || return
	rm -f "$dir/sshd.pid"
}

# ns_sshd_stop N: host N stops answering SSH (connections drop); its
# dockerd and netns stay.
ns_sshd_stop() {
	_ns_n ns_sshd_stop "${1-}" || return
	_ns_lock "$1" _ns_sshd_stop "$1"
}

# ns_sshd_start N: host N's sshd back, with the same host key and the key
# ns_host_up was given.
ns_sshd_start() {
	_ns_n ns_sshd_start "${1-}" || return
	_ns_lock "$1" _ns_sshd_start "$1"
}

_ns_sshd_start() {
	_ns_up_enough "$1" ns_sshd_start || return
	_ns_sshd "$1"
}

# _ns_up_enough N FUNC: has ns_host_up made host N (its sshd aside)?
_ns_up_enough() {
	if ! [ -e "$_ns_netns/tugh$1" ] ||
	    ! [ -s "$_ns_run/h$1/authorized_keys" ]; then
		_bed_err "$2 $1: host $1 is not up (ns_host_up first)"
	fi
}

# ns_regen_hostkey N: a new host key for host N, sshd restarted with it.
# Open connections stay, as on a real host.
ns_regen_hostkey() {
	_ns_n ns_regen_hostkey "${1-}" || return
	_ns_lock "$1" _ns_regen_hostkey "$1"
}

_ns_regen_hostkey() {
	local key=$_ns_run/h$1/sshd/ssh_host_ed25519_key

	_ns_up_enough "$1" ns_regen_hostkey || return
	# bed_sshd makes a key when there is none.
	rm -f "$key" "$key.pub"
	_ns_sshd "$1" restart
}

# ns_purge N [LABEL...]: the containers, networks and volumes on host N's
# engine that this test run made: those of the tests' controller
# (tug.controller=$TUG_CONTROLLER_ID) and those carrying a LABEL of the
# test's own. Nothing else is touched.
ns_purge() {
	local n=$1 l c

	shift
	for l in "tug.controller=${TUG_CONTROLLER_ID:?}" "$@"; do
		for c in $(ns_docker $n ps -aq --filter "label=$l"); do
			ns_docker $n rm -f $c >/dev/null
		done
	done
	for l in "tug.controller=$TUG_CONTROLLER_ID" "$@"; do
		for c in $(ns_docker $n network ls -q --filter "label=$l"); do
			ns_docker $n network rm $c >/dev/null
		done
		for c in $(ns_docker $n volume ls -q --filter "label=$l"); do
			ns_docker $n volume rm -f $c >/dev/null
		done
	done
}

# ns_agent_reset N: host N's SSH user back to a clean slate for a test: the
# nginx an earlier agent started there stopped (by its pid file), the agent
# binaries and state removed.
ns_agent_reset() {
	local n=$1 home pid

	home=/home/tughost$n
	if [ -s "$home/.tug-agent/nginx/logs/nginx.pid" ]; then
		pid=$(cat "$home/.tug-agent/nginx/logs/nginx.pid")
		case $pid in '' | *[!0-9]*) ;; *)
			kill "$pid" 2>/dev/null
			for _ in $(seq 50); do
				_bed_running "$pid" || break
				sleep 0.05
			done ;;
		esac
	fi
	rm -rf "$home/.tug" "$home/.tug-agent"
}

# A host's "own" nginx for system mode (DESIGN §7: the namespaces share
# /etc, so each host's config, pid and logs live in a directory of its
# own): ns_sysnginx_conf DIR writes DIR/nginx.conf the way Debian's
# includes DIR/conf.d/*.conf inside http {}, with a default server and a
# site of the host's own (own.host.test); ns_sysnginx_start N DIR runs it
# as root in host N's netns on port 80; ns_sysnginx_stop DIR stops it by
# its pid file. DIR must be one the host's SSH user can traverse.
ns_sysnginx_conf() {
	mkdir -p "$1/conf.d" "$1/tmp" "$1/logs" &&
	cat >"$1/nginx.conf" <<EOC
pid $1/nginx.pid;
error_log $1/logs/error.log notice;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	include $1/conf.d/*.conf;
	server { listen 80 default_server; server_name _; return 404; }
	server { listen 80; server_name own.host.test; return 200 "the host's own site\n"; }
}
EOC
}

ns_sysnginx_start() {
	nsenter --net="$_ns_netns/tugh$1" nginx -c "$2/nginx.conf" ||
		_bed_err "ns_sysnginx_start $1: nginx -c $2/nginx.conf failed"
}

ns_sysnginx_stop() {
	local pid

	pid=$(cat "$1/nginx.pid" 2>/dev/null) || return 0
	grep -q '^nginx$' "/proc/$pid/comm" 2>/dev/null || return 0
	kill -QUIT "$pid"
	for _ in $(seq 50); do
		[ -e "/proc/$pid" ] || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# ns_sudo_boot N: passwordless sudo for everything for tughost$N, the one
# time system-mode bootstrap (or purge) needs root; ns_sudo_unboot N takes
# it away again. A file of the tests' own name in /etc/sudoers.d.
ns_sudo_boot() {
	local f=/etc/sudoers.d/tugtest-boot-tughost$1

	printf 'tughost%s ALL=(root) NOPASSWD: ALL\n' "$1" >"$f.new" &&
	chmod 440 "$f.new" && visudo -c -q -f "$f.new" && mv "$f.new" "$f" ||
		_bed_err "ns_sudo_boot $1: cannot install $f"
}

ns_sudo_unboot() {
	rm -f "/etc/sudoers.d/tugtest-boot-tughost$1" \
	    "/etc/sudoers.d/tugtest-boot-tughost$1.new"
}

# A host's "own" Caddy for system mode (DESIGN §7: the namespaces share
# /etc and /var/lib, so its HOME, XDG dirs and admin socket are of its
# own): ns_syscaddy_start N DIR SOCKDIR runs /usr/bin/caddy in host N's
# netns as the user caddy, with the supplementary group tug, umask 0007
# and CAP_NET_BIND_SERVICE as an ambient capability (setpriv; Debian's
# unit has AmbientCapabilities), HOME and XDG dirs in DIR/home, exactly as
# `tug-agent system-setup caddy` asks a host without systemd to: `caddy
# run --resume --config SOCKDIR/initial.json --pidfile SOCKDIR/caddy.pid`,
# and waits until its admin socket answers. Its pid is kept in
# DIR/caddy.pid too (SOCKDIR goes at system-undo); ns_syscaddy_stop DIR
# stops it by that pid, checked against its command line.
ns_syscaddy_start() {
	local n=$1 dir=$2 sd=$3 i

	_ns_n ns_syscaddy_start "$n" || return
	mkdir -p "$dir/home" && chown caddy:caddy "$dir/home" &&
	    chmod 700 "$dir/home" ||
		_bed_err "ns_syscaddy_start $n: cannot make $dir/home" || return
	(
		umask 0007
		exec nsenter --net="$_ns_netns/tugh$n" setpriv --reuid caddy \
		    --regid caddy --groups tug --inh-caps +net_bind_service \
		    --ambient-caps +net_bind_service -- env -i \
		    HOME="$dir/home" XDG_CONFIG_HOME="$dir/home/config" \
		    XDG_DATA_HOME="$dir/home/data" PATH=/usr/bin:/bin \
		    /usr/bin/caddy run --resume --config "$sd/initial.json" \
		    --pidfile "$sd/caddy.pid"
	) </dev/null >>"$dir/caddy.out" 2>&1 &
	echo $! >"$dir/caddy.pid"
	for ((i = 0; i < 100; i++)); do
		curl -s -m 1 --unix-socket "$sd/admin.sock" -o /dev/null \
		    http://localhost/config/ && return 0
		_bed_running "$(cat "$dir/caddy.pid")" || break
		sleep 0.1
	done
	_bed_err "ns_syscaddy_start $n: caddy does not answer on $sd/admin.sock (see $dir/caddy.out)"
}

ns_syscaddy_stop() {
	local pid

	pid=$(cat "$1/caddy.pid" 2>/dev/null) || return 0
	_ns_is "$pid" caddy run --resume || return 0
	kill "$pid"
	for _ in $(seq 50); do
		_bed_running "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# ns_test_host N [IMAGE...]: at the top level of a tests/t file (it calls
# lib.sh's at_exit): this test's tugd made (tug init, its key in
# $T/tugd.pub), host N up and letting that key in, the agent's state and
# what an earlier run left in N's engine cleared, and the same done again
# when the test ends; IMAGEs (tug-test/app:1 if none) loaded into N's
# engine from this machine's.
ns_test_host() {
	local n=$1

	shift
	"$TUG" init >/dev/null && "$TUG" key >"$T/tugd.pub" ||
	    _bed_err "ns_test_host $n: tug init or tug key failed" || return
	ns_host_up "$n" "$T/tugd.pub" || return
	ns_agent_reset "$n"
	ns_purge "$n"
	at_exit "ns_purge $n; ns_agent_reset $n; ns_host_down $n"
	[ $# -gt 0 ] || set -- tug-test/app:1
	$DOCKER save "$@" | ns_docker "$n" load >/dev/null ||
	    _bed_err "ns_test_host $n: cannot load $* into its engine"
}

# ns_test_add N [BOOTSTRAP-ARG...]: host N known to this test's tugd as
# hN (its host key taken on first sight), then bootstrapped with the args.
ns_test_add() {
	local n=$1

	shift
	"$TUG" -q host add "h$n" "tughost$n@$(ns_addr "$n")" \
	    --accept-new-hostkey >/dev/null ||
	    _bed_err "ns_test_add $n: tug host add failed" || return
	"$TUG" -q host bootstrap "h$n" "$@" >/dev/null ||
	    _bed_err "ns_test_add $n: tug host bootstrap $* failed"
}

# ns_site_ctrs N SITE [PS-ARG...]: the ids of SITE's containers in host N's
# engine (docker ps ARGS, -a for stopped ones too) that the tests'
# controller made: only those may a test stop or remove behind tug's back.
ns_site_ctrs() {
	local n=$1 site=$2

	shift 2
	ns_docker "$n" ps -q "$@" --filter "label=tug.site=$site" \
	    --filter "label=tug.controller=$TUG_CONTROLLER_ID"
}
