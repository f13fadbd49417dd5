#!/bin/bash
# 0007-agent-pull: image.pull and site.apply's pull against a real registry
# (Debian's docker-registry with htpasswd auth on 127.0.0.1): refused without
# or with wrong credentials, quoting Docker; pulled with the right ones; the
# password never shows in anything the agent writes; bad args refused.

. "$(dirname "$0")/../lib.sh"
bed_dockerd || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
$DOCKER info 2>/dev/null | grep -A3 'Insecure Registries' | grep -q '127.0.0.0/8' ||
    bail "dockerd does not treat 127.0.0.0/8 as insecure registries"

RUN=("$AGENT" serve -vv --state-dir "$T/state")
export TUG_TRACE_FRAMES=1
USER_OK=tug-puller
PASS_OK="right-Pa55 \"word\" $RANDOM"
PASS_BAD="WrongPassw0rd-$RANDOM$RANDOM"
S=t7pull

# req OUT OP JSON [AGENTCTL-OPTIONS...]: one request, its frames in OUT and
# everything on stderr (the agent's -vv log and frame trace) in OUT.err.
req() {
	local out=$1 op=$2 args=$3

	shift 3
	"$AGENTCTL" -t 120 "$@" -r "$op" "$args" -- "${RUN[@]}" >"$out" 2>"$out.err"
}

# leaks PASSWORD FILE...: fail if the password shows in any FILE.
leaks() {
	local pw=$1

	shift
	if grep -F -l -- "$pw" "$@"; then
		echo "the password leaked into the files above"
		return 1
	fi
	return 0
}

# JSON string of $1 (the passwords hold quotes and spaces).
js() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# Images of earlier runs' registries, which are gone.
$DOCKER images --format '{{.Repository}}:{{.Tag}}' |
    grep '^127\.0\.0\.1:[0-9]*/tug-test/pull:' | xargs -r $DOCKER rmi -f >/dev/null 2>&1
site_purge $S

PORT=$(bed_registry "$T/registry" "$USER_OK" "$PASS_OK") ||
    bail "cannot start a registry"
at_exit "bed_registry_stop $T/registry"
REG=127.0.0.1:$PORT
IMG=$REG/tug-test/pull:1
at_exit "$DOCKER rmi -f $IMG; site_purge $S"
AUTH_OK="{\"username\":\"$USER_OK\",\"password\":$(js "$PASS_OK"),\"server\":\"$REG\"}"
AUTH_BAD="{\"username\":\"$USER_OK\",\"password\":$(js "$PASS_BAD")}"

