#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Every refusal of docs/dispatch.md, sent to a real agora-worker over a
# real ipc:// socket: each test sends the forged, replayed, expired,
# oversized or garbage message, checks the refusal code and message, and
# that no cage ran (the worker's "started" count stays 0).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatch_lib.sh"

W="ipc://\$PWD/w1.sock"

setup() {
        new_sample_registry
        start_worker w1 --jobs 1
        W="ipc://$PWD/w1.sock"
        printf 'DEMO_TOKEN=t0ken\0' >secrets.bin
}

# send_signed SIGNED: submit it with the secrets payload; reply in $out.
send_signed() {
        run "$PROBE" send "$W" "$(submit_header "$1")" secrets.bin
        expect_rc 0
}

expect_refused() { # CODE REGEX: last reply is a refusal with CODE and a message matching REGEX
        printf '%s' "$out" | python3 -c 'import json,sys,re
r=json.load(sys.stdin)
assert r["ok"] is False, r
assert r["code"]==sys.argv[1], r
assert re.search(sys.argv[2], r["error"]), r
assert "\n" not in r["error"], r' "$1" "$2" || fail "reply '$out', want refusal $1 /$2/"
}

expect_no_cage() {
        [ "$(status_field w1 started)" = 0 ] || fail "a job was started"
        ! pgrep -f "agora-cage.*$PWD" >/dev/null || fail "an agora-cage is running"
}

test_garbage_message_is_refused_and_the_worker_lives() {
        setup
        head -c 3000 /dev/urandom >junk
        run "$PROBE" raw "$W" junk
        expect_rc 0
        expect_refused malformed 'not an agora message'
        printf 'AGW1\0\0\0\62{"op"' >short
        run "$PROBE" raw "$W" short
        expect_refused malformed 'truncated'
        printf 'AGW1\0\0\0\4[12]' >notobj
        run "$PROBE" raw "$W" notobj
        expect_refused malformed 'not an object'
        run "$PROBE" send "$W" '{"op":"launch-missiles"}'
        expect_refused malformed 'unknown request'
        [ "$(status_field w1 refused.malformed)" -ge 3 ] || fail "malformed not counted"
        expect_no_cage
}

test_oversized_message_is_dropped_before_it_is_read() {
        setup
        # Above NNG_OPT_RECVMAXSZ (one 4 MiB chunk and its header): NNG
        # drops it and the connection, so no reply comes.
        python3 -c 'import sys; h=b"{\"op\":\"status\"}"; sys.stdout.buffer.write(b"AGW1"+len(h).to_bytes(4,"big")+h+b"x"*(6<<20))' >big
        run "$PROBE" raw "$W" big
        expect_rc 1
        # …and the worker is still there for the next dispatcher.
        run "$PROBE" send "$W" '{"op":"status"}'
        expect_rc 0
        expect_out '"ok":true'
        expect_no_cage
}

test_manifest_without_signature_is_refused() {
        setup
        make_manifest m.json
        signed=$(sign_manifest "$KEY" m.json)
        send_signed "$(printf '%s' "$signed" | python3 -c 'import json,sys; d=json.load(sys.stdin); del d["signature"]; print(json.dumps(d))')"
        expect_refused no-signature 'no signature'
        expect_no_cage
}

