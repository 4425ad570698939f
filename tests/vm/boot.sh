#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Boot the guest that tests/vm/prepare.sh made in DIR (default
# build/vm/guest) and write its serial console to DIR/console.log (and, at
# the end, to stdout). The guest runs its checks and powers off; one that
# hangs is stopped after AGORA_VM_TIMEOUT seconds (default 100).
#
# AGORA_VM_ACCEL picks how the guest runs:
#   kvm   hardware virtualization, -cpu host
#   tcg   qemu's emulator, two threads, -cpu max
#   auto  (default) kvm where /dev/kvm is backed by VMX or SVM (kvm_intel or
#         kvm_amd), else tcg. A PVM host (kvm_pvm, a nested cloud VM)
#         runs only kernels built as PVM guests: a stock kernel's
#         supervisor code is emulated instruction by instruction there,
#         which takes minutes to boot and stops at the first instruction
#         the emulator lacks (VEX, cmpxchg16b). tcg is faster there.
# DIR/accel says which one ran.
#
# Exit 0 when the guest printed "vm: done" (its checks may still have
# failed: read the "vm: ok/not ok" lines); 77 without qemu; 1 when the
# guest never finished.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${1:-$TOP/build/vm/guest}
LIMIT=${AGORA_VM_TIMEOUT:-100}
ACCEL=${AGORA_VM_ACCEL:-auto}

command -v qemu-system-x86_64 >/dev/null || {
        echo "boot: no qemu-system-x86_64 (apt-get install qemu-system-x86)" >&2
        exit 77
}
for f in vmlinuz initrd.gz cmdline; do
        [ -e "$DIR/$f" ] || {
                echo "boot: no $DIR/$f (run tests/vm/prepare.sh $DIR)" >&2
                exit 1
        }
done

kvm_usable() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
if [ "$ACCEL" = auto ]; then
        ACCEL=tcg
        if kvm_usable && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
                ACCEL=kvm
        fi
fi
case "$ACCEL" in
kvm)
        kvm_usable || {
                echo "boot: AGORA_VM_ACCEL=kvm but /dev/kvm is not usable" >&2
                exit 77
        }
        # arch-capabilities: some hosts' KVM refuses the MSR qemu copies.
        # shellcheck disable=SC2054 # the commas are qemu's
        accel=(-enable-kvm -cpu host,-arch-capabilities)
        ;;
tcg)
        # shellcheck disable=SC2054
        accel=(-accel tcg,thread=multi -cpu max)
        ;;
*)
        echo "boot: AGORA_VM_ACCEL '$ACCEL': want auto, kvm or tcg" >&2
        exit 1
        ;;
esac
echo "$ACCEL" >"$DIR/accel"

log=$DIR/console.log qlog=$DIR/qemu.log
: >"$log"
: >"$qlog"
# -nodefaults: no VGA, NIC or disks to probe; the console is the one
# serial port. -no-reboot: a guest panic (panic=-1) ends qemu at once.
qemu-system-x86_64 "${accel[@]}" -m 2048 -smp 2 \
        -nodefaults -no-user-config -display none -no-reboot \
        -chardev "file,id=console,path=$log" -serial chardev:console \
        -kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.gz" -append "$(cat "$DIR/cmdline")" \
        </dev/null >"$qlog" 2>&1 &
qemu=$!
# qemu pauses a guest that hit a KVM internal error instead of exiting:
# watch for that as well as for the deadline.
why=""
deadline=$((SECONDS + LIMIT))
while kill -0 "$qemu" 2>/dev/null; do
        if grep -q 'KVM internal error' "$qlog"; then
                why="KVM internal error (see $qlog)"
        elif [ $SECONDS -ge $deadline ]; then
                why="the guest was stopped after $LIMIT s"
        fi
        if [ -n "$why" ]; then
                kill "$qemu" 2>/dev/null || true
                sleep 1
                kill -9 "$qemu" 2>/dev/null || true
                break
        fi
        sleep 0.2
done
rc=0
wait "$qemu" || rc=$?
tr -d '\r' <"$log"
[ -z "$why" ] || echo "boot: $why" >&2
[ -n "$why" ] || [ "$rc" -eq 0 ] || echo "boot: qemu exited $rc: $(head -c 2000 "$qlog")" >&2
tr -d '\r' <"$log" | grep -qx 'vm: done' || {
        echo "boot: the guest never printed 'vm: done'" >&2
        exit 1
}
exit 0
