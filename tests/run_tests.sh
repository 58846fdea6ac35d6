#!/usr/bin/env bash
# run_tests.sh - runs every test binary given, then the repository checks,
# and ends with the line "N passed, N failed" (counted per test case from
# cmocka's own summary lines, and one per check script).
#
# Environment: ONEX_BIN (binaries dir, e.g. build/bin), ONEX_CONFIG
# (release or san). Each test runs from the repository root.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
failed_names=()

count_cmocka() { # $1 = output file; adds cmocka's PASSED/FAILED counts
	local p f
	p=$(grep -aE '^\[  PASSED  \] [0-9]+ test' "$1" | awk '{s+=$4} END {print s+0}')
	f=$(grep -aE '^\[  FAILED  \] [0-9]+ test' "$1" | awk '{s+=$4} END {print s+0}')
	passed=$((passed + p))
	failed=$((failed + f))
}

for t in "$@"; do
	name=$(basename "$t")
	out=$(mktemp)
	echo "== $name"
	if "$t" >"$out" 2>&1; then rc=0; else rc=$?; fi
	cat "$out"
	count_cmocka "$out"
	if [ "$rc" -ne 0 ]; then
		# A crash or an assertion outside cmocka still counts as a failure.
		if ! grep -qaE '^\[  FAILED  \] [0-9]+ test' "$out"; then
			failed=$((failed + 1))
		fi
		failed_names+=("$name (exit $rc)")
	fi
	rm -f "$out"
done

for check in tests/checks/*.sh; do
	[ -e "$check" ] || continue
	name=$(basename "$check" .sh)
	echo "== check $name"
	if bash "$check"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("check $name")
	fi
done

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failed_names[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_names[@]} -eq 0 ]
