#!/bin/bash
# run.sh - run every test: the C unit tests, the fuzz corpus replays and the
# shell tests in tests/t/, and end with one line "N passed, N failed".
# Called by `make test` with TUG_BUILD set to the build directory.

set -u
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
B=${TUG_BUILD:?TUG_BUILD must name the build directory}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# count FILE: add FILE's ok / not ok lines to the totals.
count() {
	local p f

	p=$(grep -c '^ok ' "$1")
	f=$(grep -c '^not ok ' "$1")
	passed=$((passed + p))
	failed=$((failed + f))
}

# run NAME CMD...: run one test program, show its output, count its lines;
# a program that fails without a "not ok" line still counts as a failure.
run() {
	local name=$1 start rc

	shift
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	count "$log"
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
		echo "not ok - $name exited $rc"
		failed=$((failed + 1))
	fi
	echo "# $name: exit $rc, $(($(date +%s) - start)) s"
}

for t in "$B"/tests/test-*; do
	run "$(basename "$t")" "$t"
done
for r in "$B"/tests/replay-*; do
	n=$(basename "$r")
	run "$n" "$r" "$TESTS_DIR/fuzz/corpus/${n#replay-}" \
	    "$TESTS_DIR/fuzz/${n#replay-}.expect"
done
for t in "$TESTS_DIR"/t/[0-9]*.sh; do
	[ -n "${TUG_ONLY:-}" ] && case $(basename "$t") in $TUG_ONLY*) ;; *) continue ;; esac
	run "$(basename "$t")" bash "$t"
done
[ -n "${TUG_SANITIZE:-}" ] && echo "# sanitize=$TUG_SANITIZE"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
