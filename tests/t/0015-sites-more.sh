#!/bin/bash
# 0015-sites-more: the rest of the sites issue through tugd, on this machine
# added as a host over real SSH (its dockerd can reach a registry on
# loopback): static sites (deploy ships the root directory, rollback is a
# config swap, a host that lost a tree gets it again, links refused),
# registry logins (a pull with credentials held by tugd, never shown or
# stored in clear), site rm --volumes, and a config nginx rejects leaving
# every other site serving.

. "$(dirname "$0")/../lib.sh"
bed_dockerd >/dev/null || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
U=tugt15
SSH_PORT=${TUG_TEST_0015_SSH_PORT:-2297}
PORT=${TUG_TEST_0015_PROXY_PORT:-18092}
TLS_PORT=${TUG_TEST_0015_TLS_PORT:-18493}
USER_OK=tug-t15
PASS_OK="t15-Pa55 \"word\" $RANDOM$RANDOM"
for s in docs pulled vol keep tlsbad old; do site_purge $s; done

at_exit "for s in docs pulled vol keep tlsbad old; do site_purge \$s; done; $DOCKER volume rm -f t15-old"
"$TUG" init >/dev/null && "$TUG" key >$T/tugd.pub || bail "tug key"
bed_user $U || bail "user"
HOME_U=$(getent passwd $U | cut -d: -f6)
if [ -s "$HOME_U/.tug-agent/nginx/logs/nginx.pid" ]; then
	kill "$(cat "$HOME_U/.tug-agent/nginx/logs/nginx.pid")" 2>/dev/null
	sleep 0.3
fi
rm -rf "$HOME_U/.tug" "$HOME_U/.tug-agent"
bed_sshd /run/tug-test/sshd-0015 $SSH_PORT $U $T/tugd.pub >/dev/null || bail "sshd"
at_exit "bed_sshd_stop /run/tug-test/sshd-0015"
at_exit "kill \$(cat $HOME_U/.tug-agent/nginx/logs/nginx.pid)"
"$TUG" -q host add local $U@127.0.0.1:$SSH_PORT --accept-new-hostkey >/dev/null ||
    bail "host add"

# get HOST-HEADER [PATH]: what this host's nginx answers.
get() {
	curl -sS --max-time 5 -H "Host: $1" "http://127.0.0.1:$PORT${2:-/}"
}

step 'host bootstrap --proxy nginx with a TLS port' '
	"$TUG" host bootstrap local --proxy nginx --proxy-port $PORT \
	    --proxy-tls-port $TLS_PORT >$T/out 2>$T/err &&
	grep -q "nginx serving on port $PORT" $T/err &&
	grep -q "\"tls_listen\":$TLS_PORT" "$HOME_U/.tug-agent/proxy.json" &&
	! "$TUG" host bootstrap local --proxy nginx --proxy-port $PORT \
	    --proxy-tls-port $PORT 2>$T/err &&
	grep -q "TLS port must be 1024 to 65535 and not the plain port" $T/err
'

mkdir -p $T/spec/public/sub
echo "docs v1" >$T/spec/public/index.html
echo "page v1" >$T/spec/public/sub/page.html
cat >$T/spec/docs.yml <<EOS
site: docs
kind: static
root: ./public
hosts: [local]
domains: [docs.test]
deploy: {keep: 2}
EOS

step 'static site: deploy ships the root directory, nginx serves it' '
	(cd / && "$TUG" site apply $T/spec/docs.yml >$T/out) &&
	(cd / && "$TUG" deploy docs >$T/out 2>$T/err) &&
	grep -q "packing $T/spec/public" $T/err &&
	grep -q "release 1 (static:[0-9a-f]\{16\}) serving on 1 host" $T/out &&
	test "$(get docs.test)" = "docs v1" &&
	test "$(get docs.test /sub/page.html)" = "page v1" &&
	test -s "$TUG_HOME/static/docs/1.tar.gz" &&
	test -d "$HOME_U/.tug-agent/static/docs/1"
'

