#!/bin/bash
# 0029-faults: faults injected at every step of a deploy (DESIGN §5, the
# journal; docs/architecture.md "Faults"). The agent's hook (<state>/fault
# naming a point) makes it _exit there, as a kill -9 would; tugd's
# (TUG_FAULT=tugd:POINT) does the same between its steps. After each kill
# the deploy runs again, and the host must have converged: one container
# of the site, running the serving release, which the proxy reaches; no
# release left 'deploying', no deployment 'running', the lease free; no
# orphan container, network or temporary file. Then a kill in the middle
# of the proxy switch (the new config written, nginx not yet told),
# followed by an apply whose config nginx refuses: the recovery puts the
# old config back first, and the refused one leaves the site serving.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
N=17
U=tughost$N
ADDR=$(ns_addr $N)
STATE=/home/$U/.tug-agent
ns_test_host $N tug-test/app:1 tug-test/app:2 || bail "host $N"
ns_test_add $N --proxy nginx --proxy-port 8080 --proxy-tls-port 8443 ||
	bail "host h$N"

cat >$T/f.yml <<EOS
site: f
image: tug-test/app:1
hosts: [h$N]
domains: [f.t29.test]
port: 8080
env: {SITE: f}
health: {path: /up, interval: 100ms}
deploy: {drain: 200ms}
EOS
"$TUG" -q site apply $T/f.yml >/dev/null && "$TUG" -q deploy f >/dev/null ||
	bail "first deploy"
CONF=$(find $STATE -path "*/sites/f.conf") && test -n "$CONF" || bail "no f.conf"
PREV=${CONF%.conf}.prev

# fault POINT: the agent exits at POINT of the next apply of f.
fault() {
	printf 'f %s\n' "$1" >$STATE/fault && chown $U: $STATE/fault &&
	    chmod 600 $STATE/fault
}

db() { sqlite3 "$TUG_HOME/tug.db" "$1"; }

# The serving release as tugd records it.
current() { db "SELECT current_release FROM sites WHERE name = 'f'"; }

