#!/bin/bash
# ci.sh - the README's test command: install what the tests need, build,
# run every test plainly and under AddressSanitizer + UBSan, and end with one
# line "N passed, N failed". Exits non-zero on any failure.

set -u
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tests/setup.sh || exit 1

total_p=0
total_f=0
# suite NAME MAKE-ARGS...: one full `make test`, its totals added up.
suite() {
	local name=$1 log line p f

	shift
	log=$(mktemp)
	echo "=== $name: make $*"
	make -j2 "$@" >"$log" 2>&1
	local rc=$?
	grep -v '^ok ' "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "not ok - $name: no result line (exit $rc)"
		total_f=$((total_f + 1))
	else
		p=${line%% passed*}
		f=${line#*, }
		f=${f%% failed}
		total_p=$((total_p + p))
		total_f=$((total_f + f))
		if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
			total_f=$((total_f + 1))
		fi
	fi
	rm -f "$log"
}

suite plain test
# The scale of 0022 is the plain run's to show; under the sanitizers the
# same paths run for 20 sites, which keeps the whole run under 25 minutes.
TUG_TEST_0022_SITES=20 suite sanitize test SANITIZE=address,undefined
echo "# wall time $(($(date +%s) - start)) s"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
