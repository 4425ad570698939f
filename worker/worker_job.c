/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The job table. A job enters at submit, only after its manifest verified
 * and its nonce was claimed; it waits (pending) for the blobs the worker
 * lacks, is checked against the definitions those blobs hold, then queues
 * for a slot, runs, and stays finished until the dispatcher has fetched
 * its last event and released it. Slots are taken at submit, so a full
 * worker says "busy" at once instead of accepting work it cannot start.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/name.h"
#include "common/receipt.h"
#include "common/wire.h"
#include "worker/profile.h"
#include "worker/worker-internal.h"

#define PENDING_TTL_MS (60 * 1000) /* a job whose blobs never come */
#define FINISHED_TTL_MS (300 * 1000) /* a finished job nobody fetched */
#define EVENTS_WAIT_MS 1000 /* the heartbeat: an events request is answered within this */
/* Event bytes per reply: events travel in the reply's header, which must stay
 * within WIRE_HEADER_MAX; a reply is one round trip, output is never lost. */
#define EVENTS_REPLY_MAX (256u << 10)
/* One more event may go past it: a 64 KiB chunk in base64, and its keys. */
_Static_assert(EVENTS_REPLY_MAX + (128u << 10) < WIRE_HEADER_MAX, "an events reply fits a message header");
#define DEF_MAX (1u << 20) /* a definition blob */
#define SECRETS_MAX (1u << 20)

