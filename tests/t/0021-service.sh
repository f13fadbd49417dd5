#!/bin/bash
# 0021-service: tugd as the system service runs it (deploy/tugd.service), as
# the account tug, inside a sandbox made from the unit's own settings with
# bubblewrap: the file system read-only but the unit's ReadWritePaths,
# /home and /root hidden (ProtectHome=yes). /var/lib/tug and /run/tug in
# the sandbox are this test's own directories, never the machine's. Root's
# tug starts tugd as tug; a non-root user in group tug (setpriv
# --groups, /etc/group untouched) uses the CLI within their grants and
# cannot open the database; tug user key add writes tug's authorized_keys.

. "$(dirname "$0")/../lib.sh"

UNIT=$ROOT/deploy/tugd.service
U=tug21u

# unit KEY: the value of KEY= in the unit's [Service] section.
unit() {
	sed -n "/^\[Service\]/,/^\[/s/^$1=//p" "$UNIT"
}

getent passwd tug >/dev/null ||
	adduser --quiet --system --group --home /var/lib/tug --shell /bin/sh tug ||
	bail "account tug"
test "$(getent passwd tug | cut -d: -f6)" = /var/lib/tug ||
	bail "the account tug exists with a home other than /var/lib/tug"
TUG_GID=$(getent group tug | cut -d: -f3)
id -u $U >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /bin/sh $U ||
	bail "user $U"

# The binaries where the service account may run them.
mkdir -p $T/bin && cp "$TUG_BUILD/tug" "$TUG_BUILD/tugd" "$TUG_BUILD/tug-agent" $T/bin/ &&
	chmod 755 $T/bin $T/bin/* || bail "binaries"
install -d -o tug -g tug -m 700 $T/state && install -d -o tug -g tug -m 750 $T/run ||
	bail "directories"
unset TUG_HOME TUG_SOCKET

# sandbox CMD...: CMD as the unit would see the system. Every
# ReadWritePaths entry is this test's directory of the same role.
sandbox() {
	# Mount points of the machine's own /run and /var/lib stay untouched:
	# the sandbox has empty ones, with only this test's directories.
	local args=(--ro-bind / / --dev /dev --proc /proc --tmpfs /run
	    --tmpfs /var/lib) p

	for p in $(unit ReadWritePaths); do
		case $p in
		/var/lib/tug) args+=(--bind $T/state /var/lib/tug) ;;
		/run/tug) args+=(--bind $T/run /run/tug) ;;
		*) echo "unknown ReadWritePaths entry $p"; return 1 ;;
		esac
	done
	case $(unit ProtectHome) in
	yes) args+=(--tmpfs /home --remount-ro /home --tmpfs /root
		    --remount-ro /root --bind $T/bin $T/bin) ;;
	*) echo "ProtectHome=$(unit ProtectHome): expected yes"; return 1 ;;
	esac
	bwrap "${args[@]}" "$@"
}

# as_member CMD...: CMD as $U, a member of group tug.
as_member() {
	sandbox setpriv --reuid $U --regid $U --groups $TUG_GID env HOME=/nonexistent "$@"
}

svc_pid() {
	sandbox env TUG_NO_AUTOSTART=1 $T/bin/tug --json status 2>/dev/null |
	    sed -n 's/.*"pid":\([0-9]*\).*/\1/p'
}
at_exit 'p=$(svc_pid); [ -n "$p" ] && kill $p'

step 'the unit runs tugd as tug, private state, a socket directory group tug can traverse' '
	test "$(unit User)" = tug && test "$(unit Group)" = tug &&
	test "$(unit UMask)" = 0077 &&
	test "$(unit StateDirectoryMode)" = 0700 &&
	test "$(unit RuntimeDirectoryMode)" = 0750 &&
	test "$(unit ProtectSystem)" = strict &&
	test "$(unit ProtectHome)" = yes &&
	test "$(unit ReadWritePaths)" = "/var/lib/tug /run/tug"
'

step 'root starts tugd as tug on the system paths' '
	sandbox $T/bin/tug init >$T/out 2>&1 &&
	grep -q "root is the admin (database /var/lib/tug/tug.db)" $T/out &&
	pid=$(svc_pid) && test -n "$pid" &&
	test "$(awk "/^Uid:/ { print \$2 }" /proc/$pid/status)" = "$(id -u tug)" &&
	test -S $T/run/tugd.sock &&
	test "$(stat -c "%a %U %G" $T/run/tugd.sock)" = "660 tug tug" &&
	test "$(stat -c "%a %U" $T/state)" = "700 tug" &&
	test "$(stat -c "%a %U" $T/state/tug.db)" = "600 tug"
'

step 'a member of group tug reaches tugd on the system socket, within their grants' '
	sandbox $T/bin/tug user add $U >/dev/null &&
	sandbox $T/bin/tug grant $U view global >/dev/null &&
	as_member $T/bin/tug status >$T/out &&
	grep -q "^you *$U" $T/out &&
	as_member $T/bin/tug host list >/dev/null &&
	! as_member $T/bin/tug user list 2>$T/err &&
	grep -qx "tug: permission denied: $U may not admin global; an admin can grant it: tug grant $U admin global" $T/err &&
	! as_member $T/bin/tug --as root user list 2>$T/err &&
	grep -qx "tug: permission denied: --as is honoured only for tugd'"'"'s own user" $T/err
'

step 'that member cannot open the database, its WAL or the key' '
	! as_member sqlite3 /var/lib/tug/tug.db "SELECT count(*) FROM users" 2>$T/err &&
	! as_member cat /var/lib/tug/tug.db-wal >/dev/null 2>&1 &&
	! as_member cat /var/lib/tug/id_ed25519 >/dev/null 2>&1 &&
	! as_member ls /var/lib/tug >/dev/null 2>&1
'

step 'tug user key add writes tug'"'"'s own authorized_keys under the sandbox' '
	bed_keypair $T/alice >/dev/null &&
	sandbox $T/bin/tug user add alice >/dev/null &&
	sandbox $T/bin/tug user key add alice $T/alice.pub >$T/out 2>$T/err ||
	{ cat $T/out $T/err; false; } &&
	grep -q "added to /var/lib/tug/.ssh/authorized_keys" $T/out &&
	grep -q "command=\".* --as alice --ssh\" $(cut -d" " -f1-2 $T/alice.pub)" $T/state/.ssh/authorized_keys &&
	test "$(stat -c "%a %U" $T/state/.ssh/authorized_keys)" = "600 tug"
'

finish
