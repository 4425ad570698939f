/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf_event_open exposes hardware counters usable as side channels and a
 * long history of kernel bugs. The kernel allows a software event on
 * oneself at perf_event_paranoid <= 2, so only the filter stops this.
 */
#define PROBE_NAME "perf_event"
#include "probe.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>

int main(void)
{
        struct perf_event_attr attr = {
                .type = PERF_TYPE_SOFTWARE,
                .size = sizeof attr,
                .config = PERF_COUNT_SW_TASK_CLOCK,
                .disabled = 1,
                .exclude_kernel = 1,
                .exclude_hv = 1,
        };
        long fd;

        fd = PROBE_EXPECT_FAIL("perf_event_open(task clock, self)",
                               syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
        if (fd >= 0)
                close((int)fd);
        attr.type = PERF_TYPE_HARDWARE;
        attr.config = PERF_COUNT_HW_CPU_CYCLES;
        fd = PROBE_EXPECT_FAIL("perf_event_open(cpu cycles, self)",
                               syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
        if (fd >= 0)
                close((int)fd);
        probe_finish();
}
