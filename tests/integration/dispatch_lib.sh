# SPDX-License-Identifier: Apache-2.0
#
# Shared by the dispatch tests, after lib.sh: a registry with the sample
# subagent, real agora-worker daemons on sockets in the test's directory,
# and hand-made manifests for the refusal tests.

PROBE="$AGORA_BIN/../tests/tools/wire-probe"
WORKER="$AGORA_BIN/agora-worker"

# The sample capability, subagent "echo" and env "demo" (one secret,
# DEMO_TOKEN from $AGORA_DEMO_TOKEN) in a fresh registry.
new_sample_registry() {
        new_registry
        ag register capability echo-cap "$TOP/examples/capabilities/echo-cap" >/dev/null 2>&1 &&
                ag register subagent echo --entrypoint /cap/echo-cap/bin/echo-args --capability echo-cap \
                        >/dev/null 2>&1 &&
                ag register env demo --file "$TOP/examples/envs/demo.yaml" >/dev/null 2>&1 ||
                fail "registering the sample failed"
}

# start_worker NAME [OPTIONS…]: agora-worker on ipc://$PWD/NAME.sock with
# state in $PWD/NAME, trusting the test's operator key; waits until it
# answers. Its pid is in $PWD/NAME.pid, its log in $PWD/NAME.log.
start_worker() {
        local name=$1
        shift
        "$WORKER" serve --listen "ipc://$PWD/$name.sock" --trust "${KEY%.key}.pub" --state "$PWD/$name" \
                --name "$name" "$@" 2>>"$PWD/$name.log" &
        echo $! >"$PWD/$name.pid"
        echo $! >>"$TEST_DIR/.workers"
        # A failing check stops the test: its workers must not outlive it.
        trap stop_all_workers EXIT
        wait_worker "ipc://$PWD/$name.sock" || fail "worker $name did not start: $(cat "$PWD/$name.log")"
}

wait_worker() { # URL: until a status request answers, 5 s at most in all
        local end=$((SECONDS + 5))
        [ -x "$WORKER" ] || return 1
        while [ "$SECONDS" -lt "$end" ]; do
                PROBE_TIMEOUT_MS=500 "$PROBE" send "$1" '{"op":"status"}' >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}

# peers_may_die: this test kills a worker on purpose. Under ASan, agora then
# loads the suppressions for NNG 1.5's lost message on a closing pipe (see
# tests/sanitizer/nng-closing-pipe.supp): that leak is NNG's, and is the
# only one tolerated.
peers_may_die() {
        export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$TOP/tests/sanitizer/nng-closing-pipe.supp"
}

stop_worker() { # NAME: SIGTERM and wait
        local pid
        pid=$(cat "$PWD/$1.pid")
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

stop_all_workers() {
        local pid
        [ -f "$TEST_DIR/.workers" ] || return 0
        while read -r pid; do
                kill -KILL "$pid" 2>/dev/null || true
        done <"$TEST_DIR/.workers"
}

status_field() { # NAME FIELD: one field of the worker's status (refused.CODE for a counter)
        "$PROBE" send "ipc://$PWD/$1.sock" '{"op":"status"}' |
                python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$2"
}

# make_manifest OUT [KEY=JSON…]: a manifest for echo/demo at HEAD, fresh id
# and nonce, valid for 120 s from now, naming the operator's key; each
# KEY=JSON replaces a field (issuedAt=-100 and expiresAt=-10 are relative
# to now).
make_manifest() {
        local out=$1
        shift
        ag resolve echo --env demo >"$out.resolved" || fail "resolve failed"
        python3 - "$out" "$out.resolved" "${KEY%.key}.pub" "$@" <<'PY'
import base64, json, secrets, sys, time
out, resolved, pub = sys.argv[1:4]
r = json.load(open(resolved))
raw = base64.b64decode(open(pub).read().splitlines()[1])
keyid = format(int.from_bytes(raw[2:10], "little"), "X")
now = int(time.time())
m = {"type": "agora.dispatch/v1", "dispatchId": secrets.token_hex(16), "registryCommit": r["registryCommit"],
     "subagent": r["subagent"], "env": r["env"], "capabilities": r["capabilities"], "profile": r["profile"],
     "entrypoint": r["entrypoint"], "args": [], "timeoutS": 0, "nonce": secrets.token_hex(16),
     "issuedAt": now, "expiresAt": now + 120, "keyId": keyid}
for kv in sys.argv[4:]:
    k, v = kv.split("=", 1)
    v = json.loads(v)
    if k in ("issuedAt", "expiresAt"):
        v += now
    m[k] = v
json.dump(m, open(out, "w"))
PY
}

sign_manifest() { # KEYFILE MANIFEST: prints {"manifest","signature"}
        "$PROBE" sign "$1" "$2"
}

# submit_json SIGNED [SIGNATURE-OVERRIDE]: the submit header for a signed
# {"manifest","signature"} document, with the secret the env wants sent
# as the payload file $PWD/secrets.bin.
submit_header() {
        python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["op"]="submit"; print(json.dumps(d))' "$1"
}
