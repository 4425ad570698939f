/* SPDX-License-Identifier: Apache-2.0 */
#include "common/cjson.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

/* A growable byte buffer; canonical output is built here and handed out. */
typedef struct cbuf {
        char *data;
        size_t len, cap;
        bool oom;
} cbuf;

static void cbuf_put(cbuf *b, const void *p, size_t n)
{
        if (b->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *d = realloc(b->data, cap);
                if (d == NULL) {
                        b->oom = true;
                        return;
                }
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
}

static void cbuf_putc(cbuf *b, char c)
{
        cbuf_put(b, &c, 1);
}

static void cbuf_puts(cbuf *b, const char *s)
{
        cbuf_put(b, s, strlen(s));
}

/* Only what JSON requires is escaped: everything else passes through as raw
 * UTF-8, so there is exactly one spelling of every string. */
static void put_string(cbuf *b, const char *s, size_t n)
{
        size_t run = 0;

        cbuf_putc(b, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                const char *esc = NULL;
                char u[7];

                switch (c) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\b':
                        esc = "\\b";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                default:
                        if (c < 0x20) {
                                snprintf(u, sizeof(u), "\\u%04x", c);
                                esc = u;
                        }
                }
                if (esc == NULL)
                        continue;
                cbuf_put(b, s + run, i - run);
                cbuf_puts(b, esc);
                run = i + 1;
        }
        cbuf_put(b, s + run, n - run);
        cbuf_putc(b, '"');
}

typedef struct key_ref {
        const char *key;
        size_t len;
        json_t *value;
} key_ref;

/* Bytewise on the UTF-8 encoding, shorter prefix first: strcmp's order, but
 * also total for keys that a program built with embedded NULs. */
static int key_cmp(const void *a, const void *b)
{
        const key_ref *x = a, *y = b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->key, y->key, n);

        if (c != 0)
                return c;
        return (x->len > y->len) - (x->len < y->len);
}

/* Where in the document a real number sat, for the error message. */
#define PATH_MAX_SHOWN 200

static int put_value(cbuf *b, const json_t *v, char *path, size_t plen, agora_error_t *err);

static void path_push_key(char *path, size_t plen, const char *key)
{
        if (plen < PATH_MAX_SHOWN)
                snprintf(path + plen, PATH_MAX_SHOWN + 1 - plen, ".%s", key);
}

static void path_push_index(char *path, size_t plen, size_t idx)
{
        if (plen < PATH_MAX_SHOWN)
                snprintf(path + plen, PATH_MAX_SHOWN + 1 - plen, "[%zu]", idx);
}

static int put_object(cbuf *b, const json_t *v, char *path, size_t plen, agora_error_t *err)
{
        size_t n = json_object_size(v), i = 0;
        _cleanup_free_ key_ref *keys = NULL;
        const char *key;
        json_t *value;

        if (n > 0) {
                keys = calloc(n, sizeof(*keys));
                if (keys == NULL)
                        return agora_error_set_errno(err, ENOMEM, "canonical JSON");
        }
        json_object_foreach((json_t *)v, key, value)
        {
                keys[i].key = key;
                keys[i].len = json_object_iter_key_len(json_object_key_to_iter(key));
                keys[i].value = value;
                i++;
        }
        if (n > 1)
                qsort(keys, n, sizeof(*keys), key_cmp);
        cbuf_putc(b, '{');
        for (i = 0; i < n; i++) {
                if (i > 0)
                        cbuf_putc(b, ',');
                put_string(b, keys[i].key, keys[i].len);
                cbuf_putc(b, ':');
                path_push_key(path, plen, keys[i].key);
                if (put_value(b, keys[i].value, path, strlen(path), err) < 0)
                        return -1;
                path[plen] = '\0';
        }
        cbuf_putc(b, '}');
        return 0;
}

static int put_value(cbuf *b, const json_t *v, char *path, size_t plen, agora_error_t *err)
{
        char num[32];

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return put_object(b, v, path, plen, err);
        case JSON_ARRAY:
                cbuf_putc(b, '[');
                for (size_t i = 0; i < json_array_size(v); i++) {
                        if (i > 0)
                                cbuf_putc(b, ',');
                        path_push_index(path, plen, i);
                        if (put_value(b, json_array_get(v, i), path, strlen(path), err) < 0)
                                return -1;
                        path[plen] = '\0';
                }
                cbuf_putc(b, ']');
                return 0;
        case JSON_STRING:
                put_string(b, json_string_value(v), json_string_length(v));
                return 0;
        case JSON_INTEGER:
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                cbuf_puts(b, num);
                return 0;
        case JSON_REAL:
                /* Reals print differently across libraries and locales, and a
                 * signed document must have exactly one byte form. */
                return agora_error_set(
                        err, AGORA_ERR_USAGE,
                        "canonical JSON: real number %g at '%s' has no canonical form (use an integer or a string)",
                        json_real_value(v), plen ? path : ".");
        case JSON_TRUE:
                cbuf_puts(b, "true");
                return 0;
        case JSON_FALSE:
                cbuf_puts(b, "false");
                return 0;
        case JSON_NULL:
                cbuf_puts(b, "null");
                return 0;
        }
        return agora_error_set(err, AGORA_ERR_USAGE, "canonical JSON: unknown value type at '%s'", plen ? path : ".");
}

int cjson_dump(const json_t *v, char **ret_buf, size_t *ret_len, agora_error_t *err)
{
        cbuf b = {0};
        char path[PATH_MAX_SHOWN + 1] = "";

        if (v == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "canonical JSON: no value");
        if (put_value(&b, v, path, 0, err) < 0) {
                free(b.data);
                return -1;
        }
        if (b.oom) {
                free(b.data);
                return agora_error_set_errno(err, ENOMEM, "canonical JSON");
        }
        *ret_buf = b.data;
        if (ret_len != NULL)
                *ret_len = b.len;
        return 0;
}

int cjson_hash(const json_t *v, agora_hash *ret, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (cjson_dump(v, &buf, &len, err) < 0)
                return -1;
        agora_hash_buffer(buf, len, ret);
        return 0;
}

int cjson_parse(const char *buf, size_t len, const char *what, json_t **ret, agora_error_t *err)
{
        json_error_t jerr;
        json_t *v;

        /* Duplicate keys are how two parsers are made to disagree about what
         * was signed; trailing bytes are how a document hides a second one.
         * jansson checks UTF-8 itself, and without JSON_ALLOW_NUL refuses
         * "\u0000", which C strings downstream would silently truncate at.
         * Any value may be the top level: callers check the type they need. */
        v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (v == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s:%d:%d: %s", what, jerr.line, jerr.column, jerr.text);
        *ret = v;
        return 0;
}

bool cjson_is_canonical(const char *buf, size_t len)
{
        _cleanup_json_ json_t *v = NULL;
        _cleanup_free_ char *out = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t out_len = 0;

        if (cjson_parse(buf, len, "document", &v, &err) < 0)
                return false;
        if (cjson_dump(v, &out, &out_len, &err) < 0)
                return false;
        return out_len == len && memcmp(out, buf, len) == 0;
}

char *cjson_pretty(const json_t *v)
{
        _cleanup_free_ char *s = NULL;
        char *out = NULL;

        s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (s == NULL)
                return NULL;
        if (asprintf(&out, "%s\n", s) < 0)
                return NULL;
        return out;
}
