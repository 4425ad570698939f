#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agora dispatch and agora worker, the operator's side: the signed
# manifest of --dry-run, secrets, the workers file and its refusals, usage
# errors, and real dispatches to real agora-worker daemons over ipc://:
# output streamed, exit codes passed on, receipts stored and verifiable,
# cached blobs reused, a lost worker retried, the local worker started,
# reported and stopped.
#
# Every dispatch runs its job in a real agora-cage: the sample subagent, or
# a capability script that does what its arguments say (tool_subagent).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatch_lib.sh"

json() { # PYTHON-EXPR: evaluate against $out parsed as d
        printf '%s' "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# The sample registry, a state directory of the test's own, and a secret.
setup() {
        new_sample_registry
        export AGORA_STATE="$PWD/state"
        export AGORA_DEMO_TOKEN=s3cr3t-t0ken-value
        trap cleanup EXIT
}

# Whether PID runs: a zombie does not (the local worker is not our child,
# and whoever inherits it may be slow to reap it).
alive() {
        [ -n "$(ps -o stat= -p "$1" | grep -v Z)" ]
}

# Whatever a failing test leaves running goes with it.
cleanup() {
        local pid
        stop_all_workers
        if [ -f "$PWD/state/worker/worker.pid" ]; then
                pid=$(cat "$PWD/state/worker/worker.pid")
                kill -TERM "$pid" 2>/dev/null || true
                for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        fi
        return 0
}

# The job the dispatch tests run, in a real cage: capability "tool", whose
# script does what its arguments say, becomes subagent echo's entrypoint.
tool_subagent() {
        mkdir -p tool/bin
        cat >tool/bin/run <<'EOF'
#!/bin/sh
code=0
for a in "$@"; do
        case "$a" in
        out=*) printf '%s\n' "${a#out=}" ;;
        err=*) printf '%s\n' "${a#err=}" >&2 ;;
        env=*) printf '%s=%s\n' "${a#env=}" "$(/usr/bin/printenv "${a#env=}")" ;;
        bin) printf '\377\376\000x' ;;
        big=*) /usr/bin/head -c "${a#big=}" /dev/zero | /usr/bin/tr '\0' x ;;
        sleep=*) /bin/sleep "${a#sleep=}" ;;
        exit=*) code=${a#exit=} ;;
        esac
done
exit "$code"
EOF
        chmod +x tool/bin/run
        ag register capability tool tool >/dev/null &&
                ag register subagent echo --entrypoint /cap/tool/bin/run --capability tool >/dev/null ||
                fail "registering the tool subagent failed"
}

need_worker() {
        # Part of the build: missing is a failure, never a skip.
        [ -x "$WORKER" ] || fail "no agora-worker in $AGORA_BIN (build it: scons)"
}

# verify_receipt FILE PUB: the stored receipt's signature checks out.
verify_receipt() {
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
open("receipt","w").write(d["receipt"]); open("receipt.minisig","w").write(d["signature"])' "$1"
        if command -v minisign >/dev/null; then
                minisign -Vq -p "$2" -m receipt || fail "receipt $1 does not verify with $2"
        fi
}

# ---- --dry-run ----

test_dry_run_manifest_verifies_with_minisign() {
        setup
        command -v minisign >/dev/null || skip "no minisign"
        run ag dispatch echo --env demo --arg one --arg -two --timeout 30 --dry-run --json
        expect_rc 0
        [ -z "$err" ] || fail "stderr: $err"
        printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)
open("m","w").write(json.dumps(d["manifest"],sort_keys=True,separators=(",",":"),ensure_ascii=False))
open("m.minisig","w").write(d["signature"])'
        minisign -Vq -p "${KEY%.key}.pub" -m m || fail "minisign does not accept the dry run's signature"
        [ "$(json 'd["manifest"]["args"], d["manifest"]["timeoutS"], d["secrets"]')" = "['one', '-two'] 30 ['DEMO_TOKEN']" ] ||
                fail "manifest: $out"
        [ "$(json 'd["manifest"]["expiresAt"] - d["manifest"]["issuedAt"]')" = 120 ] || fail "validity: $out"
        [ "$(json 'd["workers"]')" = "['ipc://$PWD/state/worker/worker.sock']" ] || fail "workers: $out"
        [ "$(json 'd["manifest"]["keyId"]')" = "$(sed -n 1p "${KEY%.key}.pub" | grep -o '[0-9A-F]*$')" ] ||
                fail "keyId: $out"
}

