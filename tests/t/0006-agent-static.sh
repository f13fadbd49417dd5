#!/bin/bash
# 0006-agent-static: static sites (DESIGN §6 "Static sites") driven through
# tug-agent over a pipe. static.apply takes a tar stream in DATA frames,
# extracts it under <state>/static/<site>/<release>/ and switches nginx to
# serve it; a release kept on the host comes back without data (reuse);
# old releases are pruned. Hostile archives are refused with a clear error,
# write nothing outside the tree and leave no partial directory behind.

. "$(dirname "$0")/../lib.sh"
STATE=$T/state
RUN=("$AGENT" serve --state-dir "$STATE")
S=t6static
H=$T/tars
mkdir -p $H
python3 "$ROOT/tests/fixtures/static-tars.py" $H $T ||
    bail "cannot make the test archives"

proxy_init || bail "no free port"

# req OUT OP JSON: one request, its frames in OUT.
req() {
	"$AGENTCTL" -t 60 -r "$2" "$3" -- "${RUN[@]}" >"$1" 2>"$1.err"
}

# refused JSON PATTERN: static.apply is refused with bad_args PATTERN.
refused() {
	"$AGENTCTL" -r static.apply "$1" -- "${RUN[@]}" >$T/out 2>&1
	test $? -eq 1 || { echo "$1 was not refused:"; cat $T/out; return 1; }
	has $T/out "\"type\":\"ERROR\",\"id\":1,\"body\":{\"code\":\"bad_args\",\"message\":\"$2"
}

DOMAINS='"proxy":{"domains":["s.test","www.s.test"]}'
# sapply OUT RELEASE TARFILE|"" [EXTRA-ARGS]: static.apply, the file as DATA.
sapply() {
	"$AGENTCTL" -t 60 ${3:+-d "$3"} -r static.apply \
	    "{\"site\":\"$S\",\"release\":$2,$DOMAINS${4:+,$4}}" \
	    -- "${RUN[@]}" >"$1" 2>"$1.err"
}

# The release directories on disk, and nothing else.
rels() {
	ls -A $STATE/static/$S | tr '\n' ' '
}

# Release 1: made by GNU tar from a real tree, with modes it must not keep.
mkdir -p $T/tree1/css $T/tree1/a/b/c $T/tree1/private &&
echo '<h1>release 1</h1>' >$T/tree1/index.html &&
echo 'body { color: red }' >$T/tree1/css/site.css &&
echo 'nested' >$T/tree1/a/b/c/deep.txt &&
echo '#!/bin/sh' >$T/tree1/run.sh && chmod 4755 $T/tree1/run.sh &&
echo 'secret-ish' >$T/tree1/private/x.txt && chmod 600 $T/tree1/private/x.txt &&
chmod 700 $T/tree1/private &&
LONG=$(printf 'l%.0s' $(seq 150)).html &&
echo long >$T/tree1/$LONG &&
tar -C $T/tree1 -cf $H/r1.tar . || bail "cannot make release 1"
PASSWD=$(sha256sum </etc/passwd)

step 'args are checked before anything runs' '
	refused "{\"release\":1,$DOMAINS}" "args.site: missing" &&
	refused "{\"site\":\"Bad\",\"release\":1,$DOMAINS}" "invalid site name .Bad." &&
	refused "{\"site\":\"$S\",\"release\":0,$DOMAINS}" "release must be between 1 and 999999999" &&
	refused "{\"site\":\"$S\",\"release\":1}" "args.proxy: missing" &&
	refused "{\"site\":\"$S\",\"release\":1,\"proxy\":{\"domains\":[\"a;b\"]}}" "invalid domain .a;b." &&
	refused "{\"site\":\"$S\",\"release\":1,\"keep\":0,$DOMAINS}" "keep must be between 1 and 100" &&
	refused "{\"site\":\"$S\",\"release\":1,\"index\":\"../x.html\",$DOMAINS}" "invalid index ..\\./x.html.: must not start with" &&
	refused "{\"site\":\"$S\",\"release\":1,\"index\":\"a/b.html\",$DOMAINS}" "invalid index .a/b.html.: only letters" &&
	refused "{\"site\":\"$S\",\"release\":1,\"index\":\"a b\",$DOMAINS}" "invalid index" &&
	refused "{\"site\":\"$S\",\"release\":1,\"max_bytes\":0,$DOMAINS}" "max_bytes must be between 1 and" &&
	refused "{\"site\":\"$S\",\"release\":1,\"reuse\":1,$DOMAINS}" "args.reuse: expected true or false" &&
	! test -e $STATE/static
