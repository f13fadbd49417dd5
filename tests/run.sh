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
sidedir=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$sidedir"' EXIT

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
# selected FILE: FILE is one of the tests TUG_ONLY asks for (all if unset).
selected() {
	[ -z "${TUG_ONLY:-}" ] && return 0
	case $(basename "$1") in $TUG_ONLY*) return 0 ;; esac
	return 1
}

# The side lane: tests that share nothing with the others (their own test
# hosts, their own Pebble at a free port offset) and mostly wait (on an
# ACME CA's validations and polls), run one after another beside the main
# lane, each into its own log, counted at the end. TUG_SIDE="" runs them in
# line with the rest.
side=${TUG_SIDE-0022 0024 0027 0028 0030 0031}
sidelogs=()
sidepid=
is_side() {
	local s

	for s in $side; do
		case $(basename "$1") in $s*) return 0 ;; esac
	done
	return 1
}
for t in "$TESTS_DIR"/t/[0-9]*.sh; do
	selected "$t" && is_side "$t" || continue
	sidelogs+=("$sidedir/$(basename "$t")")
done
if [ ${#sidelogs[@]} -gt 0 ]; then
	(
		for l in "${sidelogs[@]}"; do
			n=$(basename "$l")
			s=$(date +%s)
			bash "$TESTS_DIR/t/$n" >"$l" 2>&1
			rc=$?
			if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$l"; then
				echo "not ok - $n exited $rc" >>"$l"
			fi
			echo "# $n: exit $rc, $(($(date +%s) - s)) s (side lane)" >>"$l"
		done
	) &
	sidepid=$!
fi
for t in "$TESTS_DIR"/t/[0-9]*.sh; do
	selected "$t" || continue
	is_side "$t" && continue
	run "$(basename "$t")" bash "$t"
done
if [ -n "$sidepid" ]; then
	wait "$sidepid"
	for l in "${sidelogs[@]}"; do
		if [ -f "$l" ]; then
			cat "$l"
			count "$l"
		else
			echo "not ok - $(basename "$l") did not run"
			failed=$((failed + 1))
		fi
	done
fi
[ -n "${TUG_SANITIZE:-}" ] && echo "# sanitize=$TUG_SANITIZE"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
