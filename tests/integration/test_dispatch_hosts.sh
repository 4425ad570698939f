#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Three worker "hosts", each an agora-worker in a network namespace of its
# own joined to this one by a veth pair, reached over tls+tcp:// with
# mutual TLS against a CA the test makes with openssl. 100 dispatches are
# spread across them and one worker is killed with SIGKILL in the middle:
# every dispatch must end with exactly one receipt or a clear failure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatch_lib.sh"

PORT=7700
TAG=$$

# hosts_up: namespaces agt$TAG-wN with 10.231.N.2, veth to 10.231.N.1 here.
hosts_up() {
        command -v ip >/dev/null || skip "no ip(8)"
        for i in 1 2 3; do
                ns="agt$TAG-w$i"
                ip netns add "$ns" || fail "ip netns add failed"
                echo "$ns" >>"$TEST_DIR/.netns"
                ip link add "agh$TAG$i" type veth peer name "agw$TAG$i"
                ip link set "agw$TAG$i" netns "$ns"
                ip addr add "10.231.$i.1/24" dev "agh$TAG$i"
                ip link set "agh$TAG$i" up
                ip netns exec "$ns" ip addr add "10.231.$i.2/24" dev "agw$TAG$i"
                ip netns exec "$ns" ip link set "agw$TAG$i" up
                ip netns exec "$ns" ip link set lo up
        done
        trap hosts_down EXIT
}

hosts_down() {
        stop_all_workers
        [ -f "$TEST_DIR/.netns" ] || return 0
        while read -r ns; do
                ip netns delete "$ns" 2>/dev/null || true # takes its veth end, and so the pair
        done <"$TEST_DIR/.netns"
}

# A private CA, a certificate per worker (its address as SAN) and one for
# the dispatcher: every end must show one signed by the CA.
make_pki() {
        mkdir -p pki
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/ca.key -out pki/ca.pem \
                -days 2 -subj "/CN=agora test CA" 2>/dev/null || fail "openssl CA failed"
        for n in 1 2 3 client; do
                local cn=10.231.$n.2
                [ "$n" = client ] && cn=dispatcher
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "pki/$n.key" -out "pki/$n.csr" \
                        -subj "/CN=$cn" 2>/dev/null
                if [ "$n" = client ]; then
                        printf 'subjectAltName=DNS:%s\n' "$cn" >"pki/$n.ext"
                else
                        printf 'subjectAltName=IP:%s,DNS:%s\n' "$cn" "$cn" >"pki/$n.ext"
                fi
                openssl x509 -req -in "pki/$n.csr" -CA pki/ca.pem -CAkey pki/ca.key -CAcreateserial \
                        -out "pki/$n.pem" -days 2 -extfile "pki/$n.ext" 2>/dev/null || fail "openssl cert failed"
        done
        export AGORA_TLS_CERT=$PWD/pki/client.pem AGORA_TLS_KEY=$PWD/pki/client.key AGORA_TLS_CA=$PWD/pki/ca.pem
        export PROBE_TLS_CERT=$AGORA_TLS_CERT PROBE_TLS_KEY=$AGORA_TLS_KEY PROBE_TLS_CA=$AGORA_TLS_CA
}

start_host_worker() { # N: worker N in its namespace, jobs 2
        local i=$1
        # nsenter, not `ip netns exec`: that also makes a mount namespace
        # with a fresh /sys, without the cgroup hierarchies cages need. A
        # worker host has its own network and the host's filesystem.
        nsenter --net="/run/netns/agt$TAG-w$i" "$WORKER" serve --listen "tls+tcp://10.231.$i.2:$PORT" \
                --trust "${KEY%.key}.pub" --state "$PWD/w$i" --name "w$i" --jobs 2 --queue 4 \
                --tls-cert "pki/$i.pem" --tls-key "pki/$i.key" --tls-ca pki/ca.pem 2>>"w$i.log" &
        echo $! >"w$i.pid"
        echo $! >>"$TEST_DIR/.workers"
        wait_worker "tls+tcp://10.231.$i.2:$PORT" || fail "worker w$i did not start: $(cat "w$i.log")"
}

# A capability whose job takes a second, so that a worker killed in the
# middle of the run is killed with jobs on it.
register_slow() {
        mkdir -p slow/bin
        printf '#!/bin/sh\nsleep 1\necho "job $1 done"\n' >slow/bin/run
        chmod +x slow/bin/run
        ag register capability slow slow >/dev/null &&
                ag register subagent slow --entrypoint /cap/slow/bin/run --capability slow >/dev/null &&
                ag register env plain A=b >/dev/null || fail "registering slow failed"
}

