#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The escape suite: every attack program of tests/escape/ (README.md there
# lists each attack and the layer that stops it) runs inside a real cage,
# agora-cage with the default profile and the probe granted as capability
# "escape", and must print "denied NAME: …" and exit 0. The resource
# attacks also check agora-cage's --json reason, the daemon checks that
# nothing of a cage outlives it, and the network probes check that the
# host listeners they aim at saw nothing. One TAP line per probe, then
# "escape suite: N passed, N failed".
source "$(dirname "$0")/lib.sh"

CAGE="$AGORA_BIN/agora-cage"
PROBES=$(cd "$AGORA_BIN/../tests/escape/bin" 2>/dev/null && pwd) || PROBES="$AGORA_BIN/../tests/escape/bin"
PROFILE="$TOP/profiles/default.yaml"

# profile_bytes KEY: a size limit of the default profile in bytes.
profile_bytes() {
        local v
        v=$(sed -n "s/^  $1: *\([0-9][0-9]*[KMG]\{0,1\}\).*/\1/p" "$PROFILE" | head -n 1)
        case "$v" in
        *K) echo $((${v%K} << 10)) ;;
        *M) echo $((${v%M} << 20)) ;;
        *G) echo $((${v%G} << 30)) ;;
        *) echo "$v" ;;
        esac
}

# in_cage NAME [CAGE_OPTION…] [-- PROBE_ARG…]: run esc_NAME in a cage, the
# probe alone granted as /cap/escape (a copy, so each cage unpacks one
# binary rather than the whole suite); sets out, err and rc as run does.
# CAGE_TIMEOUT (default 30) bounds a probe that hangs.
in_cage() {
        local name=$1 opts=()
        shift
        while [ $# -gt 0 ] && [ "$1" != -- ]; do
                opts+=("$1")
                shift
        done
        [ $# -gt 0 ] && shift
        [ -x "$PROBES/esc_$name" ] || fail "no probe $PROBES/esc_$name (build it with scons)"
        [ -x "$CAGE" ] || fail "no $CAGE"
        mkdir -p "cap-$name"
        cp "$PROBES/esc_$name" "cap-$name/"
        run "$CAGE" --profile "$PROFILE" --capability "escape=$PWD/cap-$name" --timeout "${CAGE_TIMEOUT:-30}" \
                "${opts[@]}" -- "/cap/escape/esc_$name" "$@"
}

# in_cage_json NAME [CAGE_OPTION…] [-- PROBE_ARG…]: in_cage with --json;
# RESULT holds the JSON object, out the program's stdout from it.
in_cage_json() {
        local name=$1
        shift
        in_cage "$name" --json "$@"
        RESULT=$out
        out=$(json stdout) || fail "agora-cage --json printed no JSON object: $RESULT (stderr: $err)"
}

# json KEY: KEY of the last in_cage_json result.
json() {
        printf '%s' "$RESULT" | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)[sys.argv[1]], end="")
except (ValueError, KeyError):
    sys.exit(1)
' "$1"
}

expect_reason() { # WANT: the last result's reason
        local got
        got=$(json reason)
        [ "$got" = "$1" ] || fail "reason '$got', want '$1' (probe: $out; result: $RESULT)"
}

# expect_denied NAME [REGEX]: the probe printed exactly one line,
# "denied NAME: …" (matching REGEX if given), and the cage exited 0.
expect_denied() {
        local lines
        lines=$(printf '%s' "$out" | grep -c '') || true
        [ "$lines" -eq 1 ] || fail "esc_$1 printed $lines lines, want 1: $out (stderr: $err, exit $rc)"
        case "$out" in
        "denied $1: "*) ;;
        *) fail "esc_$1 in the cage: ${out:-nothing} (stderr: $err, exit $rc)" ;;
        esac
        [ $# -lt 2 ] || printf '%s' "$out" | grep -Eq -- "$2" || fail "esc_$1: '$out' does not match /$2/"
        [ "$rc" -eq 0 ] || fail "esc_$1 said denied but the cage exited $rc: $out"
        echo "# $out" # what stopped it, in the log
}

probe() { # NAME [PROBE_ARG…]: the common case
        local name=$1
        shift
        in_cage "$name" -- "$@"
        expect_denied "$name"
}

