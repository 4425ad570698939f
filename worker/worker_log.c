/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log lines for journald: under systemd, stderr goes to the journal, which
 * takes a leading "<N>" as the line's syslog priority (SyslogLevelPrefix=,
 * on by default). Each event is formatted into one buffer and written with
 * one write(), so lines from different threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "worker/worker-internal.h"

void worker_log(int priority, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        int n = snprintf(line, sizeof(line), "<%d>agora-worker: ", priority);

        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        /* A message is one line even when it quotes something with a newline. */
        for (char *p = line + n; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        size_t len = strlen(line);
        line[len++] = '\n';
        if (write(STDERR_FILENO, line, len) < 0) {
                /* Nowhere left to report it. */
        }
}
