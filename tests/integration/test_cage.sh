#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agora-cage as an operator or the worker sees it: exit status, the --json
# result, the granted environment, every limit with its reason, a unique
# host id per running cage, nothing of a cage left behind, and bad input
# refused with one line, exit 125 and nothing left behind either.
source "$(dirname "$0")/lib.sh"

CAGE="$AGORA_BIN/agora-cage"
PROFILES="$TOP/profiles"

# A profile with small limits, so every limit is reached in a moment.
# small_profile NAME [KEY=VALUE]…: write NAME.yaml here; each KEY=VALUE
# replaces that limit (memory, pids, timeout, workspace, output…).
small_profile() {
        local name=$1 memory=64M pids=32 timeout=20 workspace=4M inodes=256 output=64K
        shift
        local kv
        for kv in "$@"; do
                case "${kv%%=*}" in
                memory) memory=${kv#*=} ;;
                pids) pids=${kv#*=} ;;
                timeout) timeout=${kv#*=} ;;
                workspace) workspace=${kv#*=} ;;
                inodes) inodes=${kv#*=} ;;
                output) output=${kv#*=} ;;
                esac
        done
        cat >"$name.yaml" <<YAML
name: $name
tier: 2
description: small limits for the cage tests
limits:
  memory: $memory
  pids: $pids
  cpu-weight: 100
  cpu-quota: 100
  timeout: $timeout
  workspace: $workspace
  workspace-inodes: $inodes
  tmp: 4M
  output: $output
  open-files: 64
  file-size: 64M
filesystem:
  host-readonly: [/usr, /bin, /lib, /lib64]
  exec-capabilities: true
  exec-workspace: false
network:
  loopback: down
landlock:
  - path: /usr
    access: [read, execute]
  - path: /cap
    access: [read, execute]
  - path: /workspace
    access: [read, write, create, remove]
  - path: /tmp
    access: [read, write, create, remove]
  - path: /proc
    access: [read]
  - path: /dev
    access: [read, write]
YAML
}

# A capability "tools" holding the shell script bin/NAME with BODY.
tool() { # NAME BODY
        mkdir -p tools/bin
        printf '#!/bin/sh\n%s\n' "$2" >"tools/bin/$1"
        chmod 755 "tools/bin/$1"
}

cage() { "$CAGE" "$@"; }

# json KEY: the value of KEY in the last run's stdout (one JSON object).
json() {
        printf '%s' "$out" | python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(json.dumps(v) if isinstance(v,(bool,type(None))) else v)' "$1"
}

# What a cage could leave on the host: processes of a cage id, cgroup
# directories, mounts, files in /tmp.
host_state() {
        {
                ps -e -o uid= | awk '$1 >= 200000000 {print "process of uid " $1}'
                find /sys/fs/cgroup -maxdepth 4 -path '*/agora/cage-*' 2>/dev/null
                awk '{print "mount " $5}' /proc/self/mountinfo | sort
                ls -a /tmp | grep -v '^tmp\.' | sed 's/^/tmp file /'
        } | sort
}
snapshot_host() { HOST_BEFORE=$(host_state); }
expect_host_clean() {
        local now
        now=$(host_state)
        [ "$now" = "$HOST_BEFORE" ] || fail "cage left something behind: $(diff <(echo "$HOST_BEFORE") <(echo "$now") | grep '^[<>]')"
}

# refused REGEX CMD…: exit 125, one stderr line matching REGEX, nothing left.
refused() {
        local regex=$1
        shift
        snapshot_host
        run "$@"
        expect_rc 125
        expect_err "$regex"
        expect_host_clean
}

# ---- running a program ----

test_script_from_capability_runs_with_its_exit_status() {
        small_profile p
        run cage --profile p.yaml --capability echo="$TOP/examples/capabilities/echo-cap" --env GREETING=hi \
                -- /cap/echo/bin/echo-args one "two words"
        expect_rc 0
        [ "$out" = "$(printf 'greeting: hi\narg 1: one\narg 2: two words')" ] || fail "output: $out"
        tool fail 'exit 7'
        run cage --profile p.yaml --capability tools=tools -- /cap/tools/bin/fail
        expect_rc 7
}

test_signal_death_is_128_plus_n() {
        small_profile p
        tool term 'kill -TERM $$'
        run cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/term
        expect_rc 143
        [ "$(json signal)" = 15 ] || fail "signal $(json signal), want 15"
        [ "$(json exit_code)" = 143 ] || fail "exit_code $(json exit_code)"
        [ "$(json reason)" = exited ] || fail "reason $(json reason)"
}

