#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agora verify and tampering done with stock git plumbing on the bare
# repository, and concurrent agora commands on one registry.
source "$(dirname "$0")/lib.sh"

replace_in_head() { commit_files "$1=$2"; } # PATH CONTENT-FILE

test_verify_clean_registry() {
        setup_resolvable
        run ag verify
        expect_rc 0
        # Every file in the commit's tree is an object verify must read.
        n=$(git -C "$REG" ls-tree -r --name-only HEAD | wc -l)
        [ "$n" -eq 5 ] || fail "tree has $n files, want marker + 2 definitions + env + tarball"
        [ "$out" = "verified: $n objects, 0 problems" ] || fail "verify: $out"
        [ -z "$err" ] || fail "clean verify wrote to stderr: $err"
}

test_verify_empty_registry() {
        new_registry
        run ag verify
        expect_rc 0
        [ "$out" = "verified: 1 objects, 0 problems" ] || fail "verify: $out (want only the registry marker)"
}

test_tampered_tarball_detected() {
        setup_resolvable
        local hex=${CAP_HASH#sha256:} bad
        # Other bytes, a valid tar even, under the old name.
        mkdir other && echo evil >other/x && tar -C other -cf evil.tar x
        bad="sha256:$(sha256sum <evil.tar | cut -d' ' -f1)"
        replace_in_head "blobs/sha256/$hex" evil.tar
        git -C "$REG" fsck >/dev/null 2>&1 || fail "tampered repository is not valid git"
        run ag verify
        expect_rc 1
        expect_out "^verified: [0-9]+ objects, [1-9][0-9]* problems?$"
        printf '%s\n' "$err" | grep "^agora: verify: " | grep "capability 'c1'" | grep -F "$CAP_HASH" | grep -Fq "$bad" ||
                fail "verify does not name the capability and both hashes: $err"
        ! printf '%s\n' "$err" | grep -v '^agora: verify: ' >/dev/null || fail "stray stderr lines: $err"
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: .*capability 'c1'"
        [ -z "$out" ] || fail "resolve printed a result from a tampered registry: $out"
        # The commit before the tampering is still good.
        run ag verify --at HEAD~1
        expect_rc 0
}

test_tampered_definition_detected() {
        setup_resolvable
        # Valid JSON, but not canonical and with another entrypoint.
        printf '{ "kind": "subagent", "name": "s1", "entrypoint": "/bin/sh", "capabilities": ["c1"], "profile": "default" }' >def.json
        replace_in_head subagents/s1.json def.json
        run ag verify
        expect_rc 1
        printf '%s\n' "$err" | grep -q "^agora: verify: .*subagent 's1'" || fail "verify does not name subagent s1: $err"
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: .*subagent 's1'"
}

test_definition_pointing_at_missing_blob_detected() {
        setup_resolvable
        printf '{"contentHash":"sha256:%064d","entries":1,"kind":"capability","name":"c1","size":1024}' 0 >def.json
        replace_in_head capabilities/c1.json def.json
        run ag verify
        expect_rc 1
        printf '%s\n' "$err" | grep -q "^agora: verify: .*capability 'c1'" || fail "verify: $err"
}

# race N CMD-PREFIX: run N commands "CMD-PREFIX i" at once; statuses in rc.I, stderr in err.I
race() {
        local n=$1 i
        shift
        for i in $(seq "$n"); do
                # `&& ||`: set -e must not stop the subshell before it records.
                ("$@" "$i" >"out.$i" 2>"err.$i" && echo 0 >"rc.$i" || echo $? >"rc.$i") &
        done
        wait
}

check_race() { # N BASE-COUNT MESSAGE-PREFIX: each succeeded (its commit in the log) or failed busy
        local n=$1 base=$2 prefix=$3 i ok=0
        for i in $(seq "$n"); do
                if [ "$(cat "rc.$i")" -eq 0 ]; then
                        ok=$((ok + 1))
                        git -C "$REG" log --format=%s | grep -q "^$prefix$i\b" || fail "run $i succeeded but its commit is missing"
                else
                        [ "$(cat "rc.$i")" -eq 1 ] || fail "run $i exited $(cat "rc.$i")"
                        [ "$(grep -c '' "err.$i")" -eq 1 ] && grep -q "^agora: registry busy: " "err.$i" ||
                                fail "run $i failed without 'registry busy': $(cat "err.$i")"
                fi
        done
        git -C "$REG" fsck --strict >/dev/null 2>&1 || fail "git fsck failed after concurrent runs"
        [ "$(git_count)" -eq $((base + ok)) ] || fail "$(git_count) commits, want $base + $ok successes"
        run ag verify
        expect_rc 0
}

register_nth() { # I: register capability cI with its own content
        mkdir -p "src$1"
        head -c $((512 * 1024)) /dev/urandom >"src$1/data"
        ag register capability "c$1" "src$1"
}

test_concurrent_register() {
        new_registry
        race 4 register_nth
        check_race 4 1 "register capability c"
}

test_concurrent_register_no_wait() {
        new_registry
        # No waiting for the lock: collisions must fail cleanly as busy.
        export AGORA_LOCK_TIMEOUT_MS=0
        race 4 register_nth
        check_race 4 1 "register capability c"
}

assign_nth() { ag assign s1 "c$1"; }

test_concurrent_assign_loses_nothing() {
        new_registry
        local i
        for i in 1 2 3 4; do
                mkdir "d$i" && echo "$i" >"d$i/f"
                ag register capability "c$i" "d$i" >/dev/null
        done
        ag register subagent s1 --entrypoint /x >/dev/null
        local base
        base=$(git_count)
        race 4 assign_nth
        check_race 4 "$base" "assign s1: c"
        # Every assign that succeeded is in the definition: none overwrote another.
        local caps
        caps=$(ag --json show subagent s1 | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["definition"]["capabilities"]))')
        for i in 1 2 3 4; do
                if [ "$(cat "rc.$i")" -eq 0 ]; then
                        case " $caps " in *" c$i "*) ;; *) fail "assign of c$i lost: $caps" ;; esac
                fi
        done
}

run_tests
