#!/bin/bash
# 0017-users: users, grants and SSH keys. A permission matrix runs every op
# of tugd's table (tugd --list-ops) as an admin, as a user with the exact
# grant, with an inherited one, with a grant on another site or host, and
# with none: an allowed cell must give the op's own result or its named
# error (never merely "not a denial"), a denied cell exactly the denial,
# and tugd must be the same process (pid and start time) throughout. Then
# the scope rules (every target of a fleet command, lists shown filtered,
# specs judged as stored and as submitted, names never prefixes: site:blo
# is not site:blog, group:web not webx, host:web1 not web10, user bos not
# boss; group:G covers sites whose spec says group: G, not sites naming
# its hosts), strict key files and the authorized_keys lines they make,
# and a remote user over a real OpenSSH with the forced command, where
# --as is honoured only from tugd's own uid and nothing the user typed
# reaches a shell.

. "$(dirname "$0")/../lib.sh"

export TUG_AUTHORIZED_KEYS=$T/authorized_keys
"$TUG" init >/dev/null || bail "tug init"
"$TUG" user add boss --admin >/dev/null || bail "user add boss"

# Hosts tugd knows but cannot reach (port 1 refuses at once): for commands
# that need hosts, an allowed cell ends in the named connection error.
# web10 (group webx) is there for the prefix rules: host:web1 and
# group:web must not reach it.
FP=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
tugd_stop
sqlite3 "$TUG_HOME/tug.db" "
	INSERT INTO hosts (name, address, port, ssh_user, hostkey, created_at)
	    VALUES ('web1', '127.0.0.1', 1, 'x', '$FP', 0),
	    ('web2', '127.0.0.1', 1, 'x', '$FP', 0),
	    ('web10', '127.0.0.1', 1, 'x', '$FP', 0),
	    ('db1', '127.0.0.1', 1, 'x', '$FP', 0);
	INSERT INTO host_groups SELECT id, 'web' FROM hosts WHERE name IN ('web1', 'web2');
	INSERT INTO host_groups SELECT id, 'webx' FROM hosts WHERE name = 'web10';
	INSERT INTO host_groups SELECT id, 'db' FROM hosts WHERE name = 'db1';" ||
	bail "hosts"
spec() {	# spec NAME 'group: G' | 'hosts: [H]'
	printf 'site: %s\nimage: tug-test/app:1\n%s\ndomains: [%s.test]\nport: 8080\n' \
	    "$1" "$2" "$1"
}
spec blog 'group: web' >$T/blog.yml
spec shop 'hosts: [db1]' >$T/shop.yml
"$TUG" site apply $T/blog.yml >/dev/null && "$TUG" site apply $T/shop.yml >/dev/null ||
	bail "sites"
bed_keypair $T/k1 >/dev/null && bed_keypair $T/k2 >/dev/null &&
	bed_keypair $T/ops >/dev/null || bail "key pairs"
printf 'secret-pw\n' >$T/stdin

