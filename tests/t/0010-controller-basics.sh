#!/bin/bash
# 0010-controller-basics: tug starts tugd when none runs (and refuses to
# with TUG_NO_AUTOSTART), tugd keeps SQLite state with a versioned schema,
# `tug init` makes the caller the admin, and every other OS user is denied
# through the one authorisation function, with an audit row either way.

. "$(dirname "$0")/../lib.sh"

step 'no tugd and TUG_NO_AUTOSTART=1: refused with exit 3' '
	TUG_NO_AUTOSTART=1 "$TUG" status 2>$T/err; test $? -eq 3 &&
	grep -q "no tugd is listening on .$TUG_HOME/tugd.sock. (and TUG_NO_AUTOSTART is set)" $T/err
'

step 'tug starts tugd, which creates its state privately' '
	"$TUG" status >$T/out &&
	grep -q "^tugd [0-9.]*, pid [0-9]*$" $T/out &&
	test -S "$TUG_HOME/tugd.sock" &&
	test "$(stat -c %a "$TUG_HOME/tugd.sock")" = 660 &&
	test "$(stat -c %a "$TUG_HOME")" = 700 &&
	test "$(stat -c %a "$TUG_HOME/id_ed25519")" = 600 &&
	test -f "$TUG_HOME/tug.db"
'

step 'the database: WAL, foreign keys declared, migrated to the newest schema' '
	test "$(sqlite3 "$TUG_HOME/tug.db" "PRAGMA journal_mode")" = wal &&
	v=$(sqlite3 "$TUG_HOME/tug.db" "PRAGMA user_version") && test "$v" -ge 3 &&
	"$TUG" status | grep -q "^schema  $v$" &&
	sqlite3 "$TUG_HOME/tug.db" ".schema host_groups" | grep -q "REFERENCES hosts(id) ON DELETE CASCADE"
'

step 'a second tugd on the same state refuses to start' '
	! "$TUGD" -f 2>$T/err &&
	grep -q "another tugd" $T/err
'

step 'a bad TUG_HANDSHAKES stops tugd at start-up with the reason' '
	! TUG_HANDSHAKES=0 "$TUGD" -f --home $T/other 2>$T/err &&
	grep -q "TUG_HANDSHAKES must be a number from 1 to 256" $T/err &&
	! TUG_HANDSHAKES=8x "$TUGD" -f --home $T/other 2>$T/err &&
	grep -q "TUG_HANDSHAKES must be" $T/err
'

step 'before init nobody is admin: denied, and audited' '
	! "$TUG" host list 2>$T/err &&
	grep -q "permission denied: root may not view global" $T/err &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM audit WHERE allowed = 0 AND op = '\''host.list'\''")" = 1
'

step 'init makes the caller the admin; a second init is refused' '
	"$TUG" init >$T/out &&
	grep -q "root is the admin" $T/out &&
	! "$TUG" init 2>$T/err &&
	grep -q "already initialised" $T/err &&
	"$TUG" host list >$T/out &&
	grep -q "^HOST" $T/out
'

step 'tug key prints the public key hosts must trust' '
	"$TUG" key >$T/key &&
	grep -q "^ssh-ed25519 AAAA[A-Za-z0-9+/=]* tugd$" $T/key &&
	ssh-keygen -l -f $T/key >/dev/null
'

# Another OS user on a socket it may reach.
bed_user tugtest || bail "no test user"
SOCKDIR=$T/sock
mkdir -p $SOCKDIR && chmod 755 $SOCKDIR
tugd_stop
"$TUGD" --socket $SOCKDIR/tugd.sock || bail "tugd --socket"
chgrp docker $SOCKDIR/tugd.sock
at_exit "kill \$(TUG_SOCKET=$SOCKDIR/tugd.sock \"$TUG\" --json status | sed -n 's/.*\"pid\":\([0-9]*\).*/\1/p')"
as_tugtest() {
	su -s /bin/sh tugtest -c "TUG_NO_AUTOSTART=1 TUG_SOCKET=$SOCKDIR/tugd.sock $TUG $*"
}

step 'another OS user is identified by its peer credentials and denied' '
	! as_tugtest host list 2>$T/err &&
	grep -q "permission denied: tugtest may not view global" $T/err &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM audit WHERE user = '\''tugtest'\'' AND allowed = 0")" = 1