test_dry_run_sends_nothing_and_shows_no_secret() {
        setup
        run ag dispatch echo --env demo --dry-run
        expect_rc 0
        expect_out '^manifest:'
        expect_out '"type": "agora.dispatch/v1"'
        expect_out 'trusted comment: agora dispatch [0-9a-f]{32}'
        expect_out 'secrets \(values not shown\): DEMO_TOKEN'
        expect_out "would go to: ipc://$PWD/state/worker/worker.sock \(the local worker\)"
        case "$out$err" in *s3cr3t*) fail "a secret value was printed" ;; esac
        [ ! -e state/worker ] || fail "a dry run touched the local worker: $(ls state/worker)"
        [ ! -e state/receipts ] || fail "a dry run stored a receipt"
        ! pgrep -f "agora-worker.*$PWD" >/dev/null || fail "a dry run started a worker"
}

# ---- secrets ----

test_missing_secret_variable_is_refused() {
        setup
        unset AGORA_DEMO_TOKEN
        run ag dispatch echo --env demo --dry-run
        expect_rc 1
        expect_err "^agora: env 'demo': secret 'DEMO_TOKEN' \(env:AGORA_DEMO_TOKEN\): variable not set$"
        [ -z "$out" ] || fail "printed: $out"
}

test_missing_secret_file_is_refused_before_anything_starts() {
        setup
        ag register env fenv --secret CERT=file:$PWD/nope.pem >/dev/null
        run ag dispatch echo --env fenv
        expect_rc 1
        expect_err "^agora: env 'fenv': secret 'CERT' \(file:$PWD/nope.pem\): No such file or directory$"
        [ ! -e state/worker ] || fail "a worker was started"
        head -c 70000 /dev/zero | tr '\0' x >big.pem
        ag register env fenv --secret CERT=file:$PWD/big.pem >/dev/null
        run ag dispatch echo --env fenv --dry-run
        expect_rc 1
        expect_err "secret 'CERT' \(file:$PWD/big.pem\): larger than 64 KiB$"
}

# ---- workers and the workers file ----

test_worker_without_a_known_key_is_refused() {
        setup
        run ag dispatch echo --env demo --worker "ipc://$PWD/w.sock" --dry-run
        expect_rc 1
        expect_err "^agora: worker 'ipc://$PWD/w.sock': no public key known \(add it to $PWD/state/workers\)$"
        printf '' >workers
        run ag dispatch echo --env demo --workers workers --worker "ipc://$PWD/w.sock" --dry-run
        expect_rc 1
        expect_err "no public key known \(add it to workers\)$"
}

test_bad_workers_file_line_names_file_and_line() {
        setup
        pub=$(sed -n 2p "${KEY%.key}.pub")
        printf '# workers\n\nipc://%s/a.sock %s\nipc://%s/b.sock\n' "$PWD" "$pub" "$PWD" >workers
        run ag dispatch echo --env demo --workers workers --dry-run
        expect_rc 2
        expect_err "^agora: workers:4: want 'URL PUBKEY'$"
        printf 'ipc://%s/a.sock notakey\n' "$PWD" >workers
        run ag dispatch echo --env demo --workers workers --dry-run
        expect_rc 2
        expect_err "^agora: workers:1: public key: "
        printf 'ipc://%s/a.sock keys/missing.pub\n' "$PWD" >workers
        run ag dispatch echo --env demo --workers workers --dry-run
        expect_rc 2
        expect_err "^agora: workers:1: public key: .*keys/missing.pub"
        # The default file is read too, and keys may be paths beside it.
        mkdir -p state
        printf 'ipc://%s/a.sock ../keys/operator.pub # comment\nipc://%s/b.sock %s\n' "$PWD" "$PWD" "$pub" >state/workers
        run ag --json dispatch echo --env demo --dry-run
        expect_rc 0
        [ "$(json 'd["workers"]')" = "['ipc://$PWD/a.sock', 'ipc://$PWD/b.sock']" ] || fail "workers: $out"
        run ag --json dispatch echo --env demo --worker "ipc://$PWD/b.sock" --dry-run
        [ "$(json 'd["workers"]')" = "['ipc://$PWD/b.sock']" ] || fail "workers: $out"
}

