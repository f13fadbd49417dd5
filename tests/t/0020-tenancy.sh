#!/bin/bash
# 0020-tenancy: what one site's users can reach of another's, through tugd
# (no host needs to answer): one registry of domains (an exact name, a
# name under another site's wildcard, a wildcard over another's name, the
# name switch confirmations use), certificates only from the site's own
# directory, env values masked in --dry-run for callers without view_env,
# secrets given on stdin or at a prompt (tmux) and never in argv, the
# state directory and the database private to tugd, grants gone with their
# host, and requests per user bounded.

. "$(dirname "$0")/../lib.sh"

"$TUG" init >/dev/null || bail "tug init"
FP=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
tugd_stop
sqlite3 "$TUG_HOME/tug.db" "
	INSERT INTO hosts (name, address, port, ssh_user, hostkey, created_at)
	    VALUES ('h1', '127.0.0.1', 1, 'x', '$FP', 0),
	    ('h2', '127.0.0.1', 1, 'x', '$FP', 0);" || bail "hosts"

# spec NAME DOMAINS [MORE]: a container site on h1.
spec() {
	printf 'site: %s\nimage: tug-test/app:1\nhosts: [h1]\ndomains: [%s]\nport: 8080\n%b' \
	    "$1" "$2" "${3:-}"
}

# refused FILE MESSAGE: site apply FILE fails with exactly that line.
refused() {
	! "$TUG" site apply "$1" >$T/out 2>$T/err &&
	grep -qxF "tug: $2" $T/err || {
		echo "expected 'tug: $2' from site apply $1, got:"
		cat $T/out $T/err
		return 1
	}
}

step 'one registry of domains: exact names, wildcards either way, named owners' '
	spec web "\"*.example.test\"" >$T/web.yml &&
	"$TUG" site apply $T/web.yml >/dev/null &&
	spec shop "shop.example.test" >$T/shop.yml &&
	refused $T/shop.yml "$T/shop.yml: domain '\''shop.example.test'\'' is covered by '\''*.example.test'\'' of site '\''web'\''" &&
	spec deep "a.b.example.test" >$T/deep.yml &&
	refused $T/deep.yml "$T/deep.yml: domain '\''a.b.example.test'\'' is covered by '\''*.example.test'\'' of site '\''web'\''" &&
	spec sub "\"*.eu.example.test\"" >$T/sub.yml &&
	refused $T/sub.yml "$T/sub.yml: domain '\''*.eu.example.test'\'' is covered by '\''*.example.test'\'' of site '\''web'\''" &&
	spec blog "blog.test, www.blog.test" >$T/blog.yml &&
	"$TUG" site apply $T/blog.yml >/dev/null &&
	spec copy "other.test, WWW.blog.test" >$T/copy.yml &&
	refused $T/copy.yml "$T/copy.yml:4:23: invalid domain '\''WWW.blog.test'\'': only lowercase letters, digits, '\''-'\'' and '\''.'\'' allowed" &&
	spec copy "other.test, www.blog.test" >$T/copy.yml &&
	refused $T/copy.yml "$T/copy.yml: domain '\''www.blog.test'\'' belongs to site '\''blog'\''" &&
	spec wide "\"*.blog.test\"" >$T/wide.yml &&
	refused $T/wide.yml "$T/wide.yml: domain '\''*.blog.test'\'' covers '\''www.blog.test'\'' of site '\''blog'\''" &&
	"$TUG" site apply $T/blog.yml >/dev/null &&
	"$TUG" site apply --dry-run $T/web.yml >/dev/null &&
	! "$TUG" site list | grep -q "^shop \|^deep \|^sub \|^copy \|^wide "
'

