#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Subagents, env bundles and the read-only verbs: register subagent/env,
# assign/unassign, list, show, log and resolve, happy paths and refusals.
source "$(dirname "$0")/lib.sh"

# A registry with capabilities c1 and c2 from one small tree each.
setup_caps() {
        new_registry
        mkdir -p c1/bin c2/lib
        printf '#!/bin/sh\necho one\n' >c1/bin/one && chmod +x c1/bin/one
        echo two >c2/lib/two
        ag register capability c1 c1 >/dev/null
        ag register capability c2 c2 >/dev/null
}

json() { # PYTHON-EXPR: evaluate against $out parsed as d
        printf '%s' "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

last_msg() { git -C "$REG" log -1 --format=%s; }

test_register_subagent() {
        setup_caps
        local count
        count=$(git_count)
        run ag register subagent s1 --entrypoint /cap/c1/bin/one --capability c2 --capability c1
        expect_rc 0
        expect_out '^sha256:[0-9a-f]{64}$'
        [ "$(git_count)" -eq $((count + 1)) ] || fail "not one commit"
        [ "$(last_msg)" = "register subagent s1" ] || fail "message: $(last_msg)"
        # The printed hash is the sha256 of the definition's bytes in git.
        [ "sha256:$(git -C "$REG" cat-file blob HEAD:subagents/s1.json | sha256sum | cut -d' ' -f1)" = "$out" ] ||
                fail "printed hash is not the definition's"
        [ "$(git -C "$REG" cat-file blob HEAD:subagents/s1.json)" = \
                '{"capabilities":["c1","c2"],"entrypoint":"/cap/c1/bin/one","kind":"subagent","name":"s1","profile":"default"}' ] ||
                fail "definition: $(git -C "$REG" cat-file blob HEAD:subagents/s1.json)"
}

test_register_subagent_replaces() {
        setup_caps
        ag register subagent s1 --entrypoint /a --capability c1 >/dev/null
        ag register subagent s1 --entrypoint /b --profile build >/dev/null
        run ag --json show subagent s1
        [ "$(json 'd["definition"]["entrypoint"], d["definition"]["profile"], d["definition"]["capabilities"]')" = \
                "/b build []" ] || fail "not replaced: $out"
}

test_refuse_subagent_unregistered_capability() {
        setup_caps
        refused 1 "^agora: subagent 's1': capability 'nope': not registered$" \
                ag register subagent s1 --entrypoint /x --capability c1 --capability nope
}

test_refuse_subagent_bad_names() {
        setup_caps
        refused 2 "^agora: subagent name 'a/b'" ag register subagent a/b --entrypoint /x
        refused 2 "^agora: profile name '\.\.'" ag register subagent s --entrypoint /x --profile ..
        refused 2 "capability name 'x/y'" ag register subagent s --entrypoint /x --capability x/y
}

test_refuse_subagent_unknown_or_broken_profile() {
        setup_caps
        refused 1 "^agora: subagent 's': profile 'nope': not found in $TOP/profiles$" \
                ag register subagent s --entrypoint /x --profile nope
        mkdir profiles
        printf 'name: bad\nlimits: [\n' >profiles/bad.yaml
        AGORA_PROFILES="$PWD/profiles" refused 2 "^agora: subagent 's': profile 'bad': " \
                ag register subagent s --entrypoint /x --profile bad
}

test_register_env_pairs_and_secrets() {
        new_registry
        run ag register env e1 GREETING=hello EMPTY= --secret API_TOKEN=env:MY_TOKEN --secret CERT=file:/etc/ssl/c.pem
        expect_rc 0
        expect_out '^sha256:[0-9a-f]{64}$'
        [ "$(last_msg)" = "register env e1" ] || fail "message: $(last_msg)"
        [ "$(git -C "$REG" cat-file blob HEAD:envs/e1.json)" = \
                '{"kind":"env","name":"e1","secrets":{"API_TOKEN":"env:MY_TOKEN","CERT":"file:/etc/ssl/c.pem"},"values":{"EMPTY":"","GREETING":"hello"}}' ] ||
                fail "definition: $(git -C "$REG" cat-file blob HEAD:envs/e1.json)"
}

test_register_env_file_and_overrides() {
        new_registry
        cat >env.yaml <<'EOF'
values:
  GREETING: hello
  MODE: "0755"
  KEEP: yes
secrets:
  TOKEN: env:TOKEN
  MOVED: env:MOVED
EOF
        export MY_SECRET_VALUE="s3cr3t-never-stored"
        run ag register env e1 --file env.yaml GREETING=bonjour MOVED=plain --secret KEEP=env:MY_SECRET_VALUE
        expect_rc 0
        [ "$(git -C "$REG" cat-file blob HEAD:envs/e1.json)" = \
                '{"kind":"env","name":"e1","secrets":{"KEEP":"env:MY_SECRET_VALUE","TOKEN":"env:TOKEN"},"values":{"GREETING":"bonjour","MODE":"0755","MOVED":"plain"}}' ] ||
                fail "definition: $(git -C "$REG" cat-file blob HEAD:envs/e1.json)"
        # Secrets are references: the value itself is nowhere in the registry.
        ! git -C "$REG" log -p --all | grep -q s3cr3t || fail "secret value reached the registry"
}

test_register_example_env() {
        new_registry
        run ag register env demo --file "$TOP/examples/envs/demo.yaml"
        expect_rc 0
        run ag --json show env demo
        [ "$(json 'd["definition"]["values"]["GREETING"]')" = hello ] || fail "example env: $out"
}

test_refuse_env_credential_value() {
        new_registry
        refused 2 "^agora: env 'e1': .*GITHUB_TOKEN.*--secret" \
                ag register env e1 GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB
        printf 'values:\n  AWS_KEY: AKIAIOSFODNN7EXAMPLE\n' >cred.yaml
        refused 2 "^agora: env 'e1': .*--secret" ag register env e1 --file cred.yaml
}

test_refuse_env_malformed_yaml() {
        new_registry
        printf 'values:\n  A: [unclosed\n' >bad.yaml
        refused 2 "^agora: env 'e1': .*bad\.yaml:[0-9]+:[0-9]+" ag register env e1 --file bad.yaml
}

test_refuse_env_unknown_yaml_key() {
        new_registry
        printf 'values:\n  A: b\nvaluez:\n  C: d\n' >typo.yaml
        refused 2 "^agora: env 'e1': .*valuez" ag register env e1 --file typo.yaml
}

test_refuse_env_non_string_value() {
        new_registry
        printf 'values:\n  A:\n    nested: map\n' >nested.yaml
        refused 2 "^agora: env 'e1': .*A.*string" ag register env e1 --file nested.yaml
}

test_refuse_env_missing_file() {
        new_registry
        refused 1 "^agora: env 'e1': .*nope\.yaml" ag register env e1 --file nope.yaml
}

test_refuse_env_bad_pairs() {
        new_registry
        refused 2 "^agora register env: value 'JUSTKEY': expected KEY=VALUE" ag register env e1 JUSTKEY
        refused 2 "^agora: env key '1BAD'" ag register env e1 1BAD=x
        refused 2 "^agora: env 'e1': secret 'S'" ag register env e1 --secret S=plaintext
        refused 2 "^agora register env: 'K' given both" ag register env e1 K=v --secret K=env:K
        refused 2 "^agora: env name 'a/b'" ag register env a/b K=v
}

test_assign_and_unassign() {
        setup_caps
        ag register subagent s1 --entrypoint /x >/dev/null
        local count
        count=$(git_count)
        run ag assign s1 c2 c1
        expect_rc 0
        expect_out '^sha256:[0-9a-f]{64}$'
        [ "$(git_count)" -eq $((count + 1)) ] || fail "assign is not one commit"
        [ "$(last_msg)" = "assign s1: c2, c1" ] || fail "message: $(last_msg)"
        run ag --json show subagent s1
        [ "$(json 'd["definition"]["capabilities"]')" = "['c1', 'c2']" ] || fail "after assign: $out"
        run ag unassign s1 c1
        expect_rc 0
        [ "$(last_msg)" = "unassign s1: c1" ] || fail "message: $(last_msg)"
        run ag --json show subagent s1
        [ "$(json 'd["definition"]["capabilities"]')" = "['c2']" ] || fail "after unassign: $out"
}

test_refuse_assign_unregistered_capability() {
        setup_caps
        ag register subagent s1 --entrypoint /x >/dev/null
        refused 1 "^agora: subagent 's1': capability 'nope': not registered$" ag assign s1 c1 nope
}

test_refuse_assign_unregistered_subagent() {
        setup_caps
        refused 1 "^agora: subagent 'ghost': not registered$" ag assign ghost c1
}

test_refuse_unassign_not_assigned() {
        setup_caps
        ag register subagent s1 --entrypoint /x --capability c1 >/dev/null
        refused 1 "^agora: subagent 's1': capability 'c2': not assigned$" ag unassign s1 c1 c2
}

test_refuse_assign_usage() {
        setup_caps
        refused 2 "^agora assign: needs SUBAGENT and at least one CAPABILITY \(see agora assign --help\)$" ag assign s1
}

test_list_hashes_match_register_and_git() {
        new_registry
        mkdir cap && echo hi >cap/f
        cap_hash=$(ag register capability c1 cap)
        sub_hash=$(ag register subagent s1 --entrypoint /x --capability c1)
        run ag list
        expect_rc 0
        # A capability is listed by its tarball's hash, as register printed it;
        # a subagent by the hash of its definition file's bytes in git.
        printf '%s\n' "$out" | grep -qx "capability c1 $cap_hash" || fail "list: $out (register said $cap_hash)"
        git_sub="sha256:$(git -C "$REG" show HEAD:subagents/s1.json | sha256sum | cut -d' ' -f1)"
        [ "$sub_hash" = "$git_sub" ] || fail "register subagent printed $sub_hash, git has $git_sub"
        printf '%s\n' "$out" | grep -qx "subagent s1 $git_sub" || fail "list: $out (git has $git_sub)"
}

test_list_sorted() {
        setup_caps
        ag register subagent zeta --entrypoint /x >/dev/null
        ag register subagent alpha --entrypoint /x --capability c1 >/dev/null
        ag register env prod A=b >/dev/null
        run ag list
        expect_rc 0
        [ "$(printf '%s\n' "$out" | awk '{print $1, $2}')" = "$(printf '%s\n' 'capability c1' 'capability c2' 'env prod' 'subagent alpha' 'subagent zeta')" ] ||
                fail "list: $out"
        ! printf '%s\n' "$out" | grep -Ev ' sha256:[0-9a-f]{64}$' >/dev/null || fail "list hashes: $out"
        run ag list subagents
        [ "$(printf '%s\n' "$out" | awk '{print $2}' | tr '\n' ' ')" = "alpha zeta " ] || fail "list subagents: $out"
        run ag --json list
        expect_rc 0
        [ "$(json 'len(d), sorted(d[0]), d[2]["kind"], d[2]["name"]')" = \
                "5 ['contentHash', 'kind', 'name'] env prod" ] || fail "list JSON: $out"
        printf '%s' "$out" | python3 -m json.tool >/dev/null || fail "list JSON does not parse"
        run ag list widgets
        expect_rc 2
        expect_err "^agora list: 'widgets' is not a kind"
}

test_list_empty_registry() {
        new_registry
        run ag list
        expect_rc 0
        [ -z "$out" ] || fail "empty registry lists: $out"
        run ag --json list
        [ "$out" = "[]" ] || fail "empty JSON list: $out"
}

test_show() {
        setup_caps
        run ag show capability c1
        expect_rc 0
        printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["kind"]=="capability"' ||
                fail "show text is not the definition: $out"
        [ "$(printf '%s\n' "$out" | wc -l)" -gt 1 ] || fail "show text is not pretty-printed"
        run ag --json show capability c1
        [ "$(json 'd["contentHash"]')" = "sha256:$(git -C "$REG" cat-file blob HEAD:capabilities/c1.json | sha256sum | cut -d' ' -f1)" ] ||
                fail "show contentHash: $out"
        refused 1 "^agora: .*subagent 'ghost'" ag show subagent ghost
        refused 2 "^agora show: 'widget' is not a kind" ag show widget x
}

test_log() {
        setup_caps
        run ag log
        expect_rc 0
        [ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ] || fail "log lines: $out"
        printf '%s\n' "$out" | head -n1 |
                grep -Eq '^[0-9a-f]{7} [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} agora test <test@agora.invalid> register capability c2 sha256:' ||
                fail "log line: $(printf '%s\n' "$out" | head -n1)"
        printf '%s\n' "$out" | tail -n1 | grep -q 'init registry$' || fail "last log line: $out"
        run ag log -n 1
        [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "log -n 1: $out"
        run ag --json log
        [ "$(json 'len(d), sorted(d[0]), d[0]["commit"]')" = "3 ['author', 'commit', 'summary', 'time'] $(git_head)" ] ||
                fail "log JSON: $out"
}

test_resolve() {
        setup_caps
        ag register subagent s1 --entrypoint /cap/c1/bin/one --capability c1 --capability c2 --profile build >/dev/null
        ag register env e1 A=b --secret T=env:T >/dev/null
        run ag resolve s1 --env e1
        expect_rc 0
        printf '%s' "$out" | python3 -c '
import json, subprocess, sys
d = json.loads(sys.stdin.read())
reg = sys.argv[1]
def git(*a): return subprocess.check_output(["git", "-C", reg] + list(a)).decode().strip()
import hashlib
def defhash(path): return "sha256:" + hashlib.sha256(subprocess.check_output(["git", "-C", reg, "cat-file", "blob", "HEAD:" + path])).hexdigest()
assert set(d) == {"subagent", "capabilities", "env", "profile", "entrypoint", "registryCommit"}, d
assert d["subagent"] == {"name": "s1", "contentHash": defhash("subagents/s1.json")}, d
assert d["env"] == {"name": "e1", "contentHash": defhash("envs/e1.json")}, d
assert [c["name"] for c in d["capabilities"]] == ["c1", "c2"], d
for c in d["capabilities"]:
    cap = json.loads(git("cat-file", "blob", "HEAD:capabilities/%s.json" % c["name"]))
    assert c["contentHash"] == cap["contentHash"], (c, cap)
assert d["profile"] == "build" and d["entrypoint"] == "/cap/c1/bin/one", d
assert d["registryCommit"] == git("rev-parse", "HEAD"), d
' "$REG" || fail "resolve JSON: $out"
        # Not a terminal: canonical JSON, one line.
        [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "resolve output is not canonical: $out"
        run ag --json resolve s1 --env e1
        printf '%s' "$out" | python3 -m json.tool >/dev/null || fail "resolve --json does not parse"
}

test_resolve_at_old_commit() {
        setup_caps
        ag register subagent s1 --entrypoint /x --capability c1 >/dev/null
        ag register env e1 A=b >/dev/null
        local old
        old=$(git_head)
        ag assign s1 c2 >/dev/null
        run ag resolve s1 --env e1 --at "$old"
        expect_rc 0
        [ "$(json '[c["name"] for c in d["capabilities"]], d["registryCommit"]')" = "['c1'] $old" ] ||
                fail "resolve --at: $out"
}

test_refuse_resolve_missing() {
        setup_caps
        ag register subagent s1 --entrypoint /x >/dev/null
        refused 1 "^agora: .*env 'nope'" ag resolve s1 --env nope
        refused 1 "^agora: .*subagent 'ghost'" ag resolve ghost --env nope
}

test_example_capability_registers() {
        new_registry
        [ -x "$TOP/examples/capabilities/echo-cap/bin/echo-args" ] || fail "echo-args is not executable"
        run ag register capability echo-cap "$TOP/examples/capabilities/echo-cap"
        expect_rc 0
        [ "$(GREETING=hi sh "$TOP/examples/capabilities/echo-cap/bin/echo-args" a 'b c')" = \
                "$(printf 'greeting: hi\narg 1: a\narg 2: b c')" ] || fail "echo-args output"
}

run_tests