typedef enum job_state { JOB_PENDING, JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

typedef struct job_blob_ref {
        agora_hash hash;
        bool have; /* cached and pinned for this job */
} job_blob_ref;

struct job {
        job *next;
        worker *w;
        job_state state;
        manifest *m;
        char *mtext;
        size_t mlen;
        unsigned char *secrets; /* sodium_malloc'd, NUL-ended KEY=VALUE records */
        size_t secrets_len;
        char *plain_env; /* the env definition's values, as records */
        size_t plain_env_len;
        job_blob_ref *blobs; /* [0] subagent, [1] env, then the capabilities */
        size_t n_blobs;
        cache_upload *upload;
        agora_hash upload_hash;
        bool uploading; /* a chunk is being written outside the lock */
        json_t *events;
        uint64_t seq;
        int64_t touched_ms;
        int64_t started_ms;
};

int64_t worker_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *refuse(worker *w, manifest_refusal why, const char *id, const char *msg)
{
        /* Counted under the lock by callers that hold it; the few that do
         * not only read the counters approximately. */
        w->refused[why]++;
        worker_log(why == REFUSE_BUSY ? LOG_LVL_INFO : LOG_LVL_WARNING, "dispatch=%s refused=%s: %s", id ? id : "-",
                   manifest_refusal_code(why), msg);
        return wire_refusal(manifest_refusal_code(why), msg);
}

static json_t *refuse_err(worker *w, manifest_refusal why, const char *id, agora_error_t *err)
{
        json_t *r = refuse(w, why, id, agora_error_message(*err));
        agora_error_release(err);
        return r;
}

static job *find_job(worker *w, const char *id)
{
        for (job *j = w->jobs; j != NULL; j = j->next)
                if (strcmp(j->m->dispatch_id, id) == 0)
                        return j;
        return NULL;
}

static void unlink_job(worker *w, job *j)
{
        for (job **p = &w->jobs; *p != NULL; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

static void wipe_secrets(job *j)
{
        if (j->secrets != NULL) {
                sodium_free(j->secrets); /* zeroes before it frees */
                j->secrets = NULL;
                j->secrets_len = 0;
        }
}

/* Free J, which is out of the table; called with the lock (cache_unpin). */
static void job_free(worker *w, job *j)
{
        for (size_t i = 0; i < j->n_blobs; i++)
                if (j->blobs[i].have)
                        cache_unpin(w->cache, &j->blobs[i].hash);
        cache_upload_abort(j->upload);
        wipe_secrets(j);
        manifest_free(j->m);
        free(j->mtext);
        free(j->plain_env);
        free(j->blobs);
        json_decref(j->events);
        free(j);
}

/* Drop a job that will not run (pending, or refused while being readied). */
static void drop_job(worker *w, job *j)
{
        unlink_job(w, j);
        w->reserved--;
        job_free(w, j);
        pthread_cond_broadcast(&w->changed);
}

static void add_event(job *j, json_t *ev)
{
        json_object_set_new(ev, "seq", json_integer((json_int_t)++j->seq));
        json_array_append_new(j->events, ev);
        pthread_cond_broadcast(&j->w->changed);
}

/* ---- running ---- */

static void on_event(void *ctx, json_t *ev)
{
        job *j = ctx;

        pthread_mutex_lock(&j->w->lock);
        add_event(j, json_incref(ev));
        pthread_mutex_unlock(&j->w->lock);
}

static void start_job(worker *w, job *j);

static void start_next(worker *w)
{
        for (job *j = w->jobs; j != NULL && w->running < w->cfg->jobs; j = j->next)
                if (j->state == JOB_QUEUED)
                        start_job(w, j);
}

static json_t *finished_event(worker *w, job *j, const spawn_outcome *o, int64_t finished_ms)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;
        receipt_outcome ro = {
                .exit_code = o->exit_code,
                .signal = o->signal,
                .reason = o->reason,
                .out = {.sha256 = o->out_sha256, .bytes = o->out_bytes, .truncated = o->out_truncated},
                .err = {.sha256 = o->err_sha256, .bytes = o->err_bytes, .truncated = o->err_truncated},
                .started_ms = j->started_ms,
                .finished_ms = finished_ms,
        };
        json_t *ev;

        if (receipt_build(j->m, j->mtext, j->mlen, w->cfg->name, w->key_id, &ro, &text, &len, &err) < 0 ||
            receipt_sign(w->key, j->m, text, len, &sig, &err) < 0) {
                worker_log(LOG_LVL_ERR, "dispatch=%s receipt: %s", j->m->dispatch_id, agora_error_message(err));
                return json_pack("{s:s, s:i, s:i, s:s, s:s}", "event", "dispatch.finished", "exitCode", o->exit_code,
                                 "signal", o->signal, "reason", o->reason, "error", agora_error_message(err));
        }
        ev = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s}", "event", "dispatch.finished", "exitCode", o->exit_code,
                       "signal", o->signal, "reason", o->reason, "receipt", text, "signature", sig);
        if (ev != NULL && o->error != NULL)
                json_object_set_new(ev, "error", json_string(o->error));
        return ev;
}

static void *job_thread(void *arg)
{
        job *j = arg;
        worker *w = j->w;
        spawn_outcome o = {0};
        spawn_request r = {
                .w = w,
                .m = j->m,
                .secrets = j->secrets,
                .secrets_len = j->secrets_len,
                .plain_env = j->plain_env,
                .plain_env_len = j->plain_env_len,
        };
        int64_t t0 = worker_now_ms(), t1;

        worker_spawn_run(&r, on_event, j, &o);
        t1 = worker_now_ms();
        json_t *ev = finished_event(w, j, &o, t1);
        worker_log(o.exit_code == 125 && strcmp(o.reason, "setup-failed") == 0 ? LOG_LVL_WARNING : LOG_LVL_INFO,
                   "dispatch=%s finished exit=%d reason=%s wall_ms=%lld%s%s", j->m->dispatch_id, o.exit_code, o.reason,
                   (long long)(t1 - t0), o.error ? " error=" : "", o.error ? o.error : "");

        pthread_mutex_lock(&w->lock);
        /* Secrets go the moment the cage is gone, not when the job is released. */
        wipe_secrets(j);
        for (size_t i = 0; i < j->n_blobs; i++)
                if (j->blobs[i].have) {
                        cache_unpin(w->cache, &j->blobs[i].hash);
                        j->blobs[i].have = false;
                }
        if (ev != NULL)
                add_event(j, ev);
        j->state = JOB_DONE;
        j->touched_ms = t1;
        w->running--;
        w->reserved--;
        w->finished++;
        start_next(w);
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
        spawn_outcome_release(&o);
        return NULL;
}

