/* SPDX-License-Identifier: Apache-2.0 */
#include "common/schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "a mapping";
        case JSON_ARRAY:
                return "a list";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a real number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

int schema_check_keys(const json_t *obj, const char *const *allowed, const char *what, agora_error_t *err)
{
        const char *key;
        json_t *value;

        if (!json_is_object(obj))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: must be a mapping, not %s", what,
                                       obj ? type_name(obj) : "nothing");
        /* A misspelt key silently ignored would leave, say, a memory limit
         * unset while the author believes it applies. */
        json_object_foreach((json_t *)obj, key, value)
        {
                bool ok = false;
                (void)value;
                for (const char *const *a = allowed; *a != NULL; a++)
                        if (strcmp(*a, key) == 0) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: unknown key '%s'", what, key);
        }
        return 0;
}

/* OBJ[KEY] into *RET, NULL when absent or null, which is an error unless
 * OPTIONAL. Shared by every typed getter below. */
static int lookup(const json_t *obj, const char *key, bool optional, const char *what, json_t **ret, agora_error_t *err)
{
        json_t *v;

        *ret = NULL;
        if (!json_is_object(obj))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: must be a mapping, not %s", what,
                                       obj ? type_name(obj) : "nothing");
        v = json_object_get(obj, key);
        if (v == NULL || json_is_null(v)) {
                if (optional)
                        return 0;
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: missing required key '%s'", what, key);
        }
        *ret = v;
        return 0;
}

/* Fetch OBJ[KEY] checking its type; absent or null is fine only if OPTIONAL. */
static int get_typed(const json_t *obj, const char *key, bool optional, const char *what, json_type type,
                     const char *want, json_t **ret, agora_error_t *err)
{
        json_t *v;

        if (ret != NULL)
                *ret = NULL;
        if (lookup(obj, key, optional, what, &v, err) < 0)
                return -1;
        if (v == NULL)
                return 0;
        if (json_typeof(v) != type)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: '%s' must be %s, not %s", what, key, want,
                                       type_name(v));
        if (ret != NULL)
                *ret = v;
        return 0;
}

int schema_get_object(const json_t *obj, const char *key, bool optional, const char *what, json_t **ret,
                      agora_error_t *err)
{
        return get_typed(obj, key, optional, what, JSON_OBJECT, "a mapping", ret, err);
}

int schema_get_array(const json_t *obj, const char *key, bool optional, const char *what, json_t **ret,
                     agora_error_t *err)
{
        return get_typed(obj, key, optional, what, JSON_ARRAY, "a list", ret, err);
}

int schema_get_string(const json_t *obj, const char *key, bool optional, const char *what, const char **ret,
                      agora_error_t *err)
{
        json_t *v = NULL;

        if (ret != NULL)
                *ret = NULL;
        if (get_typed(obj, key, optional, what, JSON_STRING, "a string", &v, err) < 0)
                return -1;
        if (v != NULL && ret != NULL)
                *ret = json_string_value(v);
        return 0;
}

int schema_get_uint(const json_t *obj, const char *key, bool optional, const char *what, uint64_t *ret,
                    bool *ret_present, agora_error_t *err)
{
        json_t *v;

        if (ret_present != NULL)
                *ret_present = false;
        if (lookup(obj, key, optional, what, &v, err) < 0)
                return -1;
        if (v == NULL)
                return 0;
        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i < 0)
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: '%s' must not be negative", what, key);
                *ret = (uint64_t)i;
        } else if (json_is_string(v)) {
                if (schema_parse_size(json_string_value(v), ret) < 0)
                        return agora_error_set(
                                err, AGORA_ERR_USAGE,
                                "%s: '%s' is '%s', want a whole number with an optional K, M, G or T suffix", what, key,
                                json_string_value(v));
        } else {
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: '%s' must be a number, not %s", what, key,
                                       type_name(v));
        }
        if (ret_present != NULL)
                *ret_present = true;
        return 0;
}

int schema_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
        unsigned long long v;
        char *end = NULL;

        if (s == NULL || *s < '0' || *s > '9')
                return -1;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -1;
        *ret = v;
        return 0;
}

int schema_parse_size(const char *s, uint64_t *ret)
{
        uint64_t n = 0, mult = 1;
        const char *p = s;

        if (s == NULL || !isdigit((unsigned char)*p))
                return -1;
        for (; isdigit((unsigned char)*p); p++) {
                unsigned d = (unsigned)(*p - '0');
                if (n > (UINT64_MAX - d) / 10)
                        return -1;
                n = n * 10 + d;
        }
        switch (*p) {
        case '\0':
        case 'B':
                break;
        case 'K':
        case 'k':
                mult = 1ull << 10;
                p++;
                break;
        case 'M':
        case 'm':
                mult = 1ull << 20;
                p++;
                break;
        case 'G':
        case 'g':
                mult = 1ull << 30;
                p++;
                break;
        case 'T':
        case 't':
                mult = 1ull << 40;
                p++;
                break;
        default:
                return -1;
        }
        /* "64M", "64MiB" and "64MB" all mean 64 MiB: memory limits are binary
         * whatever the author called them, and "B" alone is plain bytes. */
        if (mult > 1 && p[0] == 'i' && p[1] == 'B')
                p += 2;
        else if (p[0] == 'B')
                p++;
        if (*p != '\0')
                return -1;
        if (n > UINT64_MAX / mult)
                return -1;
        *ret = n * mult;
        return 0;
}
