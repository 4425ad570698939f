/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Receipts. The worker writes one per job; the dispatcher, which holds the
 * manifest it signed, accepts it only if every field the manifest fixed
 * comes back byte for byte, so a receipt can never be moved from one job
 * to another.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/receipt.h"
#include "common/schema.h"

static json_t *stream_json(const receipt_stream *s)
{
        char h[AGORA_HASH_STR_LEN + 1];

        agora_hash_format(&s->sha256, h);
        return json_pack("{s:s, s:I, s:b}", "sha256", h, "bytes", (json_int_t)s->bytes, "truncated", s->truncated);
}

int receipt_build(const manifest *m, const char *mtext, size_t mlen, const char *worker, const char *worker_key_id,
                  const receipt_outcome *o, char **ret_text, size_t *ret_len, agora_error_t *err)
{
        _cleanup_json_ json_t *mj = NULL, *r = NULL;
        char mh[AGORA_HASH_STR_LEN + 1];
        agora_hash h;

        if (manifest_to_json(m, &mj, err) < 0)
                return -1;
        agora_hash_buffer(mtext, mlen, &h);
        agora_hash_format(&h, mh);
        r = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:s, s:I, s:I, s:i, s:i, s:s, s:o, s:o}", "type",
                      RECEIPT_TYPE, "dispatchId", m->dispatch_id, "manifestHash", mh, "registryCommit",
                      json_object_get(mj, "registryCommit"), "subagent", json_object_get(mj, "subagent"), "env",
                      json_object_get(mj, "env"), "capabilities", json_object_get(mj, "capabilities"), "profile",
                      json_object_get(mj, "profile"), "worker", worker, "workerKeyId", worker_key_id, "startedAt",
                      (json_int_t)o->started_ms, "finishedAt", (json_int_t)o->finished_ms, "exitCode", o->exit_code,
                      "signal", o->signal, "reason", o->reason, "stdout", stream_json(&o->out), "stderr",
                      stream_json(&o->err));
        if (r == NULL)
                return agora_error_set_errno(err, ENOMEM, "receipt for dispatch %s", m->dispatch_id);
        return cjson_dump(r, ret_text, ret_len, err);
}

/* The trusted comment a receipt's signature carries: what signing writes
 * and verifying demands, from one place. */
static void trusted_comment(const manifest *m, char tc[64])
{
        snprintf(tc, 64, "agora receipt %s", m->dispatch_id);
}

int receipt_sign(const agora_seckey *sk, const manifest *m, const char *text, size_t len, char **ret_sig,
                 agora_error_t *err)
{
        char tc[64];

        trusted_comment(m, tc);
        return sign_message(sk, text, len, tc, ret_sig, err);
}

/* RECEIPT[KEY] must equal MANIFEST[KEY] exactly. */
static int same(const json_t *receipt, const json_t *mj, const char *key, const char *id, agora_error_t *err)
{
        if (!json_equal(json_object_get(receipt, key), json_object_get(mj, key)))
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "receipt for dispatch %s: '%s' differs from the manifest's", id, key);
        return 0;
}

static int check_stream(const json_t *r, const char *key, const char *id, agora_error_t *err)
{
        static const char *const keys[] = {"sha256", "bytes", "truncated", NULL};
        json_t *s = json_object_get(r, key);
        const char *h;
        agora_hash parsed;
        char what[96];

        snprintf(what, sizeof(what), "receipt for dispatch %s: %s", id, key);
        if (!json_is_object(s) || schema_check_keys(s, keys, what, err) < 0 ||
            schema_get_string(s, "sha256", false, what, &h, err) < 0 || agora_hash_parse(h, &parsed, err) < 0 ||
            !json_is_integer(json_object_get(s, "bytes")) || !json_is_boolean(json_object_get(s, "truncated")))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "%s: malformed", what);
        return 0;
}

int receipt_verify(const char *text, size_t len, const char *sig, const agora_pubkey *pk, const manifest *m,
                   const char *mtext, size_t mlen, json_t **ret, agora_error_t *err)
{
        static const char *const keys[] = {
                "type",         "dispatchId", "manifestHash", "registryCommit", "subagent",  "env",
                "capabilities", "profile",    "worker",       "workerKeyId",    "startedAt", "finishedAt",
                "exitCode",     "signal",     "reason",       "stdout",         "stderr",    NULL};
        _cleanup_json_ json_t *r = NULL, *mj = NULL;
        _cleanup_free_ char *tc = NULL;
        char want_tc[64], mh[AGORA_HASH_STR_LEN + 1], kid[2 * AGORA_KEYID_LEN + 1];
        const char *id = m->dispatch_id, *s;
        agora_hash h;

        if (sign_verify(pk, text, len, sig, &tc, err) < 0)
                return agora_error_wrap(err, "receipt for dispatch %s", id);
        trusted_comment(m, want_tc);
        if (strcmp(tc, want_tc) != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "receipt for dispatch %s: signature is for '%s'", id,
                                       tc);
        if (cjson_parse(text, len, "receipt", &r, err) < 0 || !json_is_object(r) || !cjson_is_canonical(text, len))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "receipt for dispatch %s: not canonical JSON", id);
        if (schema_check_keys(r, keys, "receipt", err) < 0) {
                (*err)->kind = AGORA_ERR_INTEGRITY;
                return agora_error_wrap(err, "receipt for dispatch %s", id);
        }
        if (schema_get_string(r, "type", false, "receipt", &s, err) < 0 || strcmp(s, RECEIPT_TYPE) != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "receipt for dispatch %s: not an %s", id,
                                       RECEIPT_TYPE);
        if (manifest_to_json(m, &mj, err) < 0)
                return -1;
        if (same(r, mj, "dispatchId", id, err) < 0 || same(r, mj, "registryCommit", id, err) < 0 ||
            same(r, mj, "subagent", id, err) < 0 || same(r, mj, "env", id, err) < 0 ||
            same(r, mj, "capabilities", id, err) < 0 || same(r, mj, "profile", id, err) < 0)
                return -1;
        agora_hash_buffer(mtext, mlen, &h);
        agora_hash_format(&h, mh);
        if (!json_is_string(json_object_get(r, "manifestHash")) ||
            strcmp(json_string_value(json_object_get(r, "manifestHash")), mh) != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "receipt for dispatch %s: manifestHash is not the hash of the manifest sent",
                                       id);
        sign_keyid_format(pk->keyid, kid);
        if (!json_is_string(json_object_get(r, "workerKeyId")) ||
            strcmp(json_string_value(json_object_get(r, "workerKeyId")), kid) != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "receipt for dispatch %s: workerKeyId is not %s", id,
                                       kid);
        if (!json_is_string(json_object_get(r, "worker")) || !json_is_string(json_object_get(r, "reason")) ||
            !json_is_integer(json_object_get(r, "exitCode")) || !json_is_integer(json_object_get(r, "signal")) ||
            !json_is_integer(json_object_get(r, "startedAt")) || !json_is_integer(json_object_get(r, "finishedAt")))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "receipt for dispatch %s: malformed", id);
        if (check_stream(r, "stdout", id, err) < 0 || check_stream(r, "stderr", id, err) < 0)
                return -1;
        *ret = take_ptr(r);
        return 0;
}
