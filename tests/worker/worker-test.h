/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by the worker tests that run a probe in a forked child: the
 * child reports the errno its attempt got as its exit status. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

/* The child exited normally with CODE (an errno value, or 0). */
static inline void expect_exit(int status, int code)
{
        if (!WIFEXITED(status))
                fail_msg("child did not exit normally (signal %d)", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        if (WEXITSTATUS(status) != code)
                fail_msg("child exited %d (%s), want %d (%s)", WEXITSTATUS(status), strerror(WEXITSTATUS(status)), code,
                         strerror(code));
}