step 'static redeploy, then rollback: a config swap to the tree on the host' '
	echo "docs v2" >$T/spec/public/index.html &&
	"$TUG" deploy docs >$T/out 2>$T/err &&
	grep -q "release 2 (static:" $T/out &&
	test "$(get docs.test)" = "docs v2" &&
	"$TUG" rollback --yes docs >$T/out 2>$T/err &&
	grep -q "release 1 is on this host already: switching to it" $T/err &&
	! grep -q "receiving release" $T/err &&
	test "$(get docs.test)" = "docs v1" &&
	"$TUG" releases docs >$T/out &&
	grep -q "^3 \* *static:[0-9a-f]* *done (of 1)" $T/out
'

step 'a host that lost a tree is sent the kept archive again' '
	rm -rf "$HOME_U/.tug-agent/static/docs/2" &&
	"$TUG" rollback --yes docs 2 >$T/out 2>$T/err &&
	grep -q "no longer hold release 2: sending it again" $T/err &&
	test "$(get docs.test)" = "docs v2" &&
	"$TUG" site status docs >/dev/null
'

step 'static roots holding links or fifos are refused, nothing changes' '
	ln -s /etc/passwd $T/spec/public/leak &&
	! "$TUG" deploy docs >$T/out 2>$T/err &&
	grep -q "cannot ship $T/spec/public: .leak. is a symbolic link" $T/err &&
	rm $T/spec/public/leak &&
	mkfifo $T/spec/public/sub/pipe &&
	! "$TUG" deploy docs >$T/out 2>$T/err &&
	grep -q "cannot ship $T/spec/public: .sub/pipe. is not a file or a directory" $T/err &&
	rm $T/spec/public/sub/pipe &&
	test "$(get docs.test)" = "docs v2" &&
	! "$TUG" deploy docs --image tug-test/app:1 2>$T/err &&
	grep -q "is a static site: it has no image" $T/err &&
	"$TUG" releases docs | grep -q "^4 \*"
'