# converged: what must hold on host and controller after a deploy that
# followed a kill; says what does not.
converged() {
	local cur rel ids

	cur=$(current)
	test "$(db "SELECT count(*) FROM releases WHERE status = 'deploying'")" = 0 ||
	    { echo "a release is left deploying:"; "$TUG" releases f; return 1; }
	test "$(db "SELECT count(*) FROM deployments WHERE state = 'running'")" = 0 ||
	    { echo "a deployment is left running"; return 1; }
	test "$(db "SELECT count(*) FROM locks")" = 0 ||
	    { echo "a lease is held:"; db "SELECT * FROM locks"; return 1; }
	ids=$(ns_docker $N ps -aq --filter label=tug.site=f)
	test "$(echo "$ids" | wc -w)" = 1 ||
	    { echo "containers of f:"; ns_docker $N ps -a --filter label=tug.site=f; return 1; }
	test "$(ns_docker $N inspect -f '{{.State.Running}} {{index .Config.Labels "tug.release"}}' $ids)" = "true $cur" ||
	    { echo "the container is not release $cur, running:"; ns_docker $N ps -a; return 1; }
	rel=$(curl -sS -m 5 -o /dev/null -D - -H "Host: f.t29.test" \
	    http://$ADDR:8080/ | tr -d '\r' | sed -n 's/^[Xx]-[Tt]ug-[Rr]elease: //p')
	test "$rel" = "$cur" ||
	    { echo "the proxy answers for release '$rel', tugd serves $cur"; return 1; }
	test "$(ns_docker $N network ls -q --filter label=tug.site=f | wc -l)" = 1 ||
	    { ns_docker $N network ls; return 1; }
	test -z "$(find $STATE -name '*.tmp-*' 2>/dev/null)" ||
	    { echo "temporary files left:"; find $STATE -name '*.tmp-*'; return 1; }
	test ! -e $STATE/fault
}

# kill_at POINT IMAGE: a deploy the agent dies in at POINT fails; the next
# converges.
kill_at() {
	local before

	before=$(current)
	fault "$1" &&
	! "$TUG" deploy f --image "$2" >$T/out.$1 2>$T/err.$1 &&
	test ! -e $STATE/fault &&
	{ "$TUG" deploy f --image "$2" >$T/out 2>$T/err ||
	    { cat $T/err.$1 $T/err; false; }; } &&
	test "$(current)" -gt "$before" &&
	converged
}

img=1
for p in begin created started proxy switched done; do
	img=$((3 - img))
	step "the agent killed after '$p': the deploy fails, the next converges" \
	    "kill_at after-$p tug-test/app:$img"
done

step 'each release the agent was killed in is failed; none is left deploying' '
	"$TUG" releases f >$T/rel &&
	hasnt $T/rel " deploying " &&
	test "$(grep -c " failed " $T/rel)" -ge 6
'

# gone: the tugd that exited has let go of its state (a CLI could still
# connect to its socket for a moment while the process goes).
gone() {
	for _ in $(seq 100); do
		flock -n "$TUG_HOME/tugd.lock" true && return 0
		sleep 0.05
	done
	echo "tugd still holds $TUG_HOME/tugd.lock"
	return 1
}

# The same walk for a static site: its tree extracted on the host, then
# the proxy switched to it.
mkdir -p $T/spec/public
echo "s 0" >$T/spec/public/index.html
cat >$T/spec/s.yml <<EOS
site: s
kind: static
root: ./public
hosts: [h$N]
domains: [s.t29.test]
deploy: {keep: 2}
EOS
"$TUG" -q site apply $T/spec/s.yml >/dev/null && "$TUG" -q deploy s >/dev/null ||
	bail "first static deploy"

# static_converged BODY: the proxy serves BODY from the serving release.
static_converged() {
	local cur rel body

	cur=$(db "SELECT current_release FROM sites WHERE name = 's'")
	test "$(db "SELECT count(*) FROM releases WHERE status = 'deploying'")" = 0 &&
	test "$(db "SELECT count(*) FROM locks")" = 0 ||
	    { echo "a release deploying or a lease held"; return 1; }
	body=$(curl -sS -m 5 -D $T/h -H "Host: s.t29.test" http://$ADDR:8080/) &&
	rel=$(tr -d "\r" <$T/h | sed -n "s/^[Xx]-[Tt]ug-[Rr]elease: //p") &&
	test "$body" = "$1" && test "$rel" = "$cur" ||
	    { echo "the proxy answers '$body' for release '$rel', tugd serves $cur"; return 1; }
	test -z "$(find $STATE -name '*.tmp-*' -o -name '*.part' 2>/dev/null)" ||
	    { echo "temporary files left:"; find $STATE -name '*.tmp-*' -o -name '*.part'; return 1; }
	test ! -e $STATE/fault
}

# static_kill_at POINT N: a static deploy of "s N" killed at POINT fails;
# the next one serves "s N".
static_kill_at() {
	echo "s $2" >$T/spec/public/index.html &&
	printf 's %s\n' "$1" >$STATE/fault && chown $U: $STATE/fault &&
	! "$TUG" deploy s >$T/out.s$2 2>$T/err.s$2 &&
	test ! -e $STATE/fault &&
	{ "$TUG" deploy s >$T/out 2>$T/err || { cat $T/err.s$2 $T/err; false; }; } &&
	static_converged "s $2"
}

i=0
for p in begin extracted proxy switched done; do
	i=$((i + 1))
	step "a static deploy, the agent killed after '$p': the deploy fails, the next converges" \
	    "static_kill_at after-$p $i"
done

# tugd_kill_at POINT: tugd exits at POINT of a deploy; the next tugd marks
# the release interrupted, and a deploy converges.
tugd_kill_at() {
	local before

	before=$(current)
	tugd_stop &&
	! TUG_FAULT=tugd:$1 "$TUG" deploy f >$T/out.$1 2>$T/err.$1 &&
	gone &&
	"$TUG" releases f >$T/rel &&
	test "$(db "SELECT status FROM releases ORDER BY id DESC LIMIT 1")" = interrupted &&
	"$TUG" audit >$T/audit &&
	has $T/audit "release [0-9]* interrupted: tugd stopped during its deploy" &&
	{ "$TUG" deploy f >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	test "$(current)" -gt "$before" &&
	converged
}

for p in after-release before-finish; do
	step "tugd killed at '$p': the release is interrupted, the next deploy converges" \
	    "tugd_kill_at $p"
done

# The recovery path: the agent dies with the new config written and nginx
# not told (sites/f.conf new, sites/f.prev the old). The next apply puts
# the old one back before anything else; then its own config fails
# nginx -t (a certificate file that is not there), it is put back again,
# and the site still serves the release it served.
step 'killed in the middle of the switch, then an apply nginx refuses: the old config serves throughout' '
	cur=$(current) &&
	fault switch-written &&
	! "$TUG" deploy f --image tug-test/app:2 >$T/out 2>$T/err &&
	test -e $PREV &&
	printf "tls: {cert: /nonexistent/f/cert.pem, key: /nonexistent/f/key.pem}\n" >>$T/f.yml &&
	"$TUG" -q site apply $T/f.yml >/dev/null &&
	! "$TUG" deploy f >$T/out 2>$T/err &&
	has $T/err "nginx" &&
	sed -i "/^tls: /d" $T/f.yml && "$TUG" -q site apply $T/f.yml >/dev/null &&
	test "$(current)" = "$cur" &&
	rel=$(curl -sS -m 5 -o /dev/null -D - -H "Host: f.t29.test" \
	    http://$ADDR:8080/ | tr -d "\r" | sed -n "s/^[Xx]-[Tt]ug-[Rr]elease: //p") &&
	test "$rel" = "$cur" &&
	test ! -e $PREV &&
	"$TUG" deploy f >/dev/null && converged
'

# The health gate alone (f has no health.cmd, so no Docker health check):
# a release whose health path answers 500 is never switched to.
# Before it, a deploy killed after 'created': the failed apply that
# follows must still remove the container the killed one left, and keep
# only its own, stopped, for its logs.
step 'a release whose health path answers 500 is not switched to; the serving one stays, only the failed one is kept, stopped' '
	cur=$(current) &&
	fault after-created &&
	! "$TUG" deploy f >$T/out 2>$T/err &&
	! "$TUG" env set f HEALTH=fail >$T/out 2>$T/err &&
	has $T/err "did not become healthy" &&
	test "$(current)" = "$cur" &&
	test "$(ns_docker $N ps -q --filter label=tug.site=f | wc -l)" = 1 &&
	test "$(ns_docker $N ps -aq --filter label=tug.site=f --filter status=exited | wc -l)" = 1 &&
	rel=$(curl -sS -m 5 -o /dev/null -D - -H "Host: f.t29.test" \
	    http://$ADDR:8080/ | tr -d "\r" | sed -n "s/^[Xx]-[Tt]ug-[Rr]elease: //p") &&
	test "$rel" = "$cur" &&
	"$TUG" env unset f HEALTH >/dev/null 2>&1 &&
	test "$(current)" -gt "$cur" && converged
'

# What the spec asks is what Docker runs: every knob of a container site,
# read back from the container tug made.
cat >$T/x.yml <<EOS
site: x
image: tug-test/app:1
hosts: [h$N]
domains: [x.t29.test]
port: 8080
env: {SITE: x}
health: {path: /up, interval: 100ms}
resources: {cpus: 0.5, memory: 64M, pids: 200}
restart: on-failure
read_only: true
user: "1000:1000"
cap_drop: [MKNOD, CHOWN]
stop_timeout: 7s
EOS
inspect() {
	ns_docker $N inspect -f "$1" $(ns_docker $N ps -q --filter label=tug.site=x)
}
step 'what the spec asks is what Docker runs: read-only root, caps, user, cpus, memory, pids, privileges, init, stop timeout, restart, labels' '
	sed "s/pids: 200/pids: 5/" $T/x.yml >$T/x5.yml &&
	! "$TUG" site apply $T/x5.yml 2>$T/err &&
	has $T/err "invalid resources.pids .5.: must be between 16 and 4194304" &&
	"$TUG" -q site apply $T/x.yml >/dev/null &&
	{ "$TUG" deploy x >$T/out 2>$T/err || { cat $T/err; false; }; } &&
	test "$(inspect "{{.HostConfig.ReadonlyRootfs}}")" = true &&
	test "$(inspect "{{json .HostConfig.Tmpfs}}")" = "{\"/tmp\":\"rw,nosuid,nodev,size=64m\"}" &&
	test "$(inspect "{{json .HostConfig.CapDrop}}")" = "[\"MKNOD\",\"CHOWN\",\"NET_RAW\"]" &&
	test "$(inspect "{{.Config.User}}")" = 1000:1000 &&
	test "$(inspect "{{.HostConfig.NanoCpus}}")" = 500000000 &&
	test "$(inspect "{{.HostConfig.Memory}}")" = 67108864 &&
	test "$(inspect "{{.HostConfig.PidsLimit}}")" = 200 &&
	test "$(inspect "{{json .HostConfig.SecurityOpt}}")" = "[\"no-new-privileges\"]" &&
	test "$(inspect "{{.HostConfig.Init}}")" = true &&
	test "$(inspect "{{.Config.StopTimeout}}")" = 7 &&
	test "$(inspect "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}")" = "on-failure 0" &&
	test "$(inspect "{{index .Config.Labels \"tug.site\"}} {{index .Config.Labels \"tug.release\"}} {{index .Config.Labels \"tug.instance\"}}")" = "x 1 tug-x-r1" &&
	test -n "$(inspect "{{index .Config.Labels \"tug.controller\"}}")" &&
	test "$(inspect "{{json .HostConfig.PortBindings}}" | grep -o "\"HostIp\":\"[^\"]*\"")" = "\"HostIp\":\"127.0.0.1\"" &&
	test "$(inspect "{{.HostConfig.NetworkMode}}")" = "$(ns_docker $N network ls --filter label=tug.site=x --format "{{.Name}}")" &&
	rel=$(curl -sS -m 5 -o /dev/null -D - -H "Host: x.t29.test" http://$ADDR:8080/ | tr -d "\r" | sed -n "s/^[Xx]-[Tt]ug-[Rr]elease: //p") &&
	test "$rel" = 1
'

finish
