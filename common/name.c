/* SPDX-License-Identifier: Apache-2.0 */
#include "common/name.h"

#include <stdio.h>
#include <string.h>

/* Longest name quoted back in an error; longer ones are described by length. */
#define NAME_QUOTE_MAX AGORA_NAME_MAX

/* Render NAME for an error: printable ASCII as is, every other byte as \xNN,
 * so a hostile name cannot forge terminal escapes or a second log line. */
static void quote_name(const char *name, char *out, size_t outsz)
{
        size_t o = 0;

        for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < outsz; p++) {
                if (*p >= 0x20 && *p < 0x7f && *p != '\\')
                        out[o++] = (char)*p;
                else
                        o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", *p);
        }
        out[o] = '\0';
}

/* Describe byte C (a rejected character) the same way. */
static void quote_byte(unsigned char c, char out[8])
{
        if (c >= 0x20 && c < 0x7f && c != '\\')
                snprintf(out, 8, "%c", c);
        else
                snprintf(out, 8, "\\x%02x", c);
}

static bool is_name_char(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
}

int agora_name_check(const char *kind, const char *name, agora_error_t *err)
{
        char q[4 * NAME_QUOTE_MAX + 1], b[8];
        size_t len;

        if (name == NULL || name[0] == '\0')
                return agora_error_set(err, AGORA_ERR_USAGE, "%s name '': must not be empty", kind);
        len = strlen(name);
        if (len > AGORA_NAME_MAX)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s name (%zu bytes): longer than %d bytes", kind, len,
                                       AGORA_NAME_MAX);
        quote_name(name, q, sizeof(q));
        /* Names become file names and mount points: a leading '.' hides the
         * file and makes "." and ".." possible; a leading '-' turns the name
         * into an option when it reaches a command line. */
        if (name[0] == '.')
                return agora_error_set(err, AGORA_ERR_USAGE, "%s name '%s': must not start with '.'", kind, q);
        if (name[0] == '-')
                return agora_error_set(err, AGORA_ERR_USAGE, "%s name '%s': must not start with '-'", kind, q);
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                if (is_name_char(*p))
                        continue;
                quote_byte(*p, b);
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "%s name '%s': '%s' is not allowed (use letters, digits, '.', '_' and '-')",
                                       kind, q, b);
        }
        return 0;
}

int agora_env_key_check(const char *key, agora_error_t *err)
{
        char q[4 * NAME_QUOTE_MAX + 1], b[8];
        size_t len;

        if (key == NULL || key[0] == '\0')
                return agora_error_set(err, AGORA_ERR_USAGE, "env key '': must not be empty");
        len = strlen(key);
        if (len > AGORA_NAME_MAX)
                return agora_error_set(err, AGORA_ERR_USAGE, "env key (%zu bytes): longer than %d bytes", len,
                                       AGORA_NAME_MAX);
        quote_name(key, q, sizeof(q));
        /* Shells and execve consumers agree only on this portable set; '='
         * in a key would split differently for different readers. */
        if (key[0] >= '0' && key[0] <= '9')
                return agora_error_set(err, AGORA_ERR_USAGE, "env key '%s': must not start with a digit", q);
        for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
                unsigned char c = *p;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
                        continue;
                quote_byte(c, b);
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "env key '%s': '%s' is not allowed (use letters, digits and '_')", q, b);
        }
        return 0;
}
