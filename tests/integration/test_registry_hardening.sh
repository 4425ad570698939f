#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A registry attacked or broken with stock git (a hostile tarball under its
# real sha256, odd file modes, a credential in an env, a detached HEAD, a
# deleted branch, another user's repository), or left in a bad state by a
# killed command or a full disk: every read names the problem in one line
# and every write refuses without changing anything.
source "$(dirname "$0")/lib.sh"

# set_mode PATH MODE: PATH in the head tree keeps its bytes, gets MODE.
set_mode() {
        git -C "$REG" cat-file blob "HEAD:$1" >same.bytes
        commit_files "$1=same.bytes:$2"
}

# A pax tar that no `agora register` would build: a setuid file that climbs
# out with "..", and a symlink to /etc/passwd.
hostile_tar() {
        python3 - "$1" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    data = b"* * * * * root /tmp/x\n"
    ti = tarfile.TarInfo("../../etc/cron.d/x")
    ti.size, ti.mode = len(data), 0o4755
    t.addfile(ti, io.BytesIO(data))
    ti = tarfile.TarInfo("link")
    ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
    t.addfile(ti)
EOF
}

verify_lines() { printf '%s\n' "$err" | grep -c '^agora: verify: ' || true; }

test_hostile_tarball_refused_by_verify_and_resolve() {
        new_registry
        ag register env e1 A=b >/dev/null
        hostile_tar evil.tar
        local sha size
        sha=$(sha256sum <evil.tar | cut -d' ' -f1) size=$(stat -c %s evil.tar)
        printf '{"contentHash":"sha256:%s","entries":2,"kind":"capability","name":"evil","size":%s}' "$sha" "$size" >cap.json
        printf '{"capabilities":["evil"],"entrypoint":"/cap/evil/x","kind":"subagent","name":"s1","profile":"default"}' >sub.json
        commit_files "blobs/sha256/$sha=evil.tar" capabilities/evil.json=cap.json subagents/s1.json=sub.json
        local head
        head=$(git_head)

        run ag verify
        expect_rc 1
        expect_out "^verified: [0-9]+ objects, 1 problem"
        expect_err "^agora: verify: capability 'evil': blob sha256:$sha: '\.\./\.\./etc/cron\.d/x': "
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: subagent 's1': capability 'evil': blob sha256:$sha: '\.\./\.\./etc/cron\.d/x': "
        [ -z "$out" ] || fail "resolve named a hostile tarball: $out"
        [ "$(git_head)" = "$head" ] || fail "a read moved the branch"
}

test_non_canonical_tarball_of_safe_files_refused() {
        setup_resolvable
        # The very files of c1, but as GNU tar writes them: owners, mtimes.
        tar -C c1 -cf gnu.tar bin
        local sha size
        sha=$(sha256sum <gnu.tar | cut -d' ' -f1) size=$(stat -c %s gnu.tar)
        printf '{"contentHash":"sha256:%s","entries":2,"kind":"capability","name":"c1","size":%s}' "$sha" "$size" >cap.json
        commit_files "blobs/sha256/$sha=gnu.tar" capabilities/c1.json=cap.json
        run ag verify
        expect_rc 1
        # (c1's old tarball, left in blobs/ by the plumbing, is reported too.)
        printf '%s\n' "$err" | grep -qx "agora: verify: capability 'c1': blob sha256:$sha: tarball is not in canonical form" ||
                fail "verify does not name c1's non-canonical tarball: $err"
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: subagent 's1': capability 'c1': blob sha256:$sha: tarball is not in canonical form$"
}

test_definition_must_describe_its_tarball() {
        setup_resolvable
        local size
        size=$(git -C "$REG" cat-file -s "HEAD:blobs/sha256/$CAP_HEX")
        printf '{"contentHash":"%s","entries":7,"kind":"capability","name":"c1","size":%s}' "$CAP_HASH" "$size" >cap.json
        commit_files capabilities/c1.json=cap.json
        run ag verify
        expect_rc 1
        expect_err "^agora: verify: capability 'c1': definition says 7 entries, tarball has 2$"
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: subagent 's1': capability 'c1': definition says 7 entries, tarball has 2$"

        printf '{"contentHash":"%s","entries":2,"kind":"capability","name":"c1","size":512}' "$CAP_HASH" >cap.json
        commit_files capabilities/c1.json=cap.json
        run ag verify
        expect_rc 1
        expect_err "^agora: verify: capability 'c1': definition says 512 bytes, tarball has $size$"
}

