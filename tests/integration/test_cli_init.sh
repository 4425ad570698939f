#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agora init, agora keygen, and the global command line: what they create is
# checked with stock git and minisign; what they refuse leaves nothing behind.
source "$(dirname "$0")/lib.sh"

# Every path under DIR (recursively), sorted: "nothing was created" is this
# listing being the same before and after.
tree_of() { find "$1" 2>/dev/null | sort; }

test_init_creates_bare_repo_readable_by_git() {
        run "$AGORA" --registry "$PWD/reg" --key "$PWD/keys/operator.key" init
        expect_rc 0
        expect_out "^initialized registry $PWD/reg"
        expect_out "created operator key $PWD/keys/operator.key \(key id [0-9A-F]{1,16}\)"
        [ "$(git -C reg rev-parse --is-bare-repository)" = true ] || fail "registry is not a bare repository"
        git -C reg log --format=%s | grep -qx "init registry" || fail "no 'init registry' commit"
        [ "$(git -C reg rev-list --count HEAD)" -eq 1 ] || fail "init made more than one commit"
        git -C reg show HEAD:agora-registry.json | grep -q '"format":1' || fail "no registry marker"
        git -C reg fsck --strict >/dev/null 2>&1 || fail "git fsck failed"
}

test_init_key_modes_and_public_key_format() {
        REG="$PWD/reg" KEY="$PWD/keys/operator.key"
        new_registry
        [ "$(stat -c %a "$KEY")" = 600 ] || fail "secret key mode $(stat -c %a "$KEY"), want 600"
        [ "$(stat -c %a keys)" = 700 ] || fail "key directory mode $(stat -c %a keys), want 700"
        [ -r keys/operator.pub ] || fail "no public key keys/operator.pub"
        head -n1 keys/operator.pub | grep -q '^untrusted comment: ' || fail "public key lacks minisign's comment line"
        local n
        n=$(sed -n 2p keys/operator.pub | base64 -d | wc -c)
        [ "$n" -eq 42 ] || fail "public key is $n bytes, want 42 (Ed, key id, key)"
        [ "$(sed -n 2p keys/operator.pub | base64 -d | head -c 2)" = Ed ] || fail "public key does not start with Ed"
}

test_init_key_works_with_stock_minisign() {
        new_registry
        command -v minisign >/dev/null || return 0
        echo "some file" >msg
        # Our unencrypted secret key signs with stock minisign, and stock
        # minisign checks the signature against our public key.
        minisign -S -s "$KEY" -m msg -t "trusted" </dev/null >/dev/null 2>&1 || fail "minisign cannot sign with the secret key"
        minisign -V -p keys/operator.pub -m msg >/dev/null 2>&1 || fail "minisign rejects the signature with the public key"
}

test_init_json() {
        run "$AGORA" --json --registry "$PWD/reg" --key "$PWD/k/op.key" init
        expect_rc 0
        printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert set(d) == {"registry", "key", "publicKey", "keyId", "keyCreated"}, d
assert d["keyCreated"] is True and d["publicKey"].endswith("/k/op.pub"), d
# The key id as the public key file names it (minisign prints it the same way).
assert d["keyId"] == open(d["publicKey"]).readline().split()[-1], d
' || fail "bad init JSON: $out"
}

