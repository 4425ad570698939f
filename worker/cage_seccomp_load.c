/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 9, loading: the two filters libseccomp built from cage_seccomp.c's
 * tables at build time, loaded with the seccomp syscall itself. The order
 * and the reasons for two filters are cage_seccomp.c's.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cage_seccomp_bpf.h"
#include "common/cleanup.h"
#include "worker/cage-internal.h"

static const cage_seccomp_program programs[] = {
        /* The argument filter first: when the allowlist is loaded next, the
         * only filter in force is one whose default is ALLOW, so the
         * seccomp() call doing it cannot be refused. */
        {"argument filter", cage_seccomp_args_bpf, ARRAY_SIZE(cage_seccomp_args_bpf)},
        {"allowlist", cage_seccomp_allow_bpf, ARRAY_SIZE(cage_seccomp_allow_bpf)},
};

void cage_seccomp_programs(const cage_seccomp_program **ret, size_t *ret_n)
{
        *ret = programs;
        *ret_n = ARRAY_SIZE(programs);
}

int cage_seccomp_apply(agora_error_t *err)
{
        for (size_t i = 0; i < ARRAY_SIZE(programs); i++) {
                struct sock_fprog prog = {
                        .len = programs[i].len,
                        .filter = (struct sock_filter *)programs[i].insns,
                };
                /* TSYNC: every thread gets the filter, or the load fails (a
                 * positive return names the thread that could not be
                 * synchronised); a thread left unfiltered would be a way
                 * around it. An error after the first load leaves the
                 * process half filtered; like every error of a cage step,
                 * it means the program is not started. */
                long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
                if (rc < 0)
                        return agora_error_set_errno(err, errno, "seccomp: cannot load the %s", programs[i].what);
                if (rc > 0)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "seccomp: cannot load the %s: thread %ld not synchronised",
                                               programs[i].what, rc);
        }
        return 0;
}