/* With the lock held and a free slot. */
static void start_job(worker *w, job *j)
{
        pthread_attr_t attr;
        pthread_t t;

        j->state = JOB_RUNNING;
        j->started_ms = worker_now_ms();
        w->running++;
        w->started++;
        add_event(j, json_pack("{s:s, s:s}", "event", "worker.boot", "worker", w->cfg->name));
        worker_log(LOG_LVL_INFO, "dispatch=%s started subagent=%s profile=%s", j->m->dispatch_id, j->m->subagent.name,
                   j->m->profile);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, job_thread, j) != 0) {
                spawn_outcome o = {.exit_code = 125, .reason = "setup-failed", .error = NULL};
                worker_log(LOG_LVL_ERR, "dispatch=%s: cannot start a thread", j->m->dispatch_id);
                add_event(j, finished_event(w, j, &o, worker_now_ms()));
                wipe_secrets(j);
                j->state = JOB_DONE;
                w->running--;
                w->reserved--;
        }
        pthread_attr_destroy(&attr);
}

/* ---- readying: the definitions must say what the manifest says ---- */

static int load_def(worker *w, job *j, size_t i, const char *kind, json_t **ret, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        const char *name = i == 0 ? j->m->subagent.name : j->m->env.name;

        if (cache_read(w->cache, &j->blobs[i].hash, DEF_MAX, &buf, &len, err) < 0)
                return -1;
        if (cjson_parse(buf, len, kind, ret, err) < 0)
                return -1;
        if (!json_is_object(*ret) || !json_is_string(json_object_get(*ret, "kind")) ||
            strcmp(json_string_value(json_object_get(*ret, "kind")), kind) != 0 ||
            !json_is_string(json_object_get(*ret, "name")) ||
            strcmp(json_string_value(json_object_get(*ret, "name")), name) != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "%s '%s': the blob is not that %s's definition", kind,
                                       name, kind);
        return 0;
}

static bool str_is(const json_t *o, const char *key, const char *want)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s != NULL && strcmp(s, want) == 0;
}

/* The secret keys the dispatcher sent, one record each, must be exactly
 * the env's: a missing one would run the job without it, an extra one is
 * something the registry never named. */
static int check_secrets(const job *j, const json_t *secrets, agora_error_t *err)
{
        size_t n = 0;

        for (size_t off = 0; off < j->secrets_len;) {
                const char *rec = (const char *)j->secrets + off, *eq = strchr(rec, '=');
                size_t rlen = strlen(rec);
                char key[AGORA_NAME_MAX + 1];

                if (eq == NULL || (size_t)(eq - rec) > AGORA_NAME_MAX)
                        return agora_error_set(err, AGORA_ERR_USAGE, "secret record %zu: not KEY=VALUE", n + 1);
                memcpy(key, rec, (size_t)(eq - rec));
                key[eq - rec] = '\0';
                if (!json_is_string(json_object_get(secrets, key)))
                        return agora_error_set(err, AGORA_ERR_INTEGRITY, "env '%s' has no secret '%s'", j->m->env.name,
                                               key);
                n++;
                off += rlen + 1;
        }
        if (n != json_object_size(secrets))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "env '%s' names %zu secrets, %zu were sent",
                                       j->m->env.name, json_object_size(secrets), n);
        return 0;
}

