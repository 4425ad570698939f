#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What a red-team review of the CLI found: --help as an option's value, keys
# that do not make a pair, verify --json, the decompression-bomb limit, key
# files left by a killed keygen, a commit whose output could not be written,
# and arguments given twice. Each refusal is one line, the right exit code,
# and a registry left as it was.
source "$(dirname "$0")/lib.sh"

# A one-line error or a result, never a crash: exit 0, 1 or 2.
expect_no_crash() {
        [ "$rc" -le 2 ] || fail "exit $rc (a crash?): $err"
        [ "$rc" -eq 0 ] || expect_err "^agora"
}

# The key id in the public key file PUB, as a number (hex digits, with or
# without leading zeros, compare equal).
keyid_of() {
        python3 -c '
import base64, sys
b = base64.b64decode(open(sys.argv[1]).read().splitlines()[1])
print(int.from_bytes(b[2:10], "little"))' "$1"
}

# ---- 1. -h/--help as the value of an option ----

test_help_as_option_value_does_not_crash() {
        new_registry
        local head
        head=$(git_head)
        run ag verify --at --help
        expect_rc 1
        expect_err "^agora: .*--help"
        run ag resolve s1 --env e1 --at -h
        expect_rc 1
        expect_err "^agora: "
        run ag register env e --file -h
        expect_rc 1
        expect_err "^agora: .*'-h'"
        [ "$(git_head)" = "$head" ] || fail "a refused command moved the branch"
        # An entrypoint of "-h" may be accepted or refused, never a crash.
        run ag register subagent s --entrypoint -h
        expect_no_crash
        run ag register subagent s --entrypoint --help
        expect_no_crash
}

test_help_as_option_value_without_registry() {
        # No registry at all: setup runs and names it, rather than a verb
        # running with nothing set up.
        local v
        for v in "verify --at --help" "resolve s1 --env e1 --at -h" "register subagent s --entrypoint -h" \
                "register env e --file -h" "list --help extra"; do
                # shellcheck disable=SC2086
                run "$AGORA" --registry "$PWD/none" --key "$PWD/none.key" $v
                expect_no_crash
                [ "$rc" -ne 0 ] || fail "'$v' without a registry succeeded"
        done
        [ ! -e none ] || fail "a refused command created the registry"
}

test_help_last_after_plain_words_needs_nothing() {
        local v
        for v in "verify --help" "register capability --help" "register capability NAME PATH --help" \
                "register capability NAME PATH -h" "resolve s1 --help" "assign s c1 c2 -h" "show env e1 --help"; do
                # shellcheck disable=SC2086
                run "$AGORA" --registry "$PWD/none" --key "$PWD/none.key" $v
                expect_rc 0
                expect_out "^usage: agora"
                [ -z "$err" ] || fail "'$v': stderr: $err"
        done
}

# ---- 2. mutations load the secret key and check the pair ----

# A registry, and a second key pair "other" that is not the operator's.
with_other_pair() {
        new_registry
        "$AGORA" keygen --out "$PWD/other.key" >/dev/null
        HEAD_BEFORE=$(git_head)
}

registry_unchanged() {
        [ "$(git_head)" = "$HEAD_BEFORE" ] || fail "the refused command moved the branch"
        [ "$(git -C "$REG" for-each-ref | wc -l)" -eq 1 ] || fail "the refused command made a ref"
}

test_refuse_public_key_of_another_pair() {
        with_other_pair
        cp other.pub keys/operator.pub
        run ag register env e A=1
        expect_rc 1
        expect_err "^agora: key '$KEY' and public key '$PWD/keys/operator.pub' do not match$"
        registry_unchanged
}

test_refuse_secret_key_of_another_pair() {
        with_other_pair
        cp other.key keys/operator.key
        run ag assign s c
        expect_rc 1
        expect_err "^agora: key '$KEY' and public key '$PWD/keys/operator.pub' do not match$"
        registry_unchanged
}

