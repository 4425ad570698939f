/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What verbs print. Results go to stdout, one JSON document with --json;
 * progress goes to stderr and only to a terminal, so scripts and logs never
 * see carriage returns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "control/cli.h"

int output_json(const json_t *v, bool pretty, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (pretty) {
                buf = cjson_pretty(v);
                if (buf == NULL)
                        return agora_error_set_errno(err, ENOMEM, "formatting JSON");
                fputs(buf, stdout);
                return 0;
        }
        if (cjson_dump(v, &buf, &len, err) < 0)
                return -1;
        fwrite(buf, 1, len, stdout);
        fputc('\n', stdout);
        return 0;
}

int output_finish(agora_error_t *err)
{
        if (fflush(stdout) != 0 || ferror(stdout))
                return agora_error_set_errno(err, errno != 0 ? errno : EIO, "writing to stdout");
        return 0;
}

void cli_note_commit(cli_ctx *ctx, const char *commit, const char *fmt, ...)
{
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                what = NULL;
        free(ctx->committed);
        ctx->committed = NULL;
        /* Without memory for the note, main still reports the failure; it
         * only cannot add that the commit was made. */
        if (what == NULL || asprintf(&ctx->committed, "%s (commit %.7s)", what, commit) < 0)
                ctx->committed = NULL;
}

void output_format_size(uint64_t bytes, char out[32])
{
        static const char *const units[] = {"KB", "MB", "GB", "TB"};
        double v = (double)bytes;
        size_t u = 0;

        if (bytes < 1024) {
                snprintf(out, 32, "%" PRIu64 " bytes", bytes);
                return;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                v /= 1024;
                u++;
        }
        if (v < 10)
                snprintf(out, 32, "%.1f %s", v, units[u]);
        else
                snprintf(out, 32, "%.0f %s", v, units[u]);
}

void output_progress_init(output_progress *p, const char *label)
{
        memset(p, 0, sizeof(*p));
        p->label = label;
        p->last_percent = -1;
        p->enabled = isatty(STDERR_FILENO) == 1;
}

void output_progress_update(void *ctx, uint64_t done, uint64_t total)
{
        output_progress *p = ctx;
        char d[32], t[32];

        if (!p->enabled)
                return;
        if (total > 0) {
                int percent = (int)(done >= total ? 100 : done * 100 / total);
                /* Redraw only when the figure changes: a terminal is slow. */
                if (percent == p->last_percent)
                        return;
                p->last_percent = percent;
                output_format_size(done, d);
                output_format_size(total, t);
                fprintf(stderr, "\r\033[Kregistering %s: %d%% (%s of %s)", p->label, percent, d, t);
        } else {
                if (p->drawn && done - p->last_done < (1u << 20))
                        return;
                p->last_done = done;
                output_format_size(done, d);
                fprintf(stderr, "\r\033[Kregistering %s: %s", p->label, d);
        }
        p->drawn = true;
        fflush(stderr);
}

void output_progress_end(output_progress *p)
{
        if (p->enabled && p->drawn) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
        }
        p->drawn = false;
}