static int build_plain_env(job *j, const json_t *values, agora_error_t *err)
{
        const char *k;
        json_t *v;
        size_t n = 0;

        json_object_foreach((json_t *)values, k, v) n += strlen(k) + 1 + json_string_length(v) + 1;
        j->plain_env = malloc(n + 1);
        if (j->plain_env == NULL)
                return agora_error_set_errno(err, ENOMEM, "env '%s'", j->m->env.name);
        j->plain_env_len = 0;
        json_object_foreach((json_t *)values, k, v)
        {
                if (!json_is_string(v))
                        return agora_error_set(err, AGORA_ERR_INTEGRITY, "env '%s': value '%s' is not a string",
                                               j->m->env.name, k);
                j->plain_env_len +=
                        (size_t)sprintf(j->plain_env + j->plain_env_len, "%s=%s", k, json_string_value(v)) + 1;
        }
        return 0;
}

static int check_definitions(worker *w, job *j, agora_error_t *err)
{
        _cleanup_json_ json_t *sub = NULL, *env = NULL;
        json_t *caps, *values, *secrets;
        profile *p = NULL;

        if (load_def(w, j, 0, "subagent", &sub, err) < 0 || load_def(w, j, 1, "env", &env, err) < 0)
                return -1;
        caps = json_object_get(sub, "capabilities");
        if (!str_is(sub, "entrypoint", j->m->entrypoint) || !str_is(sub, "profile", j->m->profile) ||
            !json_is_array(caps) || json_array_size(caps) != j->m->n_caps)
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "subagent '%s': its definition does not say what the manifest says",
                                       j->m->subagent.name);
        for (size_t i = 0; i < j->m->n_caps; i++)
                if (!json_is_string(json_array_get(caps, i)) ||
                    strcmp(json_string_value(json_array_get(caps, i)), j->m->caps[i].name) != 0)
                        return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                               "subagent '%s': capability '%s' is not in its definition",
                                               j->m->subagent.name, j->m->caps[i].name);
        values = json_object_get(env, "values");
        secrets = json_object_get(env, "secrets");
        if (!json_is_object(values) || !json_is_object(secrets))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "env '%s': malformed definition", j->m->env.name);
        if (check_secrets(j, secrets, err) < 0 || build_plain_env(j, values, err) < 0)
                return -1;
        /* A profile this worker does not have is refused now, not found
         * missing in the cage. */
        if (profile_load_named(w->cfg->profiles_dir ? w->cfg->profiles_dir : profile_default_dir(), j->m->profile, &p,
                               err) < 0)
                return agora_error_wrap(err, "dispatch %s", j->m->dispatch_id);
        profile_free(p);
        return 0;
}

/* With the lock: pin what is cached, and either ask for the rest or start. */
static json_t *advance(worker *w, job *j)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *need = json_array();
        char h[AGORA_HASH_STR_LEN + 1];

        for (size_t i = 0; i < j->n_blobs; i++) {
                if (j->blobs[i].have)
                        continue;
                /* A blob listed twice (two names, one tarball) is pinned once. */
                bool dup = false;
                for (size_t k = 0; k < i; k++)
                        if (agora_hash_equal(&j->blobs[k].hash, &j->blobs[i].hash))
                                dup = true;
                if (dup)
                        continue;
                if (cache_pin_if_valid(w->cache, &j->blobs[i].hash) > 0) {
                        j->blobs[i].have = true;
                        continue;
                }
                agora_hash_format(&j->blobs[i].hash, h);
                json_array_append_new(need, json_string(h));
        }
        if (json_array_size(need) > 0)
                return json_pack("{s:b, s:s, s:O}", "ok", 1, "state", "need", "need", need);
        if (check_definitions(w, j, &err) < 0) {
                json_t *r = refuse_err(w, err->kind == AGORA_ERR_NOTFOUND ? REFUSE_FAILED : REFUSE_HASH_MISMATCH,
                                       j->m->dispatch_id, &err);
                drop_job(w, j);
                return r;
        }
        j->state = JOB_QUEUED;
        start_next(w);
        /* Accepted either way; "queued" tells the dispatcher why nothing
         * happens yet. */
        return json_pack("{s:b, s:s, s:b}", "ok", 1, "state", "running", "queued", j->state == JOB_QUEUED);
}

/* ---- requests ---- */

