/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Helpers shared by the captar tests: scratch trees and capturing output. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "capabilities/captar.h"
#include "common/error.h"

static inline int captar_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        chmod(path, 0700);
        return remove(path);
}

static inline void captar_test_rm_rf(const char *path)
{
        nftw(path, captar_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh scratch directory under /tmp; the caller frees the string. */
static inline char *captar_test_tmpdir(void)
{
        char *d = strdup("/tmp/captar-test-XXXXXX");
        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static inline char *captar_test_join(const char *dir, const char *rel)
{
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        return p;
}

static inline void captar_test_mkdir(const char *dir, const char *rel, mode_t mode)
{
        char *p = captar_test_join(dir, rel);
        assert_int_equal(mkdir(p, mode), 0);
        assert_int_equal(chmod(p, mode), 0); /* past the umask */
        free(p);
}

static inline void captar_test_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
        char *p = captar_test_join(dir, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
        free(p);
}

/* Build PATH into a memfd and hand back its bytes (malloc'd). */
static inline int captar_test_build(const char *name, const char *path, const captar_limits *limits,
                                    unsigned char **ret_buf, size_t *ret_len, captar_result *ret, agora_error_t *err)
{
        int fd = memfd_create("captar-test", MFD_CLOEXEC);
        assert_true(fd >= 0);
        int r = captar_build(name, path, limits, fd, ret, err);
        if (r == 0 && ret_buf != NULL) {
                off_t len = lseek(fd, 0, SEEK_END);
                assert_true(len >= 0);
                unsigned char *buf = malloc((size_t)len + 1);
                assert_non_null(buf);
                assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
                *ret_buf = buf;
                *ret_len = (size_t)len;
        }
        close(fd);
        return r;
}

static inline void captar_test_write_bytes(const char *path, const void *buf, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, len), (ssize_t)len);
        close(fd);
}

/* Output of a shell command (stdout only), malloc'd and NUL-terminated. */
static inline char *captar_test_run(const char *fmt, ...)
{
        char *cmd = NULL, *out = NULL;
        size_t len = 0;
        va_list ap;

        va_start(ap, fmt);
        assert_true(vasprintf(&cmd, fmt, ap) > 0);
        va_end(ap);
        FILE *in = popen(cmd, "r");
        assert_non_null(in);
        FILE *mem = open_memstream(&out, &len);
        assert_non_null(mem);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
                fwrite(buf, 1, n, mem);
        fclose(mem);
        assert_int_equal(pclose(in), 0);
        free(cmd);
        return out;
}

/* The error message contains every one of the NULL-terminated needles. */
static inline void captar_test_error_says(agora_error_t err, ...)
{
        va_list ap;
        const char *needle;
        const char *msg = agora_error_message(err);

        assert_non_null(err);
        va_start(ap, err);
        while ((needle = va_arg(ap, const char *)) != NULL) {
                if (strstr(msg, needle) == NULL)
                        fail_msg("error '%s' does not mention '%s'", msg, needle);
        }
        va_end(ap);
}
