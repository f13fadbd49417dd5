#!/bin/bash
# fleet-scale.sh - tug on a fleet of N hosts (default 1,000): N sshd
# instances on 127.0.0.1, one port each, one user. Prints, side by side:
#   - the cold connect (tugd just started, `tug host check` of all N: new
#     SSH sessions, agent start, HELLO, ping) beside the floor under it,
#     tests/tools/ssh-floor: a bare libssh connect, key exchange and
#     publickey auth to the same hosts, as many at once as tugd's
#     handshake limit (TUG_HANDSHAKES, 16); and that floor plus an exec
#     of `true` on each session (what any SSH tool that runs a command
#     pays before tug's own agent, HELLO and ping);
#   - the warm check (every session open), median of 9;
#   - tugd's memory per connected host, its threads and descriptors;
#   - the warm check while HUNG hosts (10) hang: their sshd processes, the
#     per-connection ones too, stopped with SIGSTOP; how long the others
#     take, how long the hung ones take to fail, and to come back.
# Beside wall times, the CPU that every process of the run used (a cpuacct
# cgroup of its own): on loopback the "hosts" share the controller's cores,
# and other work on the machine moves wall times far more than CPU.
#
# The agents run without Docker (DOCKER_HOST names no socket): here one
# dockerd would answer for all N hosts, and its GET /version, which every
# agent asks for its HELLO, execs runc and docker-init each time (5 ms of
# their CPU a call, outside this run's cgroup); 200 at once took 2 s
# there, a wait no real fleet has. FLEET_DOCKER=1 uses it all the same.
#
# Goals (issue: 1,000 hosts, 2 cores): cold <= 1.2 x floor, warm <= 200 ms,
# <= 150 KB of tugd's RSS per host, healthy hosts as fast with 10 hung.
# Run: TUG_BUILD=$PWD/build bash tests/bench/fleet-scale.sh [N]   (root;
# make tools first). FLEET_PORT (30000): ports FLEET_PORT+1..+N;
# FLEET_COLD_RUNS (3); FLEET_HUNG (10). tugd runs with a soft limit of
# 1024 open files, as a service gets by default: it raises its own.

set -u
. "$(dirname "$0")/../lib.sh"
N=${1:-${FLEET_N:-1000}}
BASE=${FLEET_PORT:-30000}
COLD_RUNS=${FLEET_COLD_RUNS:-3}
HUNG=${FLEET_HUNG:-10}
HS=${TUG_HANDSHAKES:-16}
DOCKER_TOO=${FLEET_DOCKER:-0}
U=tugscale
DIRS=/run/tug-test/scale-sshd
FLOOR=$TUG_BUILD/tests/ssh-floor
[ "$HUNG" -lt "$N" ] || HUNG=$((N / 10))

ms() { date +%s%3N; }
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]
	    else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
say() { echo "# $*" >&2; }

[ -x "$FLOOR" ] || bail "no $FLOOR (make tools)"
[ -z "$(ss -Hltn "( sport >= :$((BASE + 1)) and sport <= :$((BASE + N)) )")" ] ||
    bail "ports $((BASE + 1))-$((BASE + N)) are in use"
# Installing the agent checks that it reaches Docker, even so.
bed_dockerd >/dev/null || bail "no dockerd"
if [ "$DOCKER_TOO" = 1 ]; then
	SSHD_CONF=()
else
	SSHD_CONF=("SetEnv DOCKER_HOST=unix://$DIRS-no-docker.sock")
fi
bed_user $U || bail "cannot create $U"
ulimit -Sn 1024

# This shell and all it starts in a cpuacct cgroup: cpu_ms is the CPU
# they used so far (0 without one: the ratios then print -).
CG=/sys/fs/cgroup/cpuacct/tug-bench-$$
cg_leave() {
	echo $$ >/sys/fs/cgroup/cpuacct/cgroup.procs
	for _ in $(seq 50); do
		rmdir $CG 2>/dev/null && return 0
		sleep 0.1
	done
}
if mkdir $CG 2>/dev/null && echo $$ >$CG/cgroup.procs; then
	at_exit cg_leave
	cpu_ms() { echo $(($(cat $CG/cpuacct.usage) / 1000000)); }
else
	rmdir $CG 2>/dev/null
	cpu_ms() { echo 0; }
fi
proc_cpu_ms() { awk -v t=$(getconf CLK_TCK) '{ print int(($14 + $15) * 1000 / t) }' /proc/$1/stat; }
# The CPU the running agents used.
agents_cpu_ms() {
	local pid comm sum=0 t

	while read -r pid comm; do
		case $comm in tug-agent*) ;; *) continue ;; esac
		t=$(proc_cpu_ms $pid 2>/dev/null) && sum=$((sum + t))
	done < <(ps -u $U -o pid=,comm=)
	echo $sum
}