static int copy_secrets(job *j, const unsigned char *payload, size_t len, agora_error_t *err)
{
        if (len == 0)
                return 0;
        if (len > SECRETS_MAX || payload[len - 1] != '\0')
                return agora_error_set(err, AGORA_ERR_USAGE, "secrets: not NUL-ended records of at most %u bytes",
                                       SECRETS_MAX);
        j->secrets = sodium_malloc(len);
        if (j->secrets == NULL)
                return agora_error_set_errno(err, ENOMEM, "secrets");
        memcpy(j->secrets, payload, len);
        j->secrets_len = len;
        return 0;
}

static job *job_new(worker *w, manifest *m, const char *text, size_t len)
{
        job *j = calloc(1, sizeof(*j));

        if (j == NULL)
                return NULL;
        j->w = w;
        j->m = m;
        j->mtext = strndup(text, len);
        j->mlen = len;
        j->n_blobs = 2 + m->n_caps;
        j->blobs = calloc(j->n_blobs, sizeof(*j->blobs));
        j->events = json_array();
        if (j->mtext == NULL || j->blobs == NULL || j->events == NULL) {
                j->m = NULL;
                free(j->mtext);
                free(j->blobs);
                json_decref(j->events);
                free(j);
                return NULL;
        }
        j->blobs[0].hash = m->subagent.hash;
        j->blobs[1].hash = m->env.hash;
        for (size_t i = 0; i < m->n_caps; i++)
                j->blobs[2 + i].hash = m->caps[i].hash;
        j->touched_ms = worker_now_ms();
        return j;
}

void job_submit(worker *w, const json_t *req, const unsigned char *payload, size_t len, json_t **ret_reply)
{
        _cleanup_error_ agora_error_t err = NULL;
        const char *text = json_string_value(json_object_get(req, "manifest"));
        const char *sig = json_string_value(json_object_get(req, "signature"));
        _cleanup_manifest_ manifest *m = NULL;
        manifest_refusal why;
        job *j;

        if (text == NULL) {
                pthread_mutex_lock(&w->lock);
                *ret_reply = refuse(w, REFUSE_MALFORMED, NULL, "submit: no manifest");
                pthread_mutex_unlock(&w->lock);
                return;
        }
        /* The signature and the clock first: nothing of an unverified
         * dispatch is kept, not even its nonce. */
        if (manifest_verify(text, json_string_length(json_object_get(req, "manifest")), sig, w->cfg->trust,
                            w->cfg->n_trust, (int64_t)time(NULL), &m, &why, &err) < 0) {
                pthread_mutex_lock(&w->lock);
                *ret_reply = refuse_err(w, why, NULL, &err);
                pthread_mutex_unlock(&w->lock);
                return;
        }
        pthread_mutex_lock(&w->lock);
        if (w->draining) {
                *ret_reply = refuse(w, REFUSE_BUSY, m->dispatch_id, "the worker is stopping");
                goto out;
        }
        if (find_job(w, m->dispatch_id) != NULL) {
                *ret_reply = refuse(w, REFUSE_DUPLICATE, m->dispatch_id, "this dispatch is already on this worker");
                goto out;
        }
        if (w->reserved >= w->cfg->jobs + w->cfg->queue) {
                char msg[96];
                snprintf(msg, sizeof(msg), "all %u slots and %u queue places are taken", w->cfg->jobs, w->cfg->queue);
                *ret_reply = refuse(w, REFUSE_BUSY, m->dispatch_id, msg);
                goto out;
        }
        j = job_new(w, m, text, json_string_length(json_object_get(req, "manifest")));
        if (j == NULL) {
                *ret_reply = refuse(w, REFUSE_FAILED, m->dispatch_id, "out of memory");
                goto out;
        }
        m = NULL; /* the job's now */
        if (copy_secrets(j, payload, len, &err) < 0) {
                *ret_reply = refuse_err(w, REFUSE_MALFORMED, j->m->dispatch_id, &err);
                job_free(w, j);
                goto out;
        }
        /* In the table before the nonce is claimed, so that a second submit
         * of the same dispatch meanwhile is a duplicate; marked busy so that
         * nothing drops it while the lock is let go for the claim, whose
         * fsync must not stall every other request. */
        j->next = w->jobs;
        w->jobs = j;
        w->reserved++;
        j->uploading = true;
        pthread_mutex_unlock(&w->lock);
        int claimed = nonce_store_claim(w->nonces, j->m->nonce, j->m->expires_at, &err);
        pthread_mutex_lock(&w->lock);
        j->uploading = false;
        if (claimed < 0) {
                *ret_reply = refuse_err(w, err->kind == AGORA_ERR_EXISTS ? REFUSE_REPLAYED : REFUSE_FAILED,
                                        j->m->dispatch_id, &err);
                drop_job(w, j);
                goto out;
        }
        worker_log(LOG_LVL_INFO, "dispatch=%s accepted subagent=%s key=%s", j->m->dispatch_id, j->m->subagent.name,
                   j->m->key_id);
        *ret_reply = advance(w, j);
out:
        pthread_mutex_unlock(&w->lock);
}

