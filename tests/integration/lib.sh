# SPDX-License-Identifier: Apache-2.0
#
# Shared by the integration tests: each test is a shell function run in its
# own fresh temporary directory with its own registry and key, and prints one
# TAP line. Source this, define test_* functions, then call run_tests.

set -u
AGORA_BIN=${AGORA_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bin}
AGORA="$AGORA_BIN/agora"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Commits made by the tests are attributed to a fixed identity so that the
# tests do not depend on the machine's git configuration.
export GIT_AUTHOR_NAME="agora test" GIT_AUTHOR_EMAIL="test@agora.invalid"
export GIT_COMMITTER_NAME="agora test" GIT_COMMITTER_EMAIL="test@agora.invalid"
unset AGORA_REGISTRY AGORA_KEY

fail() { # MESSAGE: record why the current test failed and stop it
        printf '%s\n' "$*" >>"$TEST_DIR/.fail"
        return 1
}

# run CMD…: run, capturing stdout in $out, stderr in $err, status in $rc.
# skip REASON: the test cannot run here (reported as skipped, never passed).
skip() {
        printf '%s\n' "$*" >"$TEST_DIR/.skip"
        exit 0
}

run() {
        local o e
        o=$(mktemp) e=$(mktemp)
        # `&& ||` so that set -e (on in every test) does not stop the test
        # when the command under test fails, which is what most tests expect.
        "$@" >"$o" 2>"$e" && rc=0 || rc=$?
        out=$(cat "$o") err=$(cat "$e")
        rm -f "$o" "$e"
        return 0
}

expect_rc() { # WANT: last run's status must be WANT
        [ "$rc" -eq "$1" ] || fail "exit $rc, want $1 (stderr: $err)"
}

expect_err() { # REGEX: stderr of last run is exactly one line matching REGEX
        local lines
        lines=$(printf '%s' "$err" | grep -c '') || true # grep -c exits 1 on no lines
        [ "$lines" -eq 1 ] || fail "stderr has $lines lines, want 1: $err"
        printf '%s' "$err" | grep -Eq -- "$1" || fail "stderr '$err' does not match /$1/"
}

expect_out() { # REGEX: stdout of last run matches REGEX
        printf '%s' "$out" | grep -Eq -- "$1" || fail "stdout '$out' does not match /$1/"
}

# A registry and key in the test's directory: $REG, $KEY.
new_registry() {
        REG="$PWD/reg" KEY="$PWD/keys/operator.key"
        "$AGORA" --registry "$REG" --key "$KEY" init >/dev/null 2>&1 || fail "agora init failed"
}

ag() { # agora with the test's registry and key
        "$AGORA" --registry "$REG" --key "$KEY" "$@"
}

# Commit count and head of $REG, via stock git.
git_head() { git -C "$REG" rev-parse HEAD; }
git_count() { git -C "$REG" rev-list --count HEAD; }

run_tests() {
        local t tmp rc n=0 status=0
        for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
                n=$((n + 1))
                tmp=$(mktemp -d)
                # Not inside `if`: bash ignores set -e in a condition, even in
                # a subshell, and every check relies on it to stop the test.
                (
                        export TEST_DIR="$tmp"
                        cd "$tmp" || exit 1
                        set -e
                        "$t"
                )
                rc=$?
                if [ $rc -eq 0 ] && [ ! -f "$tmp/.fail" ] && [ -f "$tmp/.skip" ]; then
                        echo "ok $n - $t # SKIP $(cat "$tmp/.skip")"
                elif [ $rc -eq 0 ] && [ ! -f "$tmp/.fail" ]; then
                        echo "ok $n - $t"
                else
                        echo "not ok $n - $t"
                        [ -f "$tmp/.fail" ] && sed 's/^/# /' "$tmp/.fail"
                        [ -f "$tmp/.fail" ] || echo "# stopped by a failing command (exit $rc)"
                        status=1
                fi
                rm -rf "$tmp"
        done
        echo "1..$n"
        return $status
}