test_refuse_garbage_secret_key() {
        with_other_pair
        head -c 200 /dev/urandom | base64 >keys/operator.key
        run ag register env e A=1
        expect_rc 1
        expect_err "^agora: '$KEY': not a minisign secret key"
        registry_unchanged
        # A well-formed key whose checksum does not match its bytes.
        python3 - "$PWD/other.key" "$KEY" <<'EOF'
import base64, sys
lines = open(sys.argv[1]).read().splitlines()
b = bytearray(base64.b64decode(lines[1]))
b[60] ^= 1  # inside the secret key
lines[1] = base64.b64encode(bytes(b)).decode()
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
        chmod 600 "$KEY"
        run ag register env e A=1
        expect_rc 1
        expect_err "^agora: '$KEY': secret key (checksum mismatch|halves do not match)"
        registry_unchanged
}

test_refuse_secret_key_others_can_read() {
        with_other_pair
        chmod 640 "$KEY"
        run ag register env e A=1
        expect_rc 1
        expect_err "^agora: '$KEY': secret key is readable by others"
        registry_unchanged
}

test_refuse_public_key_alone() {
        with_other_pair
        rm "$KEY"
        run ag register env e A=1
        expect_rc 1
        expect_err "^agora: key '$KEY': No such file or directory"
        registry_unchanged
}

test_refuse_fifo_key_quickly() {
        with_other_pair
        rm "$KEY"
        mkfifo "$KEY"
        run timeout 5 "$AGORA" --registry "$REG" --key "$KEY" register env e A=1
        [ "$rc" -ne 124 ] || fail "a FIFO as --key hung the command"
        expect_rc 1
        expect_err "^agora: key '$KEY': not a regular file$"
        registry_unchanged
        # The same for init with an existing "key".
        run timeout 5 "$AGORA" --registry "$PWD/reg2" --key "$KEY" init
        expect_rc 1
        expect_err "^agora: key '$KEY': not a regular file$"
        [ ! -e reg2 ] || fail "refused init created a registry"
}

test_refuse_fifo_public_key_quickly() {
        with_other_pair
        rm keys/operator.pub
        mkfifo keys/operator.pub
        run timeout 5 "$AGORA" --registry "$REG" --key "$KEY" register env e A=1
        [ "$rc" -ne 124 ] || fail "a FIFO as the public key hung the command"
        expect_rc 1
        expect_err "^agora: public key '$PWD/keys/operator.pub': not a regular file$"
        registry_unchanged
}

test_trailer_names_the_secret_keys_id() {
        new_registry
        local id
        id=$(keyid_of keys/operator.pub)
        # Without a .pub the id is derived from the secret key alone.
        rm keys/operator.pub
        run ag register env e A=1
        expect_rc 0
        local trailer
        trailer=$(git -C "$REG" log -1 --format=%B | sed -n 's/^Operator-Key: \([0-9A-F]\{1,16\}\)$/\1/p')
        [ -n "$trailer" ] && [ "$(python3 -c 'import sys; print(int(sys.argv[1], 16))' "$trailer")" = "$id" ] ||
                fail "trailer '$trailer', want key id $id"
}

test_init_refuses_mismatched_pair() {
        "$AGORA" keygen --out "$PWD/a.key" >/dev/null
        "$AGORA" keygen --out "$PWD/b.key" >/dev/null
        cp b.pub a.pub
        run "$AGORA" --registry "$PWD/reg" --key "$PWD/a.key" init
        expect_rc 1
        expect_err "^agora: key '$PWD/a.key' and public key '$PWD/a.pub' do not match$"
        [ ! -e reg ] || fail "refused init created a registry"
}

# ---- 3. verify --json ----

test_verify_json_clean() {
        new_registry
        ag register env e A=1 >/dev/null
        run ag --json verify
        expect_rc 0
        [ -z "$err" ] || fail "stderr: $err"
        printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert set(d) == {"objects", "problems"}, d
assert d["objects"] == 2 and d["problems"] == [], d' || fail "bad verify JSON: $out"
}

