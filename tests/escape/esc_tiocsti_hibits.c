/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ioctl's command is an unsigned int in the kernel, but the seccomp filter
 * sees the full 64-bit register: a filter comparing all 64 bits against
 * TIOCSTI lets 0xdeadbeef00000000|TIOCSTI through, and the kernel then runs
 * TIOCSTI. The filter must compare the low 32 bits only (a masked compare).
 */
#define PROBE_NAME "tiocsti_hibits"
#include "probe.h"

int main(void)
{
        probe_tty_attack(0xdeadbeef00000000UL | TIOCSTI, ' ', NULL);
        probe_finish();
}
