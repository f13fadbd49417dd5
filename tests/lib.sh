# lib.sh - the harness every tests/t/NNNN-*.sh sources.
#
# In the manner of git's t/test-lib.sh: each step is a string of &&-chained
# commands run by `step 'what it checks' '...'`; it prints "ok N - what" or
# "not ok N - what" followed by the step's output. `finish` prints the
# count and sets the exit status. Each test file gets its own directory $T,
# removed on exit unless TUG_KEEP=1.

set -u
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$TESTS_DIR/.." && pwd)
. "$TESTS_DIR/bed.sh"

TUG_BUILD=${TUG_BUILD:-$ROOT/build}
AGENT=$TUG_BUILD/tug-agent
AGENTCTL=$TUG_BUILD/tests/agentctl
T=$(mktemp -d "${TMPDIR:-/tmp}/tug-test.XXXXXX")
chmod 755 "$T"
_n=0
_failed=0
_cleanups=()

# at_exit CMD: run CMD (a string) when the test file ends, last first.
# Call it at the top level: a step runs in a subshell, so a cleanup
# registered inside one would be lost.
at_exit() {
	_cleanups+=("$1")
}

_run_cleanups() {
	local i

	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || :
	done
	[ "${TUG_KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap _run_cleanups EXIT

step() {
	local what=$1 body=$2 out t0=$SECONDS

	_n=$((_n + 1))
	out="$T/step.$_n"
	if ( [ -n "${TUG_DEBUG:-}" ] && set -x; eval "$body") >"$out" 2>&1; then
		echo "ok $_n - $what"
		# TUG_STEP_TIMES=1: how long each step took, for finding the slow.
		[ -z "${TUG_STEP_TIMES:-}" ] || echo "# step $_n: $((SECONDS - t0)) s"
	else
		_failed=$((_failed + 1))
		echo "not ok $_n - $what"
		tail -n 40 "$out" | sed 's/^/#   /'
	fi
}

finish() {
	echo "# $_n steps, $_failed failed"
	[ "$_failed" -eq 0 ]
}

# A fatal setup failure: everything after it would fail for the same reason.
bail() {
	echo "not ok $((_n + 1)) - setup: $*"
	exit 1
}

# until_true SECS CMD...: CMD succeeds within SECS seconds (its status, and
# its output of the last try, if it never did).
until_true() {
	local i secs=$1

	shift
	for ((i = 0; i < secs * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	"$@"
}

# Expect a JSON file of agentctl output to hold a line matching a pattern.
has() {
	grep -q -- "$2" "$1" || {
		echo "expected /$2/ in $1:"
		cat "$1"
		return 1
	}
}

# The same, for a fixed string (no regex: brackets, stars and dots as is).
hasf() {
	grep -q -F -- "$2" "$1" || {
		echo "expected the text <$2> in $1:"
		cat "$1"
		return 1
	}
}

hasnt() {
	! grep -q -- "$2" "$1" || {
		echo "did not expect /$2/ in $1:"
		cat "$1"
		return 1
	}
}

# The controller id of every tugd and agentctl the tests start, so that
# the tests find, and clean up, only what they made themselves.
export TUG_CONTROLLER_ID=7e57c0de00000000000000000000000a

# Containers of a site, any state, made by the tests' controller.
site_containers() {
	$DOCKER ps -aq --filter "label=tug.site=$1" \
	    --filter "label=tug.controller=$TUG_CONTROLLER_ID"
}

# Remove a site's containers, network and volumes that a test left; never
# a real site's (another controller's, or none's).
site_purge() {
	local ids f="--filter label=tug.site=$1 --filter label=tug.controller=$TUG_CONTROLLER_ID"

	ids=$(site_containers "$1")
	[ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null
	ids=$($DOCKER network ls -q $f)
	[ -z "$ids" ] || $DOCKER network rm $ids >/dev/null
	ids=$($DOCKER volume ls -q $f)
	[ -z "$ids" ] || $DOCKER volume rm -f $ids >/dev/null
}

# The host port published for a container's port 8080.
host_port() {
	$DOCKER port "$1" 8080/tcp | head -n 1 | sed 's/.*://'
}

# A free TCP port on 127.0.0.1 in 18000-18999, not $PORT either.
free_port() {
	local p i

	for ((i = 0; i < 200; i++)); do
		p=$((18000 + RANDOM % 1000))
		[ "$p" != "${PORT:-}" ] || continue
		[ -z "$(ss -Hltn "sport = :$p")" ] && { echo $p; return 0; }
	done
	return 1
}

# Stop the nginx that the agent's proxy.setup started in $STATE, by its pid
# file only.
nginx_stop() {
	local pidfile=$STATE/nginx/logs/nginx.pid pid

	[ -s "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		[ -e "$pidfile" ] || return 0
		sleep 0.1
	done
	kill -9 "$pid"
}

# proxy_init: for a test of the agent's proxy with its state in $STATE, PORT
# is a free port for nginx to listen on, and that nginx is stopped when the
# file ends. Call it at the top level, after setting STATE.
proxy_init() {
	PORT=$(free_port) || return
	at_exit nginx_stop
}

# via HOST [PATH]: GET through the proxy on $PORT; headers and body in $T/via.
via() {
	curl -sS -m 5 -D $T/via.h -o $T/via -H "Host: $1" \
	    "http://127.0.0.1:$PORT${2:-/}" >/dev/null
}

# The controller binaries, and a private tugd for this test file: its state
# in $T/home, stopped (by its pid) when the file ends.
TUG=$TUG_BUILD/tug
TUGD=$TUG_BUILD/tugd
export TUG_HOME=$T/home

# listed PATTERN: tug site list has a line matching PATTERN.
listed() { "$TUG" site list | grep -q "$1"; }

tugd_pid() {
	TUG_NO_AUTOSTART=1 "$TUG" --json status 2>/dev/null |
	    sed -n 's/.*"pid":\([0-9]*\).*/\1/p'
}

# Stop this test's tugd by its pid; done when its state lock is free.
tugd_stop() {
	local pid

	pid=$(tugd_pid)
	[ -n "$pid" ] || return 0
	kill "$pid"
	for _ in $(seq 100); do
		flock -n "$TUG_HOME/tugd.lock" true && return 0
		sleep 0.05
	done
	kill -9 "$pid"
}
at_exit tugd_stop
