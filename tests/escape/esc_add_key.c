/* SPDX-License-Identifier: Apache-2.0 */
/*
 * add_key and request_key, the other doors to the (not namespaced) kernel
 * keyrings; request_key can even make the kernel run a helper program on
 * the host. The seccomp filter refuses both.
 */
#define PROBE_NAME "add_key"
#include "probe.h"

#include <linux/keyctl.h>
#include <sys/syscall.h>

int main(void)
{
        PROBE_EXPECT_FAIL("add_key(user, process keyring)",
                          syscall(SYS_add_key, "user", "agora-escape", "x", 1, KEY_SPEC_PROCESS_KEYRING));
        PROBE_EXPECT_FAIL("add_key(keyring, session keyring)",
                          syscall(SYS_add_key, "keyring", "agora-escape", NULL, 0, KEY_SPEC_SESSION_KEYRING));
        PROBE_EXPECT_FAIL("request_key(user)",
                          syscall(SYS_request_key, "user", "agora-escape-none", NULL, KEY_SPEC_PROCESS_KEYRING));
        probe_finish();
}
