/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Time for deadlines and polling, read the one way every program needs. */

#include <stdint.h>

/* Milliseconds on the monotonic clock: for deadlines and timeouts, which a
 * clock set back (by an operator or NTP) must not stretch. */
int64_t clock_monotonic_ms(void);

/* Sleep MS milliseconds, resuming after a signal handler runs. */
void clock_sleep_ms(unsigned ms);
