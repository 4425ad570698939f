/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * NNG plumbing shared by the dispatcher and the worker: which addresses
 * are allowed, TLS set-up from PEM files, and agora messages (common/wire.h)
 * in and out of NNG messages.
 *
 * Addresses: ipc://PATH on one host; tls+tcp://HOST:PORT across hosts,
 * always with mutual TLS against a private CA; tcp://HOST:PORT only on a
 * loopback address, where nothing leaves the host.
 */

#include <jansson.h>
#include <nng/nng.h>
#include <stdbool.h>

#include "common/error.h"

typedef struct net_tls {
        const char *cert; /* PEM certificate of this end */
        const char *key; /* PEM private key of this end */
        const char *ca; /* PEM CA that must have signed the other end */
} net_tls;

/* Refuse an address agora does not use: unknown schemes, tcp:// off
 * loopback, tls+tcp:// without TLS files. WHAT names it ("--listen"). */
int net_url_check(const char *url, const net_tls *tls, const char *what, agora_error_t *err);

/* The respondent address beside a request address (docs/dispatch.md). */
int net_survey_url(const char *url, char **ret, agora_error_t *err);

/* Listen or dial URL on S, with TLS when the scheme asks for it. A dial
 * does not wait for the connection: NNG keeps trying in the background. */
int net_listen(nng_socket s, const char *url, const net_tls *tls, agora_error_t *err);
int net_dial(nng_socket s, const char *url, const net_tls *tls, agora_error_t *err);

/* An agora message as an NNG message, and back. net_msg_decode borrows
 * MSG: the payload points into it. */
int net_msg_encode(const json_t *header, const void *payload, size_t len, nng_msg **ret, agora_error_t *err);
int net_msg_decode(nng_msg *msg, json_t **ret_header, const unsigned char **ret_payload, size_t *ret_len,
                   agora_error_t *err);

/* Wipe an NNG message's bytes before freeing it (it may have held secrets). */
void net_msg_wipe_free(nng_msg *msg);

/* One request and its reply on context CTX: send HEADER+PAYLOAD, wait up
 * to TIMEOUT_MS for the reply. A timeout is AGORA_ERR_BUSY. */
int net_request(nng_ctx ctx, const json_t *header, const void *payload, size_t len, int timeout_ms, nng_msg **ret_reply,
                agora_error_t *err);

static inline void net_msg_freep(nng_msg **m)
{
        if (*m != NULL)
                nng_msg_free(*m);
}
#define _cleanup_nng_msg_ __attribute__((cleanup(net_msg_freep)))
