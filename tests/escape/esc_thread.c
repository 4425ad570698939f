/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seccomp filters are per thread: a filter installed without TSYNC in one
 * thread leaves threads that already existed unfiltered. The cage's filter
 * is installed before exec, so every thread of the program must have it;
 * in a second thread the probe checks /proc/thread-self/status (Seccomp: 2,
 * NoNewPrivs: 1) and makes two calls the filter refuses: unshare of a user
 * namespace and add_key (which the kernel itself would allow).
 */
#define PROBE_NAME "thread"
#include "probe.h"

#include <linux/keyctl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

static void *second_thread(void *arg)
{
        char seccomp[32], nnp[32];

        (void)arg;
        if (!probe_status_field("/proc/thread-self/status", "Seccomp", seccomp, sizeof seccomp))
                snprintf(seccomp, sizeof seccomp, "unreadable");
        if (!probe_status_field("/proc/thread-self/status", "NoNewPrivs", nnp, sizeof nnp))
                snprintf(nnp, sizeof nnp, "unreadable");
        if (strcmp(seccomp, "2") != 0)
                probe_escape("second thread has Seccomp: %s", seccomp);
        else
                probe_note("second thread has Seccomp: 2");
        if (strcmp(nnp, "1") != 0)
                probe_escape("second thread has NoNewPrivs: %s", nnp);
        /* A threaded process may not unshare a user namespace (EINVAL from
         * the kernel); only EPERM or ENOSYS shows the filter. */
        PROBE_EXPECT_FAIL("thread unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
        PROBE_EXPECT_FAIL("thread add_key",
                          syscall(SYS_add_key, "user", "agora-escape", "x", 1, KEY_SPEC_PROCESS_KEYRING));
        return NULL;
}

int main(void)
{
        pthread_t t;
        int e = pthread_create(&t, NULL, second_thread, NULL);

        if (e)
                probe_error("pthread_create: %s", probe_errno_name(e));
        pthread_join(t, NULL);
        probe_finish();
}