# The matrix: op | command | what an allowed cell gives | the denial's
# "ACTION SCOPE" | grants of the exact, inherited and other users ('+'
# between two grants, '-' none possible) | expected for admin, exact,
# inherited, other, none: A allowed, D denied, - not applicable (nothing
# implies admin or covers global). In commands @U@ is the acting user,
# BLOG and KEY are files.
#
# An allowed cell must give exactly what the third field says: "RC LINE",
# the exit status and a line of the output (a bash pattern, @U@ the user).
# Hosts are unreachable and names like ghost do not exist, so most allowed
# commands end in that named error, after the permission check (the denied
# cells of the same row show that the check comes first). Anything else,
# another error, a lost tugd, a timeout, fails the cell.
MATRIX=$(cat <<'EOF'
init|init|1 tug: tug is already initialised; an admin can add users|-|-|-|-|AAAAA
status|status|0 you *@U@|-|-|-|-|AAAAA
key.show|key|0 ssh-ed25519 AAAA* tugd|view global|view global|deploy global|view site:blog|AAADD
host.add|host add h-@U@ 127.0.0.1:1 --no-bootstrap|1 tug: h-@U@: cannot connect to 127.0.0.1:1: Connection refused|admin global|admin global|-|admin group:web|AA-DD
host.list|host list|0 HOST *ADDRESS *USER *GROUPS *STATE|view global|view host:web1|deploy group:web|view site:shop|AAAAD
host.rm|host rm --yes ghost|1 tug: no host 'ghost'|admin host:ghost|admin host:ghost|admin global|admin host:web1|AAADD
host.check|host check web1 web2|1 0 of 2 hosts reachable in * ms|view host:web1|view host:web1+view host:web2|view group:web|view host:db1|AAADD
host.bootstrap|host bootstrap web1|1 tug: web1: cannot connect to 127.0.0.1:1: Connection refused|admin host:web1|admin host:web1|admin group:web|admin host:web2|AAADD
site.apply|site apply BLOG|0 site blog: unchanged|edit_config site:blog|edit_config site:blog|edit_config group:web|edit_config site:shop|AAADD
site.list|site list|0 SITE *KIND *RELEASE *IMAGE *DOMAINS|view global|view site:blog|manage site:blog|view site:shop|AAAAD
site.status|site status blog|0 web1 *- *- *unreachable *- *-|view site:blog|view site:blog|view global|view site:shop|AAADD
site.rm|site rm --yes blog|1 failed on 2 of 2 hosts; the site is still known: run tug site rm again once those hosts answer|manage site:blog|manage site:blog|admin site:blog|manage site:shop|AAADD
site.start|start blog|1 failed on 2 of 2 hosts|deploy site:blog|deploy site:blog|manage site:blog|deploy site:shop|AAADD
site.stop|stop blog|1 failed on 2 of 2 hosts|deploy site:blog|deploy site:blog|manage group:web|deploy group:db|AAADD
site.restart|restart blog|1 tug: site 'blog' has no serving release to restart: tug deploy blog|deploy site:blog|deploy site:blog|deploy global|deploy site:shop|AAADD
deploy|deploy blog|1 release * of blog failed on 1 of 2 hosts; the rollout was stopped (max_failures)|deploy site:blog|deploy site:blog|manage site:blog|deploy site:shop|AAADD
rollback|rollback --yes blog|1 tug: site 'blog' has no earlier good release to roll back to|deploy site:blog|deploy site:blog|manage group:web|deploy site:shop|AAADD
deploy.follow|deploy --follow blog|1 *release * of blog failed on 1 of 2 hosts|view site:blog|view site:blog|deploy site:blog|view site:shop|AAADD
releases|releases blog|0 RELEASE *IMAGE *STATUS *BY *CREATED (UTC)|view site:blog|view site:blog|edit_config site:blog|view site:shop|AAADD
env.set|env set blog A=@U@ --no-deploy|0 done|edit_env site:blog|edit_env site:blog|admin site:blog|edit_env site:shop|AAADD
env.unset|env unset blog A --no-deploy|0 done|edit_env site:blog|edit_env site:blog|edit_env global|edit_env site:shop|AAADD
env.list|env list blog|0 KEY *VALUE *FROM|view_env site:blog|view_env site:blog|edit_env site:blog|view_env site:shop|AAADD
image.push|image push tug-test/none:1 --site blog|1 tug: no such image in the controller's Docker (or give --file a docker-save tarball)|deploy site:blog|deploy site:blog|manage site:blog|deploy site:shop|AAADD
logs|logs blog|1 logs failed on 2 of 2 hosts|view_logs site:blog|view_logs site:blog|deploy site:blog|view_logs site:shop|AAADD
registry.login|registry login reg.test:5000 --username u --password-stdin|0 login for reg.test:5000 stored (user u); deploys of images from it pull with it*|admin global|admin global|-|admin site:blog|AA-DD
registry.logout|registry logout ghost.test|1 tug: no login for registry 'ghost.test'|admin global|admin global|-|admin site:blog|AA-DD
registry.list|registry list|0 SERVER *USERNAME *BY *SINCE *FOR|view global|view global|deploy global|view site:blog|AAADD
acme.set|acme set --email ops@tug.test|0 email: ops@tug.test|admin global|admin global|-|admin site:blog|AA-DD
acme.show|acme show|0 email: ops@tug.test|view global|view global|deploy global|view site:blog|AAADD
cert.list|cert list blog|0 web1: web1: cannot connect to 127.0.0.1:1: Connection refused|view site:blog|view site:blog|view global|view site:shop|AAADD
cert.renew|cert renew blog|1 certificate renewal failed on 2 of 2 hosts|deploy site:blog|deploy site:blog|manage site:blog|deploy site:shop|AAADD
user.add|user add u-@U@|0 added user u-@U@; give them grants with tug grant|admin global|admin global|-|admin site:blog|AA-DD
user.list|user list|0 USER *ADMIN *KEYS *GRANTS *SINCE (UTC)|admin global|admin global|-|admin site:blog|AA-DD
user.show|user show boss|0 user *boss (admin: every action on every scope)|admin global|admin global|-|admin site:blog|AA-DD
user.rm|user rm --yes ghost|1 tug: no user 'ghost' (tug user add)|admin global|admin global|-|admin site:blog|AA-DD
user.key.add|user key add ghost KEY|1 tug: no user 'ghost' (tug user add)|admin global|admin global|-|admin site:blog|AA-DD
user.key.rm|user key rm ghost all|1 tug: no user 'ghost' (tug user add)|admin global|admin global|-|admin site:blog|AA-DD
grant|grant ghost view global|1 tug: no user 'ghost' (tug user add)|admin global|admin global|-|admin site:blog|AA-DD
revoke|revoke ghost view global|1 tug: no user 'ghost' (tug user add)|admin global|admin global|-|admin site:blog|AA-DD
audit.list|audit --limit 1|0 ID *TIME (UTC) *USER *OP *TARGET *RESULT / ARGS|admin global|admin global|-|admin site:blog|AA-DD
audit.verify|audit verify|0 audit chain OK: * rows, last row *, head *|admin global|admin global|-|admin site:blog|AA-DD
EOF
)
ROWS=()
while IFS= read -r line; do
	[ -n "$line" ] && ROWS+=("$line")