test_altered_manifest_is_refused_as_bad_signature() {
        setup
        make_manifest m.json
        signed=$(sign_manifest "$KEY" m.json)
        # The signed bytes with one argument added afterwards: still
        # canonical, no longer what the operator signed.
        forged=$(printf '%s' "$signed" | python3 -c 'import json,sys
d=json.load(sys.stdin); m=json.loads(d["manifest"]); m["args"]=["rm -rf /"]
d["manifest"]=json.dumps(m,sort_keys=True,separators=(",",":")); print(json.dumps(d))')
        send_signed "$forged"
        expect_refused bad-signature 'does not match the content'
        expect_no_cage
}

test_garbage_signature_is_refused() {
        setup
        make_manifest m.json
        signed=$(sign_manifest "$KEY" m.json)
        send_signed "$(printf '%s' "$signed" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["signature"]="untrusted comment: x\nnot base64\n"; print(json.dumps(d))')"
        expect_refused bad-signature 'malformed'
        expect_no_cage
}

test_manifest_signed_by_untrusted_key_is_refused() {
        setup
        "$AGORA" keygen --out "$PWD/other.key" >/dev/null 2>&1 || fail "keygen failed"
        make_manifest m.json
        send_signed "$(sign_manifest "$PWD/other.key" m.json)"
        expect_refused untrusted-key 'not trusted'
        expect_no_cage
}

test_expired_manifest_is_refused() {
        setup
        make_manifest m.json issuedAt=-300 expiresAt=-10
        send_signed "$(sign_manifest "$KEY" m.json)"
        expect_refused expired 'expired'
        expect_no_cage
}

test_not_yet_valid_manifest_is_refused() {
        setup
        make_manifest m.json issuedAt=600 expiresAt=900
        send_signed "$(sign_manifest "$KEY" m.json)"
        expect_refused not-yet-valid 'not valid for another'
        expect_no_cage
}

test_noncanonical_manifest_is_refused() {
        setup
        make_manifest m.json
        signed=$(sign_manifest "$KEY" m.json)
        # The same JSON value with a space added: a second reading of
        # signed bytes is never accepted.
        send_signed "$(printf '%s' "$signed" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["manifest"]=d["manifest"].replace(":",": ",1); print(json.dumps(d))')"
        expect_refused malformed 'canonical'
        expect_no_cage
}

test_replayed_nonce_is_refused_across_a_restart() {
        setup
        make_manifest m.json
        signed=$(sign_manifest "$KEY" m.json)
        send_signed "$signed"
        expect_out '"state":"need"'
        # The same message again while the job waits: already here.
        send_signed "$signed"
        expect_refused duplicate 'already on this worker'
        # After a restart the job table is empty, but the nonce is on disk.
        stop_worker w1
        start_worker w1 --jobs 1
        send_signed "$signed"
        expect_refused replayed 'used before'
        [ "$(status_field w1 refused.replayed)" = 1 ] || fail "replay not counted"
        expect_no_cage
}

test_blob_that_does_not_match_its_hash_is_refused() {
        setup
        make_manifest m.json
        send_signed "$(sign_manifest "$KEY" m.json)"
        expect_out '"state":"need"'
        id=$(python3 -c 'import json; print(json.load(open("m.json"))["dispatchId"])')
        sub=$(python3 -c 'import json; print(json.load(open("m.json"))["subagent"]["contentHash"])')
        printf '{"kind":"subagent","name":"echo","entrypoint":"/bin/sh","capabilities":[],"profile":"default"}' >evil
        run "$PROBE" send "$W" "{\"op\":\"blob\",\"dispatchId\":\"$id\",\"hash\":\"$sub\",\"offset\":0,\"size\":$(stat -c %s evil)}" evil
        expect_refused hash-mismatch 'hash to sha256:'
        # The job is gone, nothing was cached under the wrong name.
        run "$PROBE" send "$W" "{\"op\":\"events\",\"dispatchId\":\"$id\",\"after\":0}"
        expect_refused not-found 'no such dispatch'
        [ -z "$(ls w1/blobs)" ] || fail "blob cache holds: $(ls w1/blobs)"
        expect_no_cage
}

test_blob_not_asked_for_is_refused() {
        setup
        make_manifest m.json
        send_signed "$(sign_manifest "$KEY" m.json)"
        id=$(python3 -c 'import json; print(json.load(open("m.json"))["dispatchId"])')
        printf 'x' >x
        run "$PROBE" send "$W" "{\"op\":\"blob\",\"dispatchId\":\"$id\",\"hash\":\"sha256:$(sha256sum x | cut -c1-64)\",\"offset\":0,\"size\":1}" x
        expect_refused malformed 'not one this dispatch needs'
        expect_no_cage
}

run_tests
