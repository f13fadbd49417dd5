#!/bin/bash
# failed-deploy.sh - two failed deploys as a user sees them, for issue
# notes and docs: an app whose health check fails, then one that exits at
# once (PORT: nope). On namespace host 12 (tests/t/0032's: do not run the
# two together), with a private tugd that goes when the script ends.
#
# Run: TUG_BUILD=build bash tests/tools/failed-deploy.sh   (root)

set -u
. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/netns.sh"
bed_dockerd >/dev/null || exit 1
bed_images "$T/fixtures" >/dev/null || exit 1
N=12
ns_test_host $N || exit 1
ns_test_add $N --proxy nginx --proxy-port 8080 || exit 1
cat >$T/web.yml <<EOS
site: web
image: tug-test/app:1
hosts: [h$N]
domains: [web.example.test]
port: 8080
health: {path: /up, interval: 200ms, retries: 10}
EOS
"$TUG" -q site apply $T/web.yml >/dev/null && "$TUG" -q deploy web >/dev/null ||
	exit 1
echo '$ tug env set web HEALTH=fail'
"$TUG" env set web HEALTH=fail 2>&1
echo "(exit $?)"
"$TUG" -q env unset web HEALTH --no-deploy >/dev/null 2>&1
sed -i 's/^port: 8080/port: 8080\nenv: {PORT: nope}/' $T/web.yml
"$TUG" -q site apply $T/web.yml >/dev/null || exit 1
echo '$ tug deploy web        # the app exits at once (PORT: nope)'
"$TUG" deploy web 2>&1
echo "(exit $?)"
