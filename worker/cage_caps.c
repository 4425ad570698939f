/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 7: no capabilities, in any set, for good. The job runs as uid 0 of
 * its own user namespace, where the kernel hands root every capability
 * (over the namespace's objects: its mounts, its network, its processes)
 * unless told otherwise. Each step below closes one way back to them.
 *
 * The order matters: dropping the bounding set and setting securebits
 * need CAP_SETPCAP, so both happen before capset empties the permitted
 * set, and no_new_privs comes last because it needs nothing.
 */
#include "worker/cage-internal.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The v3 format has two 32-bit words per set, so no capability number
 * reaches 64; the loop below stops long before that on any real kernel. */
#define CAPS_MAX 64

/* Remove every capability from the bounding set, so that no execve (of a
 * file with file capabilities, or as uid 0 without SECBIT_NOROOT) can
 * bring one back. The bound is the kernel's last capability, exactly what
 * /proc/sys/kernel/cap_last_cap reports; PR_CAPBSET_READ gives EINVAL for
 * the first number beyond it, which works also where /proc is not (yet)
 * mounted, so the kernel's answer is the only one used. */
static int drop_bounding(agora_error_t *err)
{
        unsigned long cap;

        for (cap = 0; cap < CAPS_MAX; cap++) {
                int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

                if (r < 0 && errno == EINVAL)
                        break;
                if (r < 0)
                        return agora_error_set_errno(err, errno, "capabilities: cannot read bounding set bit %lu", cap);
                /* Dropping needs CAP_SETPCAP even for an absent bit, so a
                 * caller that has already dropped it can still get here. */
                if (r == 0)
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return agora_error_set_errno(err, errno, "capabilities: cannot drop %lu from the bounding set",
                                                     cap);
        }
        if (cap == 0 || cap == CAPS_MAX)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "capabilities: the kernel reports an implausible last capability");
        return 0;
}

/* Lock root out of the capability rules for good:
 *   NOROOT: uid 0 does not get a full permitted set back on execve (the
 *     classic "exec anything as root and have every capability again");
 *   NO_SETUID_FIXUP: setuid() between 0 and other ids does not add or
 *     remove capabilities behind our back;
 *   KEEP_CAPS off and locked: capabilities cannot survive a uid change;
 *   NO_CAP_AMBIENT_RAISE: the ambient set, which execve passes on to
 *     ordinary programs, stays empty.
 * Each with its _LOCKED bit, so the job cannot clear them again. */
static int lock_securebits(agora_error_t *err)
{
        const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                   SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        int got;

        if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
                return agora_error_set_errno(err, errno, "capabilities: cannot lock securebits");
        got = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
        if (got < 0)
                return agora_error_set_errno(err, errno, "capabilities: cannot read securebits");
        if (((unsigned long)got & bits) != bits)
                return agora_error_set(err, AGORA_ERR_FAILED, "capabilities: securebits are 0x%x, want 0x%lx set", got,
                                       bits);
        return 0;
}

static int caps_get(struct __user_cap_data_struct data[2], agora_error_t *err)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

        if (syscall(SYS_capget, &hdr, data) < 0)
                return agora_error_set_errno(err, errno, "capabilities: capget failed");
        return 0;
}

int cage_caps_drop(agora_error_t *err)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};

        if (drop_bounding(err) < 0)
                return -1;
        /* Ambient capabilities are inherited across execve of any program;
         * the set is empty on a fresh exec, but the caller may have set it. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return agora_error_set_errno(err, errno, "capabilities: cannot clear the ambient set");
        if (lock_securebits(err) < 0)
                return -1;
        /* Empty effective, permitted and inheritable, with the raw syscall:
         * libcap is one more library in the cage's setup for two calls. */
        if (syscall(SYS_capset, &hdr, data) < 0)
                return agora_error_set_errno(err, errno, "capabilities: capset to nothing failed");
        /* no_new_privs: execve can no longer grant anything (setuid bits,
         * file capabilities, LSM transitions). Landlock and seccomp both
         * require it of an unprivileged caller, which the job now is. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return agora_error_set_errno(err, errno, "capabilities: cannot set no_new_privs");

        /* Trust the result, not the calls: read everything back. */
        if (caps_get(data, err) < 0)
                return -1;
        for (int i = 0; i < 2; i++)
                if (data[i].effective != 0 || data[i].permitted != 0 || data[i].inheritable != 0)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capabilities: still held after dropping (word %d: effective 0x%x, "
                                               "permitted 0x%x, inheritable 0x%x)",
                                               i, data[i].effective, data[i].permitted, data[i].inheritable);
        for (unsigned long cap = 0; cap < CAPS_MAX; cap++) {
                int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

                if (r < 0)
                        break;
                if (r != 0)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capabilities: %lu still in the bounding set after dropping", cap);
        }
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return agora_error_set(err, AGORA_ERR_FAILED, "capabilities: no_new_privs not set after setting it");
        return 0;
}
