/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The dispatch manifest (docs/dispatch.md): what the operator signs, what a
 * worker checks before it runs anything. Parsed strictly into a struct so
 * that nothing downstream reads an unchecked field.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/sign.h"

#define MANIFEST_TYPE "agora.dispatch/v1"
#define MANIFEST_ID_LEN 32 /* hex digits of a dispatch id and of a nonce */
#define MANIFEST_SKEW_S 60 /* clock skew allowed before issuedAt */
#define MANIFEST_MAX_WINDOW_S 3600 /* the longest expiresAt - issuedAt a worker accepts */
#define MANIFEST_MAX_BYTES (256u << 10)
#define MANIFEST_MAX_ARGS 256

typedef struct manifest_ref {
        char *name;
        agora_hash hash;
} manifest_ref;

typedef struct manifest {
        char dispatch_id[MANIFEST_ID_LEN + 1];
        char registry_commit[41];
        manifest_ref subagent;
        manifest_ref env;
        manifest_ref *caps;
        size_t n_caps;
        char *profile;
        char *entrypoint;
        char **args; /* NULL-terminated */
        size_t n_args;
        uint64_t timeout_s;
        char nonce[MANIFEST_ID_LEN + 1];
        int64_t issued_at;
        int64_t expires_at;
        char key_id[2 * AGORA_KEYID_LEN + 1];
} manifest;

/* Why a worker refuses a dispatch: the code a refusal carries on the wire. */
typedef enum manifest_refusal {
        REFUSE_NONE = 0,
        REFUSE_MALFORMED,
        REFUSE_NO_SIGNATURE,
        REFUSE_BAD_SIGNATURE,
        REFUSE_UNTRUSTED_KEY,
        REFUSE_EXPIRED,
        REFUSE_NOT_YET_VALID,
        REFUSE_REPLAYED,
        REFUSE_HASH_MISMATCH,
        REFUSE_BUSY,
        REFUSE_DUPLICATE,
        REFUSE_NOT_FOUND,
        REFUSE_FAILED, /* the worker could not do its part (disk, spawn) */
        REFUSE__COUNT,
} manifest_refusal;

const char *manifest_refusal_code(manifest_refusal r); /* "bad-signature" … */
manifest_refusal manifest_refusal_parse(const char *code); /* REFUSE_FAILED when unknown */

/* 32 random lowercase hex digits (libsodium's randombytes). */
void manifest_random_id(char out[MANIFEST_ID_LEN + 1]);

/* Build a manifest from `agora resolve`'s document RESOLVED (registry/resolve.h)
 * and the dispatch's own arguments; fresh id and nonce, issued now, valid for
 * VALID_S seconds. */
int manifest_from_resolved(const json_t *resolved, char *const *args, size_t n_args, uint64_t timeout_s,
                           uint64_t valid_s, const char *key_id, manifest **ret, agora_error_t *err);

/* The canonical JSON form of M. */
int manifest_to_json(const manifest *m, json_t **ret, agora_error_t *err);
int manifest_dump(const manifest *m, char **ret_text, size_t *ret_len, agora_error_t *err);

/* Strict parse of TEXT: canonical, schema-checked, names and hashes valid.
 * Fails with AGORA_ERR_USAGE (REFUSE_MALFORMED). Does not check times or
 * signatures. */
int manifest_parse(const char *text, size_t len, manifest **ret, agora_error_t *err);

/* Sign TEXT (a manifest's canonical bytes) with SK; minisign text. */
int manifest_sign(const agora_seckey *sk, const manifest *m, const char *text, size_t len, char **ret_sig,
                  agora_error_t *err);

/* What a worker does first: parse TEXT, find the key that made SIG among
 * the TRUST keys, verify, then check the validity window against NOW. On
 * failure *RET_WHY says which refusal it is and ERR has the one line. */
int manifest_verify(const char *text, size_t len, const char *sig, const agora_pubkey *trust, size_t n_trust,
                    int64_t now, manifest **ret, manifest_refusal *ret_why, agora_error_t *err);

void manifest_free(manifest *m);
static inline void manifest_freep(manifest **m)
{
        manifest_free(*m);
}
#define _cleanup_manifest_ _cleanup_(manifest_freep)
