/* SPDX-License-Identifier: Apache-2.0 */
#include "common/secretscan.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/*
 * Hand-written matchers: the patterns are few and fixed, and a regex engine
 * would be one more parser fed operator input. Each matcher looks for a
 * token anywhere in the value ("Bearer ghp_…" is still a token) but only
 * where it starts at a word boundary, so longer innocent strings that merely
 * contain the letters do not trip it.
 */

static bool is_upper_alnum(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_upper_alnum(c) || (c >= 'a' && c <= 'z');
}

static bool is_b64url(char c)
{
        return is_alnum(c) || c == '_' || c == '-';
}

/* Length of the run at S of characters accepted by OK. */
static size_t run_len(const char *s, bool (*ok)(char))
{
        size_t n = 0;

        while (s[n] != '\0' && ok(s[n]))
                n++;
        return n;
}

static bool at_boundary(const char *start, const char *p)
{
        return p == start || !is_alnum(p[-1]);
}

/* Does PREFIX occur in V at a word boundary, followed by at least MIN
 * characters accepted by OK (and, if EXACT, by no further such character)? */
static bool has_token(const char *v, const char *prefix, bool (*ok)(char), size_t min, bool exact)
{
        size_t plen = strlen(prefix);

        for (const char *p = strstr(v, prefix); p != NULL; p = strstr(p + 1, prefix)) {
                size_t n;
                if (!at_boundary(v, p))
                        continue;
                n = run_len(p + plen, ok);
                if (exact ? n == min : n >= min)
                        return true;
        }
        return false;
}

static bool has_aws_key_id(const char *v)
{
        /* AKIA: long-term keys; ASIA: temporary STS keys. 20 characters in all. */
        return has_token(v, "AKIA", is_upper_alnum, 16, true) || has_token(v, "ASIA", is_upper_alnum, 16, true);
}

static bool has_github_token(const char *v)
{
        static const char *const prefixes[] = {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"};

        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                if (has_token(v, prefixes[i], is_alnum, 36, false))
                        return true;
        return has_token(v, "github_pat_", is_b64url, 22, false);
}

static bool has_slack_token(const char *v)
{
        static const char *const prefixes[] = {"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"};

        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                if (has_token(v, prefixes[i], is_b64url, 10, false))
                        return true;
        return false;
}

static bool has_pem_private_key(const char *v)
{
        for (const char *p = strstr(v, "-----BEGIN"); p != NULL; p = strstr(p + 1, "-----BEGIN")) {
                const char *end = strstr(p + 10, "-----");
                const char *k = strstr(p + 10, "PRIVATE KEY");
                /* "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"…
                 * all name it inside the same BEGIN line. */
                if (k != NULL && (end == NULL || k < end))
                        return true;
        }
        return false;
}

static bool has_jwt(const char *v)
{
        /* base64url('{"') is "eyJ": every JWT header starts with it. */
        for (const char *p = strstr(v, "eyJ"); p != NULL; p = strstr(p + 1, "eyJ")) {
                size_t a, b;
                if (!at_boundary(v, p))
                        continue;
                a = run_len(p, is_b64url);
                if (a < 10 || p[a] != '.')
                        continue;
                b = run_len(p + a + 1, is_b64url);
                if (b < 4 || p[a + 1 + b] != '.')
                        continue;
                return true;
        }
        return false;
}

/* scheme://user:password@host — the password sits in the URL in clear. */
static bool has_url_password(const char *v)
{
        for (const char *p = strstr(v, "://"); p != NULL; p = strstr(p + 1, "://")) {
                const char *auth = p + 3, *end, *at = NULL, *colon;
                if (p == v || !is_alnum(p[-1]))
                        continue;
                end = auth + strcspn(auth, "/?# \t\r\n");
                for (const char *q = auth; q < end; q++)
                        if (*q == '@')
                                at = q;
                if (at == NULL)
                        continue;
                colon = memchr(auth, ':', (size_t)(at - auth));
                if (colon != NULL && colon + 1 < at)
                        return true;
        }
        return false;
}

static const char *value_reason(const char *v)
{
        if (has_pem_private_key(v))
                return "PEM private key";
        if (has_aws_key_id(v))
                return "AWS access key id";
        if (has_github_token(v))
                return "GitHub token";
        if (has_slack_token(v))
                return "Slack token";
        if (has_token(v, "sk-ant-", is_b64url, 20, false))
                return "Anthropic API key";
        if (has_token(v, "sk-", is_b64url, 20, false))
                return "API secret key (sk-…)";
        if (has_token(v, "AIza", is_b64url, 35, false))
                return "Google API key";
        if (has_jwt(v))
                return "JSON Web Token";
        if (has_url_password(v))
                return "URL with an embedded password";
        return NULL;
}

/* Key-name words that mark credentials, with the longer innocent words
 * that contain them (GIT_AUTHOR_NAME, TOKENIZERS_PARALLELISM). */
static const struct {
        const char *word;
        const char *unless_followed_by;
} key_words[] = {
        {"TOKEN", "IZER"},     {"SECRET", NULL},     {"PASSWORD", NULL}, {"PASSWD", NULL},
        {"PASSPHRASE", NULL},  {"API_KEY", NULL},    {"APIKEY", NULL},   {"ACCESS_KEY", NULL},
        {"PRIVATE_KEY", NULL}, {"CREDENTIAL", NULL}, {"AUTH", "OR"},
};

static bool key_suggests_credential(const char *key)
{
        for (size_t i = 0; i < sizeof(key_words) / sizeof(key_words[0]); i++) {
                const char *w = key_words[i].word, *u = key_words[i].unless_followed_by;
                size_t wl = strlen(w);
                for (const char *p = strcasestr(key, w); p != NULL; p = strcasestr(p + 1, w)) {
                        if (u != NULL && strncasecmp(p + wl, u, strlen(u)) == 0)
                                continue;
                        return true;
                }
        }
        return false;
}

const char *secretscan_reason(const char *key, const char *value)
{
        const char *r;

        if (value == NULL || value[0] == '\0')
                return NULL;
        r = value_reason(value);
        if (r != NULL)
                return r;
        if (key != NULL && key_suggests_credential(key))
                return "key name suggests a credential";
        return NULL;
}
