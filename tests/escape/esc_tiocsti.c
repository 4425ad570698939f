/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TIOCSTI pushes bytes into a terminal's input queue: a caged program whose
 * stdio is the operator's terminal could type commands into the operator's
 * shell. setsid() takes the terminal away from the cage and the seccomp
 * filter refuses TIOCSTI outright.
 */
#define PROBE_NAME "tiocsti"
#include "probe.h"

int main(void)
{
        probe_tty_attack(TIOCSTI, ' ', NULL);
        probe_finish();
}