LONG=$(printf "d%.0s" $(seq 60))/$(printf "f%.0s" $(seq 70)).html
step 'names over 100 bytes travel (pax records) and are served' '
	mkdir -p $T/spec/public/${LONG%/*} &&
	echo "long v3" >$T/spec/public/$LONG &&
	echo "docs v3" >$T/spec/public/index.html &&
	"$TUG" deploy docs >/dev/null 2>&1 &&
	test "$(get docs.test /$LONG)" = "long v3" &&
	test "$(get docs.test)" = "docs v3"
'

step 'static archives beyond keep are pruned on the controller' '
	echo "docs v4" >$T/spec/public/index.html &&
	"$TUG" deploy docs >$T/out 2>&1 &&
	test "$(get docs.test)" = "docs v4" &&
	test "$(ls "$TUG_HOME/static/docs" | sort | tr "\n" " ")" = "5.tar.gz 6.tar.gz "
'

# A registry on loopback with htpasswd auth; the image pushed to it with
# the docker CLI (its credentials in $T), then removed from the engine so
# that only a pull with the right login brings it back.
RPORT=$(bed_registry "$T/registry" "$USER_OK" "$PASS_OK") || bail "registry"
at_exit "bed_registry_stop $T/registry"
REG=127.0.0.1:$RPORT
IMG=$REG/tug-test/app:1
at_exit "$DOCKER rmi -f $IMG"
{
	export DOCKER_CONFIG=$T/docker-cli &&
	$DOCKER tag tug-test/app:1 "$IMG" &&
	printf '%s' "$PASS_OK" | $DOCKER login -u "$USER_OK" --password-stdin "$REG" >$T/login.out 2>&1 &&
	$DOCKER push "$IMG" >$T/push.out 2>&1 &&
	rm -rf "$DOCKER_CONFIG" && unset DOCKER_CONFIG &&
	$DOCKER rmi "$IMG" >/dev/null
} || { cat $T/login.out $T/push.out; bail "cannot push to the registry"; }

cat >$T/pulled.yml <<EOS
site: pulled
image: $IMG
hosts: [local]
domains: [pulled.test]
port: 8080
env: {SITE: pulled}
health: {path: /up, interval: 200ms, retries: 25}
EOS

step 'an image from a registry without a login: the pull is refused' '
	"$TUG" site apply $T/pulled.yml >/dev/null &&
	! "$TUG" deploy pulled >$T/out 2>$T/err &&
	grep -q "docker could not pull .$IMG." $T/err &&
	! $DOCKER image inspect "$IMG" >/dev/null 2>&1
'

step 'registry login: stored sealed, listed without the password, used by the pull' '
	printf "%s\n" "$PASS_OK" | "$TUG" registry login $REG --username $USER_OK --password-stdin >$T/out &&
	grep -q "login for $REG stored (user $USER_OK)" $T/out &&
	"$TUG" registry list >$T/out &&
	grep -q "^$REG *$USER_OK *root" $T/out &&
	"$TUG" deploy pulled >$T/out 2>$T/err &&
	grep -q "hosts without $IMG pull it from $REG as $USER_OK" $T/err &&
	grep -q "pulling $IMG from $REG with credentials" $T/err &&
	test "$(get pulled.test)" = "pulled 1" &&
	! grep -rqF "$PASS_OK" $T/out $T/err "$TUG_HOME/tugd.log" &&
	! grep -aqF "t15-Pa55" "$TUG_HOME"/tug.db* &&
	! "$TUG" --json registry list | grep -q "t15-Pa55" &&
	sqlite3 "$TUG_HOME/tug.db" "SELECT args FROM audit WHERE op = '\''registry.login'\''" | grep -q "(not recorded)"
'

step 'a login for some sites only: another site pulls without it' '
	printf "%s\n" "$PASS_OK" | "$TUG" registry login $REG --username $USER_OK --password-stdin --for site:docs >$T/out &&
	grep -q "login for $REG stored (user $USER_OK); deploys of images from it pull with it, for site:docs" $T/out &&
	"$TUG" registry list | grep -q "^$REG *$USER_OK *root .* site:docs$" &&
	"$TUG" site rm --yes pulled >/dev/null && ! $DOCKER image inspect "$IMG" >/dev/null 2>&1 &&
	"$TUG" site apply $T/pulled.yml >/dev/null &&
	! "$TUG" deploy pulled >$T/out 2>$T/err &&
	grep -q "the login for $REG is for site:docs, not site pulled: hosts pull $IMG without it" $T/err &&
	grep -q "docker could not pull .$IMG." $T/err &&
	! $DOCKER image inspect "$IMG" >/dev/null 2>&1 &&
	! printf "x\n" | "$TUG" registry login $REG --username u --password-stdin --for host:local 2>$T/err &&
	grep -q "tug: --for takes the sites that may use the login: site:NAME, group:NAME or global" $T/err &&
	printf "%s\n" "$PASS_OK" | "$TUG" registry login $REG --username $USER_OK --password-stdin --for site:pulled >/dev/null &&
	"$TUG" deploy pulled >/dev/null 2>$T/err &&
	test "$(get pulled.test)" = "pulled 1"
'

step 'registry login and logout refuse bad input' '
	! printf "x\n" | "$TUG" registry login "bad;host" --username u --password-stdin 2>$T/err &&
	grep -q "bad registry .bad;host." $T/err &&
	! printf "x\n" | "$TUG" registry login "$REG:99999" --username u --password-stdin 2>$T/err &&
	grep -q "bad registry" $T/err &&
	! printf "" | "$TUG" registry login $REG --username u --password-stdin 2>$T/err &&
	grep -q "wants one line of 1 to 4096 bytes on stdin" $T/err &&
	! "$TUG" registry login $REG --username u 2>$T/err &&
	grep -q "the password is missing" $T/err &&
	! "$TUG" registry logout nosuch.test 2>$T/err &&
	grep -q "no login for registry .nosuch.test." $T/err &&
	"$TUG" registry logout $REG >$T/out &&
	grep -q "forgot the login for $REG" $T/out &&
	test "$("$TUG" registry list | wc -l)" = 1
'

cat >$T/vol.yml <<EOS
site: vol
image: tug-test/app:1
hosts: [local]
domains: [vol.test]
port: 8080
volumes: ["t15-data:/data"]
health: {path: /up, interval: 200ms, retries: 25}
EOS

step 'site rm keeps the site'"'"'s own volumes, and forgets its grants; --volumes deletes them' '
	"$TUG" site apply $T/vol.yml >/dev/null && "$TUG" deploy vol >/dev/null 2>&1 &&
	$DOCKER volume inspect tug-vol_t15-data >/dev/null &&
	! $DOCKER volume inspect t15-data >/dev/null 2>&1 &&
	"$TUG" user add t15u >/dev/null && "$TUG" grant t15u deploy site:vol >/dev/null &&
	"$TUG" site rm --yes vol >/dev/null &&
	test -z "$(site_containers vol)" &&
	$DOCKER volume inspect tug-vol_t15-data >/dev/null &&
	! "$TUG" user show t15u | grep -q "site:vol" &&
	"$TUG" site apply $T/vol.yml >/dev/null &&
	! "$TUG" --as t15u deploy vol 2>$T/err &&
	grep -qx "tug: permission denied: t15u may not deploy site:vol; an admin can grant it: tug grant t15u deploy site:vol" $T/err &&
	"$TUG" deploy vol >/dev/null 2>&1 &&
	"$TUG" site rm --yes vol --volumes >$T/out &&
	test -z "$(site_containers vol)" &&
	! $DOCKER volume inspect tug-vol_t15-data >/dev/null 2>&1 &&
	! "$TUG" site list | grep -q "^vol "
'

cat >$T/old.yml <<EOS
site: old
image: tug-test/app:1
hosts: [local]
domains: [old.test]
port: 8080
volumes: ["t15-old:/data"]
health: {cmd: [/bin/busybox, cat, /data/kept], interval: 200ms, retries: 25}
EOS

step 'a site with a volume from before schema 6 keeps its data: the old name is mapped' '
	$DOCKER volume create t15-old >/dev/null &&
	$DOCKER run --rm -v t15-old:/d tug-test/app:1 /bin/busybox sh -c "echo kept-data >/d/kept" &&
	"$TUG" site apply $T/old.yml >/dev/null &&
	tugd_stop &&
	sqlite3 "$TUG_HOME/tug.db" "DROP TABLE legacy_volumes; DROP TABLE meta;
	    ALTER TABLE registries DROP COLUMN scope; ALTER TABLE sites DROP COLUMN image;
	    PRAGMA user_version = 5;" &&
	"$TUG" status >/dev/null &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT name FROM legacy_volumes")" = t15-old &&
	"$TUG" deploy old >$T/out 2>&1 &&
	test "$($DOCKER inspect -f "{{range .Mounts}}{{.Name}}{{end}}" $(site_containers old))" = t15-old &&
	test "$($DOCKER run --rm -v t15-old:/d tug-test/app:1 /bin/busybox cat /d/kept)" = kept-data &&
	"$TUG" site rm --yes old --volumes >/dev/null &&
	! $DOCKER volume inspect t15-old >/dev/null 2>&1
'

cat >$T/tlsbad.yml <<EOS
site: tlsbad
image: tug-test/app:1
hosts: [local]
domains: [tlsbad.test]
port: 8080
env: {SITE: tlsbad}
health: {path: /up, interval: 200ms, retries: 25}
EOS

step 'a config nginx rejects: that deploy fails quoting nginx, every other site serves' '
	"$TUG" site apply $T/tlsbad.yml >/dev/null && "$TUG" deploy tlsbad >/dev/null 2>&1 &&
	test "$(get tlsbad.test)" = "tlsbad 1" &&
	printf "tls: {cert: /nonexistent/tlsbad/t15.crt, key: /nonexistent/tlsbad/t15.key}\n" >>$T/tlsbad.yml &&
	"$TUG" site apply $T/tlsbad.yml >/dev/null &&
	! "$TUG" deploy tlsbad >$T/out 2>$T/err &&
	grep -q "nginx -t rejected the config: \[emerg\] cannot load certificate" $T/err &&
	test "$(get tlsbad.test)" = "tlsbad 1" &&
	test "$(get pulled.test)" = "pulled 1" &&
	test "$(get docs.test)" = "docs v4" &&
	test "$(site_containers tlsbad | wc -l)" = 1
'

step 'site rm of a static site removes its trees and the kept archives' '
	"$TUG" site rm --yes docs >$T/out &&
	! test -e "$HOME_U/.tug-agent/static/docs" &&
	! test -e "$TUG_HOME/static/docs" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: docs.test" http://127.0.0.1:$PORT/)" = 404
'

finish