test_verify_json_problems() {
        new_registry
        ag register env e A=1 >/dev/null
        # Tamper with the env definition using git plumbing.
        printf '{"broken":true}\n' >bad.json
        commit_files "envs/e.json=bad.json"
        run ag --json verify
        expect_rc 1
        [ -z "$err" ] || fail "verify --json wrote to stderr: $err"
        [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "more than one line on stdout: $out"
        printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert set(d) == {"objects", "problems"}, d
assert d["objects"] >= 1 and len(d["problems"]) >= 1, d
assert all(isinstance(p, str) and "env" in p for p in d["problems"]), d' || fail "bad verify JSON: $out"
        # Verification that cannot run at all is still one error line.
        run ag --json verify --at no-such-rev
        expect_rc 1
        expect_err "^agora: "
        [ -z "$out" ] || fail "stdout on a failed verify: $out"
}

# ---- 4. --max-ratio ----

test_max_ratio_overrides_bomb_limit() {
        new_registry
        mkdir d && head -c 3000000 /dev/zero >d/zero
        tar -C d -czf z.tar.gz zero
        local head h_dir h_tgz
        head=$(git_head)
        run ag register capability z z.tar.gz
        expect_rc 1
        expect_err "^agora: capability 'z': .*expands more than 200 times .*--max-ratio"
        [ "$(git_head)" = "$head" ] || fail "a refused register moved the branch"
        run ag register capability z z.tar.gz --max-ratio 100000
        expect_rc 0
        h_tgz=$out
        h_dir=$(ag register capability zdir d)
        [ "$h_tgz" = "$h_dir" ] || fail "archive $h_tgz and directory $h_dir differ"
}

test_max_ratio_usage() {
        new_registry
        local head bad
        head=$(git_head)
        mkdir d && echo x >d/f
        for bad in 0 junk -5 "" 1x; do
                run ag register capability c d --max-ratio "$bad"
                expect_rc 2
                expect_err "^agora register capability: --max-ratio '$bad': not a positive number"
        done
        run ag register capability c d --max-ratio 5 --max-ratio 6
        expect_rc 2
        expect_err "^agora register capability: --max-ratio given twice"
        [ "$(git_head)" = "$head" ] || fail "a usage error moved the branch"
        run "$AGORA" register capability --help
        expect_out "--max-ratio N"
}

# ---- 5. a killed keygen never leaves a secret key alone ----

# Run agora under strace, killing it when it puts PATH in place.
kill_when_placing() { # PATH CMD…
        local path=$1
        shift
        command -v strace >/dev/null || skip "no strace"
        strace -f -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
        # In a shell of its own, whose "Killed" goes to the captured stderr.
        run bash -c '"$@"; exit $?' bash strace -f -o /dev/null -P "$path" \
                -e trace=link,linkat,rename,renameat,renameat2 -e inject=link,linkat,rename,renameat,renameat2:signal=KILL "$@"
        [ "$rc" -ne 0 ] || fail "strace did not stop the command"
}

test_keygen_killed_before_public_key_leaves_no_secret() {
        kill_when_placing "$PWD/k/op.pub" "$AGORA" keygen --out "$PWD/k/op.key"
        [ ! -e k/op.key ] || fail "a keygen killed before writing op.pub left the secret key op.key"
        [ -z "$(ls -A k 2>/dev/null)" ] || fail "left behind: $(ls -A k)"
}

test_keygen_killed_before_secret_key_leaves_public_key_only() {
        kill_when_placing "$PWD/k/op.key" "$AGORA" keygen --out "$PWD/k/op.key"
        [ ! -e k/op.key ] || fail "the secret key was written"
        [ -f k/op.pub ] || fail "the public key is not written first"
        # The lone public key is named by the next keygen, not silently reused.
        run "$AGORA" keygen --out "$PWD/k/op.key"
        expect_rc 1
        expect_err "^agora: '$PWD/k/op.pub': already exists"
}

test_init_killed_before_public_key_leaves_no_secret() {
        kill_when_placing "$PWD/k/op.pub" "$AGORA" --registry "$PWD/reg" --key "$PWD/k/op.key" init
        [ ! -e k/op.key ] || fail "an init killed before writing op.pub left the secret key op.key"
}

# ---- 6. a commit whose output cannot be written ----

test_commit_with_full_stdout_says_it_was_made() {
        [ -w /dev/full ] || skip "no /dev/full"
        new_registry
        local head
        head=$(git_head)
        run sh -c '"$@" >/dev/full' sh "$AGORA" --registry "$REG" --key "$KEY" register env full A=1
        expect_rc 1
        expect_err "^agora: registered env 'full' \(commit [0-9a-f]{7}\), but writing to stdout failed: No space left on device$"
        [ "$(git_head)" != "$head" ] || fail "no commit was made"
        printf '%s' "$err" | grep -q "commit $(git_head | cut -c1-7)" || fail "message names another commit: $err"

        mkdir c1 && echo hi >c1/f
        ag register capability c1 c1 >/dev/null
        ag register subagent s --entrypoint /bin/true >/dev/null
        run sh -c '"$@" >/dev/full' sh "$AGORA" --registry "$REG" --key "$KEY" assign s c1
        expect_rc 1
        expect_err "^agora: assigned capabilities to subagent 's' \(commit $(git_head | cut -c1-7)\), but writing to stdout failed: No space left on device$"
        run sh -c '"$@" >/dev/full' sh "$AGORA" --registry "$REG" --key "$KEY" --json unassign s c1
        expect_rc 1
        expect_err "^agora: unassigned capabilities from subagent 's' \(commit $(git_head | cut -c1-7)\), but writing"
        mkdir c2 && echo two >c2/f
        run sh -c '"$@" >/dev/full' sh "$AGORA" --registry "$REG" --key "$KEY" register capability c2 c2
        expect_rc 1
        expect_err "^agora: registered capability 'c2' \(commit $(git_head | cut -c1-7)\), but writing"

        # Nothing changed (identical content): no commit to speak of.
        head=$(git_head)
        run sh -c '"$@" >/dev/full' sh "$AGORA" --registry "$REG" --key "$KEY" register env full A=1
        expect_rc 1
        expect_err "^agora: writing to stdout: No space left on device$"
        [ "$(git_head)" = "$head" ] || fail "an identical register moved the branch"
}

# ---- 7. arguments given twice ----

test_refuse_arguments_given_twice() {
        new_registry
        mkdir c1 && echo hi >c1/f
        ag register capability c1 c1 >/dev/null
        ag register subagent s --entrypoint /bin/true --capability c1 >/dev/null
        local head
        head=$(git_head)
        run ag unassign s c1 c1
        expect_rc 2
        expect_err "^agora unassign: capability 'c1' given twice \(see agora unassign --help\)$"
        run ag assign s c1 c1
        expect_rc 2
        expect_err "^agora assign: capability 'c1' given twice \(see agora assign --help\)$"
        run ag register env e A=1 B=2 A=3
        expect_rc 2
        expect_err "^agora register env: 'A' given twice \(see agora register env --help\)$"
        run ag register env e --secret T=env:X --secret T=env:Y
        expect_rc 2
        expect_err "^agora register env: 'T' given twice"
        run ag register env e --file a.yaml --file b.yaml
        expect_rc 2
        expect_err "^agora register env: --file given twice"
        run ag register subagent s2 --entrypoint /bin/a --entrypoint /bin/b
        expect_rc 2
        expect_err "^agora register subagent: --entrypoint given twice \(see agora register subagent --help\)$"
        run ag register subagent s2 --entrypoint /bin/a --profile p1 --profile p2
        expect_rc 2
        expect_err "^agora register subagent: --profile given twice"
        run ag register subagent s2 --entrypoint /bin/a --capability c1 --capability c1
        expect_rc 2
        expect_err "^agora register subagent: capability 'c1' given twice"
        run ag resolve s --env e --env f
        expect_rc 2
        expect_err "^agora resolve: --env given twice"
        run ag verify --at HEAD --at HEAD
        expect_rc 2
        expect_err "^agora verify: --at given twice"
        [ "$(git_head)" = "$head" ] || fail "a usage error moved the branch"
}

run_tests
