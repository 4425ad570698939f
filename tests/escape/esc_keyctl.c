/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel keyrings are not namespaced: the user keyring of the host uid
 * behind the cage, and keys that other processes of that uid left there,
 * are reachable through keyctl. The seccomp filter refuses the family.
 */
#define PROBE_NAME "keyctl"
#include "probe.h"

#include <linux/keyctl.h>
#include <sys/syscall.h>

int main(void)
{
        PROBE_EXPECT_FAIL("keyctl(GET_KEYRING_ID, user keyring)",
                          syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 1));
        PROBE_EXPECT_FAIL("keyctl(JOIN_SESSION_KEYRING)",
                          syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "agora-escape"));
        PROBE_EXPECT_FAIL("keyctl(DESCRIBE, session keyring)",
                          syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, NULL, 0));
        probe_finish();
}
