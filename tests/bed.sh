# bed.sh - test bed: the real daemons tug's tests run against.
#
# Source this file from a test script (needs bash and root); it only defines
# functions and sets DOCKER if unset.  Every function is idempotent and
# tolerates leftovers from earlier runs: call it again and it either finds
# the thing in place or repairs it.  On failure a function says why on
# stderr and returns non-zero; nothing here exits the caller's shell.
#
#	bed_dockerd			engine on /var/run/docker.sock
#	bed_user NAME			system user in group docker
#	bed_keypair PATH		ed25519 key pair PATH, PATH.pub
#	bed_sshd DIR PORT USER PUBKEYFILE [LINE...]
#					private sshd on 127.0.0.1:PORT
#	bed_sshd_stop DIR		stop that sshd
#	bed_ssh USER PORT KEY CMD...	run CMD over ssh as USER
#	bed_images [OUTDIR]		build tug-test/app:1 and :2
#	bed_registry DIR USER PASSWORD	registry with htpasswd auth on
#					127.0.0.1; prints its port
#	bed_registry_stop DIR		stop that registry
#

DOCKER=${DOCKER:-/usr/bin/docker}

# Where this file lives, fixed now: callers may cd later.
_bed_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_bed_run=/run/tug-test

_bed_err() {
	echo "bed: $*" >&2
	return 1
}

# _bed_running PID: succeed if PID exists and is not a zombie.  Daemons
# here are orphans, and the machine's init reaps them only after a second
# or two, so kill -0 alone would wait for that.
_bed_running() {
	local stat

	case $1 in '' | *[!0-9]*) return 1 ;; esac
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	# Field 3 is the state; field 2, (comm), may hold spaces.
	stat=${stat##*) }
	case ${stat%% *} in
	Z | X) return 1 ;;
	esac
	return 0
}

# _bed_alive PIDFILE NAME: print the pid in PIDFILE if it is running and
# its command is NAME (a recycled pid belonging to something else fails).
_bed_alive() {
	local pid comm

	[ -s "$1" ] || return 1
	{ read -r pid || [ -n "$pid" ]; } 2>/dev/null <"$1" || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
	[ "$comm" = "$2" ] || return 1
	_bed_running "$pid" || return 1
	echo "$pid"
}

# _bed_kill PID: TERM it, wait up to 5 s, then KILL.
_bed_kill() {
	local i

	kill "$1" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		_bed_running "$1" || return 0
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	sleep 0.1
}

# _bed_docker_ok: is the root namespace's engine answering?
_bed_docker_ok() {
	DOCKER_HOST=unix:///var/run/docker.sock "$DOCKER" info \
	    >/dev/null 2>&1
}

# bed_dockerd: make sure a Docker engine answers on /var/run/docker.sock,
# starting dockerd (default bridge, group docker) when none does.  Its pid
# file and log are in /run/tug-test.  Concurrent callers take turns.
bed_dockerd() {
	_bed_docker_ok && return 0
	mkdir -p "$_bed_run" || _bed_err "cannot create $_bed_run" || return
	(
		flock -w 90 9 || _bed_err "timed out on dockerd.lock" || exit
		_bed_dockerd_start
	) 9>"$_bed_run/dockerd.lock"
}

_bed_dockerd_start() {
	local pidfile=$_bed_run/dockerd.pid log=$_bed_run/dockerd.log
	local pid i

	# Someone else may have started it while we waited for the lock.
	_bed_docker_ok && return 0

	getent group docker >/dev/null || groupadd -r docker ||
	    _bed_err "cannot create group docker" || return

	if pid=$(_bed_alive "$pidfile" dockerd); then
		# Still starting up, or wedged: give it the usual time.
		:
	else
		# dockerd refuses a pid file naming any live process.
		rm -f "$pidfile"
		echo "--- $(date -u '+%F %T') bed_dockerd" >>"$log"
		# Close the lock for the daemon, or it holds it for ever.
		setsid nohup dockerd --pidfile "$pidfile" \
		    </dev/null >>"$log" 2>&1 9>&- &
		pid=$!
	fi

	# We run in bed_dockerd's subshell, where the shell does no job
	# control: setsid need not fork, so $! is dockerd itself.
	for ((i = 0; i < 600; i++)); do
		_bed_docker_ok && return 0
		_bed_running "$pid" || break
		sleep 0.1
	done
	if _bed_running "$pid"; then
		_bed_err "dockerd (pid $pid) not answering after 60 s; $log:"
	else
		_bed_err "dockerd exited; $log:"
	fi
	tail -n 30 "$log" >&2
	return 1
}

