/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An env's secrets, resolved on the operator's host at dispatch. The
 * registry holds only references (env:NAME, file:/abs/path); the values
 * exist only here, in locked memory (sodium_malloc: guarded, never swapped,
 * wiped on free), for as long as it takes to send one submit, and then in
 * the worker's memory. They are laid out as `KEY=VALUE\0` records, the
 * format agora-cage --env-fd reads, so that no JSON library ever holds a
 * value in memory nobody wipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "control/dispatch.h"

#define SECRET_FILE_MAX (64u << 10)

/* A resolved value: pointing into our environment, or into locked memory
 * that is ours to free. */
typedef struct secret_value {
        const char *key;
        const char *data;
        size_t len;
        unsigned char *owned;
} secret_value;

static void values_free(secret_value *v, size_t n)
{
        if (v == NULL)
                return;
        for (size_t i = 0; i < n; i++)
                if (v[i].owned != NULL)
                        sodium_free(v[i].owned);
        free(v);
}

static int ref_error(const char *env, const char *key, const char *ref, agora_error_t *err, const char *why)
{
        return agora_error_set(err, AGORA_ERR_FAILED, "env '%s': secret '%s' (%s): %s", env, key, ref, why);
}

/* Read PATH straight into locked memory: through fs_read_file() the value
 * would pass through a malloc'd buffer that is freed unwiped. */
static int read_secret_file(const char *env, const char *key, const char *ref, const char *path, secret_value *ret,
                            agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        unsigned char *buf;
        size_t len = 0;
        struct stat st;

        if (path[0] != '/')
                return ref_error(env, key, ref, err, "not an absolute path");
        /* O_NONBLOCK: a FIFO must be refused below, not wait for a writer. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ref_error(env, key, ref, err, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return ref_error(env, key, ref, err, "not a regular file");
        /* One byte more than the limit tells a file that is too large. */
        buf = sodium_malloc(SECRET_FILE_MAX + 1);
        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "env '%s': secret '%s'", env, key);
        for (;;) {
                ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        sodium_free(buf);
                        return ref_error(env, key, ref, err, strerror(e));
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > SECRET_FILE_MAX) {
                        sodium_free(buf);
                        return ref_error(env, key, ref, err, "larger than 64 KiB");
                }
        }
        /* A NUL would end the record early: the rest of the value would be
         * read as a record of its own, another variable. */
        if (memchr(buf, '\0', len) != NULL) {
                sodium_free(buf);
                return ref_error(env, key, ref, err, "contains a NUL byte");
        }
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        ret->data = (const char *)buf;
        ret->len = len;
        ret->owned = buf;
        return 0;
}

static int resolve_one(const char *env, const char *key, const char *ref, secret_value *ret, agora_error_t *err)
{
        ret->key = key;
        if (strncmp(ref, "env:", 4) == 0) {
                const char *v = getenv(ref + 4);

                if (v == NULL)
                        return ref_error(env, key, ref, err, "variable not set");
                ret->data = v;
                ret->len = strlen(v);
                return 0;
        }
        if (strncmp(ref, "file:", 5) == 0)
                return read_secret_file(env, key, ref, ref + 5, ret, err);
        return ref_error(env, key, ref, err, "want env:NAME or file:/absolute/path");
}

static int secrets_map(const json_t *def, json_t **ret, agora_error_t *err)
{
        json_t *s = json_object_get(def, "secrets");

        if (s == NULL || json_is_null(s)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_object(s))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "env definition: 'secrets' is not a mapping");
        *ret = s;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int secrets_keys(const json_t *def, json_t **ret, agora_error_t *err)
{
        _cleanup_json_ json_t *a = json_array();
        _cleanup_free_ const char **keys = NULL;
        const char *key;
        json_t *map = NULL, *v;
        size_t n = 0;

        if (a == NULL)
                return agora_error_set_errno(err, ENOMEM, "secrets");
        if (secrets_map(def, &map, err) < 0)
                return -1;
        if (map != NULL && json_object_size(map) > 0) {
                keys = calloc(json_object_size(map), sizeof(*keys));
                if (keys == NULL)
                        return agora_error_set_errno(err, ENOMEM, "secrets");
                json_object_foreach(map, key, v)
                {
                        keys[n++] = key;
                }
                qsort(keys, n, sizeof(*keys), cmp_str);
                for (size_t i = 0; i < n; i++)
                        if (json_array_append_new(a, json_string(keys[i])) < 0)
                                return agora_error_set_errno(err, ENOMEM, "secrets");
        }
        *ret = take_ptr(a);
        return 0;
}

int secrets_resolve(const json_t *def, const char *env, unsigned char **ret, size_t *ret_len, agora_error_t *err)
{
        _cleanup_json_ json_t *keys = NULL;
        secret_value *vals = NULL;
        unsigned char *buf, *p;
        size_t n = 0, total = 0, i;
        json_t *map = NULL, *k;
        int r = -1;

        *ret = NULL;
        *ret_len = 0;
        /* In key order, so that of two missing references the same one is
         * always the one reported. */
        if (secrets_map(def, &map, err) < 0 || secrets_keys(def, &keys, err) < 0)
                return -1;
        if (json_array_size(keys) == 0)
                return 0;
        vals = calloc(json_array_size(keys), sizeof(*vals));
        if (vals == NULL)
                return agora_error_set_errno(err, ENOMEM, "env '%s': secrets", env);
        json_array_foreach(keys, i, k)
        {
                const char *key = json_string_value(k);
                json_t *ref = json_object_get(map, key);

                if (!json_is_string(ref)) {
                        agora_error_set(err, AGORA_ERR_INTEGRITY, "env '%s': secret '%s': not a reference", env, key);
                        goto out;
                }
                if (resolve_one(env, key, json_string_value(ref), &vals[n], err) < 0)
                        goto out;
                total += strlen(key) + 1 + vals[n].len + 1;
                n++;
        }
        buf = sodium_malloc(total);
        if (buf == NULL) {
                agora_error_set_errno(err, ENOMEM, "env '%s': secrets", env);
                goto out;
        }
        p = buf;
        for (i = 0; i < n; i++) {
                size_t kl = strlen(vals[i].key);

                memcpy(p, vals[i].key, kl);
                p[kl] = '=';
                memcpy(p + kl + 1, vals[i].data, vals[i].len);
                p[kl + 1 + vals[i].len] = '\0';
                p += kl + 1 + vals[i].len + 1;
        }
        *ret = buf;
        *ret_len = total;
        r = 0;
out:
        values_free(vals, n);
        return r;
}

void secrets_free(unsigned char *buf)
{
        /* sodium_free wipes the pages before it gives them back. */
        if (buf != NULL)
                sodium_free(buf);
}