test_json_result_reports_output_and_its_hash() {
        small_profile p
        tool greet 'echo out-line; echo err-line >&2'
        run cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/greet
        expect_rc 0
        [ "$(json stdout)" = "out-line" ] || fail "stdout: $(json stdout)"
        [ "$(json stderr)" = "err-line" ] || fail "stderr: $(json stderr)"
        [ "$(json stdout_bytes)" = 9 ] || fail "stdout_bytes $(json stdout_bytes)"
        [ "$(json stdout_truncated)" = false ] || fail "stdout_truncated $(json stdout_truncated)"
        [ "$(json stdout_sha256)" = "sha256:$(printf 'out-line\n' | sha256sum | cut -d' ' -f1)" ] ||
                fail "stdout_sha256 $(json stdout_sha256)"
        [ "$(json profile)" = p ] || fail "profile $(json profile)"
        # The capability's hash is the canonical tarball's, as the registry has it.
        new_registry
        local want
        want=$(ag register capability tools tools)
        printf '%s' "$out" | grep -q "\"sha256\":\"$want\"" || fail "capability hash $want not in $out"
}

test_environment_is_only_what_was_granted() {
        small_profile p
        tool env '/usr/bin/env'
        FROM_CALLER=leak run cage --profile p.yaml --capability tools=tools --env A=1 --env B=two -- \
                /cap/tools/bin/env
        expect_rc 0
        # The shell adds PWD (and nothing that came from the caller).
        local got
        got=$(printf '%s\n' "$out" | grep -v '^PWD=' | sort)
        [ "$got" = "$(printf 'A=1\nB=two')" ] || fail "environment: $out"
}

test_program_found_through_granted_path() {
        small_profile p
        run cage --profile p.yaml -- true
        expect_rc 0
        run cage --profile p.yaml --env PATH=/nowhere -- true
        expect_rc 125
        expect_err "^agora-cage: program 'true': not found in PATH /nowhere"
}

test_workspace_directory_is_bound_and_given_back() {
        small_profile p
        mkdir ws
        echo seed >ws/in
        tool wr 'cat /workspace/in > /workspace/out; echo more >> /workspace/out'
        run cage --profile p.yaml --capability tools=tools --workspace "$PWD/ws" -- /cap/tools/bin/wr
        expect_rc 0
        [ "$(cat ws/out)" = "$(printf 'seed\nmore')" ] || fail "ws/out: $(cat ws/out)"
        [ "$(stat -c %u ws)" = "$(id -u)" ] || fail "workspace owner not given back: $(stat -c %u ws)"
        local owner
        owner=$(stat -c %u ws/out)
        [ "$owner" -ge 200000000 ] || fail "file made by the cage owned by host uid $owner"
}

# ---- limits and their reasons ----

test_timeout_kills_the_program() {
        small_profile p
        run cage --profile p.yaml --timeout 1 --json -- sleep 60
        expect_rc 137
        [ "$(json reason)" = timeout ] || fail "reason $(json reason)"
        python3 -c 'import sys; sys.exit(0 if 0.9 < float(sys.argv[1]) < 5 else 1)' "$(json wall_s)" ||
                fail "wall_s $(json wall_s)"
}

test_timeout_above_the_profile_is_refused() {
        small_profile p timeout=5
        refused "^agora-cage: --timeout 6: above profile 'p'" cage --profile p.yaml --timeout 6 -- true
}

test_memory_limit_is_oom() {
        small_profile p memory=32M
        # The shell keeps a command substitution's output whole in memory.
        tool bomb 'x=$(head -c 256M /dev/zero | tr "\\0" a); echo survived'
        run cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/bomb
        [ "$(json reason)" = oom ] || fail "reason $(json reason) (rc $rc, $err)"
        [ "$rc" -ne 0 ] || fail "exit 0 under oom"
        local peak
        peak=$(json peak_memory_bytes)
        [ "$peak" -gt $((16 << 20)) ] && [ "$peak" -le $((33 << 20)) ] || fail "peak_memory_bytes $peak"
}

test_pids_limit_is_reported() {
        small_profile p pids=8
        tool forks 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>/dev/null; echo forked'
        run cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/forks
        [ "$(json reason)" = pids-limit ] || fail "reason $(json reason) (rc $rc, $err)"
}

