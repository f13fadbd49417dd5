#!/bin/bash
# agent-footprint.sh - tug-agent's footprint: binary size, peak memory while
# following a log stream of 100,000 lines, and that stream's throughput
# through a pipe, printed beside Docker's own rate for the same log.
#
# Goals (issue 2): binary <= 300 KB (dynamically linked), peak RSS <= 4 MB,
# >= 100 MB/s. Run: make bench, or TUG_BUILD=build bash tests/bench/agent-footprint.sh

set -u
. "$(dirname "$0")/../lib.sh"
LINES=${LINES_N:-100000}
S=benchlogs

bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
[ -x "$AGENT" ] && [ -x "$AGENTCTL" ] || bail "build first: make all $AGENTCTL"

# Size: as built (with debug info) and as installed (stripped).
strip -o "$T/agent.stripped" "$AGENT"
size_built=$(stat -c %s "$AGENT")
size_inst=$(stat -c %s "$T/agent.stripped")
nlibs=$(ldd "$AGENT" | wc -l)

# A container that has written LINES access-log lines.
site_purge $S
at_exit "site_purge $S"
"$AGENTCTL" -q -r site.apply "{\"site\":\"$S\",\"release\":1,\"image\":\"tug-test/app:1\",\"port\":8080,\"env\":{\"LOG_LINES\":\"$LINES\"},\"health\":{\"path\":\"/up\",\"interval_ms\":100}}" \
    -- "$AGENT" serve --state-dir "$T/state" >"$T/apply" 2>&1 || { cat "$T/apply"; bail "apply failed"; }
id=$($DOCKER inspect -f '{{.Id}}' tug-$S-r1)
for i in $(seq 100); do
	$DOCKER logs tug-$S-r1 2>/dev/null | grep -q "^listening" && break
	sleep 0.1
done

# Docker's own rate: the same log straight from the engine's API.
read -r dbytes dtime < <(curl -s --unix-socket /var/run/docker.sock -o /dev/null \
    -w '%{size_download} %{time_total}\n' \
    "http://docker/v1.41/containers/$id/logs?stdout=1&stderr=1&tail=all")

# The agent following the stream (tail all + follow), cancelled once every
# line has arrived. The wrapper shell records the agent's pid for sampling.
cat >"$T/run-agent" <<EOS
#!/bin/sh
echo \$\$ >"$T/time.pid"
exec /usr/bin/time -o "$T/cpu" -f '%U %S %M' "$AGENT" serve --state-dir "$T/state"
EOS
chmod +x "$T/run-agent"
rm -f "$T/time.pid"
"$AGENTCTL" -q -L "$LINES" -r logs "{\"site\":\"$S\",\"tail\":\"all\",\"follow\":true}" \
    -- "$T/run-agent" >"$T/out" 2>"$T/err" &
ctl=$!
anon=0
apid=
while kill -0 $ctl 2>/dev/null; do
	[ -z "$apid" ] && [ -s "$T/time.pid" ] && apid=$(pgrep -P "$(cat "$T/time.pid")")
	if [ -n "$apid" ]; then
		a=$(awk '/^RssAnon/{print $2}' "/proc/$apid/status" 2>/dev/null)
		[ "${a:-0}" -gt "$anon" ] && anon=$a
	fi
	sleep 0.005
done
wait $ctl || { cat "$T/out" "$T/err"; bail "logs failed"; }
read -r lines bytes ms < <(sed -n 's/^lines=\([0-9]*\) bytes=\([0-9]*\) ms=\([0-9]*\)$/\1 \2 \3/p' "$T/err")
[ "${lines:-0}" -ge "$LINES" ] || { cat "$T/err"; bail "only ${lines:-0} lines arrived"; }
read -r cpu_u cpu_s hwm <"$T/cpu"
cpu=$(awk -v u="$cpu_u" -v s="$cpu_s" 'BEGIN{print u + s}')

mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0) ? b / s / 1e6 : 0 }'; }
echo "tug-agent footprint ($LINES log lines, $(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}') MB)"
printf '  %-38s %8s   %s\n' "binary size, stripped (as installed)" "$((size_inst / 1024)) KB" "goal <= 300 KB; $nlibs shared libraries"
printf '  %-38s %8s\n' "binary size, with debug info" "$((size_built / 1024)) KB"
printf '  %-38s %8s   %s\n' "peak RSS (VmHWM) following the stream" "$((hwm / 1024)).$(((hwm % 1024) * 10 / 1024)) MB" "goal <= 4 MB"
printf '  %-38s %8s   %s\n' "  of which private (peak RssAnon)" "$((anon / 1024)).$(((anon % 1024) * 10 / 1024)) MB" "the rest is shared library pages"
printf '  %-38s %8s   %s\n' "throughput through the pipe" "$(mbps "$bytes" "$(awk -v m="$ms" 'BEGIN{print m/1000}')") MB/s" "goal >= 100 MB/s; ${ms} ms end to end"
printf '  %-38s %8s   %s\n' "agent's own rate (bytes / its CPU time)" "$(mbps "$bytes" "$cpu") MB/s" "${cpu} s of CPU: what the agent adds"
printf '  %-38s %8s   %s\n' "peer: Docker API serving the same log" "$(mbps "$dbytes" "$dtime") MB/s" "curl on the socket, no agent"