done <<<"$MATRIX"
DENIALS=0
for r in "${ROWS[@]}"; do
	want=${r##*|}
	w=${want//[!D]/}
	DENIALS=$((DENIALS + ${#w}))
done

# before_cell OP: what a cell of row OP needs in place, so that an allowed
# cell can succeed (run as root, the first admin, before every cell).
before_cell() {
	case $1 in
	env.unset) "$TUG" env set blog A=1 --no-deploy >/dev/null ;;
	esac
}

# tugd_ident: this test's tugd as "PID START" (START: its start time in
# clock ticks since boot, /proc/PID/stat field 22), so that a tugd that
# died and was started again (tug starts one when none answers) shows,
# even under a reused pid. Empty when no tugd answers.
tugd_ident() {
	local pid

	pid=$(tugd_pid)
	[ -n "$pid" ] || return 1
	echo "$pid $(sed 's/^.*) //' /proc/$pid/stat | cut -d" " -f20)"
}

# run_as USER CMD...: tug CMD as USER (--as, honoured: we are tugd's uid);
# its output (stdout and stderr) in $out, its exit status in $rc.
run_as() {
	local u=$1

	shift
	out=$(timeout 60 "$TUG" --as "$u" "$@" <$T/stdin 2>&1)
	rc=$?
	if [ $rc -eq 124 ]; then
		echo "$u: tug $* did not finish in 60 s"
		return 1
	fi
}

# allowed USER RC PATTERN CMD...: tug CMD as USER exits RC, with a line
# matching PATTERN (a bash pattern) and no permission denial. Not "anything
# but a denial": a command that fails for another reason is not allowed.
allowed() {
	local u=$1 want_rc=$2 pat=$3 out rc l hit=0

	shift 3
	run_as "$u" "$@" || return 1
	while IFS= read -r l; do
		[[ $l == $pat ]] && hit=1
	done <<<"$out"
	if [ $rc -ne "$want_rc" ] || [ $hit = 0 ] ||
	    grep -q "permission denied" <<<"$out"; then
		echo "$u: expected tug $* to be allowed, to exit $want_rc and" \
		    "to print a line like <$pat>; got exit $rc:"
		echo "$out"
		return 1
	fi
}

# denied USER "ACTION SCOPE" CMD...: tug CMD as USER exits 1 with exactly
# the denial.
denied() {
	local u=$1 deny=$2 out rc

	shift 2
	run_as "$u" "$@" || return 1
	if [ $rc -ne 1 ] ||
	    ! grep -qxF "tug: permission denied: $u may not $deny; an admin can grant it: tug grant $u $deny" <<<"$out"; then
		echo "$u: expected 'permission denied: $u may not $deny'" \
		    "from tug $* (exit 1), got exit $rc:"
		echo "$out"
		return 1
	fi
}

# matrix_row N: the users of row N, their grants, and the five cells; and
# the same tugd all along (a crash that tug papers over by starting a new
# one fails the row).
matrix_row() {
	local op cmd outcome deny exact inh other want k g c p bad=0 id0 id1
	local -a users grants gs words

	IFS='|' read -r op cmd outcome deny exact inh other want <<<"${ROWS[$1]}"
	users=(boss "m$1e" "m$1i" "m$1o" "m$1n")
	grants=("-" "$exact" "$inh" "$other" "-")
	id0=$(tugd_ident) || { echo "no tugd answers before the row"; return 1; }
	for k in 1 2 3 4; do
		"$TUG" user add "${users[$k]}" >/dev/null || return 1
		[ "${grants[$k]}" = - ] && continue
		IFS='+' read -ra gs <<<"${grants[$k]}"
		for g in "${gs[@]}"; do
			"$TUG" grant "${users[$k]}" $g >/dev/null || return 1
		done
	done
	for k in 0 1 2 3 4; do
		[ "${want:$k:1}" = - ] && continue
		c=${cmd//@U@/${users[$k]}}
		c=${c//BLOG/$T/blog.yml}
		c=${c//KEY/$T/k1.pub}
		read -ra words <<<"$c"
		p=${outcome#* }
		p=${p//@U@/${users[$k]}}
		before_cell "$op" || return 1
		case ${want:$k:1} in
		A)	allowed "${users[$k]}" "${outcome%% *}" "$p" "${words[@]}" ;;
		D)	denied "${users[$k]}" "$deny" "${words[@]}" ;;
		esac || bad=1
	done
	id1=$(tugd_ident)
	if [ "$id1" != "$id0" ]; then
		echo "tugd restarted during the row: pid and start '$id0', then '$id1'"
		bad=1
	fi
	return $bad
}

step 'the matrix has a row for every op in tugd'"'"'s table, and no other' '
	"$TUGD" --list-ops >$T/ops && test -s $T/ops &&
	for op in $(cut -d" " -f1 $T/ops); do
		printf "%s\n" "${ROWS[@]}" | grep -q "^$op|" || {
			echo "op $op has no row in the permission matrix"; return 1; }
	done &&
	for r in "${ROWS[@]}"; do
		grep -q "^${r%%|*} " $T/ops || {
			echo "matrix row ${r%%|*} names no op of tugd"; return 1; }
	done &&
	test "$(wc -l <$T/ops)" = "${#ROWS[@]}"
'

TUGD_ID=$(tugd_ident) || bail "no tugd answers before the matrix"
for i in "${!ROWS[@]}"; do
	r=${ROWS[$i]}
	step "matrix ${r%%|*}: admin, exact, inherited, other, none = ${r##*|}" \
	    "matrix_row $i"
done

step 'tugd did not restart during the matrix: the same pid, started at the same time' '
	now=$(tugd_ident); test "$now" = "$TUGD_ID" || {
		echo "tugd was pid and start '\''$TUGD_ID'\'' before the matrix, '\''$now'\'' after"
		false; }
'

step 'every denial of the matrix is in the audit log, as denied' '
	n=$(sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM audit WHERE allowed = 0 AND user GLOB '\''m[0-9]*'\'' AND result LIKE '\''permission denied: %'\''") &&
	test "$n" = "$DENIALS" || { echo "$n denials audited, $DENIALS expected"; false; }
'

step 'a command on several hosts needs every one of them' '
	"$TUG" user add fleet >/dev/null && "$TUG" grant fleet view host:web1 >/dev/null &&
	! "$TUG" --as fleet host check web1 web2 2>$T/err &&
	grep -qx "tug: permission denied: fleet may not view host:web2; an admin can grant it: tug grant fleet view host:web2" $T/err &&
	! "$TUG" --as fleet host check --group web 2>$T/err &&
	grep -qx "tug: permission denied: fleet may not view host:web2; an admin can grant it: tug grant fleet view host:web2" $T/err &&
	! "$TUG" --as fleet host check 2>$T/err &&
	grep -qx "tug: permission denied: fleet may not view host:db1; an admin can grant it: tug grant fleet view host:db1" $T/err &&
	"$TUG" --as fleet host check web1 2>$T/err >$T/out;
	! grep -q "permission denied" $T/err && grep -q "^web1 *no" $T/out
'

step 'the scope of a fleet op is the hosts it touches: no flag widens it' '
	"$TUG" user add grouper >/dev/null && "$TUG" grant grouper admin group:db >/dev/null &&
	! "$TUG" --as grouper host check --group db >$T/out 2>$T/err &&
	! grep -q "permission denied" $T/err &&
	grep -q "^db1 " $T/out && ! grep -q "^web" $T/out &&
	for f in "--group db --all" "db1 --group db" "db1 --all"; do
		! "$TUG" --as grouper host check $f 2>$T/err &&
		grep -qx "tug: name hosts, a --group or --all, not more than one of them" $T/err &&
		! "$TUG" --as grouper host bootstrap $f 2>$T/err &&
		grep -qx "tug: name hosts, a --group or --all, not more than one of them" $T/err ||
		exit 1
	done &&
	! "$TUG" --as grouper host check --all 2>$T/err &&
	grep -qx "tug: permission denied: grouper may not view host:web1; an admin can grant it: tug grant grouper view host:web1" $T/err &&
	! "$TUG" --as grouper host bootstrap --all 2>$T/err &&
	grep -qx "tug: permission denied: grouper may not admin host:web1; an admin can grant it: tug grant grouper admin host:web1" $T/err
'

step 'lists show only what the user may view' '
	"$TUG" user add lister >/dev/null &&
	"$TUG" grant lister view site:shop >/dev/null &&
	"$TUG" grant lister view group:db >/dev/null &&
	"$TUG" --as lister site list >$T/out &&
	grep -q "^shop " $T/out && ! grep -q "^blog " $T/out &&
	"$TUG" --as lister host list >$T/out &&
	grep -q "^db1 " $T/out && ! grep -q "^web1 " $T/out && ! grep -q "^web2 " $T/out &&
	"$TUG" grant lister view group:web >/dev/null &&
	"$TUG" --as lister site list >$T/out && grep -q "^blog " $T/out &&
	"$TUG" --as lister host list >$T/out && grep -q "^web2 " $T/out
'

step 'inheritance: deploy gives view, not view_env; edit_env gives view_env' '
	"$TUG" user add dev >/dev/null && "$TUG" grant dev deploy site:blog >/dev/null &&
	"$TUG" --as dev releases blog >/dev/null &&
	! "$TUG" --as dev env list blog 2>$T/err &&
	grep -qx "tug: permission denied: dev may not view_env site:blog; an admin can grant it: tug grant dev view_env site:blog" $T/err &&
	! "$TUG" --as dev site rm --yes blog 2>$T/err &&
	grep -qx "tug: permission denied: dev may not manage site:blog; an admin can grant it: tug grant dev manage site:blog" $T/err &&
	"$TUG" grant dev edit_env site:blog >/dev/null &&
	"$TUG" --as dev env list blog >/dev/null
'

step 'placement is permission too: a spec needs deploy on every host it adds' '
	"$TUG" user add placer >/dev/null &&
	"$TUG" grant placer edit_config site:news >/dev/null &&
	spec news "group: web" >$T/news.yml &&
	! "$TUG" --as placer site apply $T/news.yml 2>$T/err &&
	grep -qx "tug: permission denied: placer may not deploy host:web1; an admin can grant it: tug grant placer deploy host:web1" $T/err &&
	"$TUG" grant placer deploy host:web1 >/dev/null &&
	! "$TUG" --as placer site apply $T/news.yml 2>$T/err &&
	grep -qx "tug: permission denied: placer may not deploy host:web2; an admin can grant it: tug grant placer deploy host:web2" $T/err &&
	spec news "hosts: [web1]" >$T/news1.yml &&
	"$TUG" --as placer site apply $T/news1.yml >/dev/null &&
	! "$TUG" --as placer site apply $T/news.yml 2>$T/err &&
	grep -qx "tug: permission denied: placer may not deploy host:web2; an admin can grant it: tug grant placer deploy host:web2" $T/err &&
	"$TUG" site apply $T/news.yml >/dev/null &&
	"$TUG" --as placer site apply --dry-run $T/news.yml >/dev/null
'

step 'a group grant covers the sites whose spec targets it, judged as stored and as submitted' '
	"$TUG" user add grp >/dev/null && "$TUG" grant grp edit_config group:web >/dev/null &&
	"$TUG" grant grp deploy group:web >/dev/null &&
	"$TUG" --as grp site apply $T/blog.yml >/dev/null &&
	spec news "group: web" >$T/news.yml &&
	"$TUG" --as grp site apply $T/news.yml >/dev/null &&
	spec blog "group: db" >$T/blog-db.yml &&
	! "$TUG" --as grp site apply $T/blog-db.yml 2>$T/err &&
	grep -qx "tug: permission denied: grp may not edit_config site:blog; an admin can grant it: tug grant grp edit_config site:blog" $T/err &&
	! "$TUG" --as grp site apply $T/shop.yml 2>$T/err &&
	grep -qx "tug: permission denied: grp may not edit_config site:shop; an admin can grant it: tug grant grp edit_config site:shop" $T/err &&
	spec shop "group: web" >$T/shop-web.yml &&
	! "$TUG" --as grp site apply $T/shop-web.yml 2>$T/err &&
	grep -qx "tug: permission denied: grp may not edit_config site:shop; an admin can grant it: tug grant grp edit_config site:shop" $T/err &&
	"$TUG" site list | grep -q "^shop *container *- *- *tug-test/app:1 *shop.test"
'

# A scope is a name, never a prefix: a grant on site:blo, group:web or
# host:web1 reaches nothing of site:blog, group:webx (its host web10 and
# its site wx) or host:web10, and a grant on the longer name reaches
# nothing of the shorter. Each user first does what the grant does give,
# so that the denials are the prefix rule's, not a grant that never took.
step 'a grant covers the name it names only, never a longer or shorter one: site:blo/blog, group:web/webx, host:web1/web10' '
	spec blo "hosts: [db1]" >$T/blo.yml && "$TUG" site apply $T/blo.yml >/dev/null &&
	spec wx "group: webx" >$T/wx.yml && "$TUG" site apply $T/wx.yml >/dev/null &&
	"$TUG" user add p-site >/dev/null && "$TUG" grant p-site view site:blo >/dev/null &&
	allowed p-site 0 "RELEASE *IMAGE*" releases blo &&
	denied p-site "view site:blog" releases blog &&
	"$TUG" user add p-site2 >/dev/null && "$TUG" grant p-site2 view site:blogx >/dev/null &&
	denied p-site2 "view site:blog" releases blog &&
	"$TUG" user add p-group >/dev/null && "$TUG" grant p-group deploy group:web >/dev/null &&
	allowed p-group 0 "RELEASE *IMAGE*" releases blog &&
	allowed p-group 1 "0 of 1 hosts reachable in * ms" host check web1 &&
	denied p-group "view host:web10" host check web10 &&
	denied p-group "view site:wx" releases wx &&
	denied p-group "deploy site:wx" deploy wx &&
	denied p-group "view host:web10" host check --group webx &&
	"$TUG" user add p-group2 >/dev/null && "$TUG" grant p-group2 deploy group:webx >/dev/null &&
	allowed p-group2 0 "RELEASE *IMAGE*" releases wx &&
	allowed p-group2 1 "0 of 1 hosts reachable in * ms" host check web10 &&
	denied p-group2 "view host:web1" host check web1 &&
	denied p-group2 "view site:blog" releases blog &&
	denied p-group2 "deploy site:blog" deploy blog &&
	"$TUG" user add p-group3 >/dev/null && "$TUG" grant p-group3 deploy group:we >/dev/null &&
	denied p-group3 "view site:blog" releases blog &&
	denied p-group3 "view host:web1" host check web1 &&
	"$TUG" user add p-host >/dev/null && "$TUG" grant p-host admin host:web1 >/dev/null &&
	allowed p-host 1 "0 of 1 hosts reachable in * ms" host check web1 &&
	denied p-host "view host:web10" host check web10 &&
	denied p-host "admin host:web10" host bootstrap web10 &&
	denied p-host "admin host:web10" host rm --yes web10 &&
	"$TUG" user add p-host2 >/dev/null && "$TUG" grant p-host2 admin host:web10 >/dev/null &&
	allowed p-host2 1 "0 of 1 hosts reachable in * ms" host check web10 &&
	denied p-host2 "view host:web1" host check web1 &&
	denied p-host2 "admin host:web1" host rm --yes web1 &&
	"$TUG" site list >$T/out && grep -q "^blo " $T/out && grep -q "^wx " $T/out &&
	"$TUG" host list >$T/out && grep -q "^web10 .* webx " $T/out
'

# A user is a name too: bos and bossy are not the admin boss, and p-viewe
# and p-viewers hold none of p-viewer's grants.
step 'a user is the name it names only: neither a shorter nor a longer name gets their grants or admin' '
	"$TUG" user add bos >/dev/null && "$TUG" user add bossy >/dev/null &&
	allowed boss 0 "USER *ADMIN*" user list &&
	denied bos "admin global" user list &&
	denied bossy "admin global" user list &&
	denied bos "view site:blog" releases blog &&
	denied bossy "view site:blog" releases blog &&
	"$TUG" user list >$T/out && grep -q "^bos  *no " $T/out && grep -q "^bossy  *no " $T/out &&
	"$TUG" user add p-viewer >/dev/null && "$TUG" grant p-viewer view site:blog >/dev/null &&
	"$TUG" user add p-viewe >/dev/null && "$TUG" user add p-viewers >/dev/null &&
	allowed p-viewer 0 "RELEASE *IMAGE*" releases blog &&
	denied p-viewe "view site:blog" releases blog &&
	denied p-viewers "view site:blog" releases blog
'

# What group:G covers (docs/cli.md, the scope table; docs/security.md):
# the hosts in G and the sites whose stored spec says "group: G". Not a
# site that lists hosts by name, even when every one of them is in G: the
# grant follows the spec's group, not where the containers happen to run.
step 'group:web covers the sites whose spec says group: web, not a site naming web1 and web2' '
	spec named "hosts: [web1, web2]" >$T/named.yml &&
	"$TUG" site apply $T/named.yml >/dev/null &&
	"$TUG" user add grpv >/dev/null &&
	"$TUG" grant grpv manage group:web >/dev/null &&
	"$TUG" grant grpv edit_config group:web >/dev/null &&
	"$TUG" grant grpv view_logs group:web >/dev/null &&
	allowed grpv 1 "0 of 2 hosts reachable in * ms" host check web1 web2 &&
	allowed grpv 0 "RELEASE *IMAGE*" releases blog &&
	allowed grpv 1 "failed on 2 of 2 hosts" stop blog &&
	allowed grpv 0 "site blog: unchanged" site apply $T/blog.yml &&
	denied grpv "view site:named" releases named &&
	denied grpv "view site:named" site status named &&
	denied grpv "deploy site:named" deploy named &&
	denied grpv "deploy site:named" stop named &&
	denied grpv "view_logs site:named" logs named &&
	denied grpv "manage site:named" site rm --yes named &&
	denied grpv "edit_config site:named" site apply $T/named.yml &&
	run_as grpv site list && test $rc = 0 && grep -q "^blog " <<<"$out" && ! grep -q "^named " <<<"$out" &&
	"$TUG" user show grpv >$T/out && grep -q "covers hosts: web1 web2; sites: blog news$" $T/out
'

step 'tugd did not restart during the matrix and the scope rules after it' '
	now=$(tugd_ident); test "$now" = "$TUGD_ID" || {
		echo "tugd was pid and start '\''$TUGD_ID'\'' before the matrix, '\''$now'\'' now"
		false; }
'

step 'tugd reads files for static specs and image push --file: admins only' '
	"$TUG" user add editor >/dev/null &&
	"$TUG" grant editor edit_config global >/dev/null &&
	"$TUG" grant editor deploy site:blog >/dev/null &&
	printf "site: docs\nkind: static\nroot: /etc\ngroup: web\ndomains: [docs.test]\n" >$T/docs.yml &&
	! "$TUG" --as editor site apply $T/docs.yml 2>$T/err &&
	grep -qx "tug: permission denied: editor may not admin global; an admin can grant it: tug grant editor admin global" $T/err &&
	! "$TUG" --as editor image push x:1 --site blog --file /etc/shadow 2>$T/err &&
	grep -qx "tug: permission denied: editor may not admin global; an admin can grant it: tug grant editor admin global" $T/err &&
	"$TUG" --as boss site apply $T/docs.yml --dry-run >/dev/null 2>$T/err;
	! grep -q "permission denied" $T/err
'

step 'user names, actions and scopes are checked' '
	for bad in Alice 1x "a;b" "a b" "$(printf a%.0s $(seq 33))" "" "-x"; do
		! "$TUG" user add -- "$bad" 2>$T/err &&
		grep -q "invalid user name" $T/err || { echo "accepted [$bad]"; return 1; }
	done &&
	"$TUG" user add _ok-1 >/dev/null &&
	! "$TUG" user add _ok-1 2>$T/err && grep -q "user ._ok-1. exists" $T/err &&
	! "$TUG" grant _ok-1 deploy site:Blog 2>$T/err && grep -q "invalid scope .site:Blog." $T/err &&
	! "$TUG" grant _ok-1 deploy blog 2>$T/err && grep -q "expected global, group:NAME, host:NAME or site:NAME" $T/err &&
	! "$TUG" grant _ok-1 root global 2>$T/err && grep -q "unknown action .root." $T/err &&
	! "$TUG" grant nobody-here view global 2>$T/err && grep -q "no user .nobody-here." $T/err &&
	long=host:$(printf h%.0s $(seq 63)) &&
	"$TUG" grant _ok-1 view $long >$T/out && grep -q "_ok-1 may now view $long" $T/out &&
	"$TUG" user show _ok-1 | grep -q " on $long " &&
	! "$TUG" grant _ok-1 view ${long}h 2>$T/err && grep -q "not a valid host name" $T/err &&
	"$TUG" grant _ok-1 view global >$T/out && grep -q "_ok-1 may now view global" $T/out &&
	"$TUG" grant _ok-1 view global >$T/out && grep -q "_ok-1 may view global already" $T/out &&
	! "$TUG" revoke _ok-1 deploy global 2>$T/err && grep -q "holds no grant of deploy on global" $T/err
'

step 'user show: grants, effective actions with the inherited ones marked; anyone may see themselves' '
	"$TUG" user add shown >/dev/null &&
	"$TUG" grant shown manage site:blog >/dev/null &&
	"$TUG" grant shown edit_env group:web >/dev/null &&
	"$TUG" user show shown >$T/out &&
	grep -q "^  manage  *on site:blog  *(by root)" $T/out &&
	grep -q "^  site:blog  *view (via manage), view_logs (via manage), deploy (via manage), manage$" $T/out &&
	grep -q "^  group:web  *view_env (via edit_env), edit_env$" $T/out &&
	grep -q "covers hosts: web1 web2; sites: blog news" $T/out &&
	grep -qx "which lets them:" $T/out &&
	grep -q "^  deploy  *roll releases out and back, start, stop, restart: the site runs code of their choice, with its env and secrets$" $T/out &&
	grep -q "^  edit_env  *set and unset env values and secrets; a change redeploys the site$" $T/out &&
	! grep -q "^  admin  " $T/out &&
	"$TUG" --as shown --json user show >$T/json &&
	grep -q "\"name\":\"shown\"" $T/json &&
	"$TUG" user add plain >/dev/null && "$TUG" --as plain user show >$T/out &&
	grep -q "^user    plain" $T/out &&
	! "$TUG" --as plain user show shown 2>$T/err &&
	grep -qx "tug: permission denied: plain may not admin global; an admin can grant it: tug grant plain admin global" $T/err
'

step 'the last admin cannot be removed, by user rm or by revoke' '
	for u in $("$TUG" user list | awk "\$2 == \"yes\" && \$1 != \"root\" && \$1 != \"boss\" { print \$1 }"); do
		"$TUG" revoke $u admin global >/dev/null || return 1
	done &&
	"$TUG" user rm --yes boss >$T/out && grep -q "removed user boss" $T/out &&
	"$TUG" user list | awk "\$2 == \"yes\"" >$T/admins &&
	test "$(cut -d" " -f1 $T/admins)" = root &&
	! "$TUG" user rm --yes root 2>$T/err && grep -q "root. is the last admin" $T/err &&
	"$TUG" user add heir >/dev/null && "$TUG" grant heir admin global >/dev/null &&
	"$TUG" user rm --yes root >/dev/null &&
	! "$TUG" --as heir revoke heir admin global 2>$T/err &&
	grep -q "heir. is the last admin" $T/err &&
	"$TUG" --as heir user add root --admin >/dev/null &&
	"$TUG" revoke heir admin global >/dev/null &&
	"$TUG" user list >$T/out && grep -q "^heir  *no " $T/out
'

OPS_LINE="$(cat $T/ops.pub)"
printf '# keys of the operators, by hand\n%s\n' "$OPS_LINE" >$T/authorized_keys
chmod 644 $T/authorized_keys

step 'a key file: fingerprinted as ssh-keygen does, written as a forced command, other lines kept' '
	"$TUG" user add kate >/dev/null &&
	"$TUG" user key add kate $T/k1.pub >$T/out &&
	fp=$(ssh-keygen -l -f $T/k1.pub | cut -d" " -f2) &&
	grep -q "ssh-ed25519 key $fp of kate added to $T/authorized_keys" $T/out &&
	test "$(stat -c %a $T/authorized_keys)" = 600 &&
	test "$(sed -n 1p $T/authorized_keys)" = "# keys of the operators, by hand" &&
	test "$(sed -n 2p $T/authorized_keys)" = "$OPS_LINE" &&
	grep -qxF "restrict,command=\"$TUG --socket $TUG_HOME/tugd.sock --as kate --ssh\" $(cut -d" " -f1-3 $T/k1.pub)" $T/authorized_keys &&
	grep -q "^# tug: begin of the keys tugd manages" $T/authorized_keys &&
	grep -q "^# tug: end of the keys tugd manages" $T/authorized_keys &&
	"$TUG" user show kate | grep -q "^  $fp ssh-ed25519 tug-test$"
'

step 'bad key files are refused with the reason; nothing changes' '
	cp $T/authorized_keys $T/ak.before &&
	body=$(cut -d" " -f2 $T/k2.pub) &&
	cat $T/k1.pub $T/k2.pub >$T/two.pub &&
	printf "command=\"sh\" ssh-ed25519 %s x\n" "$body" >$T/opts.pub &&
	printf "ssh-ed25519 AAAA!!!!%s x\n" "$body" >$T/b64.pub &&
	printf "ssh-rsa %s x\n" "$body" >$T/type.pub &&
	printf "ssh-ed25519 %s evil\"quote\n" "$body" >$T/quote.pub &&
	printf "ssh-ed25519 %s bell\a\n" "$body" >$T/ctl.pub &&
	printf "ssh-dss %s x\n" "$body" >$T/dss.pub &&
	: >$T/empty.pub &&
	"$TUG" user add ken >/dev/null &&
	for f in two:"more than one line" k2:"this is a private key: give the public one" \
	    opts:"key options are not accepted" b64:"not base64" \
	    type:"not a .ssh-rsa. key" quote:"a quote or a backslash" \
	    ctl:"holds a control character" dss:"unknown key type .ssh-dss." \
	    empty:"is empty"; do
		file=$T/${f%%:*}.pub; [ "${f%%:*}" = k2 ] && file=$T/k2
		! "$TUG" user key add ken $file 2>$T/err &&
		grep -q "${f#*:}" $T/err || { echo "[$f]:"; cat $T/err; return 1; }
	done &&
	! "$TUG" user key add ken $T/k1.pub 2>$T/err &&
	grep -q "belongs to user .kate. already" $T/err &&
	cmp $T/authorized_keys $T/ak.before
'

step 'key add from stdin, key rm by fingerprint and all, user rm takes the keys along' '
	"$TUG" user key add ken - <$T/k2.pub >/dev/null &&
	test "$(grep -c -- "--as ken --ssh" $T/authorized_keys)" = 1 &&
	fp=$(ssh-keygen -l -f $T/k2.pub | cut -d" " -f2) &&
	! "$TUG" user key rm ken SHA256:nope 2>$T/err && grep -q "invalid fingerprint" $T/err &&
	"$TUG" user key rm ken "$fp" >$T/out && grep -q "removed 1 key of ken" $T/out &&
	! grep -q -- "--as ken " $T/authorized_keys &&
	"$TUG" user key add ken $T/k2.pub >/dev/null &&
	"$TUG" user key rm ken all >/dev/null && ! grep -q -- "--as ken " $T/authorized_keys &&
	"$TUG" user rm --yes kate >$T/out && grep -q "removed user kate (1 keys, 0 grants)" $T/out &&
	! grep -q "^# tug:" $T/authorized_keys &&
	test "$(cat $T/authorized_keys)" = "$(printf "# keys of the operators, by hand\n%s" "$OPS_LINE")"
'

step 'an authorized_keys whose tug block lost its end is left alone' '
	printf "# tug: begin of the keys tugd manages\nmine\n" >>$T/authorized_keys &&
	cp $T/authorized_keys $T/ak.before &&
	! "$TUG" user key add ken $T/k2.pub 2>$T/err &&
	grep -q "has no .# tug: end of the keys tugd manages. line: mend it by hand" $T/err &&
	cmp $T/authorized_keys $T/ak.before &&
	"$TUG" user show ken | grep -q "^keys    none"
'

# --- a remote user over OpenSSH ------------------------------------------
#
# tugd runs as the service account tugsvc, as on a real controller; its
# authorized_keys is the default one (~tugsvc/.ssh). The socket (0660,
# tugd's group) is made reachable by group docker for tugtest, as 0010 does.
PORT=${TUG_TEST_USERS_SSH_PORT:-2217}
SVC=$T/svc
SOCK=$SVC/tugd.sock
bed_user tugsvc || bail "user tugsvc"
bed_user tugtest || bail "user tugtest"
install -d -o tugsvc -g "$(id -gn tugsvc)" -m 755 $SVC || bail "svc dir"
bed_sshd /run/tug-test/sshd-0017 $PORT tugsvc $T/ops.pub >/dev/null || bail "sshd"
at_exit "bed_sshd_stop /run/tug-test/sshd-0017"
for k in alice bob; do
	bed_keypair $T/$k >/dev/null && chmod 644 $T/$k.pub || bail "key $k"
done
as_svc() {	# as_svc CMD...: run tug as tugd's own user
	su -s /bin/sh tugsvc -c "TUG_NO_AUTOSTART=1 $TUG --socket $SOCK $*"
}
env -u TUG_AUTHORIZED_KEYS su -s /bin/sh tugsvc -c "TUG_HOME=$SVC/home $TUGD --socket $SOCK" ||
	bail "tugd as tugsvc"
svc_pid=$(as_svc --json status | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
[ -n "$svc_pid" ] || bail "no pid of the tugsvc tugd"
at_exit "kill $svc_pid"
chgrp docker $SOCK || bail "chgrp socket"
{ as_svc init && as_svc user add alice && as_svc user add bob &&
	as_svc user key add alice $T/alice.pub && as_svc user key add bob $T/bob.pub &&
	as_svc grant alice view site:blog && as_svc grant alice edit_config site:blog
} >/dev/null || bail "users of the tugsvc tugd"
spec blog 'group: web' >$T/svc-blog.yml
remote() {	# remote KEY [CMD...]: ssh tugsvc@127.0.0.1 with KEY (as bed_ssh)
	local key=$1

	shift
	ssh -F /dev/null -i $T/$key -p $PORT -o IdentitiesOnly=yes \
	    -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR tugsvc@127.0.0.1 -- "$@"
}

step 'the service account'"'"'s authorized_keys: the ops key kept, one forced command per tug key' '
	ak=/home/tugsvc/.ssh/authorized_keys &&
	test "$(stat -c "%U %a" $ak)" = "tugsvc 600" &&
	test "$(sed -n 1p $ak)" = "$OPS_LINE" &&
	grep -qxF "restrict,command=\"$TUG --socket $SOCK --as alice --ssh\" $(cut -d" " -f1-3 $T/alice.pub)" $ak &&
	grep -q -- "--as bob --ssh\" ssh-ed25519 " $ak
'

step 'ssh tugsvc@controller site list runs as that tug user, under their grants' '
	remote alice site list >$T/out 2>$T/err &&
	grep -q "^SITE" $T/out &&
	remote alice site apply - <$T/svc-blog.yml >$T/out &&
	grep -q "site blog: created" $T/out &&
	remote alice site list >$T/out && grep -q "^blog " $T/out &&
	! remote alice deploy blog 2>$T/err &&
	grep -qx "tug: permission denied: alice may not deploy site:blog; an admin can grant it: tug grant alice deploy site:blog" $T/err &&
	! remote bob site list 2>$T/err &&
	grep -qx "tug: permission denied: bob may not view global; an admin can grant it: tug grant bob view global" $T/err &&
	remote alice --json user show >$T/out && grep -q "\"name\":\"alice\"" $T/out &&
	sqlite3 $SVC/home/tug.db "SELECT user, peer FROM audit WHERE op = '\''site.apply'\''" >$T/rows &&
	grep -q "^alice|uid $(id -u tugsvc) (tugsvc) pid [0-9]* --as$" $T/rows
'

step 'over SSH nothing reaches a shell: metacharacters are refused, quotes are plain quotes' '
	rm -f $T/pwned* &&
	! remote alice "site list; touch $T/pwned1" 2>$T/err &&
	grep -q "refusing .;. in the command: tug runs no shell" $T/err &&
	! remote alice "site status \$(touch $T/pwned2)" 2>$T/err &&
	grep -q "refusing .\\$. in the command" $T/err &&
	! remote alice "site status \"\`touch $T/pwned3\`\"" 2>$T/err &&
	grep -q "refusing .\`. inside double quotes" $T/err &&
	! remote alice "site status '\''\$(touch $T/pwned4)'\''" 2>$T/err &&
	grep -q "invalid site name .\$(touch" $T/err &&
	! remote alice "site list | sh" 2>$T/err && grep -q "refusing .|." $T/err &&
	! remote alice "site status '\''unbalanced" 2>$T/err && grep -q "unbalanced . quote" $T/err &&
	! ls $T/pwned* 2>/dev/null
'

step 'over SSH --as and other options are refused, files come on stdin only' '
	! remote alice --as bob site list 2>$T/err &&
	grep -q "over SSH only --json, -q and --help may come before the command" $T/err &&
	! remote alice --socket /tmp/x site list 2>$T/err &&
	grep -q "over SSH only --json" $T/err &&
	! remote alice site apply /etc/passwd 2>$T/err &&
	grep -q "over SSH the file comes on stdin: give .-." $T/err &&
	! remote alice 2>$T/err && grep -q "you are alice on this controller" $T/err &&
	remote alice --help | grep -q "site list"
'

step '--as is honoured only from tugd'"'"'s own uid: root and tugtest are refused' '
	! TUG_NO_AUTOSTART=1 "$TUG" --socket $SOCK --as alice site list 2>$T/err &&
	grep -qx "tug: permission denied: --as is honoured only for tugd'"'"'s own user" $T/err &&
	! su -s /bin/sh tugtest -c "TUG_NO_AUTOSTART=1 $TUG --socket $SOCK --as alice site list" 2>$T/err &&
	grep -qx "tug: permission denied: --as is honoured only for tugd'"'"'s own user" $T/err &&
	! su -s /bin/sh tugtest -c "TUG_NO_AUTOSTART=1 $TUG --socket $SOCK site list" 2>$T/err &&
	grep -qx "tug: permission denied: tugtest may not view global (there is no tug user .tugtest.: tug user add tugtest, or tug init for the first)" $T/err &&
	as_svc --as alice site list >$T/out && grep -q "^blog " $T/out &&
	sqlite3 $SVC/home/tug.db "SELECT user, peer, allowed, result FROM audit WHERE result = '\''--as refused'\''" >$T/rows &&
	grep -q "^root|uid 0 (root) pid [0-9]*|0|--as refused$" $T/rows &&
	grep -q "^tugtest|uid $(id -u tugtest) (tugtest) pid [0-9]*|0|--as refused$" $T/rows
'

step 'a removed key no longer logs in' '
	as_svc user key rm alice all >/dev/null &&
	! grep -q -- "--as alice " /home/tugsvc/.ssh/authorized_keys &&
	! remote alice site list 2>$T/err &&
	grep -q "Permission denied (publickey)" $T/err &&
	remote bob user show >/dev/null
'

finish
