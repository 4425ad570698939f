/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The operator's side of dispatch (docs/dispatch.md), shared by
 * cmd_dispatch.c and cmd_worker.c:
 *
 *   workers.c          where things are: the state directory, the workers
 *                      file, the local worker's files, the TLS client files
 *   resolve_cache.c    resolutions already made, by registry commit
 *   secrets.c          an env's secret references, resolved into locked memory
 *   dispatch_client.c  the NNG client: requests, the capacity survey,
 *                      submit and blob upload, events, release
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/net.h"
#include "common/sign.h"
#include "control/cli.h"

/* ---- workers.c ---- */

/* $AGORA_STATE, else $XDG_STATE_HOME/agora, else $HOME/.local/state/agora;
 * not created. */
int state_dir(char **ret, agora_error_t *err);
/* STATE/SUB, created (mode 0700, with STATE) if missing. */
int state_subdir(const char *state, const char *sub, char **ret, agora_error_t *err);

typedef struct dispatch_worker {
        char *url;
        agora_pubkey pk; /* checks its receipts */
        bool have_pk; /* false for the local worker until it has started */
        bool local; /* the local worker that agora starts itself */
} dispatch_worker;

typedef struct dispatch_workers {
        dispatch_worker *v;
        size_t n;
} dispatch_workers;

void dispatch_workers_release(dispatch_workers *w);

/* Read a workers file: `URL PUBKEY` lines, PUBKEY the base64 line of a
 * minisign public key or the path of a .pub file (relative to the file's
 * directory); `#` comments and blank lines are skipped. A bad line is an
 * error naming FILE:LINE. */
int workers_file_load(const char *path, dispatch_workers *ret, agora_error_t *err);

typedef struct dispatch_tls {
        char *cert, *key, *ca; /* owned; NULL when none was found */
        net_tls tls; /* points at the three */
} dispatch_tls;

/* The TLS client files: each from its option, else $AGORA_TLS_CERT,
 * $AGORA_TLS_KEY, $AGORA_TLS_CA, else STATE/tls/client.pem, client.key,
 * ca.pem when that file exists. Fails only when out of memory. */
int dispatch_tls_resolve(const char *state, const char *cert, const char *key, const char *ca, dispatch_tls *ret,
                         agora_error_t *err);
void dispatch_tls_release(dispatch_tls *t);

/* The local worker's files, all in STATE/worker/. */
typedef struct local_worker {
        char *dir;
        char *url; /* ipc://DIR/worker.sock */
        char *pid_path; /* worker.pid */
        char *log_path; /* worker.log */
        char *lock_path; /* lock: held around check-and-start */
        char *pub_path; /* worker.pub, which the worker writes on first start */
} local_worker;

int local_worker_init(const char *state, local_worker *ret, agora_error_t *err);
void local_worker_release(local_worker *lw);

/* Which workers a dispatch may go to: URLS (each must be in the workers
 * file: FILE, else STATE/workers), else every worker of that file, else the
 * local worker LW. Each URL is checked with net_url_check() and TLS. */
int workers_select(const char *state, const char *file, char *const *urls, size_t n_urls, const net_tls *tls,
                   const local_worker *lw, dispatch_workers *ret, agora_error_t *err);

/* ---- resolve_cache.c ---- */

/* 1 and the cached resolution and env definition of SUBAGENT with ENV at
 * COMMIT; 0 when there is none (or it is not what its name promises). */
int resolve_cache_load(const char *state, const char *commit, const char *subagent, const char *env,
                       json_t **ret_resolved, json_t **ret_env);
/* Keep RESOLVED (with its env definition) for its commit, dropping entries
 * of other commits. */
int resolve_cache_store(const char *state, const json_t *resolved, const json_t *env_def, agora_error_t *err);

/* ---- secrets.c ---- */

/* The secrets of env definition DEF (env ENV) as `KEY=VALUE\0` records in
 * sodium_malloc'd memory; *RET is NULL when the env has none. `env:NAME` is
 * read from our environment, `file:/abs/path` from the file (at most 64 KiB,
 * one trailing newline dropped). A missing variable or file is an error
 * naming the env, the key and the reference. Free with secrets_free(). */
int secrets_resolve(const json_t *def, const char *env, unsigned char **ret, size_t *ret_len, agora_error_t *err);
void secrets_free(unsigned char *buf);
/* The secret keys of DEF, sorted: what --dry-run may show. */
int secrets_keys(const json_t *def, json_t **ret, agora_error_t *err);

/* ---- dispatch_client.c ---- */

