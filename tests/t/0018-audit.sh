#!/bin/bash
# 0018-audit: every request lands in the audit log (who, from which uid,
# op, target, args without secrets, allowed or denied, result), the log is
# append-only (triggers) and hash-chained, tug audit filters it, and
# tug audit verify names a row edited behind tugd's back (triggers dropped
# with the sqlite3 CLI) and rows deleted, in the middle or at the end.
# A database of schema 3 gets its existing rows chained when it migrates.

. "$(dirname "$0")/../lib.sh"

export TUG_AUTHORIZED_KEYS=$T/authorized_keys
DB=$TUG_HOME/tug.db
q() {
	sqlite3 "$DB" "$1"
}

# A database as a tugd of schema 3 left it, with three audit rows.
mkdir -p -m 700 "$TUG_HOME" && sqlite3 "$DB" <"$TESTS_DIR/fixtures/schema-3.sql" &&
	sqlite3 "$DB" "
	INSERT INTO users (name, admin, created_at) VALUES ('root', 1, 0);
	INSERT INTO audit (at, user, op, args, allowed, result) VALUES
	    (1000, 'root', 'init', '{}', 1, 'ok'),
	    (2000, 'eve', 'host.list', '{}', 0, 'permission denied: eve may not view global'),
	    (3000, 'root', 'status', '{}', 1, 'ok');
	PRAGMA user_version = 3;" || bail "schema 3 database"

step 'migrating from schema 3 chains the rows already there' '
	"$TUG" audit verify >$T/out &&
	grep -q "^audit chain OK: 3 rows, last row 3, head [0-9a-f]\{64\}$" $T/out &&
	test "$(q "PRAGMA user_version")" = "$("$TUG" --json status | sed -n "s/.*\"schema\":\([0-9]*\).*/\1/p")" &&
	test "$(q "SELECT prev_hash FROM audit WHERE id = 1")" = "$(printf %064d 0)" &&
	test "$(q "SELECT count(*) FROM audit a JOIN audit b ON b.id = a.id + 1 WHERE b.prev_hash = a.hash")" -ge 2 &&
	q "SELECT user, result FROM audit WHERE id = 2" | grep -q "^eve|permission denied: eve may not view global$"
'

cat >$T/blog.yml <<EOF
site: blog
image: tug-test/app:1
group: web
domains: [blog.test]
port: 8080
env: {MODE: production}
EOF

step 'every request is audited: who, which uid, op, target, allowed or refused, result' '
	"$TUG" site apply $T/blog.yml >/dev/null &&
	"$TUG" user add alice >/dev/null &&
	"$TUG" grant alice view site:blog >/dev/null &&
	"$TUG" --as alice releases blog >/dev/null &&
	! "$TUG" --as alice deploy blog 2>/dev/null &&
	! "$TUG" site status Not-A-Site 2>/dev/null &&
	q "SELECT user, peer, op, target, allowed, result FROM audit WHERE id > 3 ORDER BY id" >$T/rows &&
	grep -q "^root|uid 0 (root) pid [0-9]*|site.apply|site:blog|1|ok$" $T/rows &&
	grep -q "^root|uid 0 (root) pid [0-9]*|grant|global|1|ok$" $T/rows &&
	grep -q "^alice|uid 0 (root) pid [0-9]* --as|releases|site:blog|1|ok$" $T/rows &&
	grep -q "^alice|uid 0 (root) pid [0-9]* --as|deploy|site:blog|0|permission denied: alice may not deploy site:blog; an admin can grant it: tug grant alice deploy site:blog$" $T/rows &&
	grep -q "^root|uid 0 (root) pid [0-9]*|site.status||0|invalid site name .Not-A-Site.: " $T/rows
'

step 'secrets never reach the audit log; a spec is recorded by its sha256' '
	"$TUG" env set blog DB_PASSWORD=hunter2-secret --secret --no-deploy >/dev/null &&
	printf "registry-pass-42\n" | "$TUG" registry login reg.test:5000 --username u --password-stdin >/dev/null &&
	! q "SELECT args, result FROM audit" | grep -q "hunter2-secret\|registry-pass-42" &&
	q "SELECT args FROM audit WHERE op = '\''env.set'\''" | grep -q "\"keys\":\[\"DB_PASSWORD\"\]" &&
	sum=$(sha256sum $T/blog.yml | cut -d" " -f1) &&
	q "SELECT args FROM audit WHERE op = '\''site.apply'\''" | grep -q "\"sha256\":\"$sum\"" &&
	! q "SELECT args FROM audit WHERE op = '\''site.apply'\''" | grep -q production
'

