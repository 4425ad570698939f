/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatch manifest: built by the operator's agora, parsed and checked
 * by the worker. The parser is the worker's first contact with bytes from
 * the network, so it accepts exactly the canonical form with a closed set
 * of keys, and every name in it is checked as the registry checks names
 * before anything uses one as a path.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/manifest.h"
#include "common/name.h"
#include "common/schema.h"

static const char *const refusal_codes[REFUSE__COUNT] = {
        [REFUSE_NONE] = "none",
        [REFUSE_MALFORMED] = "malformed",
        [REFUSE_NO_SIGNATURE] = "no-signature",
        [REFUSE_BAD_SIGNATURE] = "bad-signature",
        [REFUSE_UNTRUSTED_KEY] = "untrusted-key",
        [REFUSE_EXPIRED] = "expired",
        [REFUSE_NOT_YET_VALID] = "not-yet-valid",
        [REFUSE_REPLAYED] = "replayed",
        [REFUSE_HASH_MISMATCH] = "hash-mismatch",
        [REFUSE_BUSY] = "busy",
        [REFUSE_DUPLICATE] = "duplicate",
        [REFUSE_NOT_FOUND] = "not-found",
        [REFUSE_FAILED] = "failed",
};

const char *manifest_refusal_code(manifest_refusal r)
{
        return (unsigned)r < REFUSE__COUNT ? refusal_codes[r] : "failed";
}

manifest_refusal manifest_refusal_parse(const char *code)
{
        for (unsigned i = 1; code != NULL && i < REFUSE__COUNT; i++)
                if (strcmp(code, refusal_codes[i]) == 0)
                        return (manifest_refusal)i;
        return REFUSE_FAILED;
}

void manifest_random_id(char out[MANIFEST_ID_LEN + 1])
{
        unsigned char r[MANIFEST_ID_LEN / 2];

        randombytes_buf(r, sizeof(r));
        sodium_bin2hex(out, MANIFEST_ID_LEN + 1, r, sizeof(r));
}

void manifest_free(manifest *m)
{
        if (m == NULL)
                return;
        free(m->subagent.name);
        free(m->env.name);
        for (size_t i = 0; i < m->n_caps; i++)
                free(m->caps[i].name);
        free(m->caps);
        free(m->profile);
        free(m->entrypoint);
        for (size_t i = 0; i < m->n_args; i++)
                free(m->args[i]);
        free(m->args);
        free(m);
}

static bool is_hex(const char *s, size_t n)
{
        return strlen(s) == n && agora_is_lower_hex(s, n);
}

/* ---- building ---- */

static int ref_from(const json_t *o, const char *kind, manifest_ref *ret, agora_error_t *err)
{
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *hash = json_string_value(json_object_get(o, "contentHash"));

        if (name == NULL || hash == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: no name or contentHash", kind);
        if (agora_name_check(kind, name, err) < 0 || agora_hash_parse(hash, &ret->hash, err) < 0)
                return -1;
        ret->name = strdup(name);
        return ret->name == NULL ? agora_error_set_errno(err, ENOMEM, "%s '%s'", kind, name) : 0;
}

int manifest_from_resolved(const json_t *resolved, char *const *args, size_t n_args, uint64_t timeout_s,
                           uint64_t valid_s, const char *key_id, manifest **ret, agora_error_t *err)
{
        _cleanup_manifest_ manifest *m = calloc(1, sizeof(*m));
        const json_t *caps = json_object_get(resolved, "capabilities"), *c;
        const char *commit = json_string_value(json_object_get(resolved, "registryCommit"));
        const char *profile = json_string_value(json_object_get(resolved, "profile"));
        const char *entry = json_string_value(json_object_get(resolved, "entrypoint"));
        _cleanup_free_ char *text = NULL;
        manifest *check = NULL;
        size_t i, len = 0;

        if (m == NULL)
                return agora_error_set_errno(err, ENOMEM, "manifest");
        if (key_id == NULL || strlen(key_id) >= sizeof(m->key_id))
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: no key id, or one that is too long");
        if (commit == NULL || !is_hex(commit, 40) || profile == NULL || entry == NULL || !json_is_array(caps))
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: the resolved document is incomplete");
        if (n_args > MANIFEST_MAX_ARGS)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: %zu arguments, above the limit of %d", n_args,
                                       MANIFEST_MAX_ARGS);
        if (valid_s == 0 || valid_s > MANIFEST_MAX_WINDOW_S)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: validity of %llu s (want 1 to %d)",
                                       (unsigned long long)valid_s, MANIFEST_MAX_WINDOW_S);
        manifest_random_id(m->dispatch_id);
        manifest_random_id(m->nonce);
        memcpy(m->registry_commit, commit, 41);
        snprintf(m->key_id, sizeof(m->key_id), "%s", key_id);
        if (ref_from(json_object_get(resolved, "subagent"), "subagent", &m->subagent, err) < 0 ||
            ref_from(json_object_get(resolved, "env"), "env", &m->env, err) < 0)
                return -1;
        m->caps = calloc(json_array_size(caps) + 1, sizeof(*m->caps));
        m->args = calloc(n_args + 1, sizeof(char *));
        m->profile = strdup(profile);
        m->entrypoint = strdup(entry);
        if (m->caps == NULL || m->args == NULL || m->profile == NULL || m->entrypoint == NULL)
                return agora_error_set_errno(err, ENOMEM, "manifest");
        json_array_foreach(caps, i, c)
        {
                if (ref_from(c, "capability", &m->caps[i], err) < 0)
                        return -1;
                m->n_caps++;
        }
        for (i = 0; i < n_args; i++) {
                m->args[i] = strdup(args[i]);
                if (m->args[i] == NULL)
                        return agora_error_set_errno(err, ENOMEM, "manifest");
                m->n_args++;
        }
        m->timeout_s = timeout_s;
        m->issued_at = (int64_t)time(NULL);
        m->expires_at = m->issued_at + (int64_t)valid_s;
        /* What the operator signs must be what every worker's parser
         * accepts: checked here by that same parser, not by a second copy
         * of its rules. */
        if (manifest_dump(m, &text, &len, err) < 0 || manifest_parse(text, len, &check, err) < 0)
                return agora_error_wrap(err, "dispatch of subagent '%s'", m->subagent.name);
        manifest_free(check);
        *ret = take_ptr(m);
        return 0;
}