# What a finished cage must not leave on the host: a process of a cage's
# host id (>= 200000000) or a cage cgroup. Compared with a snapshot taken
# before the cage ran, so that what other tests leave is not blamed on it;
# the cage of the last result (its host_uid names its cgroup) is also
# checked by name.
cage_leftovers() {
        local d uid
        for d in /proc/[0-9]*; do
                uid=$(awk '/^Uid:/ {print $2; exit}' "$d/status" 2>/dev/null) || continue
                if [ -n "$uid" ] && [ "$uid" -ge 200000000 ]; then
                        echo "process ${d#/proc/} of uid $uid: $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)"
                fi
        done
        # agora-cage names a cage's cgroup after its host id; the unit
        # tests' cgroups (cage-test-…) are not cages.
        for d in /sys/fs/cgroup/*/agora/cage-[0-9]* /sys/fs/cgroup/agora/cage-[0-9]*; do
                [ ! -e "$d" ] || echo "cgroup $d"
        done
        return 0
}

snapshot_leftovers() { LEFTOVERS_BEFORE=$(cage_leftovers); }

expect_no_leftovers() {
        local now new uid d
        now=$(cage_leftovers)
        new=$(comm -13 <(echo "$LEFTOVERS_BEFORE" | sort) <(echo "$now" | sort))
        [ -z "$new" ] || fail "left behind by the cage: $new"
        uid=$(json host_uid)
        case "$uid" in '' | *[!0-9]*) fail "no host_uid in the result: $RESULT" ;; esac
        [ "$uid" -ge 200000000 ] || fail "the cage ran as host uid $uid, want >= 200000000"
        for d in /sys/fs/cgroup/*/agora/cage-"$uid" /sys/fs/cgroup/agora/cage-"$uid"; do
                [ ! -e "$d" ] || fail "the cage's cgroup $d is still there"
        done
        ! echo "$now" | grep -q "of uid $uid:" || fail "a process of the cage's uid $uid is still running: $now"
}