'

step 'static.apply without a proxy: error proxy, nothing written' '
	! sapply $T/np 1 $H/r1.tar &&
	has $T/np "\"code\":\"proxy\",\"message\":\"no proxy on this host" &&
	! test -e $STATE/static/$S
'

step 'proxy.setup starts nginx' '
	req $T/setup proxy.setup "{\"listen\":$PORT,\"address\":\"127.0.0.1\"}" &&
	has $T/setup "\"started\":true"
'

step 'release 1 from a GNU tar: every file served with X-Tug-Release 1' '
	sapply $T/r1 1 $H/r1.tar &&
	has $T/r1 "\"step\":\"receive\",\"message\":\"receiving release 1 into static/$S/1.tmp-" &&
	has $T/r1 "\"step\":\"extracted\",\"message\":\"release 1: 6 files, 5 directories" &&
	has $T/r1 "\"step\":\"proxy\",\"message\":\"nginx answers for s.test from release 1" &&
	has $T/r1 "\"site\":\"$S\",\"release\":1,\"path\":\"$STATE/static/$S/1\",\"reused\":false,\"files\":6,\"dirs\":5," &&
	has $T/r1 "\"gzip\":false" &&
	has $T/r1 "\"index\":true,\"releases\":\[1\],\"pruned\":\[\]" &&
	via s.test && test "$(cat $T/via)" = "<h1>release 1</h1>" &&
	has $T/via.h "^X-Tug-Release: 1" &&
	via www.s.test /css/site.css && test "$(cat $T/via)" = "body { color: red }" &&
	via s.test /a/b/c/deep.txt && test "$(cat $T/via)" = nested &&
	via s.test /a/b/c/ && has $T/via.h "^HTTP/1.1 403" && has $T/via.h "^X-Tug-Release: 1" &&
	via s.test /$LONG && test "$(cat $T/via)" = long &&
	via s.test /nope.html && has $T/via.h "^HTTP/1.1 404" &&
	via other.test && has $T/via.h "^HTTP/1.1 404" && hasnt $T/via.h X-Tug-Release &&
	test "$(rels)" = "1 " &&
	has $STATE/journal/$S.json "\"kind\":\"static\"" &&
	has $STATE/journal/$S.json "\"current\":1,\"step\":\"done\""
'

step 'modes are 0644 and 0755 whatever the archive said; times are kept' '
	R=$STATE/static/$S/1 &&
	test "$(stat -c %a $R/run.sh $R/private/x.txt $R/index.html | sort -u)" = 644 &&
	test "$(stat -c %a $R $R/private $R/css $R/a/b/c | sort -u)" = 755 &&
	test "$(stat -c %Y $R/index.html)" = "$(stat -c %Y $T/tree1/index.html)" &&
	test -z "$(find $R -perm /6000)"
'

step 'the nginx config serves the tree directly' '
	C=$STATE/nginx/sites/$S.conf &&
	has $C "^# static site $S, release 1" &&
	has $C "server_name s.test www.s.test;" &&
	has $C "root \.\./static/$S/1;" &&
	has $C "index index.html;" &&
	has $C "try_files \$uri \$uri/ =404;" &&
	has $C "disable_symlinks on from=\$document_root;" &&
	has $C "add_header X-Tug-Release 1 always;" &&
	hasnt $C proxy_pass
'

step 'release 2, pax and gzip-compressed, replaces it for every request after' '
	sapply $T/r2 2 $H/r2.tar.gz &&
	has $T/r2 "\"gzip\":true" &&
	has $T/r2 "\"releases\":\[1,2\]" &&
	for i in $(seq 10); do
		via s.test && test "$(cat $T/via)" = "<h1>release 2</h1>" &&
		has $T/via.h "^X-Tug-Release: 2" || return 1
	done &&
	via s.test "/docs/$(printf "section-%02d/" $(seq 0 11))page.html" &&
	test "$(cat $T/via)" = "deep page" &&
	via s.test /a/b/c/deep.txt && has $T/via.h "^HTTP/1.1 404" &&
	test "$(rels)" = "1 2 "
'

