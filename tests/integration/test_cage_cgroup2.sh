#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agora-cage on a host with a pure cgroup v2 hierarchy, which this machine
# (cgroup v1, hybrid) is not: tests/vm/ boots a guest whose only cgroup
# mount is cgroup2 and runs this build's agora-cage there (tests/vm/README.md).
# The guest is booted once, before the tests; each check it prints,
# "vm: ok - NAME" or "vm: not ok - NAME: WHY", becomes one TAP line here,
# with the guest's evidence for a failure. A machine that cannot have the
# guest (no qemu, no kernel package) skips every check, naming why.
source "$(dirname "$0")/lib.sh"

VM_DIR=$(mktemp -d)
MAIN_PID=$BASHPID
cleanup() {
        [ "$BASHPID" = "$MAIN_PID" ] || return 0
        rm -rf "$VM_DIR"
}
trap cleanup EXIT

VM_SKIP="" VM_BROKEN="" VM_REBOOTED="" CONSOLE=$VM_DIR/console
: >"$CONSOLE"
vm_start=$SECONDS
AGORA_BIN="$AGORA_BIN" bash "$TOP/tests/vm/prepare.sh" "$VM_DIR/guest" 2>"$VM_DIR/prepare.err" && rc=0 || rc=$?
if [ $rc -eq 77 ]; then
        VM_SKIP="no guest: $(tail -n 1 "$VM_DIR/prepare.err" | sed "s/^prepare: //")"
elif [ $rc -ne 0 ]; then
        VM_BROKEN="tests/vm/prepare.sh failed (exit $rc): $(tail -n 5 "$VM_DIR/prepare.err")"
else
        bash "$TOP/tests/vm/boot.sh" "$VM_DIR/guest" >"$CONSOLE" 2>"$VM_DIR/boot.err" && rc=0 || rc=$?
        # An emulated guest's kernel can stall under a loaded host (a
        # scheduler trace from a timer interrupt, then nothing) before any
        # check ends. Such a boot is tried once more, from scratch, and
        # test_cgroup2_guest_finished says so; a check that failed is never
        # retried, and a guest that hangs twice fails.
        if [ $rc -eq 1 ] && ! grep -q '^vm: not ok - ' "$CONSOLE"; then
                VM_REBOOTED="the first boot never finished: $(grep -v '^[[:space:]]*$' "$CONSOLE" | tail -n 1 | cut -c1-160)"
                bash "$TOP/tests/vm/boot.sh" "$VM_DIR/guest" >"$CONSOLE" 2>"$VM_DIR/boot.err" && rc=0 || rc=$?
        fi
        if [ $rc -eq 77 ]; then
                VM_SKIP="no guest: $(tail -n 1 "$VM_DIR/boot.err" | sed "s/^boot: //")"
        elif [ $rc -ne 0 ]; then
                VM_BROKEN="$(cat "$VM_DIR/boot.err")"
        fi
fi
VM_ACCEL=$(cat "$VM_DIR/guest/accel" 2>/dev/null) || VM_ACCEL=none
VM_SECONDS=$((SECONDS - vm_start))

# vm_check NAME: the guest's line for check NAME is "vm: ok - NAME …";
# a failure carries the guest's evidence for it and its kernel log.
vm_check() {
        local name=$1 line evidence
        [ -z "$VM_SKIP" ] || skip "$VM_SKIP"
        line=$(grep -E "^vm: (not )?ok - $name( |:|$)" "$CONSOLE" | head -n 1) || true
        case "$line" in
        "vm: ok - $name"*)
                grep "^vm: # $name: " "$CONSOLE" | head -n 3 | sed 's/^vm: # /# /' || true
                line=${line#vm: ok - "$name" (}
                echo "# $name took ${line%)} in the guest"
                ;;
        "vm: not ok - $name"*)
                evidence=$(grep -E "^vm: # ($name|dmesg): " "$CONSOLE" | head -n 60 | sed 's/^vm: # /guest: /') || true
                fail "in the guest: ${line#vm: not ok - }${evidence:+
$evidence}"
                ;;
        *)
                grep -qx 'vm: done' "$CONSOLE" || fail "the guest printed no result for '$name':" \
                        "it never finished (test_cgroup2_guest_finished has its console)"
                fail "the guest printed no result for '$name'"
                ;;
        esac
}