test_plain_tcp_off_loopback_and_tls_without_files_are_refused() {
        setup
        pub=$(sed -n 2p "${KEY%.key}.pub")
        run ag dispatch echo --env demo --worker tcp://192.0.2.1:7000 --dry-run
        expect_rc 2
        expect_err "^agora: worker 'tcp://192.0.2.1:7000': plain tcp:// only on loopback; use tls\+tcp:// across hosts$"
        printf 'tcp://10.1.2.3:7000 %s\n' "$pub" >workers
        run ag dispatch echo --env demo --workers workers --dry-run
        expect_rc 2
        expect_err "^agora: workers:1: worker 'tcp://10.1.2.3:7000': plain tcp:// only on loopback"
        printf 'tls+tcp://worker.example:7000 %s\ntcp://127.0.0.1:7000 %s\n' "$pub" "$pub" >workers
        run ag dispatch echo --env demo --workers workers --worker tls+tcp://worker.example:7000 --dry-run
        expect_rc 2
        expect_err "tls\+tcp:// needs a certificate, its key and the CA$"
        run ag dispatch echo --env demo --workers workers --worker tcp://127.0.0.1:7000 --dry-run
        expect_rc 0
        touch c.pem c.key ca.pem
        run ag dispatch echo --env demo --workers workers --worker tls+tcp://worker.example:7000 --dry-run \
                --tls-cert c.pem --tls-key c.key --tls-ca ca.pem
        expect_rc 0
}

test_usage_errors_exit_2() {
        setup
        refused 2 "^agora dispatch: unknown option '--bogus' \(see agora dispatch --help\)$" \
                ag dispatch echo --env demo --bogus
        refused 2 "^agora dispatch: --env ENV is required" ag dispatch echo
        refused 2 "^agora dispatch: needs SUBAGENT" ag dispatch --env demo
        refused 2 "^agora dispatch: unexpected argument 'two'" ag dispatch echo two --env demo
        refused 2 "^agora dispatch: --valid '0': want seconds from 1 to 3600" ag dispatch echo --env demo --valid 0
        refused 2 "^agora dispatch: --retry 'x'" ag dispatch echo --env demo --retry x
        refused 2 "^agora dispatch: option '--worker' needs a value" ag dispatch echo --env demo --worker
        refused 2 "^agora worker: 'go': want start, stop or status" ag worker go
        run ag dispatch --help
        expect_rc 0
        expect_out '^usage: agora dispatch SUBAGENT --env ENV'
}

test_unknown_subagent_or_env_fails() {
        setup
        refused 1 "subagent 'nope'" ag dispatch nope --env demo --dry-run
        refused 1 "env 'nope'" ag dispatch echo --env nope --dry-run
}

# ---- real dispatches ----

test_unreachable_worker_is_an_error() {
        setup
        pub=$(sed -n 2p "${KEY%.key}.pub")
        printf 'ipc://%s/nobody.sock %s\n' "$PWD" "$pub" >workers
        run ag dispatch echo --env demo --workers workers
        expect_rc 1
        expect_err "^agora: dispatch [0-9a-f]{32}: worker 'ipc://$PWD/nobody.sock' did not answer \(after [0-9]+ s\)$"
        [ ! -e state/receipts ] || fail "a receipt was stored"
}