step 'site.status lists the releases and the one served, without Docker' '
	req $T/st site.status "{\"site\":\"$S\"}" &&
	has $T/st "\"site\":\"$S\",\"kind\":\"static\",\"current\":2,\"last_step\":\"done\",\"static_releases\":\[1,2\],\"containers\":\[\]"
'

step 'reuse: release 1 again without any DATA (a rollback)' '
	sapply $T/rb 1 "" "\"reuse\":true" &&
	has $T/rb "\"step\":\"reuse\",\"message\":\"release 1 is on this host already" &&
	hasnt $T/rb "\"step\":\"receive\"" &&
	has $T/rb "\"release\":1,.*\"reused\":true,\"files\":0,.*\"received\":0" &&
	via s.test && test "$(cat $T/via)" = "<h1>release 1</h1>" &&
	has $T/via.h "^X-Tug-Release: 1" &&
	has $STATE/journal/$S.json "\"current\":1,"
'

step 'reuse of the serving release only confirms it' '
	sapply $T/rb2 1 "" "\"reuse\":true" &&
	has $T/rb2 "nginx already answers for s.test from release 1" &&
	has $T/rb2 "\"changed\":false"
'

step 'reuse of a release that is not here: not_found, nothing changes' '
	! sapply $T/rb3 7 "" "\"reuse\":true" &&
	has $T/rb3 "\"code\":\"not_found\",\"message\":\"release 7 of .$S. is not on this host: send it again (without reuse)" &&
	test "$(rels)" = "1 2 " &&
	via s.test && has $T/via.h "^X-Tug-Release: 1"
'

step 'keep=2: release 3 prunes the oldest, never the one served' '
	sapply $T/r3 3 $H/r2.tar.gz "\"keep\":2" &&
	has $T/r3 "\"step\":\"prune\",\"message\":\"removing release 1 (keeping 2)" &&
	has $T/r3 "\"releases\":\[2,3\],\"pruned\":\[1\]" &&
	test "$(rels)" = "2 3 " &&
	via s.test && has $T/via.h "^X-Tug-Release: 3" &&
	sapply $T/rb4 2 "" "\"reuse\":true,\"keep\":1" &&
	has $T/rb4 "\"releases\":\[2\],\"pruned\":\[3\]" &&
	test "$(rels)" = "2 " &&
	via s.test && has $T/via.h "^X-Tug-Release: 2"
'

step 'the same release with new data: the tree is swapped whole' '
	sapply $T/r2b 2 $H/r1.tar &&
	has $T/r2b "the earlier tree of this release was replaced" &&
	via s.test && test "$(cat $T/via)" = "<h1>release 1</h1>" &&
	has $T/via.h "^X-Tug-Release: 2" &&
	test "$(rels)" = "2 "
'

step 'a tree without index.html: switched, and / answers 403 from it' '
	sapply $T/ni 4 $H/noindex.tar &&
	has $T/ni "\"index\":false" &&
	via s.test && has $T/via.h "^HTTP/1.1 403" && has $T/via.h "^X-Tug-Release: 4" &&
	via s.test /assets/app.js && test "$(cat $T/via)" = "console.log(1)" &&
	sapply $T/back 2 "" "\"reuse\":true" && test "$(rels)" = "2 4 "
'

# The serving release is 2 from here on; a refused archive changes nothing.
untouched() {
	test "$(rels)" = "2 4 " &&
	for f in $T/abs-escape $T/escape $STATE/escape $STATE/static/escape \
	    $STATE/static/$S/escape $T/passwd; do
		! test -e $f || { echo "$f exists"; return 1; }
	done &&
	test "$(sha256sum </etc/passwd)" = "$PASSWD" &&
	test -z "$(find $T -name "*escape*")" &&
	via s.test && has $T/via.h "^X-Tug-Release: 2" &&
	has $STATE/journal/$S.json "\"current\":2,"
}

# hostile FILE CODE PATTERN [EXTRA-ARGS]: refused with CODE "PATTERN".
hostile() {
	! sapply $T/h 9 "$H/$1" "${4:-}" &&
	has $T/h "\"ok\":false,\"error\":{\"code\":\"$2\",\"message\":\"release 9 was not extracted: $3" &&
	has $T/h "nothing of it was kept" &&
	has $STATE/journal/$S.json "\"step\":\"failed\"" &&
	untouched
}

step 'hostile: an absolute path' '
	hostile abs.tar bad_archive "refused ./.*/abs-escape.: absolute path"