test_output_cap_stops_the_program_and_is_reported() {
        small_profile p output=1K
        run cage --profile p.yaml --json -- yes
        [ "$(json reason)" = output-limit ] || fail "reason $(json reason)"
        [ "$(json stdout_truncated)" = true ] || fail "not marked truncated"
        [ "$(json stdout_bytes)" -gt 1024 ] || fail "stdout_bytes $(json stdout_bytes)"
        [ "$(json stdout | wc -c)" -eq 1025 ] || fail "kept $(json stdout | wc -c) bytes, want the 1024 of the cap (+ newline)"
        [ "$(json output_cap_bytes)" = 1024 ] || fail "cap $(json output_cap_bytes)"
        # Relayed, the same cap holds.
        run cage --profile p.yaml -- yes
        [ "${#out}" -le 1024 ] || fail "relayed ${#out} bytes past the cap"
        expect_err "^agora-cage: program stopped: output-limit$"
}

test_workspace_is_size_limited() {
        small_profile p workspace=1M
        tool fill 'head -c 4M /dev/zero > /workspace/big; echo "rc=$?"'
        run cage --profile p.yaml --capability tools=tools -- /cap/tools/bin/fill
        printf '%s' "$out" | grep -q 'rc=1' || fail "writing 4M into a 1M workspace: $out $err"
}

# ---- nothing left behind, one id per cage ----

test_daemon_and_everything_else_gone_after_exit() {
        small_profile p
        tool daemon '(setsid sleep 300 >/dev/null 2>&1 &) ; echo started'
        snapshot_host
        run cage --profile p.yaml --capability tools=tools -- /cap/tools/bin/daemon
        expect_rc 0
        [ "$out" = started ] || fail "output $out"
        expect_host_clean
}

test_timeout_leaves_nothing_behind() {
        small_profile p
        tool spin '(sleep 300 &); while :; do :; done'
        snapshot_host
        run cage --profile p.yaml --capability tools=tools --timeout 1 --json -- /cap/tools/bin/spin
        [ "$(json reason)" = timeout ] || fail "reason $(json reason)"
        expect_host_clean
}

test_running_cages_get_distinct_host_ids() {
        small_profile p
        tool ids 'cat /proc/self/uid_map; sleep 1'
        cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/ids >a.json &
        cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/ids >b.json &
        wait
        local a b
        a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stdout"].split()[1])' a.json)
        b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stdout"].split()[1])' b.json)
        [ -n "$a" ] && [ -n "$b" ] || fail "no uid maps: $(cat a.json b.json)"
        [ "$a" != "$b" ] || fail "two running cages share host uid $a"
        [ "$a" -ge 200000000 ] && [ "$b" -ge 200000000 ] || fail "host ids $a $b are not cage ids"
        grep -q '"host_uid":'"$a" a.json || fail "host_uid in the result is not the mapped one"
}

test_program_starts_with_default_signals() {
        small_profile p
        tool sig 'grep -E "^Sig(Blk|Ign):" /proc/self/status'
        run cage --profile p.yaml --capability tools=tools -- /cap/tools/bin/sig
        expect_rc 0
        [ "$out" = "$(printf 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000')" ] ||
                fail "agora-cage's signal mask or ignored signals reached the program: $out"
}

test_sigterm_stops_the_cage_and_cleans_up() {
        small_profile p
        tool stubborn 'trap "" TERM INT HUP; echo up; sleep 60'
        snapshot_host
        "$CAGE" --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/stubborn >res.json 2>res.err &
        local pid=$!
        local i
        for i in $(seq 50); do
                ps -e -o uid=,comm= | awk '$1 >= 200000000 && $2 == "sleep"' | grep -q . && break
                sleep 0.1
        done
        kill -TERM "$pid"
        wait "$pid" && rc=0 || rc=$?
        out=$(cat res.json)
        [ "$rc" = 137 ] || fail "exit $rc after SIGTERM, want 137 (the program was killed): $(cat res.err)"
        [ "$(json reason)" = stopped ] || fail "reason $(json reason)"
        [ "$(json stdout)" = up ] || fail "stdout $(json stdout)"
        expect_host_clean
}