/* How a request failed, beyond the one line in ERR. */
typedef enum dispatch_failure {
        DISPATCH_FAIL_OTHER = 0, /* on our side, or the worker broke the protocol */
        DISPATCH_FAIL_REFUSED, /* {"ok":false}: CODE says why */
        DISPATCH_FAIL_LOST, /* no answer in time, or the connection failed */
} dispatch_failure;

typedef struct dispatch_why {
        dispatch_failure kind;
        char code[32]; /* a refusal's code */
} dispatch_why;

/* Request timeouts, in milliseconds. The worker answers an events request
 * within a second, so three seconds of silence mean it is gone. */
#define DISPATCH_EVENTS_TIMEOUT_MS 3000
#define DISPATCH_SUBMIT_TIMEOUT_MS 5000
#define DISPATCH_BLOB_TIMEOUT_MS 30000
#define DISPATCH_STATUS_TIMEOUT_MS 1000

/* One req socket dialed to a worker, with one context for the request
 * sequence. Dialing does not wait: a worker that is not there shows as a
 * request that gets no answer. */
typedef struct dispatch_conn dispatch_conn;

int dispatch_conn_open(const char *url, const net_tls *tls, dispatch_conn **ret, agora_error_t *err);
void dispatch_conn_free(dispatch_conn *c);
static inline void dispatch_conn_freep(dispatch_conn **c)
{
        dispatch_conn_free(*c);
}
#define _cleanup_conn_ _cleanup_(dispatch_conn_freep)

/* Send REQ (+ PAYLOAD) and wait up to TIMEOUT_MS for an {"ok":true}
 * reply header. A refusal is an error "worker 'URL' refused (CODE): MSG";
 * silence "worker 'URL' stopped answering (after N s)". */
int dispatch_request(dispatch_conn *c, const json_t *req, const void *payload, size_t len, int timeout_ms,
                     json_t **ret_reply, dispatch_why *why, agora_error_t *err);

/* {"op":"status"}: the reply without its "ok". */
int dispatch_status(dispatch_conn *c, int timeout_ms, json_t **ret, dispatch_why *why, agora_error_t *err);

/* The bytes a worker may ask for by hash H: a definition's canonical JSON
 * or a capability tarball (malloc'd). AGORA_ERR_NOTFOUND for a hash the
 * dispatch does not name. */
typedef int (*dispatch_blob_fn)(void *ctx, const agora_hash *h, void **ret, size_t *ret_len, agora_error_t *err);

typedef struct dispatch_job {
        const manifest *m;
        const char *text; /* the manifest's canonical bytes, as signed */
        size_t len;
        const char *sig;
        dispatch_blob_fn blob;
        void *blob_ctx;
} dispatch_job;

/* Submit JOB with the secrets payload SECRETS (taken: freed as soon as the
 * submit is answered, and on every error), send the blobs the worker asks
 * for, and return once it says "running". */
int dispatch_submit(dispatch_conn *c, const dispatch_job *job, unsigned char *secrets, size_t secrets_len,
                    dispatch_why *why, agora_error_t *err);

/* One events request: the events after seq AFTER (a JSON array, possibly
 * empty) and whether the job is done. */
int dispatch_events(dispatch_conn *c, const char *id, int64_t after, json_t **ret_events, bool *ret_done,
                    dispatch_why *why, agora_error_t *err);

/* Let the worker forget a finished job; a failure changes nothing. */
void dispatch_release(dispatch_conn *c, const char *id);

/* A surveyor dialed to the respondent address of each of URLS. */
typedef struct dispatch_survey dispatch_survey;

int dispatch_survey_open(char *const *urls, size_t n, const net_tls *tls, dispatch_survey **ret, agora_error_t *err);
/* Ask {"op":"capacity"} and collect answers for up to 250 ms, or until
 * every worker answered: RET_FREE[i] is worker i's "free", -1 without an
 * answer. */
int dispatch_survey_ask(dispatch_survey *s, int64_t *ret_free, agora_error_t *err);
void dispatch_survey_free(dispatch_survey *s);
static inline void dispatch_survey_freep(dispatch_survey **s)
{
        dispatch_survey_free(*s);
}
#define _cleanup_survey_ _cleanup_(dispatch_survey_freep)

/* A worker's text for one line of the operator's terminal: control bytes
 * (escape sequences, line breaks) become '?', and it is cut at SIZE. */
void dispatch_sanitize(const char *in, char *out, size_t size);

/* ---- cmd_worker.c ---- */

/* Start the local worker unless it already runs (and answers), trusting
 * the operator's public key; JOBS 0 leaves its default. Serialised by
 * LW's lock, so that two callers start one worker. */
int local_worker_ensure(cli_ctx *ctx, const local_worker *lw, unsigned jobs, agora_error_t *err);