test_local_worker_runs_the_job_and_keeps_the_receipt() {
        setup
        need_worker
        tool_subagent
        run ag dispatch echo --env demo --arg out=hello --arg err=oops --arg env=DEMO_TOKEN --arg exit=7
        expect_rc 7
        [ "$out" = "hello
DEMO_TOKEN=s3cr3t-t0ken-value" ] || fail "stdout: $out"
        id=$(printf '%s' "$err" | sed -n 's/^agora: dispatch \([0-9a-f]*\): worker.boot on local$/\1/p')
        [ -n "$id" ] || fail "no worker.boot line: $err"
        [ "$(printf '%s\n' "$err" | grep -v '^oops$' | sed 's/setup.ran in [0-9]* ms/setup.ran in MS ms/')" = "agora: dispatch $id: worker.boot on local
agora: dispatch $id: setup.ran in MS ms
agora: dispatch $id: finished: exit 7 (exited), receipt $PWD/state/receipts/$id.json" ] || fail "stderr: $err"
        printf '%s' "$err" | grep -qx oops || fail "stderr of the job not streamed: $err"
        [ "$(stat -c %a state/receipts/$id.json)" = 600 ] || fail "receipt mode"
        verify_receipt "state/receipts/$id.json" state/worker/worker.pub
        [ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=json.loads(d["receipt"]); print(d["worker"], r["dispatchId"], r["exitCode"], r["worker"])' "state/receipts/$id.json")" = \
                "ipc://$PWD/state/worker/worker.sock $id 7 local" ] || fail "receipt: $(cat "state/receipts/$id.json")"

        # The second dispatch finds every blob in the worker's cache: none
        # is sent again (a blob sent again would be written anew).
        before=$(cd state/worker/blobs && stat -c '%n %i' * | sort)
        [ "$(printf '%s\n' "$before" | wc -l)" = 3 ] || fail "cache: $before"
        pid=$(cat state/worker/worker.pid)
        run ag dispatch echo --env demo --arg out=again
        expect_rc 0
        [ "$out" = again ] || fail "stdout: $out"
        [ "$(cat state/worker/worker.pid)" = "$pid" ] || fail "a second worker was started"
        [ "$(cd state/worker/blobs && stat -c '%n %i' * | sort)" = "$before" ] || fail "blobs were sent again"
        [ "$(ls state/receipts | wc -l)" = 2 ] || fail "receipts: $(ls state/receipts)"
        ag worker stop >/dev/null
}

test_json_events_one_line_each() {
        setup
        need_worker
        tool_subagent
        # The pause lets the worker read the two writes as two chunks.
        run ag dispatch echo --env demo --json --arg out=hi --arg sleep=0.3 --arg bin --arg exit=3
        expect_rc 3
        [ -z "$err" ] || fail "stderr: $err"
        printf '%s\n' "$out" | python3 -c 'import json,sys,base64
lines=[json.loads(l) for l in sys.stdin]
names=[l["event"] for l in lines]
# The worker may read the output before the setup.ran line.
assert names[0]=="worker.boot" and names[-1]=="dispatch.finished", names
assert sorted(set(names[1:-1]))==["setup.ran","stdout"] and names.count("setup.ran")==1, names
ids={l["dispatchId"] for l in lines}; assert len(ids)==1, ids
assert [l["seq"] for l in lines]==list(range(1,len(lines)+1))
chunks=[l for l in lines if l["event"]=="stdout"]
for c in chunks: assert ("text" in c) != ("data" in c), c
data=b"".join(c["text"].encode() if "text" in c else base64.b64decode(c["data"]) for c in chunks)
assert data==b"hi\n\xff\xfe\x00x", data
assert any(c.get("text")=="hi\n" for c in chunks), chunks
assert "data" in chunks[-1], chunks
f=lines[-1]; assert f["exitCode"]==3 and f["reason"]=="exited", f
assert f["receiptPath"].endswith("/state/receipts/%s.json" % f["dispatchId"]), f
assert json.loads(f["receipt"])["exitCode"]==3' || fail "events: $out"
        ag worker stop >/dev/null
}

test_lost_worker_is_retried_elsewhere_with_the_same_manifest() {
        setup
        peers_may_die
        need_worker
        tool_subagent
        start_worker w1 --jobs 1
        start_worker w2 --jobs 1
        trap cleanup EXIT
        printf 'ipc://%s/w1.sock w1/worker.pub\nipc://%s/w2.sock w2/worker.pub\n' "$PWD" "$PWD" >workers
        # Both are idle, so the first in the file gets the job; it is killed
        # while the job sleeps.
        ag dispatch echo --env demo --workers workers --retry 1 --arg sleep=3 --arg out=done >o 2>e &
        pid=$!
        for _ in $(seq 50); do grep -q 'worker.boot on w1' e && break; sleep 0.1; done
        kill -KILL "$(cat w1.pid)"
        wait "$pid" && rc=0 || rc=$?
        [ "$rc" = 0 ] || fail "exit $rc: $(cat e)"
        [ "$(cat o)" = done ] || fail "stdout: $(cat o)"
        id=$(sed -n 's/^agora: dispatch \([0-9a-f]*\): worker.boot on w1$/\1/p' e)
        grep -Eqx "agora: dispatch $id: worker 'ipc://$PWD/w1.sock' stopped answering \(after [0-9]+ s\)" e ||
                fail "no stopped-answering line: $(cat e)"
        grep -qx "agora: dispatch $id: retrying on ipc://$PWD/w2.sock" e || fail "no retry line: $(cat e)"
        grep -qx "agora: dispatch $id: worker.boot on w2" e || fail "not run on w2: $(cat e)"
        [ -f "state/receipts/$id.json" ] || fail "no receipt for $id"
        verify_receipt "state/receipts/$id.json" w2/worker.pub

        # Without --retry, the loss is the end.
        start_worker w3 --jobs 1
        printf 'ipc://%s/w3.sock w3/worker.pub\n' "$PWD" >>workers
        ag dispatch echo --env demo --workers workers --worker "ipc://$PWD/w3.sock" --arg sleep=3 >o 2>e &
        pid=$!
        for _ in $(seq 50); do grep -q 'worker.boot on w3' e && break; sleep 0.1; done
        kill -KILL "$(cat w3.pid)"
        wait "$pid" && rc=0 || rc=$?
        [ "$rc" = 1 ] || fail "exit $rc: $(cat e)"
        grep -Eq "^agora: dispatch [0-9a-f]{32}: worker 'ipc://$PWD/w3.sock' stopped answering \(after [0-9]+ s\)$" e ||
                fail "stderr: $(cat e)"
}

test_large_output_is_streamed_whole_and_hashed_in_the_receipt() {
        setup
        need_worker
        tool_subagent
        # 3 MB: many chunks, more than one events reply, below the profile's 4M cap.
        ag dispatch echo --env demo --arg big=3000000 >big.out 2>big.err || fail "exit $?: $(cat big.err)"
        [ "$(stat -c %s big.out)" = 3000000 ] || fail "got $(stat -c %s big.out) bytes"
        [ -z "$(tr -d x <big.out | head -c 1)" ] || fail "output is not all x"
        id=$(sed -n 's/^agora: dispatch \([0-9a-f]*\): worker.boot on local$/\1/p' big.err)
        python3 - "state/receipts/$id.json" "$(sha256sum big.out | cut -c1-64)" <<'PY' || fail "receipt does not describe the output"
import json, sys
r = json.loads(json.load(open(sys.argv[1]))["receipt"])
assert r["stdout"] == {"bytes": 3000000, "sha256": "sha256:" + sys.argv[2], "truncated": False}, r["stdout"]
PY
        ag worker stop >/dev/null
}

test_sigterm_drains_the_running_job_then_exits() {
        setup
        need_worker
        tool_subagent
        start_worker w1 --jobs 1
        trap cleanup EXIT
        printf 'ipc://%s/w1.sock w1/worker.pub\n' "$PWD" >workers
        ag dispatch echo --env demo --workers workers --arg sleep=4 --arg out=drained >o 2>e &
        pid=$!
        for _ in $(seq 50); do grep -q 'worker.boot on w1' e && break; sleep 0.1; done
        wpid=$(cat w1.pid)
        kill -TERM "$wpid"
        # While it drains it takes no new job…
        sleep 0.2
        run "$PROBE" send "ipc://$PWD/w1.sock" '{"op":"status"}'
        printf '%s' "$out" | grep -q '"draining":true' || fail "status while draining: $out"
        make_manifest late.json
        run "$PROBE" send "ipc://$PWD/w1.sock" "$(submit_header "$(sign_manifest "$KEY" late.json)")"
        printf '%s' "$out" | grep -q '"code":"busy","error":"the worker is stopping"' || fail "late submit: $out"
        # …and the running one finishes with its receipt before the worker exits 0.
        wait "$pid" && rc=0 || rc=$?
        [ "$rc" = 0 ] || fail "exit $rc: $(cat e)"
        [ "$(cat o)" = drained ] || fail "stdout: $(cat o)"
        wait "$wpid" && wrc=0 || wrc=$?
        [ "$wrc" = 0 ] || fail "worker exited $wrc"
        grep -q 'draining 1 job' w1.log || fail "no drain line in the log: $(cat w1.log)"
        [ "$(ls state/receipts | wc -l)" = 1 ] || fail "receipts: $(ls state/receipts)"
}

test_secrets_never_reach_the_worker_disk_or_command_lines() {
        setup
        need_worker
        tool_subagent
        run ag dispatch echo --env demo --arg env=DEMO_TOKEN --arg sleep=1 &
        sleep 0.6
        # While the job runs: no process's command line holds the value.
        for p in /proc/[0-9]*; do
                if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "$AGORA_DEMO_TOKEN"; then
                        fail "the secret is on the command line of $(tr '\0' ' ' <"$p/cmdline")"
                fi
        done
        wait
        grep -rqa "$AGORA_DEMO_TOKEN" state && fail "the secret is in the state directory: $(grep -rla "$AGORA_DEMO_TOKEN" state)"
        grep -rqa "$AGORA_DEMO_TOKEN" "$REG" && fail "the secret is in the registry"
        ag worker stop >/dev/null
        return 0
}

test_least_busy_worker_is_chosen() {
        setup
        need_worker
        tool_subagent
        start_worker w1 --jobs 1 --queue 1
        start_worker w2 --jobs 1 --queue 1
        trap cleanup EXIT
        printf 'ipc://%s/w1.sock w1/worker.pub\nipc://%s/w2.sock w2/worker.pub\n' "$PWD" "$PWD" >workers
        ag dispatch echo --env demo --workers workers --arg sleep=4 >/dev/null 2>e1 &
        pid1=$!
        for _ in $(seq 50); do grep -q 'worker.boot' e1 && break; sleep 0.1; done
        first=$(sed -n 's/.*worker.boot on //p' e1)
        [ -n "$first" ] || fail "first job not started: $(cat e1)"
        # The survey says which one has a free slot.
        run ag dispatch echo --env demo --workers workers --arg out=second
        expect_rc 0
        [ "$out" = second ] || fail "stdout: $out"
        printf '%s' "$err" | grep -q "worker.boot on w" || fail "stderr: $err"
        ! printf '%s' "$err" | grep -q "worker.boot on $first" || fail "sent to the busy worker $first: $err"
        wait "$pid1" || fail "first job: $(cat e1)"
}

test_all_busy_gives_up_before_the_manifest_expires() {
        setup
        need_worker
        tool_subagent
        start_worker w1 --jobs 1 --queue 1
        trap cleanup EXIT
        printf 'ipc://%s/w1.sock w1/worker.pub\n' "$PWD" >workers
        # One job runs, one waits: the worker's slot and queue are full. The
        # first runs long enough that its slot is still taken when the third
        # gives up, however slow the machine.
        ag dispatch echo --env demo --workers workers --arg sleep=5 >/dev/null 2>e1 &
        pid1=$!
        for _ in $(seq 50); do grep -q 'worker.boot' e1 && break; sleep 0.1; done
        ag dispatch echo --env demo --workers workers --arg sleep=1 >/dev/null 2>e2 &
        pid2=$!
        # Until the worker holds it in its queue, however slow the machine.
        for _ in $(seq 100); do [ "$(status_field w1 queued)" = 1 ] && break; sleep 0.05; done
        [ "$(status_field w1 queued)" = 1 ] || fail "the second job was not queued: $(cat e2)"
        # Valid for 6 s: asking again stops 5 s before expiry, after ~1 s.
        run ag dispatch echo --env demo --workers workers --valid 6
        expect_rc 1
        expect_err "^agora: dispatch [0-9a-f]{32}: all workers busy$"
        [ "$(status_field w1 refused.busy)" -ge 1 ] || fail "no busy refusal counted"
        wait "$pid1" "$pid2" || fail "the first jobs failed: $(cat e1 e2)"
        grep -q 'finished: exit 0' e2 || fail "the queued job did not run: $(cat e2)"
}

test_refusal_is_one_line_and_not_retried() {
        setup
        need_worker
        tool_subagent
        # A worker that trusts another key.
        "$AGORA" keygen --out "$PWD/other.key" >/dev/null 2>&1 || fail "keygen failed"
        KEY_SAVED=$KEY KEY=$PWD/other.key
        start_worker w1
        trap cleanup EXIT
        KEY=$KEY_SAVED
        printf 'ipc://%s/w1.sock w1/worker.pub\n' "$PWD" >workers
        run ag dispatch echo --env demo --workers workers --retry 3
        expect_rc 1
        expect_err "^agora: dispatch [0-9a-f]{32}: worker 'ipc://$PWD/w1.sock' refused \(untrusted-key\): .*not trusted"
        [ ! -e state/receipts ] || fail "a receipt was stored"
}

# ---- agora worker ----

test_worker_start_status_stop() {
        setup
        need_worker
        run ag worker status
        expect_rc 0
        [ "$out" = "local worker is not running" ] || fail "status: $out"
        run ag worker start --jobs 3
        expect_rc 0
        expect_out "^local worker started \(pid [0-9]+\) on ipc://$PWD/state/worker/worker.sock$"
        pid=$(cat state/worker/worker.pid)
        alive "$pid" || fail "pid file names no process"
        [ -f state/worker/worker.pub ] || fail "the worker made no key"
        [ "$(stat -c %a state state/worker)" = "700
700" ] || fail "state modes: $(stat -c %a state state/worker)"
        run ag worker start
        expect_rc 0
        [ "$out" = "local worker already running (pid $pid) on ipc://$PWD/state/worker/worker.sock" ] || fail "start: $out"
        run ag worker status --json
        expect_rc 0
        [ "$(json 'd["state"], d["pid"], d["status"]["name"], d["status"]["jobs"]')" = "running $pid local 3" ] ||
                fail "status: $out"
        run ag worker status
        expect_out "^local worker running \(pid $pid\)"
        expect_out "name +local"
        run ag worker stop
        expect_rc 0
        [ "$out" = "local worker stopped (pid $pid)" ] || fail "stop: $out"
        ! alive "$pid" || fail "still running"
        [ ! -e state/worker/worker.pid ] || fail "pid file left"
        run ag worker stop
        expect_rc 0
        [ "$out" = "local worker is not running" ] || fail "stop: $out"
}

test_concurrent_starts_start_one_worker() {
        setup
        need_worker
        local pids=()
        for i in 1 2 3; do
                ag worker start >"start$i" 2>&1 &
                pids+=($!)
        done
        wait "${pids[@]}"
        [ "$(grep -c 'local worker started' start1 start2 start3 | awk -F: '{s+=$2} END {print s}')" = 1 ] ||
                fail "not one start: $(cat start1 start2 start3)"
        [ "$(pgrep -fc "agora-worker serve --listen ipc://$PWD/state/worker/worker.sock")" = 1 ] ||
                fail "workers: $(pgrep -fa agora-worker)"
        ag worker stop >/dev/null
}

test_worker_binary_missing_is_an_error() {
        setup
        AGORA_WORKER_BIN=$PWD/nope refused 1 "^agora: local worker: '$PWD/nope': No such file or directory \(set AGORA_WORKER_BIN\)$" \
                ag worker start
}

test_real_cage() {
        setup
        need_worker
        run ag dispatch echo --env demo --arg hi
        ag worker stop >/dev/null
        expect_rc 0
        [ "$out" = "greeting: hello
arg 1: hi" ] || fail "stdout: $out"
}

run_tests