void job_blob(worker *w, const json_t *req, const unsigned char *payload, size_t len, json_t **ret_reply)
{
        _cleanup_error_ agora_error_t err = NULL;
        const char *id = json_string_value(json_object_get(req, "dispatchId"));
        const char *hs = json_string_value(json_object_get(req, "hash"));
        json_t *off = json_object_get(req, "offset"), *size = json_object_get(req, "size");
        agora_hash h;
        cache_upload *u;
        job *j;
        bool known = false;

        pthread_mutex_lock(&w->lock);
        if (id == NULL || hs == NULL || !json_is_integer(off) || !json_is_integer(size) ||
            json_integer_value(off) < 0 || json_integer_value(size) < 0 || agora_hash_parse(hs, &h, &err) < 0) {
                agora_error_release(&err);
                *ret_reply = refuse(w, REFUSE_MALFORMED, id, "blob: want dispatchId, hash, offset and size");
                goto out;
        }
        j = find_job(w, id);
        if (j == NULL || j->state != JOB_PENDING) {
                *ret_reply =
                        refuse(w, j == NULL ? REFUSE_NOT_FOUND : REFUSE_MALFORMED, id,
                               j == NULL ? "no such dispatch here" : "blob: the dispatch is not waiting for blobs");
                goto out;
        }
        for (size_t i = 0; i < j->n_blobs; i++)
                if (agora_hash_equal(&j->blobs[i].hash, &h) && !j->blobs[i].have)
                        known = true;
        if (!known || j->uploading || (j->upload != NULL && !agora_hash_equal(&j->upload_hash, &h))) {
                *ret_reply = refuse(w, REFUSE_MALFORMED, id,
                                    known ? "blob: another blob's upload is in progress"
                                          : "blob: not one this dispatch needs");
                goto out;
        }
        if (j->upload == NULL) {
                if (cache_upload_begin(w->cache, &h, (uint64_t)json_integer_value(size), &j->upload, &err) < 0) {
                        *ret_reply = refuse_err(w, REFUSE_FAILED, id, &err);
                        goto out;
                }
                j->upload_hash = h;
        }
        u = j->upload;
        j->uploading = true;
        j->touched_ms = worker_now_ms();
        pthread_mutex_unlock(&w->lock);

        /* The write is the slow part; the job cannot go away meanwhile:
         * the janitor and release leave an uploading job alone. */
        int r = cache_upload_write(u, (uint64_t)json_integer_value(off), payload, len, &err);

        pthread_mutex_lock(&w->lock);
        j->uploading = false;
        pthread_cond_broadcast(&w->changed);
        if (w->draining) {
                *ret_reply = refuse(w, REFUSE_BUSY, id, "the worker is stopping");
                drop_job(w, j);
                goto out;
        }
        if (r < 0) {
                json_t *reply = refuse_err(w, REFUSE_MALFORMED, id, &err);
                j->upload = NULL;
                cache_upload_abort(u);
                drop_job(w, j);
                *ret_reply = reply;
                goto out;
        }
        if (!cache_upload_complete(u)) {
                *ret_reply = json_pack("{s:b, s:s, s:[s]}", "ok", 1, "state", "need", "need", hs);
                goto out;
        }
        j->upload = NULL;
        if (cache_upload_finish(w->cache, u, &err) < 0) {
                /* Bytes that do not match their name: nothing of this
                 * dispatch runs. */
                *ret_reply = refuse_err(w, err->kind == AGORA_ERR_INTEGRITY ? REFUSE_HASH_MISMATCH : REFUSE_FAILED, id,
                                        &err);
                drop_job(w, j);
                goto out;
        }
        for (size_t i = 0; i < j->n_blobs; i++)
                if (agora_hash_equal(&j->blobs[i].hash, &h) && !j->blobs[i].have) {
                        j->blobs[i].have = true;
                        break; /* pinned once by finish */
                }
        *ret_reply = advance(w, j);
out:
        pthread_mutex_unlock(&w->lock);
}