static json_t *ref_json(const manifest_ref *r)
{
        char h[AGORA_HASH_STR_LEN + 1];

        agora_hash_format(&r->hash, h);
        return json_pack("{s:s, s:s}", "name", r->name, "contentHash", h);
}

int manifest_to_json(const manifest *m, json_t **ret, agora_error_t *err)
{
        _cleanup_json_ json_t *caps = json_array(), *args = json_array(), *o = NULL;

        if (caps == NULL || args == NULL)
                return agora_error_set_errno(err, ENOMEM, "manifest");
        for (size_t i = 0; i < m->n_caps; i++)
                if (json_array_append_new(caps, ref_json(&m->caps[i])) < 0)
                        return agora_error_set_errno(err, ENOMEM, "manifest");
        for (size_t i = 0; i < m->n_args; i++)
                if (json_array_append_new(args, json_string(m->args[i])) < 0)
                        return agora_error_set(err, AGORA_ERR_USAGE, "manifest: argument %zu is not UTF-8", i + 1);
        o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:O, s:s, s:s, s:O, s:I, s:s, s:I, s:I, s:s}", "type", MANIFEST_TYPE,
                      "dispatchId", m->dispatch_id, "registryCommit", m->registry_commit, "subagent",
                      ref_json(&m->subagent), "env", ref_json(&m->env), "capabilities", caps, "profile", m->profile,
                      "entrypoint", m->entrypoint, "args", args, "timeoutS", (json_int_t)m->timeout_s, "nonce",
                      m->nonce, "issuedAt", (json_int_t)m->issued_at, "expiresAt", (json_int_t)m->expires_at, "keyId",
                      m->key_id);
        if (o == NULL)
                return agora_error_set_errno(err, ENOMEM, "manifest");
        *ret = take_ptr(o);
        return 0;
}

int manifest_dump(const manifest *m, char **ret_text, size_t *ret_len, agora_error_t *err)
{
        _cleanup_json_ json_t *o = NULL;

        if (manifest_to_json(m, &o, err) < 0)
                return -1;
        return cjson_dump(o, ret_text, ret_len, err);
}

/* ---- parsing ---- */

static int ref_parse(const json_t *o, const char *key, const char *kind, manifest_ref *ret, agora_error_t *err)
{
        static const char *const keys[] = {"name", "contentHash", NULL};
        const char *name, *hash;
        char what[64];

        snprintf(what, sizeof(what), "manifest: %s", key);
        if (!json_is_object(o))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: not an object", what);
        if (schema_check_keys(o, keys, what, err) < 0 || schema_get_string(o, "name", false, what, &name, err) < 0 ||
            schema_get_string(o, "contentHash", false, what, &hash, err) < 0)
                return -1;
        if (agora_name_check(kind, name, err) < 0 || agora_hash_parse(hash, &ret->hash, err) < 0)
                return agora_error_wrap(err, "%s", what);
        ret->name = strdup(name);
        return ret->name == NULL ? agora_error_set_errno(err, ENOMEM, "%s", what) : 0;
}

static int get_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *ret, agora_error_t *err)
{
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: %s: not an integer from %lld to %lld", key,
                                       (long long)min, (long long)max);
        *ret = json_integer_value(v);
        return 0;
}