# bed_user NAME: system user NAME with home /home/NAME, shell /bin/sh, in
# group docker, its password field "*" so that key logins work.
bed_user() {
	local name=${1-} group

	case $name in
	'' | -* | *[!a-z0-9_-]*)
		_bed_err "usage: bed_user NAME (lower case, digits, _ -)"
		return
		;;
	esac
	getent group docker >/dev/null || groupadd -r docker ||
	    _bed_err "cannot create group docker" || return
	if ! id -u "$name" >/dev/null 2>&1; then
		useradd -r -M -d "/home/$name" -s /bin/sh -G docker "$name" ||
		    _bed_err "cannot create user $name" || return
	fi
	# Repair whatever an earlier run left differently.  A "!" (locked)
	# password makes sshd refuse even key logins.
	usermod -d "/home/$name" -s /bin/sh -a -G docker -p '*' "$name" ||
	    _bed_err "cannot update user $name" || return
	group=$(id -gn "$name") || return
	{
		mkdir -p "/home/$name" &&
		    chown "$name:$group" "/home/$name" &&
		    chmod 755 "/home/$name"
	} || _bed_err "cannot set up /home/$name"
}

# bed_keypair PATH: an ed25519 key pair PATH and PATH.pub, no passphrase.
bed_keypair() {
	local key=${1-}

	[ -n "$key" ] || _bed_err "usage: bed_keypair PATH" || return
	if [ -s "$key" ]; then
		[ -s "$key.pub" ] && return 0
		ssh-keygen -y -f "$key" >"$key.pub" ||
		    _bed_err "cannot derive $key.pub" || return
		return 0
	fi
	{
		mkdir -p "$(dirname "$key")" &&
		    rm -f "$key.pub" &&
		    ssh-keygen -q -t ed25519 -N '' -C "tug-test" -f "$key"
	} || _bed_err "cannot make key pair $key"
}

