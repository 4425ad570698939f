#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agora register capability: canonical tarballs checked with stock git, tar
# and sha256sum, and every kind of hostile input refused with one line naming
# the capability, leaving the registry exactly as it was.
source "$(dirname "$0")/lib.sh"

sample_dir() { # DIR: a small capability tree
        mkdir -p "$1/bin" "$1/share/doc"
        printf '#!/bin/sh\necho hi\n' >"$1/bin/tool"
        chmod 755 "$1/bin/tool"
        echo "read me" >"$1/share/doc/README"
        chmod 600 "$1/share/doc/README" # any non-executable mode becomes 0644
}

# hostile_tar OUT KIND: a tar with one bad entry of KIND, written by
# python3's tarfile so that the test does not depend on what GNU tar allows.
hostile_tar() {
        python3 - "$1" "$2" <<'EOF'
import io, sys, tarfile
out, kind = sys.argv[1], sys.argv[2]
def reg(name, data=b"x", mode=0o644):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode
    return ti, io.BytesIO(data)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    t.addfile(*reg("ok.txt"))
    if kind == "dotdot":
        t.addfile(*reg("../evil"))
    elif kind == "dotdot-inner":
        t.addfile(*reg("a/../../evil"))
    elif kind == "absolute":
        t.addfile(*reg("/etc/evil"))
    elif kind == "symlink":
        ti = tarfile.TarInfo("link"); ti.type = tarfile.SYMTYPE; ti.linkname = "/etc/passwd"; t.addfile(ti)
    elif kind == "hardlink":
        ti = tarfile.TarInfo("hard"); ti.type = tarfile.LNKTYPE; ti.linkname = "ok.txt"; t.addfile(ti)
    elif kind == "device":
        ti = tarfile.TarInfo("null"); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3; t.addfile(ti)
    elif kind == "fifo":
        ti = tarfile.TarInfo("pipe"); ti.type = tarfile.FIFOTYPE; t.addfile(ti)
    elif kind == "setuid":
        t.addfile(*reg("suid", b"#!/bin/sh\n", 0o4755))
    elif kind == "duplicate":
        t.addfile(*reg("ok.txt", b"other"))
EOF
}

tar_hash() { # NAME: the capability's tarball hash, from the registry via agora show
        ag --json show capability "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["definition"]["contentHash"])'
}

