/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Errors travel as an agora_error_t filled by the failing function and passed
 * last: the function returns a negative value, the caller either handles the
 * error or adds context with agora_error_wrap() and returns it upward.
 * Library code never prints; only main() and daemon loops log, once.
 */

#include <stdarg.h>

typedef enum agora_error_kind {
        AGORA_ERR_FAILED = 1, /* the operation failed or was denied: exit 1 */
        AGORA_ERR_USAGE = 2, /* the caller's words are wrong: exit 2 */
        AGORA_ERR_BUSY = 3, /* someone else holds the resource: exit 1 */
        AGORA_ERR_NOTFOUND = 4, /* the named object does not exist: exit 1 */
        AGORA_ERR_EXISTS = 5, /* refusing to overwrite: exit 1 */
        AGORA_ERR_INTEGRITY = 6, /* bytes do not match their hash: exit 1 */
} agora_error_kind;

typedef struct agora_error {
        agora_error_kind kind;
        int errnum; /* errno behind the failure, 0 if none */
        char *msg; /* one line, names the object */
} agora_error;

typedef agora_error *agora_error_t;

/* Fill *err (replacing anything there) and return -1. */
int agora_error_set(agora_error_t *err, agora_error_kind kind, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* As agora_error_set with AGORA_ERR_FAILED, appending ": strerror(errnum)". */
int agora_error_set_errno(agora_error_t *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the message in *err with "context: " and return -1; kind is kept. */
int agora_error_wrap(agora_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free *err and set it to NULL; safe on NULL. */
void agora_error_release(agora_error_t *err);

/* 2 for AGORA_ERR_USAGE, 1 for everything else, 0 for no error. */
int agora_error_exit_code(const agora_error_t err);

/* The message, or "unknown error" if none was set. */
const char *agora_error_message(const agora_error_t err);
