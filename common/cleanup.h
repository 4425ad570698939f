/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * systemd-style scope cleanup. A variable declared with one of these
 * attributes is released when it leaves scope, so every early return frees
 * what it took. Hand ownership on with take_ptr()/take_fd(), which return the
 * value and clear the variable so the cleanup becomes a no-op.
 */

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"

static inline void cleanup_freep(void *p)
{
        free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno; /* close() must not clobber the errno being reported */
                close(*fd);
                errno = saved;
        }
}

static inline void cleanup_fclosep(FILE **f)
{
        if (*f != NULL)
                fclose(*f);
}

static inline void cleanup_json_decrefp(json_t **j)
{
        json_decref(*j);
}

static inline void cleanup_errorp(agora_error_t *e)
{
        agora_error_release(e);
}

/* Free a NULL-terminated array of strings and the array itself. */
static inline void cleanup_strvp(char ***v)
{
        if (*v == NULL)
                return;
        for (char **p = *v; *p; p++)
                free(*p);
        free(*v);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)
#define _cleanup_json_ _cleanup_(cleanup_json_decrefp)
#define _cleanup_error_ _cleanup_(cleanup_errorp)
#define _cleanup_strv_ _cleanup_(cleanup_strvp)

#define take_ptr(p)                          \
        ({                                   \
                __typeof__(p) _taken_ = (p); \
                (p) = NULL;                  \
                _taken_;                     \
        })

#define take_fd(fd)                  \
        ({                           \
                int _taken_fd_ = fd; \
                (fd) = -1;           \
                _taken_fd_;          \
        })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
