/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A fresh temporary directory per test for the common/ tests that touch
 * files: *state holds its path; test_path_in names a file inside it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static inline int test_tmpdir_setup(void **state, const char *prefix)
{
        char *dir = NULL;

        if (asprintf(&dir, "/tmp/%s-XXXXXX", prefix) < 0)
                return -1;
        if (mkdtemp(dir) == NULL) {
                free(dir);
                return -1;
        }
        *state = dir;
        return 0;
}

static inline int test_tmpdir_teardown(void **state)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
        free(*state);
        return system(cmd) == 0 ? 0 : -1;
}

/* malloc'd "<test dir>/NAME". */
static inline char *path_in(void **state, const char *name)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", (char *)*state, name) > 0);
        return p;
}
