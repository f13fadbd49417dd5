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

# 0022 runs 40 sites here (well past the ~30 networks Docker's default
# pools hold; 100 when run by hand), and 20 under the sanitizers: the same
# paths, and the whole run stays under 25 minutes.
TUG_TEST_0022_SITES=40 suite plain test
TUG_TEST_0022_SITES=20 suite sanitize test SANITIZE=address,undefined
# Each libFuzzer target for a while under ASan + UBSan (clang), from its
# corpus: any crash, leak or abort of the target's own checks fails.
echo "=== fuzz: make fuzz-smoke FUZZ_SECONDS=5"
log=$(mktemp)
for t in spec tar proto; do
	if make -j2 fuzz-smoke FUZZ_SECONDS=5 FUZZ_ONLY=fuzz-$t >"$log" 2>&1; then
		echo "ok - fuzz-$t: $(grep -E '^(Done|#[0-9]+)' "$log" | tail -n 1)"
		total_p=$((total_p + 1))
	else
		tail -n 40 "$log"
		echo "not ok - fuzz-$t found something (build-fuzz/fuzz-$t.log)"
		total_f=$((total_f + 1))
	fi
done
rm -f "$log"
echo "# wall time $(($(date +%s) - start)) s"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