step 'the switch confirmation name is reserved; certificates only from the site directory' '
	spec probe "tug-probe.example.test" >$T/probe.yml &&
	refused $T/probe.yml "$T/probe.yml:4:11: domain '\''tug-probe.example.test'\'' is reserved: tug confirms proxy switches with the name tug-probe.DOMAIN" &&
	spec tls "tls.test" "tls: {cert: /etc/tug/tls/blog/cert.pem, key: /etc/tug/tls/blog/key.pem}\n" >$T/tls.yml &&
	refused $T/tls.yml "$T/tls.yml:1:1: tls.cert and tls.key must be files in a directory named after the site (e.g. /etc/tug/tls/tls/cert.pem): a site serves only its own certificate" &&
	spec tls "tls.test" "tls: {cert: /etc/tug/tls/tls/cert.pem, key: /etc/tug/tls/tls/key.pem}\n" >$T/tls.yml &&
	"$TUG" site apply $T/tls.yml >/dev/null &&
	spec blo "blo.test" "tls: {cert: /etc/tug/tls/blog/cert.pem, key: /etc/tug/tls/blog/key.pem}\n" >$T/blo.yml &&
	refused $T/blo.yml "$T/blo.yml:1:1: tls.cert and tls.key must be files in a directory named after the site (e.g. /etc/tug/tls/blo/cert.pem): a site serves only its own certificate" &&
	spec blo "blo.test" "tls: {cert: /etc/tug/tls/blo/../blog/cert.pem, key: /etc/tug/tls/blo/key.pem}\n" >$T/blo.yml &&
	! "$TUG" site apply $T/blo.yml >$T/out 2>$T/err && grep -q "^tug: $T/blo.yml:.*tls.cert" $T/err
'

step 'site apply --dry-run masks env values for a caller without view_env' '
	spec envy "envy.test" "env: {TOKEN: t0ps3cr3t-v1}\n" >$T/envy.yml &&
	"$TUG" site apply $T/envy.yml >/dev/null &&
	spec envy "envy.test" "env: {TOKEN: t0ps3cr3t-v2}\n" >$T/envy2.yml &&
	"$TUG" user add cfg >/dev/null &&
	"$TUG" grant cfg edit_config site:envy >/dev/null &&
	"$TUG" --as cfg site apply --dry-run $T/envy2.yml >$T/out &&
	! grep -q "t0ps3cr3t" $T/out &&
	grep -q "^  - env TOKEN: \*\*\*\*\*\*\*\*$" $T/out &&
	grep -q "^  + env TOKEN: \*\*\*\*\*\*\*\* (changed)$" $T/out &&
	! "$TUG" --as cfg env list envy 2>$T/err &&
	grep -qx "tug: permission denied: cfg may not view_env site:envy; an admin can grant it: tug grant cfg view_env site:envy" $T/err &&
	"$TUG" --json --as cfg site apply --dry-run $T/envy2.yml >$T/out &&
	! grep -q "t0ps3cr3t" $T/out &&
	"$TUG" grant cfg view_env site:envy >/dev/null &&
	"$TUG" --as cfg site apply --dry-run $T/envy2.yml >$T/out &&
	grep -q "^  - env TOKEN: t0ps3cr3t-v1" $T/out &&
	grep -q "^  + env TOKEN: t0ps3cr3t-v2" $T/out &&
	test "$(grep -c "^  [-+] " $T/out)" = 2 || { cat $T/out; false; }
'

step 'env set and env unset on a static site are refused; nothing is stored or released' '
	mkdir -p $T/public && echo hi >$T/public/index.html &&
	printf "site: st\nkind: static\nroot: $T/public\nhosts: [h1]\ndomains: [st.test]\n" >$T/st.yml &&
	"$TUG" site apply $T/st.yml >/dev/null &&
	! "$TUG" env set st A=1 >$T/out 2>$T/err &&
	grep -qx "tug: .st. is a static site: it has no environment (env and secrets are for container sites)" $T/err &&
	! "$TUG" env unset st A 2>$T/err &&
	grep -q "is a static site: it has no environment" $T/err &&
	test -z "$(sqlite3 "$TUG_HOME/tug.db" "SELECT key FROM env JOIN sites ON sites.id = env.site_id WHERE sites.name = '\''st'\''")" &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM releases JOIN sites ON sites.id = releases.site_id WHERE sites.name = '\''st'\''")" = 0
'

