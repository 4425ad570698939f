/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The receipt a worker signs when a job ends (docs/dispatch.md): which
 * manifest ran, on which worker, when, how it ended, and the hashes of what
 * it wrote. The dispatcher checks it against the manifest it signed, so a
 * worker cannot report on a different job than the one it was given.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/sign.h"

#define RECEIPT_TYPE "agora.receipt/v1"

typedef struct receipt_stream {
        agora_hash sha256;
        uint64_t bytes;
        bool truncated;
} receipt_stream;

typedef struct receipt_outcome {
        int exit_code;
        int signal;
        const char *reason; /* agora-cage's: exited, timeout, oom, …, setup-failed */
        receipt_stream out;
        receipt_stream err;
        int64_t started_ms; /* Unix milliseconds */
        int64_t finished_ms;
} receipt_outcome;

/* The canonical receipt text for manifest M (whose canonical bytes are
 * MTEXT/MLEN) run on WORKER, whose key has id WORKER_KEY_ID. */
int receipt_build(const manifest *m, const char *mtext, size_t mlen, const char *worker, const char *worker_key_id,
                  const receipt_outcome *o, char **ret_text, size_t *ret_len, agora_error_t *err);

/* Sign with the worker's key; trusted comment "agora receipt <dispatchId>". */
int receipt_sign(const agora_seckey *sk, const manifest *m, const char *text, size_t len, char **ret_sig,
                 agora_error_t *err);

/* Check SIG over TEXT with the worker's key PK, then that the receipt is
 * about exactly M (same dispatch id, manifest hash, commit, content hashes,
 * profile) and names PK as its key. Returns the parsed receipt. */
int receipt_verify(const char *text, size_t len, const char *sig, const agora_pubkey *pk, const manifest *m,
                   const char *mtext, size_t mlen, json_t **ret, agora_error_t *err);
