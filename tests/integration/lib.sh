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

# The registry's state: head, commit count and every file (the lock file
# aside, which the first mutation creates and which holds no data).
registry_files() { find "$REG" -path "$REG/agora.lock" -prune -o -print | sort; }
snapshot() {
        SNAP_HEAD=$(git_head) SNAP_COUNT=$(git_count) SNAP_FILES=$(registry_files)
}
expect_unchanged() {
        [ "$(git_head)" = "$SNAP_HEAD" ] || fail "HEAD moved"
        [ "$(git_count)" = "$SNAP_COUNT" ] || fail "commit count changed"
        [ "$(registry_files)" = "$SNAP_FILES" ] ||
                fail "files changed in the registry: $(diff <(echo "$SNAP_FILES") <(registry_files))"
}

# refused RC REGEX CMD…: CMD fails with RC, one stderr line matching REGEX,
# nothing on stdout, and the registry is untouched.
refused() {
        local want=$1 regex=$2
        shift 2
        snapshot
        run "$@"
        expect_rc "$want"
        expect_err "$regex"
        [ -z "$out" ] || fail "refused command printed on stdout: $out"
        expect_unchanged
}

# commit_files PATH=FILE[:MODE]…: a new commit on main whose tree has each
# PATH replaced by FILE's bytes (mode 100644 unless given), made with git
# plumbing only, the way someone with write access to the repository could
# change it behind agora's back.
commit_files() {
        local idx="$PWD/tamper.index" spec path file mode blob tree commit
        export GIT_DIR="$REG"
        GIT_INDEX_FILE="$idx" git read-tree HEAD
        for spec in "$@"; do
                path=${spec%%=*} file=${spec#*=} mode=100644
                case "$file" in *:*) mode=${file##*:} file=${file%:*} ;; esac
                blob=$(git hash-object -w "$file")
                GIT_INDEX_FILE="$idx" git update-index --add --cacheinfo "$mode,$blob,$path"
        done
        tree=$(GIT_INDEX_FILE="$idx" git write-tree)
        commit=$(git commit-tree "$tree" -p HEAD -m "innocent change")
        git update-ref refs/heads/main "$commit"
        unset GIT_DIR
        rm -f "$idx"
}

# A registry with capability c1 (bin/, bin/one), subagent s1 using it and
# env e1; CAP_HASH/CAP_HEX name c1's tarball.
setup_resolvable() {
        new_registry
        mkdir -p c1/bin
        printf '#!/bin/sh\necho one\n' >c1/bin/one && chmod +x c1/bin/one
        CAP_HASH=$(ag register capability c1 c1)
        CAP_HEX=${CAP_HASH#sha256:}
        ag register subagent s1 --entrypoint /cap/c1/bin/one --capability c1 >/dev/null
        ag register env e1 A=b >/dev/null
}

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