step 'env set KEY --secret reads the value from stdin, never from argv' '
	spec sec "sec.test" "secrets: [API_KEY]\n" >$T/sec.yml &&
	"$TUG" site apply $T/sec.yml >/dev/null &&
	printf "s3cr3t-from-stdin\n" | "$TUG" env set sec API_KEY --secret --no-deploy >$T/out &&
	"$TUG" env list sec >$T/out &&
	grep -q "^API_KEY *\*\*\*\*\*\*\*\* *set$" $T/out &&
	! sqlite3 "$TUG_HOME/tug.db" .dump | grep -q "s3cr3t-from-stdin" &&
	! grep -rq "s3cr3t-from-stdin" "$TUG_HOME" &&
	! printf "a\nb\n" | "$TUG" env set sec API_KEY --secret --no-deploy 2>$T/err &&
	grep -qx "tug env set: the value of API_KEY must be one line of at most 32768 bytes" $T/err &&
	! "$TUG" env set sec A B --secret --no-deploy </dev/null 2>$T/err &&
	grep -qx "tug env set: one KEY without =VALUE at a time: its value comes from stdin" $T/err
'

step 'env set KEY --secret on a terminal: a prompt without echo, nothing in ps' '
	S=tug0020-$$ &&
	tmux new-session -d -s $S -x 120 -y 20 "env TUG_HOME=$TUG_HOME $TUG env set sec API_KEY --secret --no-deploy; echo rc=\$?; sleep 30" &&
	for _ in $(seq 50); do
		tmux capture-pane -p -t $S | grep -q "value of API_KEY:" && break
		sleep 0.1
	done &&
	tmux capture-pane -p -t $S | grep -q "value of API_KEY:" &&
	tmux send-keys -t $S "typed-s3cr3t" &&
	sleep 0.2 &&
	! tmux capture-pane -p -t $S | grep -q "typed-s3cr3t" &&
	! ps -eo args | grep -v grep | grep -q "typed-s3cr3t" &&
	tmux send-keys -t $S Enter &&
	for _ in $(seq 50); do
		tmux capture-pane -p -t $S | grep -q "^rc=" && break
		sleep 0.1
	done &&
	tmux capture-pane -p -t $S >$T/pane &&
	tmux kill-session -t $S &&
	grep -q "^rc=0" $T/pane && ! grep -q "typed-s3cr3t" $T/pane &&
	"$TUG" --json env list sec | grep -q "\"key\":\"API_KEY\",\"value\":\"\*\*\*\*\*\*\*\*\",\"secret\":true"
'

step 'the state directory is 0700 and the database with its WAL 0600' '
	"$TUG" status >/dev/null &&
	test "$(stat -c %a "$TUG_HOME")" = 700 &&
	test "$(stat -c %a "$TUG_HOME/tug.db")" = 600 &&
	for f in "$TUG_HOME/tug.db-wal" "$TUG_HOME/tug.db-shm"; do
		test ! -e "$f" || test "$(stat -c %a "$f")" = 600 || exit 1
	done &&
	tugd_stop && chmod 0644 "$TUG_HOME/tug.db" && "$TUG" status >/dev/null &&
	test "$(stat -c %a "$TUG_HOME/tug.db")" = 600
'

step 'a socket directory tugd makes can be traversed by its group, and nothing else' '
	SD=$T/run-0020/tug &&
	TUG_SOCKET=$SD/tugd.sock "$TUGD" --home $T/home2 &&
	test "$(stat -c %a $SD)" = 750 &&
	test "$(stat -c %a $SD/tugd.sock)" = 660 &&
	test "$(stat -c %a $T/home2)" = 700 &&
	pid=$(TUG_HOME=$T/home2 TUG_SOCKET=$SD/tugd.sock TUG_NO_AUTOSTART=1 "$TUG" --json status | sed -n "s/.*\"pid\":\([0-9]*\).*/\1/p") &&
	test -n "$pid" && kill $pid
'

step 'grants go with their host: a new host of that name starts clean' '
	"$TUG" user add hop >/dev/null &&
	"$TUG" grant hop view host:h2 >/dev/null &&
	"$TUG" user show hop | grep -q " on host:h2 " &&
	"$TUG" host rm --yes h2 >/dev/null &&
	! "$TUG" user show hop | grep -q "host:h2" &&
	sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM grants WHERE scope = '\''host:h2'\''" | grep -qx 0
'

finish
