/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TIOCLINUX on a virtual console can paste the selection into the
 * console's input (the same injection as TIOCSTI). The probe asks for the
 * harmless TIOCL_GETSHIFTSTATE: reaching the console at all is the escape.
 */
#define PROBE_NAME "tioclinux"
#include "probe.h"

#include <linux/tiocl.h>

int main(void)
{
        static const char *const vts[] = {"/dev/tty0", "/dev/tty1", "/dev/console", NULL};

        probe_tty_attack(TIOCLINUX, TIOCL_GETSHIFTSTATE, vts);
        probe_finish();
}