static int get_hex(const json_t *o, const char *key, size_t n, char *out, agora_error_t *err)
{
        const char *s;

        if (schema_get_string(o, key, false, "manifest", &s, err) < 0)
                return -1;
        if (!is_hex(s, n))
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: %s: want %zu lowercase hex digits", key, n);
        memcpy(out, s, n + 1);
        return 0;
}

static int parse_fields(const json_t *o, manifest *m, agora_error_t *err)
{
        static const char *const keys[] = {"type",         "dispatchId", "registryCommit", "subagent", "env",
                                           "capabilities", "profile",    "entrypoint",     "args",     "timeoutS",
                                           "nonce",        "issuedAt",   "expiresAt",      "keyId",    NULL};
        const char *type, *profile, *entry, *key_id;
        json_t *caps, *args, *v;
        int64_t t;
        size_t i;

        if (schema_check_keys(o, keys, "manifest", err) < 0 ||
            schema_get_string(o, "type", false, "manifest", &type, err) < 0)
                return -1;
        if (strcmp(type, MANIFEST_TYPE) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: type '%s', want '%s'", type, MANIFEST_TYPE);
        for (i = 0; keys[i] != NULL; i++)
                if (json_object_get(o, keys[i]) == NULL)
                        return agora_error_set(err, AGORA_ERR_USAGE, "manifest: no '%s'", keys[i]);
        if (get_hex(o, "dispatchId", MANIFEST_ID_LEN, m->dispatch_id, err) < 0 ||
            get_hex(o, "nonce", MANIFEST_ID_LEN, m->nonce, err) < 0 ||
            get_hex(o, "registryCommit", 40, m->registry_commit, err) < 0)
                return -1;
        if (ref_parse(json_object_get(o, "subagent"), "subagent", "subagent", &m->subagent, err) < 0 ||
            ref_parse(json_object_get(o, "env"), "env", "env", &m->env, err) < 0)
                return -1;
        if (schema_get_array(o, "capabilities", false, "manifest", &caps, err) < 0 ||
            schema_get_array(o, "args", false, "manifest", &args, err) < 0 ||
            schema_get_string(o, "profile", false, "manifest", &profile, err) < 0 ||
            schema_get_string(o, "entrypoint", false, "manifest", &entry, err) < 0 ||
            schema_get_string(o, "keyId", false, "manifest", &key_id, err) < 0)
                return -1;
        if (agora_name_check("profile", profile, err) < 0)
                return agora_error_wrap(err, "manifest");
        if (entry[0] != '/' || strlen(entry) > 4096)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: entrypoint '%s': not an absolute path", entry);
        if (strlen(key_id) == 0 || strlen(key_id) > 2 * AGORA_KEYID_LEN ||
            strspn(key_id, "0123456789ABCDEF") != strlen(key_id))
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: keyId '%s': not a key id", key_id);
        if (json_array_size(args) > MANIFEST_MAX_ARGS)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: more than %d args", MANIFEST_MAX_ARGS);
        m->profile = strdup(profile);
        m->entrypoint = strdup(entry);
        m->caps = calloc(json_array_size(caps) + 1, sizeof(*m->caps));
        m->args = calloc(json_array_size(args) + 1, sizeof(char *));
        if (m->profile == NULL || m->entrypoint == NULL || m->caps == NULL || m->args == NULL)
                return agora_error_set_errno(err, ENOMEM, "manifest");
        snprintf(m->key_id, sizeof(m->key_id), "%s", key_id);
        json_array_foreach(caps, i, v)
        {
                if (ref_parse(v, "capabilities", "capability", &m->caps[i], err) < 0)
                        return -1;
                m->n_caps++;
                /* Sorted and unique, as the registry keeps them: each name
                 * becomes one mount point in the cage. */
                if (i > 0 && strcmp(m->caps[i - 1].name, m->caps[i].name) >= 0)
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "manifest: capabilities not sorted and unique at '%s'", m->caps[i].name);
        }
        json_array_foreach(args, i, v)
        {
                if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
                        return agora_error_set(err, AGORA_ERR_USAGE, "manifest: args[%zu]: not a string", i);
                m->args[i] = strdup(json_string_value(v));
                if (m->args[i] == NULL)
                        return agora_error_set_errno(err, ENOMEM, "manifest");
                m->n_args++;
        }
        if (get_int(o, "timeoutS", 0, 86400, &t, err) < 0)
                return -1;
        m->timeout_s = (uint64_t)t;
        if (get_int(o, "issuedAt", 0, INT64_MAX / 2, &m->issued_at, err) < 0 ||
            get_int(o, "expiresAt", 0, INT64_MAX / 2, &m->expires_at, err) < 0)
                return -1;
        if (m->expires_at <= m->issued_at || m->expires_at - m->issued_at > MANIFEST_MAX_WINDOW_S)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: validity window of %lld s (want 1 to %d)",
                                       (long long)(m->expires_at - m->issued_at), MANIFEST_MAX_WINDOW_S);
        return 0;
}