test_init_reuses_existing_key() {
        "$AGORA" --key "$PWD/keys/op.key" keygen >/dev/null
        local id
        id=$("$AGORA" --json --key "$PWD/keys/op.key" --registry "$PWD/r1" init | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyId"])')
        run "$AGORA" --registry "$PWD/r2" --key "$PWD/keys/op.key" init
        expect_rc 0
        expect_out "using operator key $PWD/keys/op.key \(key id $id\)"
}

test_init_refuses_key_inside_registry() {
        run "$AGORA" --registry "$PWD/reg" --key "$PWD/reg/keys/op.key" init
        expect_rc 1
        expect_err "^agora: key '$PWD/reg/keys/op.key' must not live inside the registry '$PWD/reg'$"
        [ ! -e reg ] || fail "refused init created $(tree_of reg)"
}

test_init_refuses_key_inside_registry_via_symlink() {
        mkdir reg
        ln -s reg alias
        run "$AGORA" --registry "$PWD/reg" --key "$PWD/alias/op.key" init
        expect_rc 1
        expect_err "must not live inside the registry"
        [ -z "$(ls -A reg)" ] || fail "refused init wrote into reg"
}

test_init_refuses_non_empty_dir() {
        mkdir reg
        echo precious >reg/file
        local before
        before=$(tree_of "$PWD")
        run "$AGORA" --key "$PWD/keys/op.key" init "$PWD/reg"
        expect_rc 1
        expect_err "^agora: .*reg"
        [ "$(tree_of "$PWD")" = "$before" ] || fail "refused init changed the disk"
        [ "$(cat reg/file)" = precious ] || fail "refused init touched reg/file"
}

test_init_twice_refused() {
        new_registry
        local head
        head=$(git_head)
        run "$AGORA" --registry "$REG" --key "$KEY" init
        expect_rc 1
        expect_err "^agora: .*reg"
        [ "$(git_head)" = "$head" ] || fail "second init moved HEAD"
}

test_init_dir_argument_overrides_registry() {
        run "$AGORA" --registry "$PWD/not-this" --key "$PWD/k/op.key" init "$PWD/this"
        expect_rc 0
        [ -d this ] && [ ! -e not-this ] || fail "init DIR did not win over --registry"
}

test_registry_and_key_from_environment() {
        export AGORA_REGISTRY="$PWD/env-reg" AGORA_KEY="$PWD/env-keys/op.key"
        run "$AGORA" init
        expect_rc 0
        [ -d env-reg ] && [ -f env-keys/op.key ] && [ -f env-keys/op.pub ] || fail "environment paths not used"
        run "$AGORA" log
        expect_rc 0
        expect_out "init registry"
}

test_default_paths_follow_xdg() {
        export HOME="$PWD/home" XDG_DATA_HOME="$PWD/data" XDG_CONFIG_HOME="$PWD/config"
        run "$AGORA" init
        expect_rc 0
        [ -d data/agora/registry ] && [ -f config/agora/operator.key ] || fail "XDG paths not used: $out"
        unset XDG_DATA_HOME XDG_CONFIG_HOME
        run "$AGORA" init
        expect_rc 0
        [ -d home/.local/share/agora/registry ] && [ -f home/.config/agora/operator.key ] ||
                fail "HOME paths not used: $out"
}

test_keygen_creates_pair() {
        run "$AGORA" keygen --out "$PWD/a/b/my.key"
        expect_rc 0
        expect_out "^created operator key $PWD/a/b/my.key \(public key $PWD/a/b/my.pub, key id [0-9A-F]{1,16}\)$"
        [ "$(stat -c %a a/b/my.key)" = 600 ] || fail "secret key not 0600"
        run "$AGORA" --json keygen --out "$PWD/other"
        expect_rc 0
        [ -f other ] && [ -f other.pub ] || fail "key without .key suffix: public key not at other.pub"
        printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert set(d)=={"key","publicKey","keyId"}' ||
                fail "bad keygen JSON: $out"
}

test_keygen_refuses_to_overwrite() {
        "$AGORA" keygen --out "$PWD/op.key" >/dev/null
        local key_sum pub_sum
        key_sum=$(sha256sum <op.key) pub_sum=$(sha256sum <op.pub)
        run "$AGORA" keygen --out "$PWD/op.key"
        expect_rc 1
        expect_err "^agora: '$PWD/op.key': already exists, refusing to overwrite$"
        [ "$(sha256sum <op.key)" = "$key_sum" ] || fail "refused keygen changed the secret key"
        rm op.key
        run "$AGORA" keygen --out "$PWD/op.key"
        expect_rc 1
        expect_err "^agora: '$PWD/op.pub': already exists, refusing to overwrite$"
        [ ! -e op.key ] || fail "refused keygen left a secret key"
        [ "$(sha256sum <op.pub)" = "$pub_sum" ] || fail "refused keygen changed the public key"
}

test_mutation_without_key_fails() {
        new_registry
        rm -f keys/operator.key keys/operator.pub
        mkdir cap && echo hi >cap/f
        local head
        head=$(git_head)
        run ag register capability c cap
        expect_rc 1
        expect_err "^agora: key '$KEY': No such file or directory \(run agora init or agora keygen\)$"
        [ "$(git_head)" = "$head" ] || fail "registry changed"
        run ag list
        expect_rc 0 # read-only verbs need no key
}

test_unknown_verb() {
        run "$AGORA" frob
        expect_rc 2
        expect_err "^agora: 'frob' is not a verb \(see agora --help\)$"
}

test_global_usage_errors() {
        run "$AGORA"
        expect_rc 2
        expect_err "^agora: .*see agora --help"
        run "$AGORA" --bogus list
        expect_rc 2
        expect_err "^agora: unknown option '--bogus' \(see agora --help\)$"
        new_registry
        run ag list --registry
        expect_rc 2
        expect_err "^agora list: unknown option '--registry' \(see agora list --help\)$"
}

test_verb_usage_errors() {
        new_registry
        run ag register capability onlyname
        expect_rc 2
        expect_err "^agora register capability: needs NAME and PATH \(see agora register capability --help\)$"
        run ag register subagent s
        expect_rc 2
        expect_err "^agora register subagent: --entrypoint CMD is required \(see agora register subagent --help\)$"
        run ag register widget x
        expect_rc 2
        expect_err "^agora register: 'widget' is not a kind"
        run ag log -n many
        expect_rc 2
        expect_err "^agora log: -n 'many': not a number \(see agora log --help\)$"
        run ag resolve s
        expect_rc 2
        expect_err "^agora resolve: --env ENV is required"
        run ag register capability c . --max-size lots
        expect_rc 2
        expect_err "^agora register capability: --max-size 'lots': not a size"
}

test_help_lists_every_verb_and_option() {
        run "$AGORA" --help
        expect_rc 0
        local v
        for v in init keygen register assign unassign list show log resolve verify; do
                printf '%s' "$out" | grep -q "^  $v " || fail "agora --help does not list $v"
        done
        for v in --registry --key --json --help --version; do
                printf '%s' "$out" | grep -q -- "$v" || fail "agora --help does not list $v"
        done
        # Help needs no registry or key, even for verbs that do.
        for v in init keygen register assign unassign list show log resolve verify "register capability" \
                "register subagent" "register env"; do
                # shellcheck disable=SC2086
                run "$AGORA" --registry "$PWD/none" $v --help
                expect_rc 0
                expect_out "^usage: agora $v"
        done
        run "$AGORA" register capability --help
        expect_out "--max-size" && expect_out "--max-entries"
        run "$AGORA" --version
        expect_rc 0
        expect_out "^agora [0-9]"
}

run_tests