test_capability_over_default_limits_still_verifies() {
        new_registry
        # More entries than the default limit, registered with a larger one:
        # the registry's own check must not apply the defaults to it.
        mkdir big && (cd big && seq 1 10050 | sed 's/^/f/' | xargs touch)
        ag register capability big big --max-entries 20000 >/dev/null
        ag register subagent s1 --entrypoint /x --capability big >/dev/null
        ag register env e1 A=b >/dev/null
        run ag verify
        expect_rc 0
        run ag resolve s1 --env e1
        expect_rc 0
}

test_definition_with_exec_mode_refused() {
        setup_resolvable
        set_mode capabilities/c1.json 100755
        run ag verify
        expect_rc 1
        # One problem: the blob it names is not also "used by nothing".
        expect_err "^agora: verify: 'capabilities/c1.json': mode 100755, want a regular file \(100644\)$"
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: .*'capabilities/c1.json': mode 100755, want a regular file \(100644\)$"
}

test_definition_as_symlink_refused() {
        setup_resolvable
        # A symlink whose "target" is the definition's own valid JSON.
        set_mode envs/e1.json 120000
        git -C "$REG" ls-tree HEAD envs/e1.json | grep -q '^120000 ' || fail "tamper did not make a symlink"
        run ag verify
        expect_rc 1
        expect_err "^agora: verify: 'envs/e1.json': mode 120000, want a regular file \(100644\)$"
        run ag show env e1
        expect_rc 1
        expect_err "^agora: env 'e1': 'envs/e1.json': mode 120000, want a regular file \(100644\)$"
        run ag resolve s1 --env e1
        expect_rc 1
}

test_blob_as_symlink_refused() {
        setup_resolvable
        set_mode "blobs/sha256/$CAP_HEX" 120000
        run ag verify
        expect_rc 1
        expect_err "^agora: verify: capability 'c1': 'blobs/sha256/$CAP_HEX': mode 120000, want a regular file \(100644\)$"
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: subagent 's1': capability 'c1': blob $CAP_HASH: 'blobs/sha256/$CAP_HEX': mode 120000, "
}

test_credential_in_env_refused_on_read() {
        setup_resolvable
        printf '{"kind":"env","name":"e1","secrets":{},"values":{"A":"AKIAIOSFODNN7EXAMPLE"}}' >env.json
        commit_files envs/e1.json=env.json
        run ag verify
        expect_rc 1
        expect_err "^agora: verify: env 'e1': value of 'A' looks like a credential \(.*\); pass it as a reference: "
        run ag resolve s1 --env e1
        expect_rc 1
        expect_err "^agora: env 'e1': value of 'A' looks like a credential"
        [ -z "$out" ] || fail "resolve printed a credential-bearing env: $out"
}

test_stale_ref_lock_is_named() {
        setup_resolvable
        local head
        head=$(git_head)
        # What a SIGKILL between libgit2's lock and rename leaves behind.
        : >"$REG/refs/heads/main.lock"
        run ag register env e2 A=1
        expect_rc 1
        expect_err "^agora: registry '$REG': stale lock file 'refs/heads/main.lock' left by an interrupted command; remove it if no git command is running$"
        [ "$(git_head)" = "$head" ] || fail "a refused register moved the branch"
        rm "$REG/refs/heads/main.lock"
        run ag register env e2 A=1
        expect_rc 0
}

test_stale_temp_objects_removed_fresh_kept() {
        new_registry
        mkdir -p "$REG/objects/ab"
        : >"$REG/objects/tmp_object_git2_old"
        : >"$REG/objects/ab/tmp_obj_old"
        : >"$REG/objects/tmp_object_git2_fresh"
        : >"$REG/objects/ab/tmp_obj_fresh"
        : >"$REG/objects/ab/unrelated_old"
        touch -d '1 hour ago' "$REG/objects/tmp_object_git2_old" "$REG/objects/ab/tmp_obj_old" \
                "$REG/objects/ab/unrelated_old"
        run ag register env e1 A=1
        expect_rc 0
        [ ! -e "$REG/objects/tmp_object_git2_old" ] || fail "stale libgit2 temp file kept"
        [ ! -e "$REG/objects/ab/tmp_obj_old" ] || fail "stale tmp_obj_ file kept"
        [ -e "$REG/objects/tmp_object_git2_fresh" ] || fail "fresh libgit2 temp file removed (a live writer's)"
        [ -e "$REG/objects/ab/tmp_obj_fresh" ] || fail "fresh tmp_obj_ file removed (a live writer's)"
        [ -e "$REG/objects/ab/unrelated_old" ] || fail "a file that is not a temp object was removed"
}