'

step '--as is honoured only from tugd'"'"'s own uid' '
	! as_tugtest --as root host list 2>$T/err &&
	grep -q "permission denied: --as is honoured only for tugd" $T/err &&
	TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" --as nobody-here host list 2>$T/err;
	grep -qx "tug: permission denied: nobody-here may not view global (there is no tug user .nobody-here.: tug user add nobody-here, or tug init for the first)" $T/err
'

step 'usage errors exit 2 and name the problem' '
	"$TUG" frob 2>$T/err; test $? -eq 2 && grep -q "unknown command .frob." $T/err &&
	"$TUG" host add onlyname 2>$T/err; test $? -eq 2 && grep -q "usage: tug host add NAME" $T/err &&
	"$TUG" host check --nope 2>$T/err; test $? -eq 2 && grep -q "unknown option .--nope." $T/err &&
	"$TUG" host check --timeout x 2>$T/err; test $? -eq 2 && grep -q "wants a number" $T/err &&
	"$TUG" host add --help | grep -q -- "--accept-new-hostkey" &&
	"$TUG" --help | grep -q "host check"
'

step 'a mistyped command or option: the nearest named, only its usage, exit 2' '
	"$TUG" site lsit >$T/out 2>$T/err; test $? -eq 2 &&
	grep -qx "tug: unknown command .site lsit.; did you mean .site list.?" $T/err &&
	grep -q "^  tug site status SITE$" $T/err && ! grep -q "host check" $T/err &&
	test ! -s $T/out &&
	"$TUG" site 2>$T/err; test $? -eq 2 &&
	grep -q "^tug site: which one" $T/err && grep -q "^  tug site list$" $T/err &&
	! grep -q "^  tug env" $T/err &&
	"$TUG" env 2>$T/err; test $? -eq 2 && grep -q "^  tug env set SITE" $T/err &&
	"$TUG" user key ad x 2>$T/err; test $? -eq 2 &&
	grep -q "did you mean .user key add.?" $T/err &&
	"$TUG" sitee list 2>$T/err; test $? -eq 2 &&
	grep -q "did you mean .site.?" $T/err && grep -q "tug help. lists the commands" $T/err &&
	"$TUG" deploy x --imgae foo 2>$T/err; test $? -eq 2 &&
	grep -qx "tug deploy: unknown option .--imgae.; did you mean .--image.?" $T/err &&
	grep -qx "usage: tug deploy SITE \[--image REF\] \[--detach\] | --follow SITE" $T/err &&
	test "$(wc -l <$T/err)" = 2 &&
	"$TUG" deploy 2>$T/err; test $? -eq 2 &&
	grep -qx "tug deploy: missing arguments" $T/err && test "$(wc -l <$T/err)" = 2
'

step 'tug help [COMMAND], -h on every command, tug version' '
	"$TUG" help >$T/out && grep -q "^  host check" $T/out &&
	"$TUG" help deploy >$T/out && grep -q "^usage: tug deploy SITE" $T/out &&
	"$TUG" help site list >$T/out && grep -q "^usage: tug site list" $T/out &&
	! "$TUG" help nosuch 2>$T/err && grep -q "unknown command .nosuch." $T/err &&
	"$TUG" deploy -h >$T/out && grep -q "^usage: tug deploy SITE" $T/out &&
	"$TUG" site rm -h >$T/out && grep -q -- "--volumes" $T/out &&
	"$TUG" version | grep -q "^tug [0-9.]* (protocol [0-9]*)$" &&
	"$TUG" --version | grep -q "^tug [0-9.]* (protocol [0-9]*)$"
'

step '--json: a refusal is JSON on stdout too, {code, message}' '
	printf "site: Bad\n" >$T/bad.yml &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" --json site apply $T/bad.yml >$T/out 2>$T/err &&
	jq -en "input | .message | contains(\"invalid site name\")" $T/out >/dev/null &&
	jq -en "input | .code == \"bad_args\"" $T/out >/dev/null &&
	grep -q "^tug: .*invalid site name" $T/err &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" --json --as nobody-here host list >$T/out 2>/dev/null &&
	jq -en "input | .code == \"permission_denied\"" $T/out >/dev/null &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" --json site status nosuch >$T/out 2>/dev/null &&
	jq -en "input | .code == \"not_found\"" $T/out >/dev/null