# bed_sshd DIR PORT USER PUBKEYFILE [LINE...]: a private OpenSSH server on
# 127.0.0.1:PORT letting only USER in, with the key in PUBKEYFILE (which
# replaces USER's authorized_keys).  DIR keeps sshd_config, the host key,
# sshd.pid and sshd.log.  Each LINE (or each line of it) is appended to the
# config, e.g. "SetEnv DOCKER_HOST=unix:///x".  sshd keeps the first value
# it reads for most keywords, so LINEs add, they do not override; that goes
# for SetEnv too: put all variables on one line, "SetEnv A=1 B=2".  An sshd
# still running from DIR is restarted.
bed_sshd() {
	local dir=${1-} port=${2-} user=${3-} pub=${4-}
	local home group pid i conf

	[ $# -ge 4 ] ||
	    _bed_err "usage: bed_sshd DIR PORT USER PUBKEYFILE [LINE...]" ||
	    return
	shift 4
	case $port in '' | *[!0-9]*)
		_bed_err "bed_sshd: bad port '$port'"
		return
		;;
	esac
	[ -s "$pub" ] || _bed_err "bed_sshd: no public key in $pub" || return
	home=$(getent passwd "$user" | cut -d: -f6)
	[ -n "$home" ] || _bed_err "bed_sshd: no user $user" || return
	group=$(id -gn "$user") || return

	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) ||
	    _bed_err "bed_sshd: cannot create $dir" || return
	conf=$dir/sshd_config

	# Privilege separation directory; must be root's and not writable
	# by others.
	{ mkdir -p /run/sshd && chmod 755 /run/sshd; } ||
	    _bed_err "bed_sshd: cannot set up /run/sshd" || return

	if ! [ -s "$dir/ssh_host_ed25519_key" ]; then
		rm -f "$dir/ssh_host_ed25519_key.pub"
		ssh-keygen -q -t ed25519 -N '' -C "tug-test host" \
		    -f "$dir/ssh_host_ed25519_key" ||
		    _bed_err "bed_sshd: cannot make host key" || return
	fi

	install -d -m 700 -o "$user" -g "$group" "$home/.ssh" &&
	    install -m 600 -o "$user" -g "$group" "$pub" \
	    "$home/.ssh/authorized_keys" ||
	    _bed_err "bed_sshd: cannot install $home/.ssh/authorized_keys" ||
	    return

	{
		echo "# generated by tests/bed.sh; rewritten on every start"
		echo "ListenAddress 127.0.0.1:$port"
		echo "HostKey $dir/ssh_host_ed25519_key"
		echo "PidFile $dir/sshd.pid"
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "PubkeyAuthentication yes"
		echo "UsePAM no"
		echo "AllowUsers $user"
		echo "PermitRootLogin no"
		echo "MaxStartups 200:30:400"
		echo "MaxSessions 100"
		echo "LogLevel VERBOSE"
		echo "PrintMotd no"
		echo "PrintLastLog no"
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >"$conf.tmp" && mv -f "$conf.tmp" "$conf" ||
	    _bed_err "bed_sshd: cannot write $conf" || return

	/usr/sbin/sshd -t -f "$conf" ||
	    _bed_err "bed_sshd: $conf rejected by sshd -t" || return

	if pid=$(_bed_alive "$dir/sshd.pid" sshd); then
		_bed_kill "$pid"
	fi
	rm -f "$dir/sshd.pid"

	# sshd forks into the background before it binds, so its own exit
	# status says nothing; run it with -D in a session of its own
	# instead and watch that pid.  (In a command substitution the shell
	# does no job control, so setsid need not fork and $! is sshd.)
	echo "--- $(date -u '+%F %T') bed_sshd" >>"$dir/sshd.log"
	pid=$(setsid /usr/sbin/sshd -D -f "$conf" -E "$dir/sshd.log" \
	    </dev/null >/dev/null 2>&1 & echo $!)

	# The pid file appears once the port is bound.
	for ((i = 0; i < 200; i++)); do
		_bed_running "$pid" || break
		if [ "$(_bed_alive "$dir/sshd.pid" sshd)" = "$pid" ] &&
		    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	if _bed_running "$pid"; then
		_bed_err "bed_sshd: sshd $pid not ready on port $port after 10 s"
		_bed_kill "$pid"
	else
		_bed_err "bed_sshd: sshd for port $port exited"
	fi
	tail -n 10 "$dir/sshd.log" >&2
	# Name whoever holds the port, if anyone does.
	ss -Hltnp "sport = :$port" 2>/dev/null | sed 's/^/bed: held by: /' >&2
	return 1
}

# bed_sshd_stop DIR: stop the sshd that bed_sshd started from DIR.
bed_sshd_stop() {
	local dir=${1-} pid

	[ -n "$dir" ] || _bed_err "usage: bed_sshd_stop DIR" || return
	if pid=$(_bed_alive "$dir/sshd.pid" sshd); then
		_bed_kill "$pid"
		if _bed_running "$pid"; then
			_bed_err "bed_sshd_stop: sshd $pid will not die"
			return
		fi
	fi
	rm -f "$dir/sshd.pid"
}