test_killed_agora_cage_takes_its_cage_along() {
        small_profile p
        tool sleeper '(setsid sleep 120 >/dev/null 2>&1 &); sleep 120'
        snapshot_host
        "$CAGE" --profile p.yaml --capability tools=tools -- /cap/tools/bin/sleeper &
        local pid=$! i uid=""
        for i in $(seq 50); do
                uid=$(ps -e -o uid=,comm= | awk '$1 >= 200000000 && $2 == "sleep" {print $1; exit}')
                [ -n "$uid" ] && break
                sleep 0.1
        done
        [ -n "$uid" ] || fail "the cage never started"
        kill -KILL "$pid"
        wait "$pid" || true
        # PID 1 of the cage dies with agora-cage, and the pid namespace with it.
        for i in $(seq 50); do
                ps -e -o uid= | awk -v u="$uid" '$1 == u' | grep -q . || break
                sleep 0.1
        done
        ! ps -e -o uid=,stat=,comm= | awk -v u="$uid" '$1 == u && $2 !~ /^Z/' | grep . ||
                fail "processes of the killed cage (uid $uid) survive"
        # Its cgroup is left for the next agora-cage, which removes it.
        ls -d /sys/fs/cgroup/*/agora/cage-"$uid" >/dev/null 2>&1 || fail "expected the killed cage's cgroup to be left"
        run cage --profile p.yaml -- true
        expect_rc 0
        ! ls -d /sys/fs/cgroup/*/agora/cage-"$uid" 2>/dev/null || fail "the next run left cage-$uid in place"
        expect_host_clean
}

# ---- bad input ----

test_malformed_profile_refused() {
        printf 'name: p\nlimits: [unclosed\n' >p.yaml
        refused "^agora-cage: .*p.*" cage --profile p.yaml -- true
}

test_unknown_profile_key_refused() {
        small_profile p
        printf 'extra-key: 1\n' >>p.yaml
        refused "^agora-cage: profile 'p': .*extra-key" cage --profile p.yaml -- true
}

test_missing_profile_refused() {
        refused "^agora-cage: .*nope" cage --profile nope.yaml -- true
        AGORA_PROFILES="$PWD" refused "^agora-cage: profile 'nope'" cage --profile nope -- true
}

test_missing_capability_refused() {
        small_profile p
        refused "^agora-cage: capability 'c'.*missing" cage --profile p.yaml --capability c="$PWD/missing" -- true
}

test_hostile_tarball_refused() {
        small_profile p
        mkdir -p evil && ln -s /etc/passwd evil/link
        tar -cf evil.tar -C evil .
        refused "^agora-cage: capability 'evil'.*link" cage --profile p.yaml --capability evil=evil.tar -- true
        python3 - <<'PY'
import io, tarfile
t = tarfile.open("dotdot.tar", "w")
i = tarfile.TarInfo("../escape"); data = b"x"; i.size = len(data)
t.addfile(i, io.BytesIO(data)); t.close()
PY
        refused "^agora-cage: capability 'dd'.*\.\." cage --profile p.yaml --capability dd=dotdot.tar -- true
        head -c 3000 /dev/urandom >junk.tar
        refused "^agora-cage: capability 'junk'" cage --profile p.yaml --capability junk=junk.tar -- true
}

test_missing_program_refused() {
        small_profile p
        refused "^agora-cage: program '/nope': No such file or directory$" cage --profile p.yaml -- /nope
        refused "^agora-cage: no program given" cage --profile p.yaml
}

test_host_path_that_cannot_be_bound_is_a_setup_failure() {
        small_profile p
        sed -i 's|host-readonly: \[/usr, /bin, /lib, /lib64\]|host-readonly: [/usr, /bin, /lib, /lib64, /no-such-dir]|' p.yaml
        refused "^agora-cage: .*/no-such-dir" cage --profile p.yaml -- true
}

test_bad_arguments_refused() {
        small_profile p
        refused "^agora-cage: --env 'bad-key=1'|^agora-cage: --env.*bad-key" cage --profile p.yaml --env bad-key=1 -- true
        refused "^agora-cage: --timeout 'x'" cage --profile p.yaml --timeout x -- true
        refused "^agora-cage: --profile is required" cage -- true
        refused "^agora-cage: workspace '$PWD/none'" cage --profile p.yaml --workspace "$PWD/none" -- true
        touch plain && ln -s "$PWD" link
        refused "^agora-cage: workspace '$PWD/plain': not a directory$" cage --profile p.yaml --workspace "$PWD/plain" -- true
        refused "^agora-cage: workspace '$PWD/link': a symlink" cage --profile p.yaml --workspace "$PWD/link" -- true
}