step 'tug audit: newest last, filtered by site, user, time and count' '
	"$TUG" audit >$T/out &&
	head -n 1 $T/out | grep -q "^ID  *TIME (UTC)  *USER  *OP  *TARGET  *RESULT / ARGS$" &&
	grep -q "^2  .* eve  *host.list .*permission denied: eve may not view global" $T/out &&
	tail -n 1 $T/out | grep -q " registry.login " &&
	"$TUG" audit --site blog >$T/out &&
	! grep -q " registry.login " $T/out && grep -q " site.apply  *site:blog " $T/out &&
	grep -q " alice  *deploy  *site:blog  *permission denied" $T/out &&
	"$TUG" audit --user alice >$T/out &&
	test "$(tail -n +2 $T/out | wc -l)" = 2 &&
	"$TUG" audit --since 1h >$T/out && ! grep -q " eve " $T/out &&
	"$TUG" audit --since 1970-01-01T00:00:02Z >$T/out && grep -q " eve " $T/out &&
	! grep -q " init " $T/out &&
	"$TUG" audit --since 2999-01-01T00:00Z >$T/out && test "$(wc -l <$T/out)" = 1 &&
	"$TUG" audit --limit 2 >$T/out && test "$(wc -l <$T/out)" = 3 &&
	"$TUG" --json audit --user eve >$T/json &&
	grep -q "\"rows\":\[{\"id\":2,\"at_ms\":\"1970-01-01T00:00:02.000Z\",\"user\":\"eve\"" $T/json &&
	grep -q "\"prev_hash\":\"[0-9a-f]\{64\}\",\"hash\":\"[0-9a-f]\{64\}\"" $T/json &&
	! "$TUG" audit --since yesterday 2>$T/err &&
	grep -q "invalid --since .yesterday.: give a duration" $T/err &&
	! "$TUG" audit --limit 0 2>$T/err && grep -q "limit must be 1 to 1000" $T/err &&
	! "$TUG" --as alice audit 2>$T/err &&
	grep -qx "tug: permission denied: alice may not admin global; an admin can grant it: tug grant alice admin global" $T/err
'

step 'the table refuses UPDATE and DELETE' '
	! q "UPDATE audit SET result = '\''x'\'' WHERE id = 2" 2>$T/err &&
	grep -q "the audit log is append-only" $T/err &&
	! q "DELETE FROM audit WHERE id = 2" 2>$T/err &&
	grep -q "the audit log is append-only" $T/err
'

step 'verify: intact, with the count' '
	n=$(q "SELECT count(*) FROM audit") &&
	"$TUG" audit verify >$T/out &&
	grep -q "^audit chain OK: $n rows, last row $n, head " $T/out &&
	"$TUG" --json audit verify | grep -q "\"intact\":true,\"rows\":$((n + 1)),"
'

step 'verify names a row edited behind tugd'"'"'s back, and is happy again once it is undone' '
	q "DROP TRIGGER audit_no_update" &&
	was=$(q "SELECT result FROM audit WHERE id = 5") &&
	q "UPDATE audit SET result = '\''nothing to see'\'' WHERE id = 5" &&
	"$TUG" audit verify >$T/out 2>$T/err; test $? -eq 1 &&
	grep -q "^tug: audit chain BROKEN (1 problem in [0-9]* rows):$" $T/err &&
	grep -qx "  row 5 was edited: its hash does not match its contents" $T/err &&
	q "UPDATE audit SET user = '\''mallory'\'', result = '\''$was'\'' WHERE id = 5" &&
	! "$TUG" audit verify 2>$T/err && grep -q "row 5 was edited" $T/err &&
	q "UPDATE audit SET user = '\''root'\'' WHERE id = 5" &&
	"$TUG" audit verify >$T/out && grep -q "^audit chain OK" $T/out
'

# The documented encoding (docs/cli.md), computed here and not by tugd:
# "tug-audit-1\n", then id, at, user, peer, op, target, args, allowed,
# result, prev_hash as netstrings. rehash.py DB [ID [FIELD=VALUE]]: the
# ids whose stored hash is not that (none: every row agrees), or with ID,
# the hash of row ID as stored, or as it would be with FIELD=VALUE.
cat >$T/rehash.py <<'EOF'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1]) if __name__ == "__main__" else None
cols = ["id", "at", "user", "peer", "op", "target", "args", "allowed",
        "result", "prev_hash"]
def h(row):
    b = b"tug-audit-1\n"
    for v in row:
        v = str(v).encode()
        b += str(len(v)).encode() + b":" + v + b","
    return hashlib.sha256(b).hexdigest()
sel = "SELECT " + ", ".join(cols) + ", hash FROM audit"
if __name__ == "__main__" and len(sys.argv) == 2:
    for r in db.execute(sel + " ORDER BY id"):
        if h(r[:-1]) != r[-1]:
            print(r[0])
elif __name__ == "__main__":
    r = list(db.execute(sel + " WHERE id = ?", (int(sys.argv[2]),)).fetchone()[:-1])
    for kv in sys.argv[3:]:
        k, v = kv.split("=", 1)
        r[cols.index(k)] = int(v) if k in ("id", "at", "allowed") else v
    print(h(r))
