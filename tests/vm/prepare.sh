#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Prepare the cgroup v2 guest of tests/vm/README.md in DIR (default
# build/vm/guest):
#   DIR/vmlinuz    Debian's 6.12 cloud kernel, fetched once into build/vm/
#                  (AGORA_VM_CACHE) with apt-get download and kept there
#   DIR/initrd.gz  busybox, this build's agora-cage with its libraries,
#                  profiles/default.yaml, the escape probes and tests/vm/init
#   DIR/cmdline    the kernel command line
# AGORA_BIN (default build/bin) names the build; AGORA_VM_KERNEL a vmlinuz
# to use instead of Debian's (its config-* beside it, if any, is checked);
# AGORA_VM_INIT another guest /init, for an experiment by hand.
#
# Exit 0 when DIR is ready; 77 when this machine cannot have the guest (no
# apt lists naming the kernel, no busybox-static or cpio), with the reason
# on stderr; 1 on any other error.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AGORA_BIN=${AGORA_BIN:-$TOP/build/bin}
CACHE=${AGORA_VM_CACHE:-$TOP/build/vm}
OUT=${1:-$CACHE/guest}
# The meta-packages that name a current cloud kernel (Debian 12's 6.12
# line, else the release's own, as on Debian 13): 6.12 has Landlock ABI 6
# and a pid-namespaced vm.memfd_noexec, and the cloud flavour boots fast
# with everything the guest needs built in.
KERNEL_METAS="linux-image-6.12-cloud-amd64 linux-image-cloud-amd64"
TEMPS=()
cleanup() { [ ${#TEMPS[@]} -eq 0 ] || rm -rf "${TEMPS[@]}"; }
trap cleanup EXIT

die() {
        echo "prepare: $*" >&2
        exit 1
}
cannot() { # REASON: this machine cannot have the guest
        echo "prepare: $*" >&2
        exit 77
}

# ---- the kernel ----

# kernel_package: the kernel package a meta-package names, if it is 6.12
# or later (Landlock ABI 6 came with 6.12).
kernel_package() {
        local meta pkg v
        for meta in $KERNEL_METAS; do
                pkg=$(apt-cache depends "$meta" 2>/dev/null |
                        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1) || true
                v=${pkg#linux-image-}
                case "$v" in
                [0-9]*.[0-9]*)
                        if [ "${v%%.*}" -gt 6 ] || { [ "${v%%.*}" -eq 6 ] && [ "$(echo "$v" | cut -d. -f2)" -ge 12 ]; }; then
                                echo "$pkg"
                                return 0
                        fi
                        ;;
                esac
        done
        return 1
}

# fetch_kernel: $CACHE/vmlinuz-VERSION and config-VERSION from Debian's
# package; $CACHE/kernel names VERSION. Once there, no mirror is asked again.
fetch_kernel() {
        local pkg tmp ver
        if [ -f "$CACHE/kernel" ] && ver=$(cat "$CACHE/kernel") && [ -f "$CACHE/vmlinuz-$ver" ]; then
                KERNEL=$CACHE/vmlinuz-$ver CONFIG=$CACHE/config-$ver
                return
        fi
        command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
                cannot "no apt-get/dpkg-deb to fetch the kernel with (or set AGORA_VM_KERNEL)"
        pkg=$(kernel_package) ||
                cannot "apt-cache names no kernel >= 6.12 for any of: $KERNEL_METAS (run apt-get update, or set AGORA_VM_KERNEL)"
        tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
        TEMPS+=("$tmp")
        # apt's download sandbox user must be able to write there.
        chmod 0755 "$tmp"
        chown _apt "$tmp" 2>/dev/null || true
        if ! (cd "$tmp" && apt-get download -q "$pkg") >"$tmp/apt.log" 2>&1; then
                sed 's/^/prepare: apt: /' "$tmp/apt.log" >&2
                cannot "cannot download $pkg"
        fi
        dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './boot/config-*' ||
                die "$pkg has no /boot/vmlinuz-* and config-*"
        ver=$(cd "$tmp/boot" && ls vmlinuz-* | head -n 1)
        ver=${ver#vmlinuz-}
        mv "$tmp/boot/vmlinuz-$ver" "$tmp/boot/config-$ver" "$CACHE/"
        echo "$ver" >"$tmp/kernel"
        mv "$tmp/kernel" "$CACHE/kernel" # last: a cache without it is refetched
        echo "prepare: fetched $pkg into $CACHE" >&2
        KERNEL=$CACHE/vmlinuz-$ver CONFIG=$CACHE/config-$ver
}

# check_config: everything the guest relies on is built in (a module
# could not be loaded: the initramfs has none).
check_config() {
        local opt missing=""
        [ -f "$CONFIG" ] || return 0
        for opt in BLK_DEV_INITRD RD_GZIP DEVTMPFS TMPFS SERIAL_8250_CONSOLE CGROUPS MEMCG CGROUP_PIDS \
                CGROUP_SCHED FAIR_GROUP_SCHED CFS_BANDWIDTH USER_NS PID_NS NET_NS SECCOMP_FILTER \
                SECURITY_LANDLOCK; do
                grep -q "^CONFIG_$opt=y" "$CONFIG" || missing="$missing $opt"
        done
        [ -z "$missing" ] || die "$KERNEL lacks (as =y):$missing"
}

# ---- the initramfs ----

# copy_elf FILE DEST: FILE at DEST in the root, with every library ldd
# names at the same path (resolved: the guest has no ldconfig links).
copy_elf() {
        local lib
        mkdir -p "$ROOT$(dirname "$2")"
        cp -L "$1" "$ROOT$2"
        ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' |
                while read -r lib; do
                        [ -e "$ROOT$lib" ] && continue
                        mkdir -p "$ROOT$(dirname "$lib")"
                        cp -L "$lib" "$ROOT$lib"
                done
}

build_initrd() {
        local busybox a p used
        busybox=$(command -v busybox) || cannot "no busybox (apt-get install busybox-static)"
        # The guest has busybox's libraries only if it needs none.
        ! ldd "$busybox" >/dev/null 2>&1 || cannot "$busybox is not static (apt-get install busybox-static)"
        command -v cpio >/dev/null || cannot "no cpio (apt-get install cpio)"
        [ -x "$AGORA_BIN/agora-cage" ] || die "no $AGORA_BIN/agora-cage (build it with scons)"
        [ -d "$PROBES" ] || die "no probes in $PROBES (build them with scons)"

        ROOT=$(mktemp -d "$OUT/.root.XXXXXX")
        TEMPS+=("$ROOT" "$OUT/initrd.gz.tmp")
        # Debian's merged /usr: what the default profile binds read-only.
        mkdir -p "$ROOT"/usr/bin "$ROOT"/usr/lib "$ROOT"/usr/lib64 "$ROOT"/dev "$ROOT"/proc "$ROOT"/sys \
                "$ROOT"/tmp "$ROOT"/run "$ROOT"/profiles "$ROOT"/probes
        ln -s usr/bin "$ROOT/bin"
        ln -s usr/bin "$ROOT/sbin"
        ln -s usr/lib "$ROOT/lib"
        ln -s usr/lib64 "$ROOT/lib64"
        cp -L "$busybox" "$ROOT/usr/bin/busybox"
        for a in $("$busybox" --list); do
                [ -e "$ROOT/usr/bin/$a" ] || ln -s busybox "$ROOT/usr/bin/$a"
        done
        copy_elf "$AGORA_BIN/agora-cage" /usr/bin/agora-cage
        # util-linux's unshare, for a cgroup namespace (busybox's has none).
        copy_elf "$(command -v unshare)" /usr/bin/unshare-ul
        cp "$TOP/profiles/default.yaml" "$ROOT/profiles/"
        # Only the probes the guest runs (its PROBES_USED line): every
        # megabyte is unpacked and copied again by the guest at boot.
        used=$(sed -n 's/^PROBES_USED="\(.*\)"$/\1/p' "$INIT")
        [ -n "$used" ] || die "$INIT has no PROBES_USED line"
        for p in $used; do
                [ -x "$PROBES/esc_$p" ] || die "no probe $PROBES/esc_$p (build it with scons)"
                cp "$PROBES/esc_$p" "$ROOT/probes/"
        done
        install -m 0755 "$INIT" "$ROOT/init"
        (cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
                cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -1) >"$OUT/initrd.gz.tmp"
        mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
}

# ---- main ----

PROBES=$(cd "$AGORA_BIN/../tests/escape/bin" 2>/dev/null && pwd) || PROBES=$AGORA_BIN/../tests/escape/bin
INIT=${AGORA_VM_INIT:-$TOP/tests/vm/init}
mkdir -p "$OUT"
if [ -n "${AGORA_VM_KERNEL:-}" ]; then
        [ -f "$AGORA_VM_KERNEL" ] || die "AGORA_VM_KERNEL=$AGORA_VM_KERNEL: no such file"
        KERNEL=$AGORA_VM_KERNEL
        CONFIG=$(dirname "$KERNEL")/config-$(basename "$KERNEL" | sed 's/^vmlinuz-//')
else
        mkdir -p "$CACHE"
        # One fetch at a time: concurrent runs share the cache.
        exec 9>"$CACHE/.lock"
        flock 9
        fetch_kernel
        flock -u 9
fi
check_config
build_initrd
ln -sf "$KERNEL" "$OUT/vmlinuz"

# A quiet console: the guest's own lines must not be cut by kernel
# messages (an OOM kill logs at err, level 3). mitigations=off: nothing in
# the guest is secret, and an emulated guest (boot.sh) runs much faster
# without the page-table switch on every syscall. No lsm= unless the
# kernel's default list leaves Landlock out.
append="console=ttyS0 panic=-1 loglevel=2 mitigations=off"
if [ -f "$CONFIG" ] && ! grep -q '^CONFIG_LSM=.*landlock' "$CONFIG"; then
        append="$append lsm=landlock,lockdown,yama,apparmor,bpf"
fi
echo "$append" >"$OUT/cmdline"
echo "prepare: guest in $OUT (kernel $(basename "$(readlink -f "$KERNEL")"))" >&2