setup_hosts() {
        [ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
        new_registry
        hosts_up
        make_pki
        register_slow
        export AGORA_STATE=$PWD/state
        : >workers
        for i in 1 2 3; do
                start_host_worker "$i"
                echo "tls+tcp://10.231.$i.2:$PORT $PWD/w$i/worker.pub" >>workers
        done
}

test_hundred_dispatches_across_three_hosts_one_killed() {
        setup_hosts
        peers_may_die
        mkdir -p runs
        seq 100 | xargs -P 8 -I{} sh -c '"$0" --registry "$1" --key "$2" dispatch slow --env plain --workers workers \
                --retry 2 --arg {} --json >runs/{}.out 2>runs/{}.err; echo $? >runs/{}.rc' "$AGORA" "$REG" "$KEY" &
        local all=$!
        # Kill w2 once some dispatches have finished and both its slots are
        # running others: a job that ends in the instant between the status
        # and the kill could otherwise leave it with nothing to lose.
        local i busy=0
        for i in $(seq 400); do
                if [ "$(ls "$AGORA_STATE/receipts" 2>/dev/null | wc -l)" -ge 20 ] &&
                        [ "$("$PROBE" send "tls+tcp://10.231.2.2:$PORT" '{"op":"status"}' |
                                python3 -c 'import json,sys; print(json.load(sys.stdin)["running"])')" -ge 2 ]; then
                        busy=1
                        break
                fi
                sleep 0.05
        done
        if [ "$busy" = 0 ]; then
                wait "$all"
                fail "w2 never had a running job to be killed with"
                return 1
        fi
        kill -KILL "$(cat w2.pid)"
        wait "$all"

        local ok=0 failed=0 retried=0 n
        for n in $(seq 100); do
                rc=$(cat "runs/$n.rc")
                if [ "$rc" = 0 ]; then
                        ok=$((ok + 1))
                        grep -q "\"text\":\"job $n done" "runs/$n.out" || fail "dispatch $n: no output: $(cat "runs/$n.out")"
                else
                        failed=$((failed + 1))
                        # A failure is said in one line that names the dispatch.
                        [ "$(grep -vc '^agora: dispatch [0-9a-f]*: retrying on' "runs/$n.err")" = 1 ] ||
                                fail "dispatch $n failed without one clear line: $(cat "runs/$n.err")"
                fi
                grep -q 'retrying on' "runs/$n.err" && retried=$((retried + 1))
        done
        # Exactly one receipt per finished dispatch, none for the others,
        # each signed by the worker that ran it.
        local receipts ids
        receipts=$(ls "$AGORA_STATE/receipts" | wc -l)
        [ "$receipts" = "$ok" ] || fail "$receipts receipts for $ok finished dispatches"
        ids=$(cat runs/*.out | python3 -c 'import json,sys
ids=[json.loads(l)["dispatchId"] for l in sys.stdin if "dispatch.finished" in l]
assert len(ids)==len(set(ids)), "a dispatch finished twice"
print(len(ids))')
        [ "$ids" = "$ok" ] || fail "$ids finished lines for $ok finished dispatches"
        [ "$retried" -ge 1 ] || fail "no dispatch was retried after the kill"
        [ "$ok" -ge 90 ] || fail "only $ok of 100 dispatches finished"
        for f in "$AGORA_STATE"/receipts/*.json; do
                python3 - "$f" <<'PY' || fail "receipt $f is not a signed receipt"
import json, sys
d = json.load(open(sys.argv[1]))
r = json.loads(d["receipt"])
assert r["type"] == "agora.receipt/v1" and r["exitCode"] == 0 and r["worker"] in ("w1", "w2", "w3")
open(sys.argv[1] + ".txt", "w").write(d["receipt"])
open(sys.argv[1] + ".txt.minisig", "w").write(d["signature"])
PY
                w=$(python3 -c 'import json,sys; print(json.loads(json.load(open(sys.argv[1]))["receipt"])["worker"])' "$f")
                minisign -Vq -p "$w/worker.pub" -m "$f.txt" >/dev/null || fail "receipt $f: signature does not verify"
                rm -f "$f.txt" "$f.txt.minisig"
        done
        # The killed worker's cages died with it.
        sleep 0.5
        ! pgrep -f "agora-cage --profile default.*/w2/blobs" >/dev/null || fail "a cage of the killed worker survived"
        echo "# $ok finished, $failed failed, $retried retried" >&2
}

test_dispatcher_without_the_ca_certificate_is_refused() {
        setup_hosts
        # A certificate from another CA: the worker's TLS refuses it, and
        # nothing is dispatched.
        mkdir -p other
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other/c.key -out other/c.pem \
                -days 2 -subj "/CN=dispatcher" 2>/dev/null
        AGORA_TLS_CERT=$PWD/other/c.pem AGORA_TLS_KEY=$PWD/other/c.key \
                run ag dispatch slow --env plain --worker "tls+tcp://10.231.1.2:$PORT" --workers workers
        [ "$rc" -ne 0 ] || fail "dispatch with a foreign certificate succeeded"
        [ "$(PROBE_TLS_CERT=$AGORA_TLS_CERT "$PROBE" send "tls+tcp://10.231.1.2:$PORT" '{"op":"status"}' |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["started"])')" = 0 ] || fail "a job ran"
}

test_plain_tcp_across_hosts_is_refused() {
        setup_hosts
        run ag dispatch slow --env plain --worker "tcp://10.231.1.2:$PORT" --workers workers
        expect_rc 2
        expect_err 'only on loopback'
        run "$WORKER" serve --listen "tcp://10.231.1.1:$((PORT + 10))" --trust "${KEY%.key}.pub" --state "$PWD/x"
        expect_rc 2
        expect_err 'only on loopback'
}

run_tests
