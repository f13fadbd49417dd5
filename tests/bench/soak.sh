#!/bin/bash
# soak.sh - tug under continuous activity for SOAK_SECONDS (default 900) on
# namespace hosts 4, 7 and 11: three sites on all three hosts behind each
# host's agent-mode nginx, the load tool (tests/tools/load.c) on every
# (host, site) through the proxy the whole time, and, in a random loop until
# the time is up: deploys (tug-test/app:1 and :2 in turn), `tug env set`
# (a new release each), `tug logs SITE -f` followers started and stopped,
# `tug host check`, and now and then a host's agent killed (kill -9 of its
# pid), between operations or in the middle of a deploy.
#
# Prints: the requests through the proxies and how many failed (goal 0),
# per kind of operation; each operation's count, failures and time; and
# tugd's and each agent's VmRSS, open fds and threads at the start and at
# the end (goal: no growth). An agent that was killed restarts: the table
# names the agent of each host at the start and the one alive at the end,
# and the killed ones as they were just before their kill.
#
# Attribution: the loop runs one operation at a time, each in a "window"
# of its own. A window starts a fresh set of loads, then stops the last
# window's set (and waits for its in-flight requests) before its operation
# begins, so the load never pauses and every request counts for the one
# operation that ran while it was made. Log followers outlive their window:
# they stream through everything that follows.
#
# Run: TUG_BUILD=$PWD/build bash tests/bench/soak.sh   (root)
# SOAK_SECONDS (900), SOAK_SEED (random; printed), SOAK_CLIENTS (3 per load),
# SOAK_SLOW (1 per load, /slow?ms=2000), SOAK_PATH (/slow?ms=50: each client
# about 20 requests a second, so the loads leave CPU to the rest), SOAK_OUT
# (directory kept with ops.log, load.log, samples and the logs; default a
# new /tmp/tug-soak.XXXXXX), SOAK_ONLY (only these operations; see below).

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
SOAK=${SOAK_SECONDS:-900}
SEED=${SOAK_SEED:-$((($$ * 7919 + $(date +%s)) % 32768))}
RANDOM=$SEED
HOSTS=(4 7 11)
SITES=(alpha beta gamma)
LC=${SOAK_CLIENTS:-3}
LS=${SOAK_SLOW:-1}
LPATH=${SOAK_PATH:-/slow?ms=50}
SLOWPATH="/slow?ms=2000"
LOAD=$TUG_BUILD/tests/load
OUT=${SOAK_OUT:-$(mktemp -d /tmp/tug-soak.XXXXXX)}
mkdir -p "$OUT" && : >"$OUT/ops.log" && : >"$OUT/load.log" &&
    : >"$OUT/failures" && : >"$OUT/samples" && : >"$OUT/killed" ||
    bail "cannot write $OUT"
[ -x "$LOAD" ] || bail "no $LOAD: make tools"

# Ours only: the loads and followers this script started, by pid.
LP=()
LW=0
WIN=0
FPIDS=()
soak_kill() {
	local w p

	for ((w = 1; w <= WIN; w++)); do
		touch "$T/stop.$w"
	done
	for p in "${FPIDS[@]}"; do
		kill -INT "$p" 2>/dev/null
	done
	for p in "${LP[@]}" "${FPIDS[@]}"; do
		for _ in $(seq 100); do
			_bed_running "$p" || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
	done
	wait
}

# Everything this run leaves in the hosts' state and logs, kept in $OUT.
save_logs() {
	local n a=/home/tughost

	cp "$TUG_HOME/tugd.log" "$OUT/tugd.log" 2>/dev/null
	for n in "${HOSTS[@]}"; do
		mkdir -p "$OUT/h$n"
		cp "$a$n/.tug-agent/nginx/logs/error.log" "$OUT/h$n/nginx-error.log"
		cp -r "$a$n/.tug-agent/journal" "$a$n/.tug-agent/nginx/sites" "$OUT/h$n/"
		ls -la "$a$n/.tug-agent" >"$OUT/h$n/state.ls" 2>&1
		cp /run/tug-test/h$n/dockerd.log "$OUT/h$n/dockerd.log"
	done
}

bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
$DOCKER save tug-test/app:1 tug-test/app:2 >$T/images.tar || bail "docker save"
at_exit "ns_purge 4; ns_purge 7; ns_purge 11; ns_agent_reset 4; ns_agent_reset 7; ns_agent_reset 11; ns_host_down 4 7 11"
at_exit save_logs
at_exit soak_kill
for n in "${HOSTS[@]}"; do
	ns_host_up $n $T/tugd.pub || bail "host $n"
	ns_agent_reset $n
	ns_purge $n
	# Images on the hosts before tug: deploy.keep never prunes those.
	ns_docker $n load -i $T/images.tar >/dev/null || bail "image load $n"
	"$TUG" -q host add h$n tughost$n@$(ns_addr $n) --accept-new-hostkey \
	    --group soak >/dev/null || bail "host add h$n"
done
"$TUG" -q host bootstrap --all --proxy nginx --proxy-port 8080 \
    --proxy-tls-port 8443 >$OUT/bootstrap.log 2>&1 ||
    { cat $OUT/bootstrap.log; bail "bootstrap"; }

# Three sites, on every host: batch 1 (one host at a time), batch 3 (all at
# once), and batch 1 with a longer drain.
declare -A CUR BATCH DRAIN
BATCH=([alpha]=1 [beta]=3 [gamma]=1)
DRAIN=([alpha]=2500ms [beta]=2500ms [gamma]=4s)
for s in "${SITES[@]}"; do
	cat >$T/$s.yml <<EOS
site: $s
image: tug-test/app:1
hosts: [h4, h7, h11]
domains: [$s.soak.test]
port: 8080
env: {SITE: $s}
health: {path: /up, interval: 200ms, retries: 25, cmd: [/bin/wget, -q, -O-, "http://127.0.0.1:8080/up"]}
deploy: {batch: ${BATCH[$s]}, max_failures: 0, drain: ${DRAIN[$s]}}
EOS
	"$TUG" -q site apply $T/$s.yml >/dev/null &&
	    "$TUG" -q deploy $s >$T/deploy 2>&1 || { cat $T/deploy; bail "deploy $s"; }
	CUR[$s]=1
done