# Every sshd started here, stopped at once (TERM to all, then wait), by
# the pid in its pid file. Registered before any starts.
sshd_stop_all() {
	local i pid pids=()

	for i in $(seq "$N"); do
		pid=$(_bed_alive $DIRS-$i/sshd.pid sshd) && kill "$pid" &&
		    pids+=("$pid")
	done
	for _ in $(seq 100); do
		for i in "${!pids[@]}"; do
			_bed_running "${pids[$i]}" || unset "pids[$i]"
		done
		[ ${#pids[@]} -eq 0 ] && break
		sleep 0.1
	done
	[ ${#pids[@]} -eq 0 ] || kill -9 "${pids[@]}"
	rm -f $DIRS-*/sshd.pid
}
at_exit sshd_stop_all
at_exit tugd_stop
# The hung sshds go on again before anything is stopped.
hung_cont() {
	local pid comm

	[ -s $T/hung.pids ] || return 0
	for pid in $(cat $T/hung.pids); do
		read -r comm 2>/dev/null </proc/$pid/comm && [ "$comm" = sshd ] &&
		    kill -CONT "$pid"
	done
	: >$T/hung.pids
}
at_exit hung_cont

"$TUG" init >/dev/null 2>&1
"$TUG" key >$T/tugd.pub || bail "tug key"
KEY=$TUG_HOME/id_ed25519

# tugd with no host: the baseline.
pid0=$(tugd_pid)
[ -n "$pid0" ] || bail "no tugd"
rss() { awk -v k="$2:" '$1 == k { print $2 }' /proc/$1/status; }
fds() { ls /proc/$1/fd | wc -l; }
rss0=$(rss $pid0 VmRSS) thr0=$(rss $pid0 Threads) fd0=$(fds $pid0)

# N sshds, four started at a time (again once on failure: concurrent
# installs of the one authorized_keys may race).
t0=$(ms)
: >$T/failed
for i in $(seq "$N"); do
	while [ "$(jobs -rp | wc -l)" -ge 4 ]; do wait -n; done
	{ bed_sshd $DIRS-$i $((BASE + i)) $U $T/tugd.pub "${SSHD_CONF[@]}" \
	    >/dev/null 2>$T/sshd.$i ||
	    bed_sshd $DIRS-$i $((BASE + i)) $U $T/tugd.pub "${SSHD_CONF[@]}" \
	    >/dev/null 2>$T/sshd.$i ||
	    echo $i >>$T/failed; } &
done
wait
[ -s $T/failed ] && bail "sshd $(head -n 1 $T/failed): $(cat $T/sshd.$(head -n 1 $T/failed))"
say "$N sshds up in $(($(ms) - t0)) ms"

# The hosts: the first installs the agent (one user: one binary for all;
# its sshd lets it reach Docker meanwhile), the last HUNG are group "hang",
# the others group "ok".
t0=$(ms)
bed_sshd $DIRS-1 $((BASE + 1)) $U $T/tugd.pub >/dev/null || bail "sshd 1"
"$TUG" -q host add b1 $U@127.0.0.1:$((BASE + 1)) --group ok \
    --accept-new-hostkey >/dev/null || bail "host add b1"
bed_sshd $DIRS-1 $((BASE + 1)) $U $T/tugd.pub "${SSHD_CONF[@]}" >/dev/null ||
    bail "sshd 1"
for i in $(seq 2 "$N"); do
	while [ "$(jobs -rp | wc -l)" -ge 4 ]; do wait -n; done
	g=ok
	[ $i -gt $((N - HUNG)) ] && g=hang
	{ "$TUG" -q host add b$i $U@127.0.0.1:$((BASE + i)) --group $g \
	    --accept-new-hostkey --no-bootstrap >/dev/null 2>$T/add.$i ||
	    echo $i >>$T/failed; } &
done
wait
[ -s $T/failed ] && bail "host add failed: $(cat $T/add.$(head -n 1 $T/failed))"
say "$N hosts added in $(($(ms) - t0)) ms"
for i in $(seq "$N"); do
	_bed_alive $DIRS-$i/sshd.pid sshd
done >$T/listeners
[ "$(wc -l <$T/listeners)" = "$N" ] || bail "not every sshd is running"

# Processes under our sshds (sessions, agents), in one look at the
# process table, and the user's (an agent may outlive its sshd).
sessions() {
	ps -e -o pid=,ppid= | awk 'NR == FNR { l[$1] = 1; next }
	    { p[$1] = $2 } END { for (x in p) { y = p[x]; while (y in p &&
	    !(y in l)) y = p[y]; if ((y in l) && !(x in l)) n++ } print n + 0 }' \
	    $T/listeners -
}
# Wait until the sessions of the last run are gone (at most 60 s).
drain() {
	for _ in $(seq 300); do
		[ "$(sessions)" = 0 ] && [ -z "$(ps -u $U -o pid=)" ] && return 0
		sleep 0.2
	done
	say "sessions still open: $(sessions)"
}

# Cold, beside the floor, alternately, each on a quiet fleet.
cold=() floor=() cold_cpu=() floor_cpu=() tugd_cpu=() client_cpu=() agent_cpu=()
xfloor=() xfloor_cpu=()
for r in $(seq "$COLD_RUNS"); do
	tugd_stop
	drain
	c0=$(cpu_ms)
	/usr/bin/time -f %U+%S -o $T/floor.time "$FLOOR" -j "$HS" "$KEY" $U \
	    127.0.0.1 $((BASE + 1)) "$N" >$T/floor 2>&1 ||
	    { cat $T/floor; bail "ssh-floor failed"; }
	floor_cpu+=($(($(cpu_ms) - c0)))
	client_cpu+=($(awk -F+ '{ print int(($1 + $2) * 1000) }' $T/floor.time))
	floor+=($(sed -n 's/.*ms=\([0-9]*\).*/\1/p' $T/floor))
	drain
	c0=$(cpu_ms)
	"$FLOOR" -j "$HS" -x true "$KEY" $U 127.0.0.1 $((BASE + 1)) "$N" \
	    >$T/floor 2>&1 || { cat $T/floor; bail "ssh-floor -x failed"; }
	xfloor_cpu+=($(($(cpu_ms) - c0)))
	xfloor+=($(sed -n 's/.*ms=\([0-9]*\).*/\1/p' $T/floor))
	drain
	c0=$(cpu_ms)
	t0=$(ms)
	"$TUG" host check --timeout 600000 >$T/cold.$r 2>&1 ||
	    { tail -n 5 $T/cold.$r; bail "cold check failed"; }
	cold+=($(($(ms) - t0)))
	cold_cpu+=($(($(cpu_ms) - c0)))
	grep -q "^$N of $N hosts reachable" $T/cold.$r ||
	    { tail -n 5 $T/cold.$r; bail "cold: not all reachable"; }
	tugd_cpu+=($(proc_cpu_ms $(tugd_pid)))
	agent_cpu+=($(agents_cpu_ms))
	say "cold run $r: floor ${floor[-1]} ms (CPU ${floor_cpu[-1]} ms)," \
	    "with exec ${xfloor[-1]} ms (CPU ${xfloor_cpu[-1]} ms)," \
	    "tug ${cold[-1]} ms (CPU ${cold_cpu[-1]} ms)"
done

# Warm: every session open.
warm=()
pid=$(tugd_pid)
c0=$(cpu_ms) p0=$(proc_cpu_ms $pid)
for r in $(seq 9); do
	t0=$(ms)
	"$TUG" host check >$T/warm 2>&1 || { tail -n 5 $T/warm; bail "warm check failed"; }
	warm+=($(($(ms) - t0)))
done
warm_cpu=$((($(cpu_ms) - c0) / 9)) warm_tugd=$((($(proc_cpu_ms $pid) - p0) / 9))
grep -q "^$N of $N hosts reachable" $T/warm || { tail -n 5 $T/warm; bail "warm: not all reachable"; }

rss1=$(rss $pid VmRSS) hwm=$(rss $pid VmHWM) thr1=$(rss $pid Threads)
fd1=$(fds $pid)
nofile=$(awk '/^Max open files/ { print $4 }' /proc/$pid/limits)
p0=$(proc_cpu_ms $pid)
sleep 5
idle=$((($(proc_cpu_ms $pid) - p0) / 5))

# HUNG hosts hang: their sshds, listener and per-connection, stopped.
ps -e -o pid=,ppid=,comm= | awk -v first=$((N - HUNG + 1)) '
    NR == FNR { if (FNR >= first) s[$1] = 1; next }
    { p[$1] = $2; c[$1] = $3 }
    END { for (x in p) { y = x; while (y in p && !(y in s)) y = p[y];
        if ((y in s) && c[x] == "sshd") print x } }' $T/listeners - >$T/hung.pids
kill -STOP $(cat $T/hung.pids) || bail "cannot stop the hung hosts"
nhung=$(wc -l <$T/hung.pids)
# A check of all N waits on the hung ones (the default per-host timeout);
# meanwhile the others are checked alone.
( t0=$(ms); "$TUG" host check >$T/all 2>&1; echo $(($(ms) - t0)) >$T/all.ms ) &
allpid=$!
sleep 0.5
healthy=()
for r in $(seq 5); do
	t0=$(ms)
	"$TUG" host check --group ok >$T/healthy 2>&1 ||
	    { tail -n 5 $T/healthy; bail "healthy check failed"; }
	healthy+=($(($(ms) - t0)))
done
grep -q "^$((N - HUNG)) of $((N - HUNG)) hosts reachable" $T/healthy ||
    { tail -n 5 $T/healthy; bail "healthy: not all reachable"; }
wait $allpid
all_ms=$(cat $T/all.ms)
all_line=$(grep "hosts reachable" $T/all)
# With no timeout of its own to stop it, a request waits until tugd gives
# the silent sessions up.
t0=$(ms)
"$TUG" host check --group hang --timeout 120000 >$T/gone 2>&1
gone_ms=$(($(ms) - t0))
gone_line=$(grep -m 1 -o "connection lost.*" $T/gone || grep -m 1 . $T/gone)
hung_cont
t0=$(ms)
"$TUG" host check --timeout 120000 >$T/back 2>&1
back_ms=$(($(ms) - t0))
back_line=$(grep "hosts reachable" $T/back)

m() { printf '%s\n' "$@" | median; }
cold_ms=$(m "${cold[@]}") floor_ms=$(m "${floor[@]}") xfloor_ms=$(m "${xfloor[@]}")
per=$(((rss1 - rss0) / N))
ratio() { awk -v a=$1 -v b=$2 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# Each run's cold over the floor measured just before it.
per_run=$(for r in "${!cold[@]}"; do ratio ${cold[$r]} ${floor[$r]}; echo; done | xargs)

echo "fleet of $N hosts (127.0.0.1, $(nproc) cores, $HS handshakes at once," \
    "agents $([ "$DOCKER_TOO" = 1 ] && echo "with one dockerd for all" ||
    echo "without Docker")), median wall time"
row() { printf '  %-46s %9s %-3s %s\n' "$@"; }
row "libssh handshake floor (ssh-floor)" "$floor_ms" ms "connect+kex+auth; runs ${floor[*]}"
row "the floor plus an exec of true (ssh-floor -x)" "$xfloor_ms" ms "runs ${xfloor[*]}"
row "tug host check, cold (tugd just started)" "$cold_ms" ms "runs ${cold[*]}"
row "cold / floor, wall" "$(ratio $cold_ms $floor_ms)" "" "goal <= 1.20; each run $per_run; cold / floor with exec $(ratio $cold_ms $xfloor_ms)"
row "cold / floor, CPU of every process" "$(ratio $(m "${cold_cpu[@]}") $(m "${floor_cpu[@]}"))" "" \
    "$(m "${cold_cpu[@]}") ms (tugd $(m "${tugd_cpu[@]}"), agents $(m "${agent_cpu[@]}")) / $(m "${floor_cpu[@]}") ms (ssh-floor $(m "${client_cpu[@]}"))"
row "cold / floor with exec, CPU" "$(ratio $(m "${cold_cpu[@]}") $(m "${xfloor_cpu[@]}"))" "" "$(m "${xfloor_cpu[@]}") ms with exec"
row "tug host check, warm (sessions open)" "$(m "${warm[@]}")" ms "goal <= 200; runs ${warm[*]}"
row "  CPU per warm check" "$warm_cpu" ms "tugd $warm_tugd ms, the rest sshd, agents, tug"
row "tugd RSS per connected host" "$per" KB "goal <= 150; $rss0 KB with no host, $rss1 KB with $N (peak $hwm KB)"
row "tugd threads" "$thr1" "" "$thr0 with no host"
row "tugd open files" "$fd1" "" "$fd0 with no host; its limit $nofile (started at soft 1024)"
row "tugd CPU, idle with $N sessions" "$idle" ms "a second"
row "warm check of the $((N - HUNG)) others, $HUNG hung" "$(m "${healthy[@]}")" ms "$nhung sshds stopped, a check of all pending; runs ${healthy[*]}"
row "check of all $N, $HUNG hung (20 s timeout)" "$all_ms" ms "$all_line"
row "check of the $HUNG hung, no timeout (120 s)" "$gone_ms" ms "${gone_line:0:60}"
row "all $N reachable again after SIGCONT" "$back_ms" ms "$back_line"