test_unprivileged_caller_refused() {
        small_profile p
        chmod 755 "$TEST_DIR"
        refused "^agora-cage: cage: agora-cage must run as root" setpriv --reuid=65534 --regid=65534 --clear-groups \
                "$CAGE" --profile "$PWD/p.yaml" -- true
}

test_json_setup_failure_is_one_object() {
        small_profile p
        run cage --profile p.yaml --json -- /nope
        expect_rc 125
        [ "$(json reason)" = setup-failed ] || fail "reason $(json reason)"
        json error | grep -q "program '/nope'" || fail "error: $(json error)"
}

# ---- --events-fd: what the worker reads while a job runs ----

# expect_events FILE PYTHON [ARG]: run PYTHON with `ev`, the list of the
# JSON objects in FILE (one compact object a line, each ended by a newline),
# `out` (the last run's stdout) and sys.argv[3] (ARG); whatever it prints
# is what is wrong and fails the test.
expect_events() {
        local why
        why=$(python3 -c '
import json, re, sys
lines = open(sys.argv[1], "rb").read().decode().split("\n")
if lines[-1] != "":
    print("last event line not ended by a newline"); sys.exit()
ev = []
for l in lines[:-1]:
    o = json.loads(l)
    # Compact: no whitespace outside the strings.
    if type(o) is not dict or re.search(r"\s", re.sub(r'"'"'"(?:[^"\\]|\\.)*"'"'"', "", l)):
        print("not one compact JSON object: " + l); sys.exit()
    ev.append(o)
out = sys.argv[2]
'"$2" "$1" "$out" "${3-}") || fail "events in $1: $(cat "$1")"
        [ -z "$why" ] || fail "$why (events: $(cat "$1"))"
}

test_events_fd_reports_setup_then_result() {
        small_profile p
        tool greet 'echo out-line; echo err-line >&2; exit 3'
        run cage --profile p.yaml --capability tools=tools --events-fd 3 -- /cap/tools/bin/greet 3>events
        expect_rc 3
        # Relay mode: the output went out live, as without --events-fd.
        [ "$out" = out-line ] || fail "stdout: $out"
        [ "$err" = err-line ] || fail "stderr: $err"
        expect_events events '
if [e["event"] for e in ev] != ["setup.ran", "result"]:
    print("events", [e.get("event") for e in ev]); sys.exit()
s, r = ev
if sorted(s) != ["event", "host_uid", "setup_us"]:
    print("setup.ran keys", sorted(s))
elif type(s["setup_us"]) is not int or not 0 < s["setup_us"] < r["wall_s"] * 1e6:
    print("setup_us", s["setup_us"], "wall_s", r["wall_s"])
elif s["host_uid"] != r["host_uid"] or s["host_uid"] < 200000000:
    print("host_uid", s["host_uid"], r["host_uid"])
'
        expect_events events '
import hashlib
r = ev[1]
want = {"exit_code": 3, "signal": 0, "reason": "exited", "profile": "p",
        "stdout_bytes": 9, "stdout_truncated": False,
        "stdout_sha256": "sha256:" + hashlib.sha256(b"out-line\n").hexdigest(),
        "stderr_bytes": 9, "stderr_truncated": False,
        "stderr_sha256": "sha256:" + hashlib.sha256(b"err-line\n").hexdigest()}
for k, v in want.items():
    if r.get(k) != v:
        print(k, r.get(k), "want", v)
for k in ("stdout", "stderr", "stdout_base64", "stderr_base64"):
    if r.get(k) is not None:
        print(k, "is in a relayed result:", r[k])
'
        # Every key of the --json result, but the kept text.
        run cage --profile p.yaml --capability tools=tools --json -- /cap/tools/bin/greet
        expect_events events '
keys = set(json.loads(out)) - {"stdout", "stderr"}
got = set(ev[1]) - {"event"}
if not keys <= got:
    print("result event lacks", sorted(keys - got))
'
}

test_events_fd_with_json_is_the_json_result() {
        small_profile p
        tool big 'head -c 3000 /dev/zero | tr "\\0" x; printf "\\377" >&2'
        run cage --profile p.yaml --capability tools=tools --json --events-fd 7 -- /cap/tools/bin/big 7>events
        expect_rc 0
        expect_events events '
if [e["event"] for e in ev] != ["setup.ran", "result"]:
    print("events", [e.get("event") for e in ev]); sys.exit()
r = dict(ev[1]); del r["event"]
if r != json.loads(out):
    print("result event differs from --json:", r, json.loads(out))
elif r["stdout"] != "x" * 3000 or r["stderr"] is not None or r["stderr_base64"] != "/w==":
    print("kept output", r["stdout"][:20], r["stderr"], r.get("stderr_base64"))
'
}

test_events_fd_setup_failure_is_one_result_line() {
        small_profile p
        # In the cage (the program's exec fails) and before it (a capability).
        run cage --profile p.yaml --events-fd 3 -- /nope 3>events
        expect_rc 125
        expect_err "^agora-cage: program '/nope': No such file or directory$"
        expect_events events '
want = {"event": "result", "exit_code": 125, "signal": 0, "reason": "setup-failed",
        "error": "program '"'/nope'"': No such file or directory"}
if ev != [want]:
    print("events", ev, "want", [want])
if list(ev[0]) != list(want):
    print("key order", list(ev[0]))
'
        run cage --profile p.yaml --capability c="$PWD/missing" --events-fd 3 --json -- true 3>events
        expect_rc 125
        expect_events events '
if len(ev) != 1 or ev[0]["reason"] != "setup-failed" or ev[0]["exit_code"] != 125:
    print("events", ev)
elif "agora-cage: " + ev[0]["error"] != sys.argv[3]:
    print("error", ev[0]["error"], "is not what stderr said:", sys.argv[3])
elif dict(ev[0], event=None) != dict(json.loads(out), event=None):
    print("not the --json object:", out)
' "$err"
}

test_events_fd_reader_gone_does_not_stop_the_cage() {
        small_profile p
        tool slow 'sleep 0.2; echo still-here; exit 4'
        snapshot_host
        # fd 3 is a pipe whose reader is gone: every write to it is EPIPE
        # (and SIGPIPE, at its default here, unless agora-cage ignores it).
        run python3 -c '
import os, signal, sys
r, w = os.pipe()
os.close(r)
os.dup2(w, 3)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$CAGE" --profile p.yaml --capability tools=tools --events-fd 3 -- /cap/tools/bin/slow
        expect_rc 4
        [ "$out" = still-here ] || fail "stdout: $out"
        [ -z "$err" ] || fail "stderr: $err"
        expect_host_clean
}

test_events_fd_does_not_reach_the_program() {
        small_profile p
        tool fds 'ls /proc/$$/fd'
        run cage --profile p.yaml --capability tools=tools --events-fd 9 -- /cap/tools/bin/fds 9>events
        expect_rc 0
        printf '%s\n' "$out" | grep -qx 0 || fail "no fd list: $out"
        ! printf '%s\n' "$out" | grep -qx 9 || fail "the events fd reached the program: $(echo $out)"
        expect_events events 'len(ev) == 2 or print(ev)'
        # agora-cage holds it close-on-exec (O_CLOEXEC: 02000000 in fdinfo's
        # octal flags), so no other exec gets it either.
        "$CAGE" --profile p.yaml --events-fd 9 -- sleep 2 9>events &
        local pid=$! i flags=""
        for i in $(seq 50); do
                ps -e -o uid=,comm= | awk '$1 >= 200000000 && $2 == "sleep"' | grep -q . && break
                sleep 0.1
        done
        flags=$(awk '/^flags:/ {print $2}' /proc/$pid/fdinfo/9)
        wait "$pid" || fail "exit $? with the program sleeping"
        [ -n "$flags" ] && (((8#$flags & 8#2000000) != 0)) || fail "the events fd is not close-on-exec: flags $flags"
}

test_events_fd_must_be_an_open_descriptor_above_2() {
        small_profile p
        refused "^agora-cage: --events-fd 9: not an open file descriptor$" cage --profile p.yaml --events-fd 9 -- true
        refused "^agora-cage: --events-fd 1: 0, 1 and 2 are agora-cage's stdio" cage --profile p.yaml --events-fd 1 -- true
        refused "^agora-cage: --events-fd 0: " cage --profile p.yaml --events-fd 0 -- true
        refused "^agora-cage: --events-fd 'x': want a file descriptor number$" cage --profile p.yaml --events-fd x -- true
        refused "^agora-cage: --events-fd '-3': " cage --profile p.yaml --events-fd -3 -- true
        touch ro
        refused "^agora-cage: --events-fd 3: not open for writing$" cage --profile p.yaml --events-fd 3 -- true 3<ro
        # Once one is taken, it has the failure too.
        refused "^agora-cage: --events-fd: given twice$" cage --profile p.yaml --events-fd 3 --events-fd 4 -- true 3>a 4>b
        expect_events a 'ev == [{"event": "result", "exit_code": 125, "signal": 0, "reason": "setup-failed",
                                 "error": "--events-fd: given twice"}] or print(ev)'
        [ ! -s b ] || fail "events on the refused fd: $(cat b)"
}

# ---- --env-fd: secrets kept off the command line ----

test_env_fd_values_reach_the_program() {
        small_profile p
        printf 'SECRET=two words\nand a line\0EQ=a=b\0' >env.in
        run cage --profile p.yaml --env A=1 --env-fd 3 -- /bin/sh -c 'echo "$SECRET|$EQ|$A"' 3<env.in
        expect_rc 0
        [ "$out" = "$(printf 'two words\nand a line|a=b|1')" ] || fail "stdout: $out"
        # The last NUL is optional, and nothing at all is nothing.
        printf 'ONLY=one' >env.in
        run cage --profile p.yaml --env-fd 3 -- /usr/bin/env 3<env.in
        expect_rc 0
        [ "$out" = ONLY=one ] || fail "environment: $out"
        run cage --profile p.yaml --env-fd 3 -- /usr/bin/env 3</dev/null
        expect_rc 0
        [ -z "$out" ] || fail "environment from an empty --env-fd: $out"
}

test_env_fd_value_is_on_no_command_line() {
        small_profile p
        local secret="s3cret-$RANDOM$RANDOM$RANDOM" pid i up=""
        printf 'SECRET=%s\0' "$secret" >env.in
        "$CAGE" --profile p.yaml --env-fd 3 -- /bin/sh -c 'sleep 2; echo "$SECRET"' 3<env.in >res.out 2>res.err &
        pid=$!
        for i in $(seq 50); do
                ps -e -o uid=,comm= | awk '$1 >= 200000000 && $2 == "sleep"' | grep -q . && up=1 && break
                sleep 0.1
        done
        [ -n "$up" ] || fail "the cage never started"
        local cmdline procs
        cmdline=$(tr '\0' ' ' </proc/$pid/cmdline)
        procs=$(ps -e -ww -o args=)
        wait "$pid" && rc=0 || rc=$?
        [[ $cmdline == *"--env-fd 3"* ]] || fail "not agora-cage's command line: $cmdline"
        [[ $cmdline != *"$secret"* ]] || fail "the secret is on agora-cage's command line: $cmdline"
        [[ $procs != *"$secret"* ]] || fail "the secret is on a command line: $(grep -F "$secret" <<<"$procs")"
        [ "$rc" = 0 ] || fail "exit $rc: $(cat res.err)"
        [ "$(cat res.out)" = "$secret" ] || fail "the program did not get the secret: $(cat res.out)"
}

test_env_fd_bad_records_refused() {
        small_profile p
        local secret="hush-$RANDOM$RANDOM"
        printf 'A=%s\0' "$secret" >dup.in
        refused "^agora-cage: --env-fd 3, record 1: 'A' given twice$" cage --profile p.yaml --env A=1 --env-fd 3 -- true 3<dup.in
        [[ $err != *"$secret"* ]] || fail "the value is in the error: $err"
        printf 'B=1\0B=%s' "$secret" >dup.in
        refused "^agora-cage: --env-fd 3, record 2: 'B' given twice$" cage --profile p.yaml --env-fd 3 -- true 3<dup.in
        printf 'A=1\0%s\0' "$secret" >bad.in
        refused "^agora-cage: --env-fd 3, record 2: want KEY=VALUE$" cage --profile p.yaml --env-fd 3 -- true 3<bad.in
        [[ $err != *"$secret"* ]] || fail "the record is in the error: $err"
        printf 'bad-key=%s' "$secret" >bad.in
        refused "^agora-cage: --env-fd 3, record 1: env key 'bad-key'" cage --profile p.yaml --env-fd 3 -- true 3<bad.in
        printf 'A=1\0\0B=2' >bad.in
        refused "^agora-cage: --env-fd 3, record 2: empty$" cage --profile p.yaml --env-fd 3 -- true 3<bad.in
        printf '=%s' "$secret" >bad.in
        refused "^agora-cage: --env-fd 3, record 1: env key ''" cage --profile p.yaml --env-fd 3 -- true 3<bad.in
        # 1 MiB is the most: exactly that runs, one byte more is refused.
        # (Eleven records: execve takes no single string above 128 KiB.)
        local last
        last=$(python3 -c '
recs = ["K%d=%s" % (i, "x" * 95000) for i in range(11)]
size = sum(map(len, recs)) + len(recs) - 1
recs[-1] += "y" * ((1 << 20) - size)
open("big.in", "w").write("\0".join(recs))
print(len(recs[-1]) - len("K10="))')
        [ "$(stat -c %s big.in)" = $((1 << 20)) ] || fail "big.in is $(stat -c %s big.in) bytes"
        run cage --profile p.yaml --env-fd 3 -- /bin/sh -c 'echo ${#K10}' 3<big.in
        expect_rc 0
        [ "$out" = "$last" ] || fail "K10 is $out bytes long, want $last"
        printf 'x' >>big.in
        refused "^agora-cage: --env-fd 3: more than 1 MiB$" cage --profile p.yaml --env-fd 3 -- true 3<big.in
        refused "^agora-cage: --env-fd 8: not an open file descriptor$" cage --profile p.yaml --env-fd 8 -- true
        refused "^agora-cage: --env-fd 2: " cage --profile p.yaml --env-fd 2 -- true
        refused "^agora-cage: --env-fd 3: not open for reading$" cage --profile p.yaml --env-fd 3 -- true 3>w.out
        refused "^agora-cage: --env-fd and --events-fd: both 3" cage --profile p.yaml --env-fd 3 --events-fd 3 -- true 3<>rw
}

# ---- --capability-hash: the capability is the one the caller resolved ----

test_capability_hash_that_matches_runs() {
        small_profile p
        tool hello 'echo hello'
        new_registry
        local want
        want=$(ag register capability tools tools)
        run cage --profile p.yaml --capability tools=tools --capability-hash tools="$want" --json -- /cap/tools/bin/hello
        expect_rc 0
        [ "$(json stdout)" = hello ] || fail "stdout: $(json stdout)"
        printf '%s' "$out" | grep -q "\"sha256\":\"$want\"" || fail "capability hash $want not in $out"
}

test_capability_hash_mismatch_refused_before_the_cage() {
        small_profile p
        tool hello 'echo hello'
        new_registry
        local want got
        # The hash of what the caller resolved; the directory changed since.
        want=$(ag register capability tools tools)
        echo more >>tools/bin/hello
        got=$(ag register capability changed tools)
        refused "^agora-cage: capability 'tools': sha256 mismatch: want $want, got $got$" \
                cage --profile p.yaml --capability tools=tools --capability-hash tools="$want" --events-fd 3 -- /cap/tools/bin/hello 3>events
        [ -z "$out" ] || fail "stdout: $out"
        expect_events events '
if len(ev) != 1 or ev[0]["reason"] != "setup-failed" or "sha256 mismatch" not in ev[0]["error"]:
    print(ev)'
}

test_capability_hash_usage_errors_refused() {
        small_profile p
        tool hello 'echo hello'
        local h="sha256:$(printf x | sha256sum | cut -d' ' -f1)"
        refused "^agora-cage: --capability-hash 'nope': no --capability nope=PATH$" \
                cage --profile p.yaml --capability tools=tools --capability-hash nope="$h" -- true
        refused "^agora-cage: --capability-hash 'tools': 'sha256:XYZ': not a sha256 content hash" \
                cage --profile p.yaml --capability tools=tools --capability-hash tools=sha256:XYZ -- true
        refused "^agora-cage: --capability-hash 'tools': '${h#sha256:}': not a sha256 content hash" \
                cage --profile p.yaml --capability tools=tools --capability-hash tools="${h#sha256:}" -- true
        refused "^agora-cage: --capability-hash 'tools': given twice$" \
                cage --profile p.yaml --capability tools=tools --capability-hash tools="$h" --capability-hash tools="$h" -- true
        refused "^agora-cage: --capability-hash 'tools': want NAME=sha256:HEX$" \
                cage --profile p.yaml --capability tools=tools --capability-hash tools -- true
}

run_tests