int manifest_parse(const char *text, size_t len, manifest **ret, agora_error_t *err)
{
        _cleanup_manifest_ manifest *m = NULL;
        _cleanup_json_ json_t *o = NULL;

        if (len > MANIFEST_MAX_BYTES)
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: %zu bytes, above the limit of %u", len,
                                       MANIFEST_MAX_BYTES);
        if (cjson_parse(text, len, "manifest", &o, err) < 0)
                return -1;
        if (!json_is_object(o))
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: not a JSON object");
        /* Signed bytes must be the one canonical form, so that what was
         * signed and what is read can never be two readings of one text. */
        if (!cjson_is_canonical(text, len))
                return agora_error_set(err, AGORA_ERR_USAGE, "manifest: not in canonical form");
        m = calloc(1, sizeof(*m));
        if (m == NULL)
                return agora_error_set_errno(err, ENOMEM, "manifest");
        if (parse_fields(o, m, err) < 0)
                return -1;
        *ret = take_ptr(m);
        return 0;
}

/* The trusted comment a manifest's signature carries: what signing writes
 * and verifying demands, from one place. */
static void trusted_comment(const manifest *m, char tc[64])
{
        snprintf(tc, 64, "agora dispatch %s", m->dispatch_id);
}

int manifest_sign(const agora_seckey *sk, const manifest *m, const char *text, size_t len, char **ret_sig,
                  agora_error_t *err)
{
        char tc[64];

        trusted_comment(m, tc);
        return sign_message(sk, text, len, tc, ret_sig, err);
}

int manifest_verify(const char *text, size_t len, const char *sig, const agora_pubkey *trust, size_t n_trust,
                    int64_t now, manifest **ret, manifest_refusal *ret_why, agora_error_t *err)
{
        _cleanup_manifest_ manifest *m = NULL;
        _cleanup_free_ char *tc = NULL;
        unsigned char keyid[AGORA_KEYID_LEN];
        char id[2 * AGORA_KEYID_LEN + 1], want_tc[64];
        const agora_pubkey *pk = NULL;

        *ret_why = REFUSE_MALFORMED;
        if (manifest_parse(text, len, &m, err) < 0)
                return -1;
        if (sig == NULL || sig[0] == '\0') {
                *ret_why = REFUSE_NO_SIGNATURE;
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "dispatch %s: no signature", m->dispatch_id);
        }
        if (sign_signature_keyid(sig, keyid, err) < 0) {
                *ret_why = REFUSE_BAD_SIGNATURE;
                return agora_error_wrap(err, "dispatch %s", m->dispatch_id);
        }
        for (size_t i = 0; i < n_trust && pk == NULL; i++)
                if (memcmp(trust[i].keyid, keyid, AGORA_KEYID_LEN) == 0)
                        pk = &trust[i];
        sign_keyid_format(keyid, id);
        if (pk == NULL) {
                *ret_why = REFUSE_UNTRUSTED_KEY;
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "dispatch %s: signed by key %s, which is not trusted",
                                       m->dispatch_id, id);
        }
        if (sign_verify(pk, text, len, sig, &tc, err) < 0) {
                *ret_why = REFUSE_BAD_SIGNATURE;
                return agora_error_wrap(err, "dispatch %s", m->dispatch_id);
        }
        trusted_comment(m, want_tc);
        if (strcmp(tc, want_tc) != 0) {
                *ret_why = REFUSE_BAD_SIGNATURE;
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "dispatch %s: signature is for '%s'", m->dispatch_id,
                                       tc);
        }
        /* The manifest names its key too; a signature by one trusted key
         * over a manifest naming another is someone's mistake or trick. */
        if (strcmp(m->key_id, id) != 0) {
                *ret_why = REFUSE_UNTRUSTED_KEY;
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "dispatch %s: names key %s but was signed by %s",
                                       m->dispatch_id, m->key_id, id);
        }
        if (now >= m->expires_at) {
                *ret_why = REFUSE_EXPIRED;
                return agora_error_set(err, AGORA_ERR_FAILED, "dispatch %s: expired %lld s ago", m->dispatch_id,
                                       (long long)(now - m->expires_at));
        }
        if (now + MANIFEST_SKEW_S < m->issued_at) {
                *ret_why = REFUSE_NOT_YET_VALID;
                return agora_error_set(err, AGORA_ERR_FAILED, "dispatch %s: not valid for another %lld s",
                                       m->dispatch_id, (long long)(m->issued_at - now));
        }
        *ret_why = REFUSE_NONE;
        *ret = take_ptr(m);
        return 0;
}