test_detached_head_refused_for_writes_only() {
        setup_resolvable
        git -C "$REG" update-ref --no-deref HEAD HEAD~1
        local head main
        head=$(git -C "$REG" rev-parse HEAD) main=$(git -C "$REG" rev-parse refs/heads/main)
        run ag register env e2 A=1
        expect_rc 1
        expect_err "^agora: registry '$REG': HEAD is detached; agora commits only to a branch \(git symbolic-ref HEAD refs/heads/main\)$"
        [ "$(git -C "$REG" rev-parse HEAD)" = "$head" ] || fail "HEAD moved"
        [ "$(git -C "$REG" rev-parse refs/heads/main)" = "$main" ] || fail "main moved"
        # Reading a detached HEAD still works.
        run ag list subagents
        expect_rc 0
        expect_out "s1"
        run ag verify
        expect_rc 0
}

test_open_deleted_branch() {
        setup_resolvable
        git -C "$REG" update-ref -d refs/heads/main
        run ag list envs
        expect_rc 1
        expect_err "^agora: '$REG': branch 'refs/heads/main' does not exist \(HEAD points at it\)$"
}

test_open_head_at_missing_branch() {
        setup_resolvable
        git -C "$REG" symbolic-ref HEAD refs/heads/nope
        run ag verify
        expect_rc 1
        expect_err "^agora: '$REG': branch 'refs/heads/nope' does not exist \(HEAD points at it\)$"
}

test_open_other_users_registry() {
        setup_resolvable
        chown -R 4242:4242 "$REG" 2>/dev/null || skip "cannot chown (needs root)"
        [ "$(id -u)" != 4242 ] || skip "running as uid 4242"
        # No safe.directory from the machine's own git config.
        export HOME="$PWD" XDG_CONFIG_HOME="$PWD/.config"
        run ag list envs
        expect_rc 1
        expect_err "^agora: '$REG': cannot open registry: .*not owned by current user"
}

test_open_empty_git_repository_is_not_a_registry() {
        git init -q --bare other
        run "$AGORA" --registry "$PWD/other" list envs
        expect_rc 1
        expect_err "^agora: '$PWD/other': not an agora registry \(run agora init\)$"
}

test_broken_definition_blob_is_not_unused_noise() {
        setup_resolvable
        # Valid JSON but not canonical: the definition's problem is reported;
        # its tarball is still the one it names, not "used by nothing".
        git -C "$REG" cat-file blob HEAD:capabilities/c1.json | sed 's/,/, /g' >cap.json
        commit_files capabilities/c1.json=cap.json
        run ag verify
        expect_rc 1
        expect_err "^agora: verify: capability 'c1': definition is not canonical JSON$"
}

# A tmpfs of 256k at ./mnt, unmounted when the test's shell exits.
small_disk() {
        mkdir -p mnt
        mount -t tmpfs -o size=256k agora-test mnt 2>/dev/null || skip "cannot mount a tmpfs here (needs root)"
        trap 'umount -l "$TEST_DIR/mnt" 2>/dev/null' EXIT
        mountpoint -q mnt || fail "mnt is not a mount point"
}

test_register_env_on_full_disk() {
        local left avail head failed=0
        # The space left decides which write fails first: a definition, a
        # tree, the commit (libgit2 drops that error), or the ref.
        for left in 0 4 8 12 16 20 24; do
                small_disk
                REG="$PWD/mnt/reg" KEY="$PWD/keys/operator.key"
                rm -rf keys
                "$AGORA" --registry "$REG" --key "$KEY" init >/dev/null
                avail=$(df -k --output=avail mnt | tail -1)
                [ "$avail" -lt 256 ] || fail "mnt is not the small disk"
                head -c $(((avail - left) * 1024)) /dev/zero >mnt/fill 2>/dev/null || true
                head=$(git_head)
                run ag register env e1 A=1
                if [ "$rc" -ne 0 ]; then
                        failed=$((failed + 1))
                        expect_rc 1
                        expect_err "^agora: .*No space left on device$"
                        [ "$(git_head)" = "$head" ] || fail "a failed register moved the branch"
                        run ag verify
                        expect_rc 0
                fi
                umount -l mnt && trap - EXIT
        done
        [ "$failed" -gt 0 ] || fail "the disk never filled up"
}

test_oversized_definition_refused_before_writing() {
        new_registry
        local before
        before=$(find "$REG/objects" -type f | wc -l)
        local i args=()
        # One argument may hold at most 128 KiB (MAX_ARG_STRLEN): use ten.
        for i in 0 1 2 3 4 5 6 7 8 9; do
                args+=("A$i=$(head -c 110000 /dev/zero | tr '\0' x)")
        done
        run ag register env e1 "${args[@]}"
        expect_rc 2
        expect_err "^agora: env 'e1': definition is [0-9]+ bytes, more than the 1048576 allowed$"
        [ "$(find "$REG/objects" -type f | wc -l)" -eq "$before" ] || fail "a refused definition was written"
}

run_tests