# Host markers for the probes that look for the host from inside: files
# that exist only on the host, and the top-level entries of the host's /
# that the cage's root (the profile's host paths, /cap, /workspace, /tmp,
# /proc, /dev) does not have.
host_markers() {
        local e keep
        echo "host-only marker $$" >"$PWD/host-marker"
        printf '%s\n' "$PWD/host-marker" "$TOP/SConstruct"
        [ -e /etc/hostname ] && echo /etc/hostname
        for e in /*; do
                e=${e#/}
                keep=1
                case " usr bin lib lib64 cap workspace tmp proc dev " in *" $e "*) keep=0 ;; esac
                [ $keep -eq 0 ] || printf '/%s\nentry:%s\n' "$e" "$e"
        done
}

# ---- host listeners the network probes aim at ----

ESC_DIR=$(mktemp -d)
MAIN_PID=$BASHPID
LISTENERS=()
cleanup() {
        [ "$BASHPID" = "$MAIN_PID" ] || return 0
        local p
        for p in "${LISTENERS[@]}"; do
                kill "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        rm -rf "$ESC_DIR"
}
trap cleanup EXIT

# TCP on every address of the host (dual-stack if the host has IPv6), one
# line per accepted connection in tcp.log.
python3 -c '
import socket, sys
try:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", 0))
    v6 = 1
except OSError:
    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 0))
    v6 = 0
s.listen(64)
open(sys.argv[1] + ".tmp", "w").write("%d %d\n" % (s.getsockname()[1], v6))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
while True:
    c, a = s.accept()
    log.write("%s\n" % (a,))
    c.close()
' "$ESC_DIR/tcp.port" "$ESC_DIR/tcp.log" &
LISTENERS+=($!)

ABSTRACT="agora-esc-$$"
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("\0" + sys.argv[1])
s.listen(64)
open(sys.argv[2], "w").close()
log = open(sys.argv[3], "a", buffering=1)
while True:
    c, _ = s.accept()
    log.write("accepted\n")
    c.close()
' "$ABSTRACT" "$ESC_DIR/unix.ready" "$ESC_DIR/unix.log" &
LISTENERS+=($!)

for _ in $(seq 100); do
        [ -f "$ESC_DIR/tcp.port" ] && [ -f "$ESC_DIR/unix.ready" ] && break
        sleep 0.05
done
read -r TCP_PORT TCP_V6 <"$ESC_DIR/tcp.port" 2>/dev/null || TCP_PORT="" TCP_V6=0

# ADDR:PORT of every address a caged program could try for the listener.
tcp_targets() {
        local a
        echo "127.0.0.1:$TCP_PORT"
        [ "$TCP_V6" != 1 ] || echo "[::1]:$TCP_PORT"
        for a in $(hostname -I 2>/dev/null); do
                case "$a" in
                *:*) [ "$TCP_V6" != 1 ] || echo "[$a]:$TCP_PORT" ;;
                *) echo "$a:$TCP_PORT" ;;
                esac
        done
}

# Proof that the listeners work: from the host, they accept.
listeners_reachable() {
        [ -n "$TCP_PORT" ] || fail "the host TCP listener did not start"
        python3 -c '
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
u = socket.socket(socket.AF_UNIX); u.connect("\0" + sys.argv[2]); u.close()
' "$TCP_PORT" "$ABSTRACT" || fail "the host listeners are not reachable from the host"
}

log_lines() { # FILE: its line count, 0 if it is missing
        local n
        n=$(grep -c '' "$1" 2>/dev/null) || true
        echo "${n:-0}"
}

# ---- one test per probe ----

test_escape_abstract_unix() {
        local before
        listeners_reachable
        before=$(log_lines "$ESC_DIR/unix.log")
        probe abstract_unix "@$ABSTRACT"
        [ "$(log_lines "$ESC_DIR/unix.log")" = "$before" ] || fail "the host abstract socket accepted a connection"
}
test_escape_add_key() { probe add_key; }
test_escape_bpf() { probe bpf; }
test_escape_cap_write() { probe cap_write; }
test_escape_caps() { probe caps; }
test_escape_cgroup_mount() { probe cgroup_mount; }
test_escape_chmod_suid() { probe chmod_suid; }
test_escape_chroot() { probe chroot; }
test_escape_clone3() {
        in_cage clone3
        expect_denied clone3 'clone3\(CLONE_NEWUSER\): (ENOSYS|EPERM)'
}
test_escape_clone_newuser() { probe clone_newuser; }
test_escape_core_pattern() { probe core_pattern; }
test_escape_daemon() {
        snapshot_leftovers
        in_cage_json daemon
        expect_denied daemon
        expect_reason exited
        expect_no_leftovers
}
test_escape_daemon_timeout() {
        local start=$SECONDS
        snapshot_leftovers
        CAGE_TIMEOUT=2 in_cage_json daemon -- wait
        # The cage was killed, so rc is not 0: check the line by hand.
        case "$out" in
        "denied daemon: "*) echo "# $out" ;;
        *) fail "esc_daemon in the cage: ${out:-nothing} ($RESULT)" ;;
        esac
        expect_reason timeout
        [ $((SECONDS - start)) -lt 15 ] || fail "a 2 s timeout took $((SECONDS - start)) s"
        expect_no_leftovers
}
test_escape_dev() { probe dev; }
test_escape_disk_fill() {
        in_cage_json disk_fill -- "$(profile_bytes workspace)" "$(profile_bytes tmp)"
        expect_denied disk_fill '(ENOSPC|EFBIG|EDQUOT) after'
        expect_reason exited
}
test_escape_exe_overwrite() { probe exe_overwrite; }
test_escape_fd_leak() {
        # agora-cage itself inherits extra fds here (a host file, a host
        # directory): none may reach the program.
        in_cage fd_leak 7<"$TOP/SConstruct" 8<"$TOP"
        expect_denied fd_leak
}
test_escape_finit_module() { probe finit_module; }
test_escape_fork_bomb() {
        snapshot_leftovers
        in_cage_json fork_bomb
        expect_denied fork_bomb 'EAGAIN after'
        expect_reason pids-limit
        expect_no_leftovers
}
test_escape_fsopen() { probe fsopen; }
test_escape_inode_fill() {
        in_cage_json inode_fill -- "$(profile_bytes workspace-inodes)"
        expect_denied inode_fill 'ENOSPC after'
        expect_reason exited
}
test_escape_int80() {
        in_cage int80
        expect_denied int80 'killed by SIG(SYS|SEGV)'
}
test_escape_io_uring() { probe io_uring; }
test_escape_iopl() { probe iopl; }
test_escape_kcore() { probe kcore; }
test_escape_kexec() { probe kexec; }
test_escape_keyctl() { probe keyctl; }
test_escape_kill() { probe kill "$$" "$BASHPID" "${LISTENERS[@]}"; }
test_escape_memfd_exec() { probe memfd_exec; }
test_escape_memory_bomb() {
        snapshot_leftovers
        in_cage_json memory_bomb
        expect_denied memory_bomb 'SIGKILL \(OOM\)|malloc failed'
        expect_reason oom
        expect_no_leftovers
}
test_escape_mount() { probe mount; }
test_escape_mountinfo() { probe mountinfo "$TOP" "$PWD" "$PROBES" "$ESC_DIR"; }
test_escape_old_root() {
        local markers
        mapfile -t markers < <(host_markers)
        probe old_root "${markers[@]}"
}
test_escape_open_by_handle() { probe open_by_handle; }
test_escape_open_tree() { probe open_tree; }
test_escape_perf_event() { probe perf_event; }
test_escape_pivot_root() { probe pivot_root; }
test_escape_process_vm() { probe process_vm; }
test_escape_ptrace() { probe ptrace; }
test_escape_reboot() { probe reboot; }
test_escape_remount() { probe remount; }
test_escape_sethostname() { probe sethostname; }
test_escape_setns() {
        local ns args=()
        for ns in user mnt pid net ipc uts cgroup; do
                args+=("$ns=$(stat -L -c %i "/proc/self/ns/$ns")")
        done
        in_cage setns -- "${args[@]}"
        expect_denied setns '[1-9][0-9]* namespaces opened differ'
}
test_escape_setuid() { probe setuid; }
test_escape_setuid_binary() { probe setuid_binary; }
test_escape_shadow() { probe shadow; }
test_escape_socket_netlink() { probe socket_netlink; }
test_escape_socket_packet() { probe socket_packet; }
test_escape_socket_raw() { probe socket_raw; }
test_escape_swapon() { probe swapon; }
test_escape_symlink() {
        local markers
        mapfile -t markers < <(host_markers | grep -v '^entry:')
        probe symlink "${markers[@]}"
}
test_escape_sysrq() { probe sysrq; }
test_escape_tcp_connect() {
        local before targets
        listeners_reachable
        before=$(log_lines "$ESC_DIR/tcp.log")
        mapfile -t targets < <(tcp_targets)
        probe tcp_connect "${targets[@]}"
        [ "$(log_lines "$ESC_DIR/tcp.log")" = "$before" ] || fail "the host TCP listener accepted a connection"
}
test_escape_thread() { probe thread; }
# The cage's stdin is /dev/null, for which the kernel answers a tty ioctl
# with ENOTTY: EPERM on fd 0 shows the seccomp filter caught the command,
# and for the high-bits variant that its compare is masked to 32 bits.
test_escape_tioclinux() {
        in_cage tioclinux
        expect_denied tioclinux 'fd 0: EPERM'
}
test_escape_tiocsti() {
        in_cage tiocsti
        expect_denied tiocsti 'fd 0: EPERM'
}
test_escape_tiocsti_hibits() {
        in_cage tiocsti_hibits
        expect_denied tiocsti_hibits 'fd 0: EPERM'
}
test_escape_tiocsti_from_a_terminal() {
        # The operator's case: agora-cage started from an interactive
        # terminal, which the program must not be able to type into.
        command -v script >/dev/null || skip "no script(1) to give agora-cage a terminal"
        mkdir -p cap-tiocsti
        cp "$PROBES/esc_tiocsti" cap-tiocsti/
        script -qec "tty >tty.txt && '$CAGE' --profile '$PROFILE' --capability escape='$PWD/cap-tiocsti' --timeout 30 \
--json -- /cap/escape/esc_tiocsti >result.json" /dev/null </dev/null >/dev/null 2>&1 || true
        grep -q '^/dev/' tty.txt 2>/dev/null || fail "script(1) gave agora-cage no terminal"
        [ -s result.json ] || fail "agora-cage on a terminal wrote no JSON result"
        RESULT=$(cat result.json) err=""
        out=$(json stdout) || fail "no JSON result: $RESULT"
        rc=$(json exit_code)
        expect_denied tiocsti
}
test_escape_umount() { probe umount; }
test_escape_unshare_ns() { probe unshare_ns; }
test_escape_unshare_user() { probe unshare_user; }
test_escape_userfaultfd() { probe userfaultfd; }
test_escape_workspace_exec() { probe workspace_exec; }
test_escape_x32() {
        in_cage x32
        expect_denied x32 'killed by SIGSYS'
}

# Every probe built has a test above, and every probe source was built.
test_escape_suite_complete() {
        local src name missing=""
        for src in "$TOP"/tests/escape/esc_*.c; do
                name=$(basename "$src" .c)
                name=${name#esc_}
                [ -x "$PROBES/esc_$name" ] || missing="$missing esc_$name(not built)"
                declare -F "test_escape_$name" >/dev/null || missing="$missing esc_$name(no test)"
        done
        [ -z "$missing" ] || fail "probes without a test run:$missing"
}

log=$(mktemp)
run_tests | tee "$log"
status=${PIPESTATUS[0]}
skipped=$(grep -Eci '^ok .*# skip' "$log") || true
passed=$(($(grep -c '^ok ' "$log") - skipped))
failed=$(grep -c '^not ok ' "$log") || true
rm -f "$log"
if [ "$skipped" -gt 0 ]; then
        echo "escape suite: $passed passed, $failed failed, $skipped skipped"
else
        echo "escape suite: $passed passed, $failed failed"
fi
exit "$status"