void job_events(worker *w, const json_t *req, json_t **ret_reply)
{
        const char *id = json_string_value(json_object_get(req, "dispatchId"));
        json_t *after_j = json_object_get(req, "after");
        uint64_t after =
                json_is_integer(after_j) && json_integer_value(after_j) > 0 ? (uint64_t)json_integer_value(after_j) : 0;
        struct timespec deadline;
        json_t *out;
        size_t bytes = 0, i;
        job *j;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += EVENTS_WAIT_MS / 1000;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                j = id ? find_job(w, id) : NULL;
                if (j == NULL) {
                        *ret_reply = refuse(w, REFUSE_NOT_FOUND, id, "no such dispatch here");
                        goto out;
                }
                if (j->seq > after || j->state == JOB_DONE)
                        break;
                if (pthread_cond_timedwait(&w->changed, &w->lock, &deadline) == ETIMEDOUT)
                        break;
        }
        out = json_array();
        json_t *ev;
        bool all = true;
        json_array_foreach(j->events, i, ev)
        {
                if ((uint64_t)json_integer_value(json_object_get(ev, "seq")) <= after)
                        continue;
                if (bytes > EVENTS_REPLY_MAX) {
                        all = false;
                        break;
                }
                json_t *data = json_object_get(ev, "data");
                bytes += 64 + (data ? json_string_length(data) : 0);
                json_array_append(out, ev);
        }
        j->touched_ms = j->state == JOB_DONE ? j->touched_ms : worker_now_ms();
        *ret_reply = json_pack("{s:b, s:o, s:b}", "ok", 1, "events", out, "done", j->state == JOB_DONE && all);
out:
        pthread_mutex_unlock(&w->lock);
}

void job_release(worker *w, const json_t *req, json_t **ret_reply)
{
        const char *id = json_string_value(json_object_get(req, "dispatchId"));
        job *j;

        pthread_mutex_lock(&w->lock);
        j = id ? find_job(w, id) : NULL;
        if (j == NULL || j->state != JOB_DONE) {
                *ret_reply = refuse(w, j == NULL ? REFUSE_NOT_FOUND : REFUSE_MALFORMED, id,
                                    j == NULL ? "no such dispatch here" : "release: the dispatch has not finished");
        } else {
                unlink_job(w, j);
                job_free(w, j);
                pthread_cond_broadcast(&w->changed);
                *ret_reply = json_pack("{s:b}", "ok", 1);
        }
        pthread_mutex_unlock(&w->lock);
}

