/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Helpers shared by the registry tests: a fresh registry in a temporary
 * directory per test, stock git run against it, and blobs from strings.
 * Everything is static inline so each test program takes only what it uses.
 */

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "capabilities/captar.h"
#include "common/cleanup.h"
#include "registry/objects.h"
#include "registry/registry.h"

typedef struct fixture {
        char dir[64]; /* temporary directory, removed afterwards */
        char path[96]; /* the registry inside it */
        registry *r;
} fixture;

static inline int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        chmod(p, 0700); /* git makes objects read-only; directories must be writable to empty */
        return remove(p);
}

static inline void rm_rf(const char *dir)
{
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Commits made by tests must not depend on the machine's git config. */
static inline void test_environment(void)
{
        setenv("GIT_AUTHOR_NAME", "Test Author", 1);
        setenv("GIT_AUTHOR_EMAIL", "author@example.test", 1);
        setenv("GIT_COMMITTER_NAME", "Test Committer", 1);
        setenv("GIT_COMMITTER_EMAIL", "committer@example.test", 1);
        setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
        setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
        unsetenv("AGORA_LOCK_TIMEOUT_MS");
}

static inline int group_setup(void **state)
{
        agora_error_t err = NULL;
        (void)state;
        test_environment();
        if (registry_global_init(&err) < 0) {
                agora_error_release(&err);
                return -1;
        }
        return 0;
}

static inline int group_teardown(void **state)
{
        (void)state;
        registry_global_shutdown();
        return 0;
}

/* A fresh, opened registry per test. */
static inline int fixture_setup(void **state)
{
        agora_error_t err = NULL;
        fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        strcpy(f->dir, "/tmp/agora-registry-test-XXXXXX");
        if (mkdtemp(f->dir) == NULL)
                return -1;
        snprintf(f->path, sizeof(f->path), "%s/reg", f->dir);
        if (registry_init(f->path, NULL, NULL, &err) < 0 || registry_open(f->path, &f->r, &err) < 0) {
                fprintf(stderr, "fixture: %s\n", agora_error_message(err));
                agora_error_release(&err);
                return -1;
        }
        *state = f;
        return 0;
}

static inline int fixture_teardown(void **state)
{
        fixture *f = *state;

        registry_free(f->r);
        rm_rf(f->dir);
        free(f);
        return 0;
}

/* Run a shell command, return its stdout (trailing newline kept) and put its
 * exit status in *ret_status. */
static inline char *run(int *ret_status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline char *run(int *ret_status, const char *fmt, ...)
{
        char *cmd = NULL, *out = NULL;
        size_t len = 0;
        va_list ap;
        FILE *in, *mem;
        int c, status;

        va_start(ap, fmt);
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        mem = open_memstream(&out, &len);
        in = popen(cmd, "r");
        if (in == NULL || mem == NULL)
                abort();
        while ((c = fgetc(in)) != EOF)
                fputc(c, mem);
        status = pclose(in);
        fclose(mem);
        free(cmd);
        if (ret_status != NULL)
                *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return out;
}

/* An fd (memfd) holding BYTES. */
static inline int bytes_fd(const void *bytes, size_t len)
{
        int fd = memfd_create("blob", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, bytes, len), (ssize_t)len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

/* Store S as a blob; returns its sha256. */
static inline agora_hash store_string(registry *r, const char *s)
{
        agora_error_t err = NULL;
        agora_hash h;
        int fd = bytes_fd(s, strlen(s));

        if (registry_store_blob(r, fd, NULL, &h, &err) < 0)
                fail_msg("store_blob: %s", agora_error_message(err));
        close(fd);
        return h;
}

/* Put DEF (consumed) as NAME of kind K and commit with MESSAGE; returns
 * whether a commit was made. */
static inline int put_commit(registry *r, registry_kind k, const char *name, json_t *def, const char *message)
{
        agora_error_t err = NULL;
        registry_txn *t = NULL;
        int changed = -1;

        if (registry_begin(r, &t, &err) < 0 || registry_txn_put(t, k, name, def, &err) < 0 ||
            registry_txn_commit(t, message, &changed, NULL, &err) < 0)
                fail_msg("put_commit %s: %s", name, agora_error_message(err));
        registry_txn_free(t);
        json_decref(def);
        return changed;
}

/* Register capability NAME whose tarball is the string CONTENT. */
static inline agora_hash put_capability(registry *r, const char *name, const char *content)
{
        agora_hash h = store_string(r, content);

        put_commit(r, REGISTRY_CAPABILITY, name, objects_capability_new(name, &h, strlen(content), 1),
                   "register capability");
        return h;
}

/* Register capability NAME whose tarball is the canonical tarball of one
 * file "f" holding CONTENT, as `agora register capability` would: what
 * verify and resolve accept. Returns the tarball's sha256. */
static inline agora_hash put_tar_capability(registry *r, const char *name, const char *content)
{
        agora_error_t err = NULL;
        char dir[] = "/tmp/agora-captar-XXXXXX", file[64];
        captar_result res;
        agora_hash stored;
        int fd, out;

        assert_non_null(mkdtemp(dir));
        snprintf(file, sizeof(file), "%s/f", dir);
        fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
        close(fd);
        out = memfd_create("tarball", MFD_CLOEXEC);
        assert_true(out >= 0);
        if (captar_build(name, dir, NULL, out, &res, &err) < 0)
                fail_msg("captar_build: %s", agora_error_message(err));
        rm_rf(dir);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        if (registry_store_blob(r, out, &res.hash, &stored, &err) < 0)
                fail_msg("store_blob: %s", agora_error_message(err));
        close(out);
        put_commit(r, REGISTRY_CAPABILITY, name, objects_capability_new(name, &stored, res.size, res.entries),
                   "register capability");
        return stored;
}

static inline void hex_of(const agora_hash *h, char out[AGORA_HASH_HEX_LEN + 1])
{
        agora_hash_hex(h, out);
}

/* Change the registry's head tree behind agora's back with stock git
 * plumbing: EDITS is shell run with GIT_DIR and a scratch GIT_INDEX_FILE set
 * after `git read-tree HEAD`; the result is committed and the branch moved. */
static inline void tamper(const fixture *f, const char *edits)
{
        int status;
        char *out = run(&status,
                        "export GIT_DIR=%1$s GIT_INDEX_FILE=%2$s/tamper.idx && git read-tree HEAD && %3$s && "
                        "t=$(git write-tree) && c=$(git commit-tree -p HEAD -m tamper $t) && "
                        "git update-ref refs/heads/main $c && rm -f %2$s/tamper.idx",
                        f->path, f->dir, edits);
        free(out);
        assert_int_equal(status, 0);
}
