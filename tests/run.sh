#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run every test of one build (build/ or build/san/): each cmocka program in
# BUILD/tests, then each tests/integration/*.sh against BUILD/bin. Every test
# case prints a TAP line ("ok …" / "not ok …"); this counts them and closes
# with "N passed, N failed". Exit status is non-zero if anything failed or if
# a test program died without reporting.
set -u
build=${1:?usage: tests/run.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=$(cd "$build" && pwd)

passed=0
failed=0
skipped=0
broken=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # NAME: tally the TAP lines of the last run, echo failures
        local p f s
        # A skipped check is reported as skipped, never as passed.
        s=$(grep -Eci '^ok .*# skip' "$log")
        p=$(($(grep -c '^ok ' "$log") - s))
        f=$(grep -c '^not ok ' "$log")
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + s))
        grep -A30 '^not ok ' "$log" | sed "s|^|  $1: |"
        return 0
}

export CMOCKA_MESSAGE_OUTPUT=TAP
export AGORA_BIN="$build/bin"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}

run_one() { # NAME CMD…: run one test program and tally its TAP lines
        local name=$1 rc
        shift
        "$@" >"$log" 2>&1
        rc=$?
        count "$name"
        # A program that dies without a failing line (a crash, a sanitizer
        # report, a syntax error) must not pass silently.
        if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
                echo "  $name: exited $rc without a failing test line:"
                tail -n 20 "$log" | sed 's/^/    /'
                broken+=("$name")
        fi
        echo "  [$name] ok $(grep -c '^ok ' "$log"), not ok $(grep -c '^not ok ' "$log")"
}

for t in "$build"/tests/test_*; do
        [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for t in tests/integration/test_*.sh; do
        [ -f "$t" ] && run_one "$(basename "$t" .sh)" bash "$t"
done

failed=$((failed + ${#broken[@]}))
if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
else
        echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