# The guest booted, ran every check and said so; and every check it ran
# has a test below (a check added to tests/vm/init needs one here).
test_cgroup2_guest_finished() {
        local names name missing=""
        [ -z "$VM_SKIP" ] || skip "$VM_SKIP"
        echo "# guest ($VM_ACCEL) prepared, booted and finished in $VM_SECONDS s"
        [ -z "$VM_REBOOTED" ] || echo "# booted twice; $VM_REBOOTED"
        grep -E '^vm: # (guest up|checks took)' "$CONSOLE" | sed 's/^vm: # /# /' || true
        grep -qx 'vm: done' "$CONSOLE" || fail "the guest never printed 'vm: done'${VM_BROKEN:+: $VM_BROKEN}
console (last lines):
$(tail -n 40 "$CONSOLE")"
        names=$(sed -n 's/^vm: \(not \)\{0,1\}ok - \([a-z0-9_]*\).*/\2/p' "$CONSOLE")
        for name in $names; do
                declare -F "test_cgroup2_$name" >/dev/null || missing="$missing $name"
        done
        [ -z "$missing" ] || fail "guest checks without a test here:$missing"
}

# The guest is what it should be: cgroup2 only, with memory, pids and cpu.
test_cgroup2_pure_v2() { vm_check pure_v2; }
# --profile default.yaml -- /bin/true: reason exited, exit_code 0.
test_cgroup2_true_exits() { vm_check true_exits; }
# peak_memory_bytes comes from the cage's memory.peak.
test_cgroup2_peak_memory() { vm_check peak_memory; }
# While `sleep 3` runs: agora/cage-<host_uid> with memory.max 536870912,
# memory.swap.max 0, pids.max 128, cpu.max "100000 100000", cpu.weight
# 100, memory/pids/cpu in the root's and agora/'s subtree_control, and
# cgroup.procs holding only the cage's uid, which sees it as its root.
test_cgroup2_cgroup_files() { vm_check cgroup_files; }
# After it: reason exited, the directory gone, no process of the cage.
test_cgroup2_cgroup_gone() { vm_check cgroup_gone; }
# esc_memory_bomb: reason oom, "denied", nothing left.
test_cgroup2_memory_bomb() { vm_check memory_bomb; }
# awk doubling one string: reason oom.
test_cgroup2_oom_awk() { vm_check oom_awk; }
# esc_fork_bomb: reason pids-limit, "denied … EAGAIN", nothing left.
test_cgroup2_fork_bomb() { vm_check fork_bomb; }
# --timeout 1 -- sleep 30: reason timeout, nothing left in agora/.
test_cgroup2_timeout() { vm_check timeout; }
# esc_daemon: reason exited; the double-forked daemon died with the cage.
test_cgroup2_daemon() { vm_check daemon; }
# esc_daemon wait with --timeout 2: reason timeout, nothing left.
test_cgroup2_daemon_timeout() { vm_check daemon_timeout; }
# SIGTERM to agora-cage: reason stopped, nothing left.
test_cgroup2_stopped() { vm_check stopped; }
# SIGKILL to agora-cage: its cage dies with it; the next agora-cage
# removes the cgroup it left.
test_cgroup2_sigkill_swept() { vm_check sigkill_swept; }
# A leftover cage-<id> no slot holds is removed by the next agora-cage.
test_cgroup2_stale_swept() { vm_check stale_swept; }
# agora-cage started from a service's cgroup (as under systemd): the cage
# still goes under agora/, agora-cage stays where it was.
test_cgroup2_from_service() { vm_check from_service; }
test_cgroup2_busy_root_refused() { vm_check busy_root_refused; }
# Escape probes that must print "denied" on this host too.
test_cgroup2_caps() { vm_check caps; }
test_cgroup2_cgroup_mount() { vm_check cgroup_mount; }
test_cgroup2_clone_newuser() { vm_check clone_newuser; }
test_cgroup2_memfd_exec() { vm_check memfd_exec; }
test_cgroup2_mount() { vm_check mount; }
test_cgroup2_setuid() { vm_check setuid; }
test_cgroup2_thread() { vm_check thread; }
test_cgroup2_unshare_user() { vm_check unshare_user; }
test_cgroup2_unshare_ns() { vm_check unshare_ns; }
test_cgroup2_bpf() { vm_check bpf; }
test_cgroup2_io_uring() { vm_check io_uring; }
test_cgroup2_userfaultfd() { vm_check userfaultfd; }
test_cgroup2_setns() { vm_check setns; }
test_cgroup2_x32() { vm_check x32; }

run_tests
