/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * agora-worker, the daemon (docs/dispatch.md). NNG serves requests on its
 * own threads; every job runs in an agora-cage process spawned by a thread
 * of its own, so no cage is ever cloned from this threaded process. One
 * lock (worker.lock) guards the job table, the cache index and the
 * counters; it is never held across I/O on the network or a child's pipes.
 *
 *   worker_main.c    options, keys, state directory, signals, drain
 *   worker_server.c  NNG sockets, one thread per request context, requests
 *   worker_job.c     the job table: submit, blobs, queue, events, release
 *   worker_spawn.c   one job: agora-cage with its pipes, the receipt
 *   worker_cache.c   the content-addressed blob cache, LRU-bounded
 *   worker_nonce.c   nonces seen, on disk until their manifest expires
 *   worker_log.c     one line per event on stderr, with journald's priority
 */

#include <jansson.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/net.h"
#include "common/sign.h"

/* ---- worker_log.c ---- */

enum { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* "<PRIORITY>agora-worker: MESSAGE\n" on stderr: journald reads the prefix
 * as the line's priority and keeps the rest. One call, one line. */
void worker_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- worker_nonce.c ---- */

typedef struct nonce_store nonce_store;

int nonce_store_open(const char *dir, nonce_store **ret, agora_error_t *err);
/* Record NONCE until EXPIRES_AT; REFUSE_REPLAYED (as AGORA_ERR_EXISTS) if it
 * is already there. Durable before it returns. */
int nonce_store_claim(nonce_store *s, const char *nonce, int64_t expires_at, agora_error_t *err);
/* Forget nonces whose manifests expired before NOW. */
void nonce_store_sweep(nonce_store *s, int64_t now);
void nonce_store_free(nonce_store *s);

/* ---- worker_cache.c ---- */

typedef struct blob_cache blob_cache;

int cache_open(const char *dir, uint64_t limit, blob_cache **ret, agora_error_t *err);
void cache_free(blob_cache *c);
/* If H is cached and its bytes still hash to H, pin it (it will not be
 * evicted until cache_unpin) and return 1; a corrupt copy is deleted and,
 * like a missing one, gives 0. */
int cache_pin_if_valid(blob_cache *c, const agora_hash *h);
void cache_unpin(blob_cache *c, const agora_hash *h);
/* Path of cached blob H (for agora-cage); valid while pinned. */
void cache_path(const blob_cache *c, const agora_hash *h, char *out, size_t n);
/* Read a pinned blob of at most MAX bytes. */
int cache_read(const blob_cache *c, const agora_hash *h, size_t max, char **ret, size_t *ret_len, agora_error_t *err);

/* An upload in progress: bytes written to a temporary file as they come,
 * hashed as they are written. */
typedef struct cache_upload cache_upload;
int cache_upload_begin(blob_cache *c, const agora_hash *h, uint64_t size, cache_upload **ret, agora_error_t *err);
/* Append at OFFSET, which must be where the previous chunk ended. */
int cache_upload_write(cache_upload *u, uint64_t offset, const void *data, size_t len, agora_error_t *err);
bool cache_upload_complete(const cache_upload *u);
/* Check the hash, move the blob into place pinned, evict to the limit.
 * A mismatch is AGORA_ERR_INTEGRITY and nothing is kept. Frees U. */
int cache_upload_finish(blob_cache *c, cache_upload *u, agora_error_t *err);
void cache_upload_abort(cache_upload *u);
void cache_stats(const blob_cache *c, uint64_t *ret_bytes, uint64_t *ret_limit, size_t *ret_count);

/* ---- worker_job.c ---- */

typedef struct worker worker;
typedef struct job job;

typedef struct worker_config {
        char **listen;
        size_t n_listen;
        agora_pubkey *trust;
        size_t n_trust;
        const char *state_dir;
        const char *name;
        const char *profiles_dir;
        const char *cage_bin;
        unsigned jobs;
        unsigned queue;
        uint64_t cache_size;
        net_tls tls;
} worker_config;

struct worker {
        const worker_config *cfg;
        agora_seckey *key;
        agora_pubkey pub;
        char key_id[2 * AGORA_KEYID_LEN + 1];
        nonce_store *nonces;
        blob_cache *cache;

        pthread_mutex_t lock;
        pthread_cond_t changed; /* any job's events or state changed */
        job *jobs; /* a list: tens of jobs at most */
        unsigned reserved; /* jobs taking a slot or a queue place: pending, queued, running */
        unsigned running;
        bool draining;
        uint64_t started;
        uint64_t finished;
        uint64_t refused[REFUSE__COUNT];
};

/* Answer one request; the reply header is always set (a refusal on error). */
void job_submit(worker *w, const json_t *req, const unsigned char *payload, size_t len, json_t **ret_reply);
void job_blob(worker *w, const json_t *req, const unsigned char *payload, size_t len, json_t **ret_reply);
void job_events(worker *w, const json_t *req, json_t **ret_reply);
void job_release(worker *w, const json_t *req, json_t **ret_reply);
json_t *worker_status(worker *w);
json_t *worker_capacity(worker *w);
/* Drop jobs that waited too long for blobs, and finished jobs nobody
 * fetched; sweep expired nonces. Called about once a second. */
void job_janitor(worker *w);
/* Jobs still taking a slot (pending, queued or running). */
unsigned job_busy_count(worker *w);
/* Wait until no job runs or is queued, then until finished jobs were
 * fetched or GRACE_S passed. */
void job_drain(worker *w, int grace_s);
void job_table_free(worker *w);

/* ---- worker_spawn.c ---- */

/* What worker_spawn needs of a job, filled under the lock, read without. */
typedef struct spawn_request {
        const worker *w;
        const manifest *m;
        const unsigned char *secrets; /* NUL-ended KEY=VALUE records */
        size_t secrets_len;
        const char *plain_env; /* NUL-ended records of the env's values */
        size_t plain_env_len;
} spawn_request;

/* Called by worker_spawn for each event, in order; EVENT is borrowed. */
typedef void (*spawn_event_fn)(void *ctx, json_t *event);

typedef struct spawn_outcome {
        int exit_code;
        int signal;
        char reason[32];
        char *error; /* malloc'd one line when the reason is setup-failed */
        agora_hash out_sha256, err_sha256;
        uint64_t out_bytes, err_bytes;
        bool out_truncated, err_truncated;
} spawn_outcome;

/* Run the job in agora-cage and wait for it; events go to FN as they come.
 * Never fails: a cage that could not be spawned is a setup-failed outcome. */
void worker_spawn_run(const spawn_request *r, spawn_event_fn fn, void *ctx, spawn_outcome *ret);
void spawn_outcome_release(spawn_outcome *o);

/* ---- worker_server.c ---- */

/* Serve until SIGTERM or SIGINT (blocked in every thread; waited for here),
 * then drain: running and queued jobs finish, their receipts are fetched. */
int worker_serve(worker *w, agora_error_t *err);

int64_t worker_now_ms(void);