'
step 'hostile: ../escape' '
	hostile dotdot.tar bad_archive "refused .\.\./escape.: .\.\.. in a path"
'
step 'hostile: a/../../escape' '
	hostile dotdot2.tar bad_archive "refused .a/\.\./\.\./escape.: .\.\.. in a path"
'
step 'hostile: a/b/../../../../escape' '
	hostile dotdot-deep.tar bad_archive "refused .a/b/\.\./\.\./\.\./\.\./escape.: .\.\.. in a path"
'
step 'hostile: .. hidden in a pax path record' '
	hostile pax-dotdot.tar bad_archive "refused .ppp.*: .\.\.. in a path"
'
step 'hostile: a symlink to /etc, then a file written through it' '
	hostile symlink.tar bad_archive "refused .link.: a symbolic link (to ./etc.); a static site may not hold links"
'
step 'hostile: a symlink pointing up out of the tree' '
	hostile symlink-out.tar bad_archive "refused .up.: a symbolic link (to .\.\./\.\./\.\..)"
'
step 'hostile: a hard link to /etc/passwd' '
	hostile hardlink.tar bad_archive "refused .pw.: a hard link (to ./etc/passwd.)"
'
step 'hostile: device nodes and a fifo' '
	hostile chardev.tar bad_archive "refused .null.: a character device" &&
	hostile blockdev.tar bad_archive "refused .sda.: a block device" &&
	hostile fifo.tar bad_archive "refused .pipe.: a fifo"
'
step 'hostile: a control character in a name' '
	hostile ctrl.tar bad_archive "refused .a.*b.html.: control character in a name"
'
step 'hostile: a 513-byte name (GNU long name)' '
	hostile longname.tar bad_archive "refused .nnnn.*: a name longer than 255 bytes"
'
step 'hostile: a path over 1024 bytes (pax)' '
	hostile longpath.tar bad_archive "refused .dddd.*: a path longer than 1024 bytes"
'
step 'hostile: a file, then a path through it' '
	hostile file-then-dir.tar bad_archive "refused .x/y.: .x. is a file in the archive, not a directory"
'
step 'hostile: truncated inside a file, and before the end marker' '
	hostile truncated.tar bad_archive "truncated archive: .data.bin. ends after " &&
	hostile no-end.tar bad_archive "truncated archive: no end-of-archive marker after 101888 bytes"
'
step 'hostile: not a tar, an empty stream, xz' '
	hostile garbage.bin bad_archive "not a tar archive (nor a gzip-compressed one): bad header checksum" &&
	hostile empty.tar bad_archive "empty archive" &&
	hostile xz.tar.xz bad_archive "xz-compressed archives are not supported"
'
step 'limits: max_bytes and max_files give too_large' '
	hostile big.tar too_large ".big.bin. (5000 bytes) takes the files over the 4096 byte limit" "\"max_bytes\":4096" &&
	hostile many.tar too_large "more than 3 files and directories in the archive" "\"max_files\":3"
'

step 'an agent killed while receiving: the next apply cleans up' '
	sleep 3 | "$AGENTCTL" -t 60 -k receive -d - -r static.apply \
	    "{\"site\":\"$S\",\"release\":5,$DOMAINS}" -- "${RUN[@]}" >$T/k 2>&1;
	test $? -eq 3 &&
	ls $STATE/static/$S | grep -q "^5\.tmp-" &&
	sapply $T/k2 5 $H/r2.tar.gz &&
	has $T/k2 "\"step\":\"recover\",\"message\":\"resuming after an interrupted apply of release 5 (stopped at .begin.)" &&
	has $T/k2 "\"step\":\"cleanup\",\"message\":\"removing static/$S/5\.tmp-" &&
	test "$(rels)" = "2 4 5 " &&
	via s.test && has $T/via.h "^X-Tug-Release: 5"
'

step 'site.remove deletes the trees and the proxy config' '
	req $T/rm site.remove "{\"site\":\"$S\"}" &&
	has $T/rm "\"removed\":\[\],\"proxy_removed\":true,\"static_removed\":\[2,4,5\]" &&
	! test -e $STATE/static/$S &&
	! test -e $STATE/nginx/sites/$S.conf &&
	! test -e $STATE/journal/$S.json &&
	via s.test && has $T/via.h "^HTTP/1.1 404" && hasnt $T/via.h X-Tug-Release
'

finish
