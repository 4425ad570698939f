#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What an operator sees when the machine is not kind: a full disk during
# init and register, and progress only where a person is watching.
source "$(dirname "$0")/lib.sh"

# A tmpfs of SIZE at ./mnt, unmounted when the test's shell exits.
small_disk() {
        mkdir -p mnt
        mount -t tmpfs -o "size=$1" agora-test mnt 2>/dev/null || skip "cannot mount a tmpfs here (needs root)"
        trap 'umount -l "$TEST_DIR/mnt" 2>/dev/null' EXIT
}

# Every file below DIR with its size and hash, to compare before and after.
content_snapshot() { (cd "$1" && find . -type f -exec sha256sum {} + | sort); }

test_register_on_full_disk_changes_nothing() {
        small_disk 2m
        REG="$PWD/mnt/reg" KEY="$PWD/keys/operator.key"
        "$AGORA" --registry "$REG" --key "$KEY" init >/dev/null
        mkdir cap && head -c 4000000 /dev/urandom >cap/payload.bin
        before=$(content_snapshot "$REG") head=$(git_head)

        run ag register capability big cap
        expect_rc 1
        expect_err "^agora: .*big.*No space left on device"
        [ "$(git_head)" = "$head" ] || fail "a failed register moved the branch"
        [ "$(content_snapshot "$REG")" = "$before" ] || fail "a failed register left files behind or changed them"
        git -C "$REG" fsck --strict >/dev/null 2>&1 || fail "git fsck fails after the full disk"

        # Room again: the same command now works and the registry verifies.
        umount -l mnt && trap - EXIT
        mount -t tmpfs -o size=64m agora-test mnt
        trap 'umount -l "$TEST_DIR/mnt" 2>/dev/null' EXIT
        "$AGORA" --registry "$REG" --key "$KEY" init >/dev/null
        run ag register capability big cap
        expect_rc 0
        run ag verify
        expect_rc 0
}

test_init_on_full_disk_leaves_no_half_registry() {
        small_disk 64k
        head -c 60000 /dev/zero >mnt/filler 2>/dev/null || true
        run "$AGORA" --registry "$PWD/mnt/reg" --key "$PWD/keys/operator.key" init
        expect_rc 1
        expect_err "^agora: .*mnt/reg"
        [ ! -e mnt/reg ] || fail "init on a full disk left '$(ls -A mnt/reg | tr '\n' ' ')' behind"
        [ -z "$(ls -A mnt | grep -v '^filler$')" ] || fail "init left temporary files: $(ls -A mnt)"
        [ ! -e keys/operator.key ] || fail "init on a full disk kept a key for a registry that does not exist"
}

test_progress_only_on_a_terminal() {
        command -v script >/dev/null || skip "no script(1) to provide a terminal"
        new_registry
        mkdir cap && head -c 12000000 /dev/urandom >cap/payload.bin
        # Not a terminal: stdout is the hash alone, stderr silent.
        run ag register capability quiet cap
        expect_rc 0
        [ -z "$err" ] || fail "progress written to a non-terminal: $err"
        expect_out '^sha256:[0-9a-f]{64}$'
        # A terminal: progress up to 100%, then the hash.
        script -qec "'$AGORA' --registry '$REG' --key '$KEY' register capability loud cap" /dev/null >tty.out
        grep -q 'registering loud: .*100%' tty.out || fail "no progress on a terminal: $(tr '\r' '\n' <tty.out | tail -3)"
        grep -Eq 'sha256:[0-9a-f]{64}' tty.out || fail "no hash on a terminal"
}

run_tests