# A two-layer image of random bytes (48 MB, so that a pull takes long
# enough for progress summaries) on top of the app, pushed with the
# docker CLI (its credentials kept in $T and removed), then removed here so
# that only a pull brings it back.
export DOCKER_CONFIG=$T/docker-cli
{
	mkdir -p "$T/root" &&
	    tar -C "$T/root" -xf "$T/fixtures/app-1.tar" &&
	    head -c 32000000 /dev/urandom >"$T/root/blob1" &&
	    tar -C "$T/root" -cf "$T/pull.tar" . &&
	    $DOCKER import --change 'CMD ["/app"]' --change 'EXPOSE 8080' \
	    "$T/pull.tar" "$IMG" >/dev/null &&
	    cid=$($DOCKER create "$IMG") &&
	    head -c 16000000 /dev/urandom >"$T/blob2" &&
	    $DOCKER cp "$T/blob2" "$cid:/blob2" &&
	    $DOCKER commit "$cid" "$IMG" >/dev/null &&
	    $DOCKER rm "$cid" >/dev/null &&
	    ID=$($DOCKER image inspect -f '{{.Id}}' "$IMG") &&
	    printf '%s' "$PASS_OK" | $DOCKER login -u "$USER_OK" \
	    --password-stdin "$REG" >"$T/login.out" 2>&1 &&
	    $DOCKER push "$IMG" >"$T/push.out" 2>&1 &&
	    $DOCKER logout "$REG" >/dev/null 2>&1 &&
	    rm -rf "$DOCKER_CONFIG" &&
	    DIGEST=$(sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p' "$T/push.out") &&
	    [ -n "$DIGEST" ] &&
	    $DOCKER rmi "$IMG" >/dev/null &&
	    ! $DOCKER image inspect "$IMG" >/dev/null 2>&1
} || { cat "$T/login.out" "$T/push.out" 2>/dev/null; bail "cannot push the test image"; }
unset DOCKER_CONFIG

step 'the registry refuses anonymous pulls (checked with curl)' '
	test "$(curl -s -o /dev/null -w "%{http_code}" http://$REG/v2/tug-test/pull/manifests/1)" = 401
'

step 'image.pull without credentials: docker error quoting Docker' '
	! req $T/anon image.pull "{\"ref\":\"$IMG\"}" &&
	has $T/anon "\"ok\":false,\"error\":{\"code\":\"docker\",\"message\":\"docker could not pull '"'"'$IMG'"'"': .*no basic auth credentials" &&
	! $DOCKER image inspect $IMG >/dev/null 2>&1
'

step 'image.pull with a wrong password: refused, the password written nowhere' '
	! req $T/bad image.pull "{\"ref\":\"$IMG\",\"auth\":$AUTH_BAD}" &&
	has $T/bad "\"code\":\"docker\",\"message\":\"docker could not pull .*unauthorized: authentication required" &&
	has $T/bad.err "agent < REQUEST id=1" &&
	has $T/bad.err "debug: job 1: pull: pulling $IMG" &&
	leaks "$PASS_BAD" $T/bad $T/bad.err &&
	hasnt $T/bad.err "X-Registry-Auth" &&
	! $DOCKER image inspect $IMG >/dev/null 2>&1
'

step 'image.pull with the right credentials: pulled, same id and digest as pushed' '
	req $T/ok image.pull "{\"ref\":\"$IMG\",\"auth\":$AUTH_OK}" &&
	has $T/ok "\"step\":\"pull\",\"message\":\"pulling $IMG from $REG with credentials\"" &&
	has $T/ok "\"step\":\"pull\",\"message\":\"pulled $IMG: 2 layers (0 already here), [0-9.]* MiB in [0-9]* ms\"" &&
	has $T/ok "\"ok\":true,\"value\":{\"ref\":\"$IMG\",\"id\":\"$ID\",\"digest\":\"$DIGEST\",\"layers\":2," &&
	test "$($DOCKER image inspect -f "{{.Id}}" $IMG)" = "$ID" &&
	leaks "$PASS_OK" $T/ok $T/ok.err
'

step 'progress summaries come at most every 500 ms' '
	n=$(grep -c "\"message\":\"pulling $IMG: [0-9] of 2 layers, [0-9]*\.[0-9] MiB\"" $T/ok || :) &&
	ms=$(sed -n "s/.*\"elapsed_ms\":\([0-9]*\).*/\1/p" $T/ok) &&
	echo "$n summaries in $ms ms" &&
	test "$n" -le $((ms / 500 + 1)) &&
	{ test "$ms" -lt 1000 || test "$n" -ge 1; }
'

step 'image.pull of an image already here: up to date' '
	req $T/again image.pull "{\"ref\":\"$IMG\",\"auth\":$AUTH_OK}" &&
	has $T/again "\"message\":\"$IMG is up to date\"" &&
	has $T/again "\"id\":\"$ID\""
'

step 'image.pull of a tag the registry lacks: Docker'"'"'s manifest unknown' '
	! req $T/nope image.pull "{\"ref\":\"$REG/tug-test/pull:nope\",\"auth\":$AUTH_OK}" &&
	has $T/nope "\"code\":\"docker\",\"message\":\"docker could not pull .*manifest unknown"
'

SPEC="\"site\":\"$S\",\"release\":1,\"image\":\"$IMG\",\"port\":8080,\"env\":{\"SITE\":\"$S\",\"VERSION\":\"v1\"},\"health\":{\"path\":\"/up\",\"interval_ms\":200}"

step 'site.apply of an absent image without pull: not_found as before' '
	$DOCKER rmi $IMG >/dev/null &&
	! req $T/np site.apply "{$SPEC}" &&
	has $T/np "\"code\":\"not_found\",\"message\":\"image '"'"'$IMG'"'"' is not on this host: push it there first (tug image push $IMG), or deploy an image that names its registry\"" &&
	test -z "$(site_containers $S)"
'

step 'site.apply with pull and a wrong password: docker error, nothing created' '
	! req $T/sbad site.apply "{$SPEC,\"pull\":{\"auth\":$AUTH_BAD}}" &&
	has $T/sbad "\"code\":\"docker\",\"message\":\"docker could not pull .*unauthorized" &&
	leaks "$PASS_BAD" $T/sbad $T/sbad.err &&
	test -z "$(site_containers $S)"
'

step 'site.apply of an absent image with pull: pulled, then running' '
	req $T/sok site.apply "{$SPEC,\"pull\":{\"auth\":$AUTH_OK}}" &&
	has $T/sok "\"step\":\"pull\",\"message\":\"pulled $IMG: 2 layers" &&
	has $T/sok "\"step\":\"healthy\"" &&
	has $T/sok "\"ok\":true,.*\"image_id\":\"$ID\"" &&
	leaks "$PASS_OK" $T/sok $T/sok.err &&
	port=$(sed -n "s/.*\"port\":\([0-9]*\).*/\1/p" $T/sok | tail -n 1) &&
	test "$(curl -fsS http://127.0.0.1:$port/)" = "$S v1"
'

step 'the pull args are not part of the spec: other credentials reuse the container' '
	req $T/sre site.apply "{$SPEC,\"pull\":{\"auth\":$AUTH_BAD}}" &&
	has $T/sre "\"reused\":true" &&
	hasnt $T/sre "\"step\":\"pull\"" &&
	req $T/srm site.remove "{\"site\":\"$S\"}"
'

# A "registry" that accepts a connection and never answers.
HANG=$((PORT + 1))
while [ -n "$(ss -Hltn "sport = :$HANG")" ]; do HANG=$((HANG + 1)); done
mkfifo "$T/hang.fifo" || bail "mkfifo"
busybox nc -l -p "$HANG" 127.0.0.1 <>"$T/hang.fifo" >/dev/null 2>&1 &
at_exit "kill $!"

step 'cancel aborts a pull that hangs' '
	for i in $(seq 50); do
		test -n "$(ss -Hltn "sport = :$HANG")" && break;
		sleep 0.05;
	done;
	start=$(date +%s%N);
	req $T/cancel image.pull "{\"ref\":\"127.0.0.1:$HANG/tug-test/hang:1\"}" -C 1000;
	rc=$?;
	end=$(date +%s%N);
	test $rc -eq 1 &&
	has $T/cancel "\"step\":\"pull\",\"message\":\"pulling 127.0.0.1:$HANG/tug-test/hang:1" &&
	has $T/cancel "\"code\":\"cancelled\"" &&
	test $(((end - start) / 1000000)) -lt 5000
'

# bad OUT JSON PATTERN [OP]: refused with bad_args matching PATTERN.
bad() {
	! req "$1" "${4:-image.pull}" "$2" &&
	    has "$1" "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$3"
}

step 'bad args are refused, and a refused password is not echoed' '
	bad $T/b1 "{}" "args.ref: missing" &&
	bad $T/b2 "{\"ref\":\"Bad/Ref\"}" "invalid image reference" &&
	bad $T/b3 "{\"ref\":\"sha256:$(printf %064d 0)\"}" "cannot pull an image id" &&
	bad $T/b4 "{\"ref\":\"$IMG\",\"auth\":\"$USER_OK:$PASS_BAD\"}" "args.auth: expected a map" &&
	bad $T/b5 "{\"ref\":\"$IMG\",\"auth\":{\"password\":\"$PASS_BAD\"}}" "args.auth.username: missing" &&
	bad $T/b6 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\"}}" "args.auth.password: missing" &&
	bad $T/b7 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"$(head -c 4097 /dev/zero | tr "\0" x)\"}}" "args.auth.password: longer than 4096 bytes" &&
	bad $T/b8 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"$(head -c 257 /dev/zero | tr "\0" u)\",\"password\":\"$PASS_BAD\"}}" "args.auth.username: longer than 256 bytes" &&
	bad $T/b9 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\\u0000v\",\"password\":\"$PASS_BAD\"}}" "args.auth.username: contains a NUL byte" &&
	bad $T/b10 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"$PASS_BAD\\u0000\"}}" "args.auth.password: contains a NUL byte" &&
	bad $T/b11 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"\"}}" "args.auth.password: empty" &&
	bad $T/b12 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"a:b\",\"password\":\"$PASS_BAD\"}}" "args.auth.username: contains" &&
	bad $T/b13 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"$PASS_BAD\",\"server\":\"http://$REG/\"}}" "invalid args.auth.server" &&
	bad $T/b14 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"$PASS_BAD\",\"server\":\"$REG:1\"}}" "invalid args.auth.server" &&
	bad $T/b15 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"$PASS_BAD\",\"server\":\"registry.example.test\"}}" "args.auth.server .registry.example.test. is not the registry of" &&
	bad $T/b16 "{\"ref\":\"tug-test/pull:1\",\"auth\":{\"username\":\"u\",\"password\":\"$PASS_BAD\",\"server\":\"$REG\"}}" "args.auth.server .* is not the registry of .* (docker.io)" &&
	bad $T/b17 "{\"ref\":\"$IMG\",\"auth\":{\"username\":\"u\",\"password\":\"$PASS_BAD\",\"server\":\"$(head -c 256 /dev/zero | tr "\0" a)\"}}" "args.auth.server: longer than 255 bytes" &&
	bad $T/b19 "{$SPEC,\"pull\":true}" "args.pull: expected a map" site.apply &&
	bad $T/b20 "{$SPEC,\"pull\":{\"auth\":{\"username\":\"u\"}}}" "args.pull.auth.password: missing" site.apply &&
	bad $T/b21 "{\"site\":\"$S\",\"release\":1,\"image\":\"sha256:$(printf %064d 0)\",\"pull\":{}}" "cannot pull an image id" site.apply &&
	leaks "$PASS_BAD" $T/b*
'

finish