now_ms() { date +%s%3N; }
agent_pid() {
	pgrep -u tughost$1 -f "tug-agent-[0-9a-f]* serve" | head -n 1
}
# pstat PID: "VmRSS-KiB fds threads", or nothing when PID is gone.
pstat() {
	local pid=$1 s

	s=$(awk '/^VmRSS:/ { r = $2 } /^Threads:/ { t = $2 }
	    END { if (r != "") print r, t }' /proc/$pid/status 2>/dev/null)
	[ -n "$s" ] || return 1
	set -- $s
	echo "$1 $(ls /proc/$pid/fd 2>/dev/null | wc -l) $2"
}
nginxes() {
	pgrep -u tughost$1 -x nginx | wc -l
}
# Random picks in this shell, not in $(...): a subshell's RANDOM is not
# the sequence SOAK_SEED starts.
pick_site() { PICK=${SITES[$((RANDOM % ${#SITES[@]}))]}; }
pick_host() { PICK=${HOSTS[$((RANDOM % ${#HOSTS[@]}))]}; }

# --- windows of load ----------------------------------------------------

declare -a WK
# win_start KIND: a fresh load on every (host, site), then the last
# window's stopped and added up; the operation of KIND follows.
win_start() {
	local n s p=()

	WIN=$((WIN + 1))
	WK[$WIN]=$1
	for n in "${HOSTS[@]}"; do
		for s in "${SITES[@]}"; do
			"$LOAD" -c $LC -S $LS -s "$SLOWPATH" -H $s.soak.test \
			    -n 1 -t 100000 "http://$(ns_addr $n):8080$LPATH" \
			    $T/stop.$WIN >$T/load.$WIN.$n.$s 2>&1 &
			p+=($!)
		done
	done
	win_end
	LP=("${p[@]}")
	LW=$WIN
	sample
}

# win_end: stop the running window's loads; one line each in load.log:
# WIN KIND HOST SITE total ok failed slow_ok slow_failed reconnects errors
win_end() {
	local n s f l

	[ ${#LP[@]} -gt 0 ] || return 0
	touch $T/stop.$LW
	wait "${LP[@]}"
	for n in "${HOSTS[@]}"; do
		for s in "${SITES[@]}"; do
			f=$T/load.$LW.$n.$s
			l=$(sed -n 's/^total=\([0-9]*\) ok=\([0-9]*\) failed=\([0-9]*\) slow_ok=\([0-9]*\) slow_failed=\([0-9]*\) reconnects=\([0-9]*\) bodies={[^}]*} errors=\({[^}]*}\).*/\1 \2 \3 \4 \5 \6 \7/p' $f)
			[ -n "$l" ] || l="0 0 1 0 0 0 {\"load tool died: $(tr -dc 'a-zA-Z0-9 ._=-' <$f | cut -c1-40)\":1}"
			echo "$LW ${WK[$LW]} h$n $s $l" >>$OUT/load.log
			rm -f $f
		done
	done
	rm -f $T/stop.$LW
	LP=()
}

# --- samples: tugd and agents, once a window ----------------------------

declare -A AG	# host -> the agent pid last seen
TUGD=
TUGD_RESTARTS=0
AGENT_SURPRISES=0
sample() {
	local n p st t

	t=$((SECONDS - T0))
	if [ -z "$TUGD" ] || ! _bed_running "$TUGD"; then
		p=$(tugd_pid)
		if [ -n "$TUGD" ] && [ "$p" != "$TUGD" ]; then
			TUGD_RESTARTS=$((TUGD_RESTARTS + 1))
			echo "tugd: pid $TUGD gone at ${t}s (window $WIN); now ${p:-none}" |
			    tee -a $OUT/failures >>$OUT/ops.log
		fi
		TUGD=$p
	fi
	st=$(pstat "$TUGD") && echo "$t tugd $TUGD $st" >>$OUT/samples
	for n in "${HOSTS[@]}"; do
		p=$(agent_pid $n)
		[ -n "$p" ] || continue
		if [ -n "${AG[$n]:-}" ] && [ "${AG[$n]}" != "$p" ]; then
			AGENT_SURPRISES=$((AGENT_SURPRISES + 1))
			echo "h$n: agent ${AG[$n]} replaced by $p at ${t}s (window $WIN), not by a kill of ours" |
			    tee -a $OUT/failures >>$OUT/ops.log
		fi
		AG[$n]=$p
		st=$(pstat "$p") && echo "$t h$n $p $st" >>$OUT/samples
	done
}

# --- operations ---------------------------------------------------------

declare -A NDONE NFAIL MS MSMAX RETRY
OPN=0
LAST_MS=0
# run KIND ARGS...: tug ARGS (at most 300 s), logged in ops.log, its
# output in $T/op.out and $T/op.err. A change refused because the site's
# lease is held (a heal) is tried again, up to 5 times, 3 s apart.
run() {
	local kind=$1 t0 rc try

	shift
	OPN=$((OPN + 1))
	t0=$(now_ms)
	for try in 1 2 3 4 5 6; do
		timeout 300 "$TUG" "$@" >$T/op.out 2>$T/op.err
		rc=$?
		[ $rc -ne 0 ] && [ $try -lt 6 ] &&
		    grep -q "is being changed by" $T/op.err || break
		RETRY[$kind]=$((${RETRY[$kind]:-0} + 1))
		cat $T/op.err >>$OUT/ops.log
		sleep 3
	done
	LAST_MS=$(($(now_ms) - t0))
	{
		echo "=== op $OPN $(date -u +%T) +$((SECONDS - T0))s window $WIN $kind: tug $* -> rc $rc, ${LAST_MS} ms"
		cat $T/op.out $T/op.err
	} >>$OUT/ops.log
	return $rc
}

# count KIND OK WHY [MS]: one operation of KIND done; OK 0 for success.
count() {
	local k=$1 ms=${4:-$LAST_MS}

	NDONE[$k]=$((${NDONE[$k]:-0} + 1))
	MS[$k]=$((${MS[$k]:-0} + ms))
	[ "$ms" -le "${MSMAX[$k]:-0}" ] || MSMAX[$k]=$ms
	if [ "$2" != 0 ]; then
		NFAIL[$k]=$((${NFAIL[$k]:-0} + 1))
		echo "$(date -u +%T) +$((SECONDS - T0))s window $WIN op $OPN $k: $3" >>$OUT/failures
		echo "!!! $k failed: $3" >>$OUT/ops.log
	fi
}

# why: the first line of the last command's stderr, or its status.
why() {
	local l

	l=$(grep -v '^$' $T/op.err | tail -n 1 | cut -c1-160)
	[ "$1" != 124 ] || l="no answer in 300 s (its last line: ${l:-none})"
	echo "${l:-exit $1}"
}

# verify SITE: every host serves "SITE VERSION" of the current image from
# exactly one container of the site.
verify() {
	local s=$1 n b c

	for n in "${HOSTS[@]}"; do
		b=$(curl -sS --max-time 5 -H "Host: $s.soak.test" \
		    "http://$(ns_addr $n):8080/" 2>&1)
		[ "$b" = "$s ${CUR[$s]}" ] ||
		    { echo "h$n answers '$b' for $s, not '$s ${CUR[$s]}'"; return 1; }
		c=$(ns_docker $n ps -aq --filter label=tug.site=$s \
		    --filter label=tug.controller=$TUG_CONTROLLER_ID | wc -l)
		[ "$c" = 1 ] ||
		    { echo "h$n holds $c containers of $s"; ns_docker $n ps -a \
		    --filter label=tug.site=$s >>$OUT/ops.log; return 1; }
	done
}

# deploy_checked KIND SITE: deploy the other image, check what serves.
deploy_checked() {
	local k=$1 s=$2 img=$((3 - ${CUR[$2]})) rc v

	run $k deploy $s --image tug-test/app:$img
	rc=$?
	if [ $rc -ne 0 ]; then
		count $k 1 "deploy $s app:$img: $(why $rc)"
		return 1
	fi
	CUR[$s]=$img
	if ! grep -q "^$s: release [0-9]* (tug-test/app:$img) serving on 3 hosts" $T/op.out; then
		count $k 1 "deploy $s: $(head -n 1 $T/op.out)"
	elif ! v=$(verify $s); then
		count $k 1 "after deploy $s app:$img: $v"
	else
		count $k 0 ""
	fi
}

op_deploy() {
	win_start deploy
	pick_site
	deploy_checked deploy $PICK
}

op_env() {
	local s rc v

	pick_site
	s=$PICK
	win_start env-set
	run env-set env set $s SOAK_ROUND=$OPN
	rc=$?
	if [ $rc -ne 0 ]; then
		count env-set 1 "env set $s: $(why $rc)"
	elif ! v=$(verify $s); then
		count env-set 1 "after env set $s: $v"
	else
		count env-set 0 ""
	fi
}

op_check() {
	local i rc

	win_start host-check
	for i in 1 2 3; do
		run host-check host check
		rc=$?
		if [ $rc -ne 0 ]; then
			count host-check 1 "$(why $rc)"
		elif ! grep -q "^3 of 3 hosts reachable" $T/op.out; then
			count host-check 1 "$(tail -n 1 $T/op.out)"
		else
			count host-check 0 ""
		fi
		sleep 1
	done
}

declare -A FSITE FFILE FT0
FN=0
FLINES=0
FRESUMES=0
# A follower: `tug logs SITE -f --tail 0`; it must be alive and have lines
# 3 s later (the load writes an access line a request).
logs_start() {
	local s=$1 f pid t0

	FN=$((FN + 1))
	f=$T/follow.$FN
	OPN=$((OPN + 1))
	t0=$(now_ms)
	"$TUG" logs $s -f --tail 0 >$f 2>$f.err &
	pid=$!
	FPIDS+=($pid)
	FSITE[$pid]=$s
	FFILE[$pid]=$f
	FT0[$pid]=$SECONDS
	sleep 3
	echo "=== op $OPN $(date -u +%T) +$((SECONDS - T0))s window $WIN logs-start: tug logs $s -f (pid $pid)" >>$OUT/ops.log
	if ! _bed_running $pid; then
		wait $pid
		count logs-start 1 "tug logs $s -f exited ($?): $(tail -n 1 $f.err)" 0
		logs_forget $pid
	elif ! [ -s $f ]; then
		count logs-start 1 "tug logs $s -f: no line in 3 s" 0
	else
		count logs-start 0 "" $(($(now_ms) - t0))
	fi
}

logs_forget() {
	local p keep=()

	for p in "${FPIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=($p)
	done
	FPIDS=("${keep[@]}")
	rm -f "${FFILE[$1]}" "${FFILE[$1]}.err"
}

# Ctrl-C to the oldest follower: it must end within 10 s with 130, having
# printed lines.
logs_stop() {
	local pid=${FPIDS[0]} f=${FFILE[${FPIDS[0]}]} t0 rc lines res

	OPN=$((OPN + 1))
	t0=$(now_ms)
	kill -INT $pid
	for _ in $(seq 100); do
		_bed_running $pid || break
		sleep 0.1
	done
	if _bed_running $pid; then
		kill -9 $pid
		wait $pid
		rc=timeout
	else
		wait $pid
		rc=$?
	fi
	lines=$(wc -l <$f)
	res=$(grep -c "connection lost" $f.err)
	FLINES=$((FLINES + lines))
	FRESUMES=$((FRESUMES + res))
	{
		echo "=== op $OPN $(date -u +%T) +$((SECONDS - T0))s window $WIN logs-stop: pid $pid (${FSITE[$pid]}, $((SECONDS - FT0[$pid])) s) -> $rc, $lines lines, $res resumes"
		grep -v "connection lost" $f.err | tail -n 5
	} >>$OUT/ops.log
	if [ "$rc" != 130 ]; then
		count logs-stop 1 "tug logs ${FSITE[$pid]} -f: Ctrl-C gave '$rc': $(grep -v 'connection lost' $f.err | tail -n 1)" $(($(now_ms) - t0))
	elif [ "$lines" -eq 0 ]; then
		count logs-stop 1 "tug logs ${FSITE[$pid]} -f: no line in $((SECONDS - FT0[$pid])) s" $(($(now_ms) - t0))
	else
		count logs-stop 0 "" $(($(now_ms) - t0))
	fi
	logs_forget $pid
}

op_logs() {
	if [ ${#FPIDS[@]} -lt 2 ] && { [ ${#FPIDS[@]} -eq 0 ] || [ $((RANDOM % 2)) = 0 ]; }; then
		win_start logs-start
		pick_site
		logs_start $PICK
	else
		win_start logs-stop
		logs_stop
	fi
}

# kill_agent N: kill -9 host N's agent (by its pid) and wait until tugd
# has a new one there: by itself (its watch reconnects) within 15 s, or
# else after a `tug host check hN`.
KILLS=0
kill_agent() {
	local n=$1 pid st p t0 how=itself i

	OPN=$((OPN + 1))
	pid=$(agent_pid $n)
	if [ -z "$pid" ]; then
		count kill 1 "h$n: no agent to kill" 0
		return 1
	fi
	st=$(pstat $pid)
	up=$(ps -o etimes= -p $pid | tr -d ' ')
	t0=$(now_ms)
	kill -9 $pid
	KILLS=$((KILLS + 1))
	for ((i = 0; i < 150; i++)); do
		p=$(agent_pid $n)
		[ -n "$p" ] && [ "$p" != "$pid" ] && break
		sleep 0.1
	done
	if [ -z "$p" ] || [ "$p" = "$pid" ]; then
		how="a host check"
		timeout 60 "$TUG" host check h$n >>$OUT/ops.log 2>&1
		for ((i = 0; i < 50; i++)); do
			p=$(agent_pid $n)
			[ -n "$p" ] && [ "$p" != "$pid" ] && break
			sleep 0.1
		done
	fi
	echo "=== op $OPN $(date -u +%T) +$((SECONDS - T0))s window $WIN kill: h$n agent $pid (up ${up}s, rss/fds/threads $st) -> new agent ${p:-none} after $(($(now_ms) - t0)) ms, by $how" >>$OUT/ops.log
	echo "h$n $pid ${up}s $st -> ${p:-none} $(($(now_ms) - t0))ms by $how" >>$OUT/killed
	AG[$n]=$p
	if [ -z "$p" ] || [ "$p" = "$pid" ]; then
		count kill 1 "h$n: no new agent after the kill of $pid" $(($(now_ms) - t0))
	else
		count kill 0 "" $(($(now_ms) - t0))
	fi
}

op_kill() {
	win_start kill
	pick_host
	kill_agent $PICK
	sleep 1
}

# A deploy with a host's agent killed under it, at a random moment: the
# deploy may fail (that host's outcome), but no request may; a deploy of
# the same site right after must converge.
op_kill_deploy() {
	local s n img d dp rc

	pick_site
	s=$PICK
	pick_host
	n=$PICK
	img=$((3 - ${CUR[$s]}))
	d=$((RANDOM % 120))
	win_start kill-in-deploy
	OPN=$((OPN + 1))
	timeout 300 "$TUG" deploy $s --image tug-test/app:$img >$T/kd.out 2>$T/kd.err &
	dp=$!
	sleep $((d / 10)).$((d % 10))
	kill_agent $n
	wait $dp
	rc=$?
	{
		echo "=== op $OPN $(date -u +%T) +$((SECONDS - T0))s window $WIN deploy-under-kill: tug deploy $s --image tug-test/app:$img, h$n's agent killed at $((d / 10)).$((d % 10)) s -> rc $rc"
		cat $T/kd.out $T/kd.err
	} >>$OUT/ops.log
	if [ $rc -eq 0 ]; then
		CUR[$s]=$img
		if v=$(verify $s); then
			count deploy-under-kill 0 "" 0
		else
			count deploy-under-kill 1 "after deploy $s app:$img: $v" 0
		fi
	else
		# The kill's doing, so not a failure: counted apart.
		NDONE[deploy-under-kill]=$((${NDONE[deploy-under-kill]:-0} + 1))
		KD_FAILED=$((KD_FAILED + 1))
		# Converge: the same site deployed again, in a window of its own.
		win_start deploy-after-kill
		deploy_checked deploy-after-kill $s
	fi
}
KD_FAILED=0

op_idle() {
	win_start idle
	count idle 0 "" 5000
	sleep 5
}

# --- the run ------------------------------------------------------------

T0=$SECONDS
"$TUG" -q host check >/dev/null || bail "host check"
sleep 2
sample
START_TUGD=$TUGD
START_TUGD_ST=$(pstat $TUGD)
declare -A START_AG START_AG_ST START_NGX
for n in "${HOSTS[@]}"; do
	START_AG[$n]=$(agent_pid $n)
	START_AG_ST[$n]=$(pstat ${START_AG[$n]})
	START_NGX[$n]=$(nginxes $n)
done
echo "# soak: ${SOAK}s on h4 h7 h11, seed $SEED, output in $OUT (started $(date -u +%T) UTC)"

# SOAK_ONLY="kill logs ...": only those operations, in equal shares (to
# reproduce what one kind does): deploy env logs check kill kill_deploy idle.
read -r -a ONLY <<<"${SOAK_ONLY:-}"
for op in "${ONLY[@]}"; do
	declare -F op_$op >/dev/null || bail "SOAK_ONLY: no operation '$op'"
done
END=$((SECONDS + SOAK))
NEXT_NOTE=$((SECONDS + 60))
while [ $SECONDS -lt $END ]; do
	if [ ${#ONLY[@]} -gt 0 ]; then
		op=${ONLY[$((RANDOM % ${#ONLY[@]}))]}
	else
		r=$((RANDOM % 100))
		if [ $r -lt 30 ]; then op=deploy
		elif [ $r -lt 50 ]; then op=env
		elif [ $r -lt 66 ]; then op=logs
		elif [ $r -lt 80 ]; then op=check
		elif [ $r -lt 89 ]; then op=kill
		elif [ $r -lt 96 ]; then op=kill_deploy
		else op=idle
		fi
	fi
	op_$op
	if [ $SECONDS -ge $NEXT_NOTE ]; then
		NEXT_NOTE=$((NEXT_NOTE + 60))
		echo "# +$((SECONDS - T0))s: $WIN windows, $OPN operations, $(awk '{ f += $7 + $9 } END { print f + 0 }' $OUT/load.log) failed requests, $(wc -l <$OUT/failures) failed operations"
	fi
done

# The end: the followers stopped, in a window of their own, then the load.
if [ ${#FPIDS[@]} -gt 0 ]; then
	win_start logs-stop
	while [ ${#FPIDS[@]} -gt 0 ]; do
		logs_stop
	done
fi
win_start final-verify
for s in "${SITES[@]}"; do
	OPN=$((OPN + 1))
	st=$("$TUG" --json site list | jq -r ".sites[] | select(.name == \"$s\") | .state")
	if ! v=$(verify $s); then
		count verify 1 "$v" 0
	elif [ "$st" != ok ]; then
		count verify 1 "tug site list: $s is '$st', not ok" 0
	else
		count verify 0 "" 0
	fi
done
win_end
sleep 3
sample
RUN_S=$((SECONDS - T0))
END_TUGD_ST=$(pstat $TUGD)

# --- the figures --------------------------------------------------------

echo
echo "soak: ${RUN_S} s on namespace hosts h4 h7 h11, 3 sites x 3 hosts behind agent-mode nginx (seed $SEED)"
echo "load: per (host, site) $LC clients on $LPATH and $LS on $SLOWPATH, without a pause; $WIN windows"
echo
echo "requests through the proxies, by the operation that ran while they were made"
awk '
	{
		k = $2; w[k, $1] = 1; req[k] += $5 + $8 + $9; fl[k] += $7 + $9
		sf[k] += $9; rc[k] += $10; tr += $5 + $8 + $9; tf += $7 + $9
		tsf += $9; trc += $10
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
		e = substr($0, index($0, "{")); gsub(/[{}]/, "", e)
		if (e != "") { ne = split(e, a, /,"/)
			for (i = 1; i <= ne; i++) { x = a[i]; sub(/^"/, "", x)
				split(x, b, /":/)
				if (!((k, b[1]) in ec)) names[k] = names[k] SUBSEP b[1]
				ec[k, b[1]] += b[2] } }
	}
	END {
		for (kw in w) { split(kw, p, SUBSEP); nw[p[1]]++ }
		printf "  %-18s %7s %10s %7s %6s %10s  %s\n", "operation", "windows", "requests", "failed", "(slow)", "reconnects", "errors"
		for (i = 1; i <= nk; i++) { k = order[i]; es = ""
			nn = split(substr(names[k], 2), nm, SUBSEP)
			for (j = 1; j <= nn; j++) es = es (j > 1 ? ", " : "") nm[j] " x" ec[k, nm[j]]
			printf "  %-18s %7d %10d %7d %6d %10d  %s\n", k, nw[k], req[k], fl[k], sf[k], rc[k], es }
		printf "  %-18s %7s %10d %7d %6d %10d  goal: 0 failed\n", "all", "", tr, tf, tsf, trc
	}' $OUT/load.log
echo
echo "operations"
printf '  %-18s %6s %7s %9s %9s  %s\n' operation "done" failed "mean ms" "max ms" ""
for k in deploy env-set logs-start logs-stop host-check kill deploy-under-kill deploy-after-kill idle verify; do
	[ -n "${NDONE[$k]:-}" ] || continue
	note=
	[ -z "${RETRY[$k]:-}" ] || note="lease busy, tried again: ${RETRY[$k]}"
	if [ $k = deploy-under-kill ]; then
		printf '  %-18s %6d %7d %9s %9s  %s\n' $k ${NDONE[$k]} ${NFAIL[$k]:-0} - - \
		    "$KD_FAILED of them stopped by the kill (expected), each deployed again: deploy-after-kill"
		continue
	fi
	printf '  %-18s %6d %7d %9d %9d  %s\n' $k ${NDONE[$k]} ${NFAIL[$k]:-0} \
	    $((${MS[$k]} / ${NDONE[$k]})) ${MSMAX[$k]:-0} "$note"
done
echo "  log followers: $FLINES lines in all, $FRESUMES resumes after a lost connection"
echo "  tugd restarts (crashes): $TUGD_RESTARTS; agents replaced but not by a kill of ours: $AGENT_SURPRISES"
echo
echo "processes at the start and at the end: VmRSS KiB / open fds / threads"
fmt() { set -- $1; [ $# -eq 3 ] && echo "$1 / $2 / $3" || echo "gone"; }
printf '  %-8s %-28s %-28s %s\n' "" "start" "end" ""
printf '  %-8s %-28s %-28s %s\n' tugd "pid $START_TUGD: $(fmt "$START_TUGD_ST")" \
    "pid $TUGD: $(fmt "$END_TUGD_ST")" ""
for n in "${HOSTS[@]}"; do
	e=$(agent_pid $n)
	printf '  %-8s %-28s %-28s %s\n' "h$n agent" \
	    "pid ${START_AG[$n]}: $(fmt "${START_AG_ST[$n]}")" \
	    "pid ${e:-none}: $(fmt "$(pstat ${e:-0})")" \
	    "(up $(ps -o etimes= -p ${e:-0} | tr -d ' ') s at the end; $(grep -c "^h$n " $OUT/killed) kills; nginx processes ${START_NGX[$n]} -> $(nginxes $n))"
done
awk '$2 == "tugd" { if (n == 0 || $4 < lo) lo = $4; if ($4 > hi) hi = $4
	if (n == 0 || $5 < flo) flo = $5; if ($5 > fhi) fhi = $5; n++ }
	END { printf "  tugd over %d samples: VmRSS %d..%d KiB, fds %d..%d\n", n, lo, hi, flo, fhi }' $OUT/samples
for q in 1 2 3 4; do
	awk -v q=$q -v len=$RUN_S '$2 == "tugd" && $1 <= q * len / 4 { l = $0 }
	    END { split(l, a, " "); printf "    at %3d%% (%4d s): VmRSS %d KiB, fds %d, threads %d\n", q * 25, a[1], a[4], a[5], a[6] }' $OUT/samples
done
if [ -s $OUT/killed ]; then
	echo "  agents killed (as they were just before: VmRSS KiB, fds, threads -> the next agent, and when):"
	sed 's/^/    /' $OUT/killed
fi
echo
echo "drift tugd saw and healed (its audit rows: op, state, result, count)"
sqlite3 -separator ' | ' "$TUG_HOME/tug.db" "SELECT op, json_extract(args, '\$.state'), result, count(*) FROM audit WHERE user = 'tugd' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" 2>&1 |
    sed 's/^/  /'
echo "tug site list at the end"
"$TUG" site list 2>&1 | sed 's/^/  /'
echo
if [ -s $OUT/failures ]; then
	echo "failures ($(wc -l <$OUT/failures); all in $OUT/failures, details in $OUT/ops.log):"
	head -n 20 $OUT/failures | sed 's/^/  /'
else
	echo "failures: none"
fi
echo "logs: $OUT (ops.log, load.log, samples, killed, tugd.log, hN/)"