test_register_directory_one_commit() {
        new_registry
        sample_dir cap
        local count
        count=$(git_count)
        run ag register capability tools cap
        expect_rc 0
        expect_out '^sha256:[0-9a-f]{64}$'
        [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "stdout is not the hash alone: $out"
        [ -z "$err" ] || fail "stderr not empty when not a terminal: $err"
        [ "$(git_count)" -eq $((count + 1)) ] || fail "registration is not exactly one commit"
        [ "$(git -C "$REG" log -1 --format=%s)" = "register capability tools $out" ] ||
                fail "commit message: $(git -C "$REG" log -1 --format=%s)"
        git -C "$REG" log -1 --format=%B | grep -Eq '^Operator-Key: [0-9A-F]{1,16}$' || fail "no Operator-Key trailer"
        [ "$(git -C "$REG" log -1 --format='%an <%ae>')" = "agora test <test@agora.invalid>" ] ||
                fail "author is not GIT_AUTHOR_NAME/EMAIL"
        git -C "$REG" fsck --strict >/dev/null 2>&1 || fail "git fsck failed"
}

test_tarball_bytes_match_hash_and_are_canonical() {
        new_registry
        sample_dir cap
        local h hex
        h=$(ag register capability tools cap)
        hex=${h#sha256:}
        [ "$(git -C "$REG" cat-file blob "HEAD:blobs/sha256/$hex" | sha256sum | cut -d' ' -f1)" = "$hex" ] ||
                fail "blob bytes do not hash to $h"
        [ "$(tar_hash tools)" = "$h" ] || fail "definition does not point at $h"
        git -C "$REG" show "HEAD:blobs/sha256/$hex" | tar -tvf - 2>/dev/null >listing
        # Every parent directory present, sorted, root-owned, canonical modes, mtime 0.
        awk '{print $1, $2, $6}' listing >got
        cat >want <<'EOF'
drwxr-xr-x 0/0 bin/
-rwxr-xr-x 0/0 bin/tool
drwxr-xr-x 0/0 share/
drwxr-xr-x 0/0 share/doc/
-rw-r--r-- 0/0 share/doc/README
EOF
        diff want got >/dev/null || fail "tarball listing: $(cat listing)"
        ! grep -v ' 1970-01-01 00:00 ' listing >/dev/null || fail "mtime is not 0: $(cat listing)"
}

test_directory_and_tarball_same_hash() {
        new_registry
        sample_dir cap
        local h1 h2 h3
        h1=$(ag register capability from-dir cap)
        # The same content, archived by someone else at another time, in another order.
        touch -d '2001-02-03 04:05:06' cap/bin/tool cap/share/doc/README cap/share
        tar --owner=1234 --group=5678 --numeric-owner --mtime='2010-01-01' -C cap -czf cap.tar.gz share bin
        h2=$(ag register capability from-targz cap.tar.gz)
        tar --owner=nobody --group=nogroup -C cap -cf cap.tar ./bin ./share
        h3=$(ag register capability from-tar cap.tar)
        [ "$h1" = "$h2" ] || fail "directory $h1 and .tar.gz $h2 differ"
        [ "$h1" = "$h3" ] || fail "directory $h1 and .tar $h3 differ"
        [ "$(git -C "$REG" ls-tree --name-only HEAD blobs/sha256/ | wc -l)" -eq 1 ] || fail "identical content stored twice"
}

test_register_identical_again_no_commit() {
        new_registry
        sample_dir cap
        local h1 head
        h1=$(ag register capability tools cap)
        head=$(git_head)
        touch -d '1999-01-01' cap/bin/tool
        run ag register capability tools cap
        expect_rc 0
        [ "$out" = "$h1" ] || fail "same content, different hash: $out vs $h1"
        [ "$(git_head)" = "$head" ] || fail "re-registering identical content made a commit"
        run ag --json register capability tools cap
        printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["changed"] is False' ||
                fail "JSON does not say changed=false: $out"
}

test_register_changed_content_replaces() {
        new_registry
        sample_dir cap
        local h1 h2
        h1=$(ag register capability tools cap)
        echo more >cap/share/doc/NEW
        h2=$(ag register capability tools cap)
        [ "$h1" != "$h2" ] || fail "changed content kept its hash"
        [ "$(tar_hash tools)" = "$h2" ] || fail "definition not replaced"
        # Old tarball stays reachable through history, not in the current tree.
        git -C "$REG" cat-file -e "HEAD~1:blobs/sha256/${h1#sha256:}" || fail "old tarball lost from history"
        ! git -C "$REG" cat-file -e "HEAD:blobs/sha256/${h1#sha256:}" 2>/dev/null || fail "unreferenced tarball kept in HEAD"
}

test_register_json() {
        new_registry
        sample_dir cap
        run ag --json register capability tools cap
        expect_rc 0
        printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert set(d) == {"kind", "name", "contentHash", "size", "entries", "commit", "changed"}, d
assert d["kind"] == "capability" and d["name"] == "tools" and d["entries"] == 5 and d["changed"] is True, d
assert d["size"] % 512 == 0 and len(d["commit"]) == 40, d
' || fail "bad register JSON: $out"
        [ "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')" = "$(git_head)" ] ||
                fail "JSON commit is not HEAD"
}

test_max_size_suffix_accepted() {
        new_registry
        sample_dir cap
        run ag register capability tools cap --max-size 1M --max-entries 5
        expect_rc 0
}

test_refuse_name_with_slash() {
        new_registry
        sample_dir cap
        refused 2 "^agora: capability name 'a/b': '/' is not allowed" ag register capability a/b cap
}

test_refuse_name_dotdot() {
        new_registry
        sample_dir cap
        refused 2 "^agora: capability name '\.\.'" ag register capability .. cap
}

test_refuse_name_too_long() {
        new_registry
        sample_dir cap
        refused 2 "^agora: capability name \(129 bytes\): longer than 128 bytes" \
                ag register capability "$(printf 'a%.0s' $(seq 129))" cap
}

test_refuse_name_control_char() {
        new_registry
        sample_dir cap
        refused 2 "^agora: capability name 'a\\\\x01b'" ag register capability $'a\001b' cap
}

test_refuse_name_leading_dash() {
        new_registry
        sample_dir cap
        refused 2 "^agora: capability name '-x'" ag register capability -- -x cap
}

test_refuse_missing_path() {
        new_registry
        refused 1 "^agora: capability 'tools': .*does-not-exist" ag register capability tools "$PWD/does-not-exist"
}

hostile_case() { # KIND REGEX
        new_registry
        hostile_tar bad.tar "$1"
        refused 1 "^agora: capability 'bad'.*$2" ag register capability bad bad.tar
}

test_refuse_tar_dotdot() { hostile_case dotdot '\.\./evil'; }
test_refuse_tar_dotdot_inside() { hostile_case dotdot-inner 'evil'; }
test_refuse_tar_absolute_path() { hostile_case absolute '/etc/evil'; }
test_refuse_tar_symlink() { hostile_case symlink 'link'; }
test_refuse_tar_hardlink() { hostile_case hardlink 'hard'; }
test_refuse_tar_device() { hostile_case device 'null'; }
test_refuse_tar_fifo() { hostile_case fifo 'pipe'; }
test_refuse_tar_setuid() { hostile_case setuid 'suid'; }
test_refuse_tar_duplicate_path() { hostile_case duplicate 'ok\.txt'; }

test_refuse_directory_symlink() {
        new_registry
        sample_dir cap
        ln -s /etc/passwd cap/passwd
        refused 1 "^agora: capability 'tools'.*passwd" ag register capability tools cap
}

test_refuse_directory_fifo() {
        new_registry
        sample_dir cap
        mkfifo cap/pipe
        refused 1 "^agora: capability 'tools'.*pipe" ag register capability tools cap
}

test_refuse_over_max_size() {
        new_registry
        mkdir cap
        head -c $((2 * 1024 * 1024)) /dev/zero >cap/big
        refused 1 "^agora: capability 'tools'" ag register capability tools cap --max-size 1M
        tar -C cap -czf cap.tar.gz big
        refused 1 "^agora: capability 'tools'" ag register capability tools cap.tar.gz --max-size 1M
}

test_refuse_over_max_entries() {
        new_registry
        mkdir cap
        for i in $(seq 20); do echo "$i" >"cap/f$i"; done
        refused 1 "^agora: capability 'tools'" ag register capability tools cap --max-entries 5
}

test_refuse_gzip_bomb_quickly() {
        new_registry
        # 100 MB of zeros in a tar, gzipped to about 100 KB: over the 200x ratio.
        python3 - <<'EOF'
import gzip, io, tarfile
class Zeros(io.RawIOBase):
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        n = min(len(b), self.left); b[:n] = bytes(n); self.left -= n; return n
with gzip.open("bomb.tar.gz", "wb", compresslevel=9) as gz:
    with tarfile.open(fileobj=gz, mode="w") as t:
        ti = tarfile.TarInfo("zeros"); ti.size = 100 << 20
        t.addfile(ti, io.BufferedReader(Zeros(ti.size)))
EOF
        [ "$(stat -c %s bomb.tar.gz)" -lt $((1024 * 1024)) ] || fail "bomb is not small"
        local start end
        start=$(date +%s%N)
        # A generous --max-size: the ratio alone must stop it.
        refused 1 "^agora: capability 'bomb'" ag register capability bomb bomb.tar.gz --max-size 1G
        end=$(date +%s%N)
        [ $(((end - start) / 1000000)) -lt 5000 ] || fail "bomb took $(((end - start) / 1000000)) ms to refuse"
}

test_refuse_garbage_file() {
        new_registry
        head -c 4096 /dev/urandom >junk.tar
        refused 1 "^agora: capability 'junk'" ag register capability junk junk.tar
}

run_tests