# bed_ssh USER PORT KEY CMD...: run CMD as USER on 127.0.0.1:PORT with KEY
# only, ignoring known_hosts and ~/.ssh/config.  As with any ssh, the
# remote shell joins CMD's words with spaces and parses them again.
bed_ssh() {
	local user=${1-} port=${2-} key=${3-}

	[ $# -ge 4 ] || _bed_err "usage: bed_ssh USER PORT KEY CMD..." ||
	    return
	shift 3
	ssh -F /dev/null -i "$key" -p "$port" \
	    -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o LogLevel=ERROR "$user@127.0.0.1" -- "$@"
}

# bed_images [OUTDIR]: build (or find current) tug-test/app:1 and :2 in
# the engine that DOCKER_HOST names; see fixtures/build-images.sh.
bed_images() {
	DOCKER=$DOCKER bash "$_bed_dir/fixtures/build-images.sh" "$@"
}

# bed_registry DIR USER PASSWORD: a Docker registry (distribution v2, Debian's
# docker-registry) on 127.0.0.1 at a free port >= 1024, which it prints,
# accepting only USER with PASSWORD (htpasswd, bcrypt).  DIR keeps
# config.yml, htpasswd, the storage (data/), registry.pid and registry.log.
# A registry still running from DIR is stopped first.  dockerd treats
# 127.0.0.0/8 registries as insecure, so it pulls from this one over HTTP.
bed_registry() {
	local dir=${1-} user=${2-} pass=${3-} pid port i try

	[ $# -eq 3 ] && [ -n "$user" ] && [ -n "$pass" ] ||
	    _bed_err "usage: bed_registry DIR USER PASSWORD" || return
	[ -x /usr/bin/docker-registry ] ||
	    _bed_err "no /usr/bin/docker-registry (apt-get install docker-registry)" ||
	    return
	command -v htpasswd >/dev/null ||
	    _bed_err "no htpasswd (apt-get install apache2-utils)" || return
	mkdir -p "$dir/data" && dir=$(cd "$dir" && pwd) ||
	    _bed_err "bed_registry: cannot create $dir" || return
	bed_registry_stop "$dir" || return
	printf '%s' "$pass" | htpasswd -Bin "$user" >"$dir/htpasswd" 2>/dev/null ||
	    _bed_err "bed_registry: htpasswd failed" || return

	# A port nobody listens on; if the registry still cannot bind it
	# (someone was quicker), try another.
	for ((try = 0; try < 5; try++)); do
		port=$((20000 + RANDOM % 20000))
		[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] || continue
		cat >"$dir/config.yml" <<-EOF
		# generated by tests/bed.sh; rewritten on every start
		version: 0.1
		log:
		  level: info
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $dir/data
		  delete:
		    enabled: true
		http:
		  addr: 127.0.0.1:$port
		  secret: tug-test-$RANDOM$RANDOM
		auth:
		  htpasswd:
		    realm: tug-test
		    path: $dir/htpasswd
		EOF
		echo "--- $(date -u '+%F %T') bed_registry" >>"$dir/registry.log"
		pid=$(setsid /usr/bin/docker-registry serve "$dir/config.yml" \
		    </dev/null >>"$dir/registry.log" 2>&1 & echo $!)
		echo "$pid" >"$dir/registry.pid"
		for ((i = 0; i < 100; i++)); do
			_bed_running "$pid" || break
			# Up when /v2/ asks for credentials.
			if [ "$(curl -s -o /dev/null -w '%{http_code}' \
			    "http://127.0.0.1:$port/v2/")" = 401 ]; then
				echo "$port"
				return 0
			fi
			sleep 0.05
		done
		bed_registry_stop "$dir"
	done
	_bed_err "bed_registry: no registry answering; $dir/registry.log:"
	tail -n 10 "$dir/registry.log" >&2
	return 1
}

# bed_registry_stop DIR: stop the registry that bed_registry started from DIR.
bed_registry_stop() {
	local dir=${1-} pid

	[ -n "$dir" ] || _bed_err "usage: bed_registry_stop DIR" || return
	if pid=$(_bed_alive "$dir/registry.pid" docker-registry); then
		_bed_kill "$pid"
		if _bed_running "$pid"; then
			_bed_err "bed_registry_stop: registry $pid will not die"
			return
		fi
	fi
	rm -f "$dir/registry.pid"
}
