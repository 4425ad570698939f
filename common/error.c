/* SPDX-License-Identifier: Apache-2.0 */
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *format_message(const char *fmt, va_list ap)
{
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                return NULL;
        /* An error is one line: a newline in a file name must not forge a second one. */
        for (char *p = msg; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        return msg;
}

static void replace(agora_error_t *err, agora_error_kind kind, int errnum, char *msg)
{
        agora_error *e;

        if (err == NULL) {
                free(msg);
                return;
        }
        agora_error_release(err);
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
                /* Out of memory: keep a static-free error by leaving *err NULL is
                 * worse than aborting, since callers would treat it as success. */
                free(msg);
                abort();
        }
        e->kind = kind;
        e->errnum = errnum;
        e->msg = msg;
        *err = e;
}

int agora_error_set(agora_error_t *err, agora_error_kind kind, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        char *msg = format_message(fmt, ap);
        va_end(ap);
        replace(err, kind, 0, msg);
        return -1;
}

int agora_error_set_errno(agora_error_t *err, int errnum, const char *fmt, ...)
{
        va_list ap;
        char *msg = NULL, *full = NULL;

        va_start(ap, fmt);
        msg = format_message(fmt, ap);
        va_end(ap);
        if (msg != NULL && asprintf(&full, "%s: %s", msg, strerror(errnum)) < 0)
                full = NULL;
        free(msg);
        replace(err, AGORA_ERR_FAILED, errnum, full);
        return -1;
}

int agora_error_wrap(agora_error_t *err, const char *fmt, ...)
{
        va_list ap;
        char *ctx, *full = NULL;

        if (err == NULL || *err == NULL)
                return -1;
        va_start(ap, fmt);
        ctx = format_message(fmt, ap);
        va_end(ap);
        if (ctx != NULL && asprintf(&full, "%s: %s", ctx, agora_error_message(*err)) >= 0) {
                free((*err)->msg);
                (*err)->msg = full;
        }
        free(ctx);
        return -1;
}

void agora_error_release(agora_error_t *err)
{
        if (err == NULL || *err == NULL)
                return;
        free((*err)->msg);
        free(*err);
        *err = NULL;
}

int agora_error_exit_code(const agora_error_t err)
{
        if (err == NULL)
                return 0;
        return err->kind == AGORA_ERR_USAGE ? 2 : 1;
}

const char *agora_error_message(const agora_error_t err)
{
        if (err == NULL || err->msg == NULL)
                return "unknown error";
        return err->msg;
}