EOF
step 'the test recomputes every row'"'"'s hash from the documented encoding; each field edited in turn is named' '
	test -z "$(python3 $T/rehash.py "$DB")" &&
	test "$(python3 $T/rehash.py "$DB" 6)" = "$(q "SELECT hash FROM audit WHERE id = 6")" &&
	for f in at user peer op target args allowed result prev_hash; do
		was=$(q "SELECT quote($f) FROM audit WHERE id = 6") &&
		case $f in at|allowed) nv="$f + 1" ;; *) nv="$f || '\''x'\''" ;; esac &&
		q "UPDATE audit SET $f = $nv WHERE id = 6" &&
		{ ! "$TUG" audit verify 2>$T/err || { echo "$f edited: verify is happy"; exit 1; }; } &&
		{ grep -qx "  row 6 was edited: its hash does not match its contents" $T/err ||
		    { echo "$f edited:"; cat $T/err; exit 1; }; } &&
		q "UPDATE audit SET $f = $was WHERE id = 6" || exit 1
	done &&
	"$TUG" audit verify >$T/out && grep -q "^audit chain OK" $T/out
'

step 'a row rewritten with a correct hash of its own: verify names the row after it, which no longer links' '
	was=$(q "SELECT quote(result) || '\'', hash = '\'' || quote(hash) FROM audit WHERE id = 6") &&
	forged=$(python3 $T/rehash.py "$DB" 6 result=forged) &&
	q "UPDATE audit SET result = '\''forged'\'', hash = '\''$forged'\'' WHERE id = 6" &&
	! "$TUG" audit verify 2>$T/err &&
	grep -qx "  row 7 does not link to row 6 (its prev_hash is not that row'"'"'s hash): rows were replaced" $T/err &&
	! grep -q "row 6 was edited" $T/err &&
	q "UPDATE audit SET result = $was WHERE id = 6" &&
	"$TUG" audit verify >$T/out && grep -q "^audit chain OK" $T/out
'

# The whole chain rewritten from row 3 on, every hash and link recomputed
# (what anyone who can write the database and read audit.c can do): only
# an anchor kept outside the database catches it.
cat >$T/rewrite.py <<'EOF'
import sqlite3, sys
sys.path.insert(0, sys.argv[3])
from rehash import cols, h
db = sqlite3.connect(sys.argv[1])
start = int(sys.argv[2])
prev = db.execute("SELECT hash FROM audit WHERE id = ?", (start - 1,)).fetchone()[0]
for r in db.execute("SELECT " + ", ".join(cols) + " FROM audit WHERE id >= ? ORDER BY id", (start,)).fetchall():
    r = list(r)
    if r[0] == start:
        r[cols.index("result")] = "rewritten"
    r[cols.index("prev_hash")] = prev
    prev = h(r)
    db.execute("UPDATE audit SET result = ?, prev_hash = ?, hash = ? WHERE id = ?",
               (r[cols.index("result")], r[cols.index("prev_hash")], prev, r[0]))
db.commit()
EOF
step 'a chain rewritten whole, every hash recomputed: verify alone is fooled, an anchor kept outside catches it' '
	"$TUG" audit verify >$T/out && a=$(sed -n "s/^anchor: //p" $T/out) &&
	test -n "$a" && "$TUG" audit verify --head "$a" >$T/out2 && grep -q "^audit chain OK" $T/out2 &&
	id=${a%%:*} && hash=${a#*:} &&
	python3 $T/rewrite.py "$DB" 3 $T &&
	test "$(q "SELECT result FROM audit WHERE id = 3")" = rewritten &&
	"$TUG" audit verify >$T/out && grep -q "^audit chain OK" $T/out &&
	! "$TUG" audit verify --head "$a" 2>$T/err &&
	has $T/err "^  row $id is not the row anchored (its hash is not ${hash:0:16}…): the chain was rewritten up to there$" &&
	! "$TUG" audit verify --head "99999:$hash" 2>$T/err &&
	grep -qx "  row 99999, the row anchored, is not in the chain" $T/err &&
	! "$TUG" audit verify --head "3:xyz" 2>$T/err &&
	has $T/err "invalid --head .3:xyz.: expected ID:HASH"
'

step 'verify names deleted rows: in the middle, at the start, at the end' '
	q "DROP TRIGGER audit_no_delete" &&
	q "DELETE FROM audit WHERE id = 7" &&
	"$TUG" audit verify 2>$T/err; test $? -eq 1 &&
	grep -qx "  row 7 is missing (deleted): row 8 follows row 6" $T/err &&
	q "DELETE FROM audit WHERE id IN (9, 10)" &&
	! "$TUG" audit verify 2>$T/err &&
	grep -qx "  rows 9 to 10 are missing (deleted): row 11 follows row 8" $T/err &&
	last=$(q "SELECT max(id) FROM audit") &&
	q "DELETE FROM audit WHERE id = $last" &&
	! "$TUG" audit verify 2>$T/err &&
	grep -qx "  row $last is missing (deleted) at the end: the last row is $((last - 1))" $T/err &&
	q "DELETE FROM audit WHERE id = 1" &&
	! "$TUG" audit verify 2>$T/err &&
	grep -qx "  the rows before row 2 are missing (deleted): it does not start the chain" $T/err
'

step 'new rows keep chaining after the damage: the gap stays visible' '
	"$TUG" status >/dev/null &&
	! "$TUG" audit verify 2>$T/err &&
	grep -q "row 7 is missing (deleted)" $T/err &&
	! grep -q "was edited" $T/err
'

finish