json_t *worker_status(worker *w)
{
        json_t *refused = json_object(), *r;
        unsigned queued = 0, pending = 0;
        uint64_t bytes, limit;
        size_t count;

        pthread_mutex_lock(&w->lock);
        for (job *j = w->jobs; j != NULL; j = j->next) {
                queued += j->state == JOB_QUEUED;
                pending += j->state == JOB_PENDING;
        }
        for (unsigned i = 1; i < REFUSE__COUNT; i++)
                json_object_set_new(refused, manifest_refusal_code((manifest_refusal)i),
                                    json_integer((json_int_t)w->refused[i]));
        cache_stats(w->cache, &bytes, &limit, &count);
        r = json_pack("{s:b, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:o, s:I, s:I, s:I, s:b}", "ok", 1, "name",
                      w->cfg->name, "keyId", w->key_id, "running", w->running, "queued", queued, "pending", pending,
                      "jobs", w->cfg->jobs, "queue", w->cfg->queue, "started", (json_int_t)w->started, "finished",
                      (json_int_t)w->finished, "refused", refused, "cacheBytes", (json_int_t)bytes, "cacheLimit",
                      (json_int_t)limit, "cacheBlobs", (json_int_t)count, "draining", w->draining);
        pthread_mutex_unlock(&w->lock);
        return r;
}

json_t *worker_capacity(worker *w)
{
        json_t *r;

        pthread_mutex_lock(&w->lock);
        unsigned total = w->cfg->jobs + w->cfg->queue;
        unsigned free_slots = w->draining || w->reserved >= total ? 0 : total - w->reserved;
        r = json_pack("{s:b, s:s, s:i, s:i, s:i}", "ok", 1, "name", w->cfg->name, "free", free_slots, "running",
                      w->running, "queued", w->reserved - w->running);
        pthread_mutex_unlock(&w->lock);
        return r;
}

unsigned job_busy_count(worker *w)
{
        unsigned n;

        pthread_mutex_lock(&w->lock);
        n = w->reserved;
        pthread_mutex_unlock(&w->lock);
        return n;
}

void job_janitor(worker *w)
{
        int64_t now = worker_now_ms();
        job *next;

        pthread_mutex_lock(&w->lock);
        for (job *j = w->jobs; j != NULL; j = next) {
                next = j->next;
                if (j->uploading)
                        continue;
                if (j->state == JOB_PENDING && now - j->touched_ms > PENDING_TTL_MS) {
                        worker_log(LOG_LVL_WARNING, "dispatch=%s dropped: its blobs did not come", j->m->dispatch_id);
                        drop_job(w, j);
                } else if (j->state == JOB_DONE && now - j->touched_ms > FINISHED_TTL_MS) {
                        worker_log(LOG_LVL_INFO, "dispatch=%s forgotten: finished and never released",
                                   j->m->dispatch_id);
                        unlink_job(w, j);
                        job_free(w, j);
                }
        }
        pthread_mutex_unlock(&w->lock);
}

void job_drain(worker *w, int grace_s)
{
        struct timespec deadline;
        bool left;
        job *next;

        pthread_mutex_lock(&w->lock);
        w->draining = true;
        for (;;) {
                /* Jobs still waiting for blobs have not started: they go
                 * (one in the middle of a chunk goes once it is written). */
                for (job *j = w->jobs; j != NULL; j = next) {
                        next = j->next;
                        if (j->state == JOB_PENDING && !j->uploading)
                                drop_job(w, j);
                }
                if (w->running == 0 && w->reserved == 0)
                        break;
                pthread_cond_wait(&w->changed, &w->lock);
        }
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += grace_s;
        /* Give dispatchers the chance to fetch the receipts of the jobs
         * that just ended. */
        do {
                left = false;
                for (job *j = w->jobs; j != NULL; j = j->next)
                        left = left || j->state == JOB_DONE;
        } while (left && pthread_cond_timedwait(&w->changed, &w->lock, &deadline) != ETIMEDOUT);
        pthread_mutex_unlock(&w->lock);
}

void job_table_free(worker *w)
{
        pthread_mutex_lock(&w->lock);
        while (w->jobs != NULL) {
                job *j = w->jobs;
                w->jobs = j->next;
                job_free(w, j);
        }
        pthread_mutex_unlock(&w->lock);
}