'

step 'man pages from the command table, tugd --help and the site spec' '
	for p in tug.1 tugd.8 tug-site.yml.5; do
		test -s $TUG_BUILD/man/$p || { echo "no man/$p"; return 1; }
	done &&
	MANWIDTH=250 man -l $TUG_BUILD/man/tug.1 2>$T/manerr >$T/man1 &&
	! test -s $T/manerr &&
	"$TUG" help | sed -n "s/^  \([a-z][a-z ]*[a-z]\)  .*/\1/p" >$T/cmds &&
	test "$(wc -l <$T/cmds)" -gt 30 &&
	while read -r c; do
		grep -q "^ *tug $c\( \|$\)" $T/man1 || { echo "tug $c not in tug(1)"; return 1; }
	done <$T/cmds &&
	grep -q -- "--image" $T/man1 &&
	MANWIDTH=250 man -l $TUG_BUILD/man/tugd.8 >$T/man8 2>&1 &&
	grep -q -- "--socket PATH" $T/man8 && grep -q "TUG_HANDSHAKES" $T/man8 &&
	MANWIDTH=250 man -l $TUG_BUILD/man/tug-site.yml.5 >$T/man5 2>&1 &&
	grep -q "deploy.keep" $T/man5 && grep -q "^ *heal" $T/man5
'

step 'make install: the binaries, the docs the service names and the man pages' '
	make -s -C "$ROOT" install DESTDIR=$T/inst PREFIX=/usr/local \
	    B=$TUG_BUILD >$T/out 2>&1 || { cat $T/out; false; } &&
	for f in bin/tug bin/tugd bin/tug-agent share/doc/tug/README.md \
	    share/doc/tug/cli.md share/man/man1/tug.1 \
	    share/man/man5/tug-site.yml.5 share/man/man8/tugd.8; do
		test -s $T/inst/usr/local/$f || { echo "no $f"; return 1; }
	done &&
	doc=$(sed -n "s|^Documentation=file://||p" $T/inst/usr/local/share/doc/tug/tugd.service) &&
	test -s "$T/inst$doc"
'

# comp WORD...: what tug completion bash offers for the last WORD.
comp() {
	PATH=$TUG_BUILD:$PATH TUG_SOCKET=$SOCKDIR/tugd.sock bash -c \
	    '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tug
	    printf "%s\n" "${COMPREPLY[@]}"' _ $T/comp.bash "$@"
}

step 'tug completion bash and zsh: commands, their words and flags, names asked of tugd' '
	"$TUG" completion bash >$T/comp.bash && bash -n $T/comp.bash &&
	"$TUG" completion zsh | grep -q "^autoload -U +X bashcompinit" &&
	test "$(comp tug si)" = site &&
	test "$(comp tug site l)" = list &&
	test "$(comp tug site "" | tr "\n" " ")" = "apply list status show rm " &&
	test "$(comp tug deploy x --im)" = --image &&
	test "$(comp tug grant ro)" = root &&
	! "$TUG" completion fish 2>$T/err && grep -q "bash or zsh" $T/err
'

step 'hostile host names, addresses and users are refused before any connection' '
	for bad in "Bad" "a;b" "-x" "$(printf %070d 0)"; do
		! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" host add "$bad" 127.0.0.1 2>$T/err &&
		grep -q "invalid host name" $T/err || return 1
	done &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" host add h "a;b@127.0.0.1" 2>$T/err &&
	grep -q "invalid SSH user" $T/err &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" host add h "x@\$(id)" 2>$T/err &&
	grep -q "invalid address" $T/err &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" host add h "127.0.0.1:99999" 2>$T/err &&
	grep -q "invalid port" $T/err &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" host add h 127.0.0.1 --group "G!" 2>$T/err &&
	grep -q "invalid group" $T/err &&
	! TUG_SOCKET=$SOCKDIR/tugd.sock "$TUG" host add h 127.0.0.1 --hostkey nope 2>$T/err &&
	grep -q "invalid --hostkey" $T/err &&
	test "$(sqlite3 "$TUG_HOME/tug.db" "SELECT count(*) FROM hosts")" = 0
'

finish
