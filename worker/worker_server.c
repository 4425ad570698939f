/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker's sockets. Requests arrive on a rep socket (docs/dispatch.md);
 * each of a fixed set of threads owns one NNG context and serves one
 * request at a time on it, so a request that waits (an events request
 * holds its answer for up to a second) blocks only its own context.
 * Capacity questions arrive on a respondent socket beside it.
 *
 * Every request is bytes from the network: a message that does not decode
 * is answered with a refusal, never trusted, never fatal.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/survey0/respond.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/wire.h"
#include "worker/worker-internal.h"

#define SURVEY_RECV_MAX (64u << 10)

typedef struct service {
        worker *w;
        nng_ctx ctx;
        nng_aio *aio;
        pthread_t thread;
        bool started;
} service;

typedef struct janitor {
        worker *w;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
} janitor;

static json_t *handle(worker *w, nng_msg *msg)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *req = NULL;
        const unsigned char *payload;
        json_t *reply = NULL;
        size_t len;
        const char *op;

        if (net_msg_decode(msg, &req, &payload, &len, &err) < 0) {
                pthread_mutex_lock(&w->lock);
                w->refused[REFUSE_MALFORMED]++;
                pthread_mutex_unlock(&w->lock);
                worker_log(LOG_LVL_WARNING, "request refused=malformed: %s", agora_error_message(err));
                return wire_refusal("malformed", agora_error_message(err));
        }
        op = json_string_value(json_object_get(req, "op"));
        if (op != NULL && strcmp(op, "submit") == 0)
                job_submit(w, req, payload, len, &reply);
        else if (op != NULL && strcmp(op, "blob") == 0)
                job_blob(w, req, payload, len, &reply);
        else if (op != NULL && strcmp(op, "events") == 0)
                job_events(w, req, &reply);
        else if (op != NULL && strcmp(op, "release") == 0)
                job_release(w, req, &reply);
        else if (op != NULL && strcmp(op, "status") == 0)
                reply = worker_status(w);
        else
                reply = wire_refusal("malformed", "unknown request");
        return reply ? reply : wire_refusal("failed", "out of memory");
}

static void *service_main(void *arg)
{
        service *s = arg;

        for (;;) {
                _cleanup_error_ agora_error_t err = NULL;
                _cleanup_json_ json_t *reply = NULL;
                nng_msg *msg, *out = NULL;
                int rv;

                nng_ctx_recv(s->ctx, s->aio);
                nng_aio_wait(s->aio);
                rv = nng_aio_result(s->aio);
                if (rv == NNG_ECLOSED)
                        return NULL;
                if (rv != 0)
                        continue;
                msg = nng_aio_get_msg(s->aio);
                reply = handle(s->w, msg);
                /* A submit carries secrets: no copy of them outlives it. */
                net_msg_wipe_free(msg);
                if (net_msg_encode(reply, NULL, 0, &out, &err) < 0) {
                        worker_log(LOG_LVL_ERR, "reply: %s", agora_error_message(err));
                        continue;
                }
                nng_aio_set_msg(s->aio, out);
                nng_ctx_send(s->ctx, s->aio);
                nng_aio_wait(s->aio);
                if (nng_aio_result(s->aio) != 0)
                        nng_msg_free(out); /* the dispatcher went away */
        }
}

typedef struct respondent {
        worker *w;
        nng_socket sock;
        pthread_t thread;
} respondent;

static void *respondent_main(void *arg)
{
        respondent *r = arg;

        for (;;) {
                _cleanup_error_ agora_error_t err = NULL;
                _cleanup_json_ json_t *req = NULL, *reply = NULL;
                const unsigned char *payload;
                nng_msg *msg = NULL, *out = NULL;
                size_t len;
                int rv = nng_recvmsg(r->sock, &msg, 0);

                if (rv == NNG_ECLOSED)
                        return NULL;
                if (rv != 0)
                        continue;
                if (net_msg_decode(msg, &req, &payload, &len, &err) == 0 &&
                    json_is_string(json_object_get(req, "op")) &&
                    strcmp(json_string_value(json_object_get(req, "op")), "capacity") == 0)
                        reply = worker_capacity(r->w);
                nng_msg_free(msg);
                if (reply == NULL || net_msg_encode(reply, NULL, 0, &out, &err) < 0)
                        continue; /* a survey we do not answer is one we did not understand */
                if (nng_sendmsg(r->sock, out, 0) != 0)
                        nng_msg_free(out);
        }
}

static void *janitor_main(void *arg)
{
        janitor *j = arg;
        unsigned ticks = 0;

        pthread_mutex_lock(&j->lock);
        while (!j->stop) {
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                t.tv_sec += 1;
                pthread_cond_timedwait(&j->wake, &j->lock, &t);
                if (j->stop)
                        break;
                pthread_mutex_unlock(&j->lock);
                job_janitor(j->w);
                if (ticks++ % 60 == 0)
                        nonce_store_sweep(j->w->nonces, (int64_t)time(NULL));
                pthread_mutex_lock(&j->lock);
        }
        pthread_mutex_unlock(&j->lock);
        return NULL;
}

static int open_sockets(worker *w, nng_socket *rep, nng_socket *resp, agora_error_t *err)
{
        int rv;

        if ((rv = nng_rep0_open(rep)) != 0 || (rv = nng_respondent0_open(resp)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "sockets: %s", nng_strerror(rv));
        /* Set before any listener starts: NNG drops a bigger message before
         * it is read into memory. */
        if ((rv = nng_socket_set_size(*rep, NNG_OPT_RECVMAXSZ, WIRE_RECV_MAX)) != 0 ||
            (rv = nng_socket_set_size(*resp, NNG_OPT_RECVMAXSZ, SURVEY_RECV_MAX)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "sockets: %s", nng_strerror(rv));
        for (size_t i = 0; i < w->cfg->n_listen; i++) {
                _cleanup_free_ char *survey = NULL;
                const char *url = w->cfg->listen[i];

                if (net_survey_url(url, &survey, err) < 0 || net_listen(*rep, url, &w->cfg->tls, err) < 0 ||
                    net_listen(*resp, survey, &w->cfg->tls, err) < 0)
                        return -1;
                worker_log(LOG_LVL_NOTICE, "listening on %s (capacity on %s)", url, survey);
        }
        return 0;
}

int worker_serve(worker *w, agora_error_t *err)
{
        nng_socket rep = NNG_SOCKET_INITIALIZER, resp = NNG_SOCKET_INITIALIZER;
        size_t n_services = w->cfg->jobs + w->cfg->queue + 4;
        _cleanup_free_ service *services = calloc(n_services, sizeof(*services));
        respondent r = {.w = w};
        janitor jan = {.w = w, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
        pthread_t jan_thread;
        bool jan_started = false, r_started = false;
        sigset_t set;
        int sig = 0, ret = -1;

        if (services == NULL)
                return agora_error_set_errno(err, ENOMEM, "worker");
        if (open_sockets(w, &rep, &resp, err) < 0)
                goto out;
        for (size_t i = 0; i < n_services; i++) {
                services[i].w = w;
                if (nng_ctx_open(&services[i].ctx, rep) != 0 || nng_aio_alloc(&services[i].aio, NULL, NULL) != 0 ||
                    pthread_create(&services[i].thread, NULL, service_main, &services[i]) != 0) {
                        agora_error_set(err, AGORA_ERR_FAILED, "worker: cannot start request threads");
                        goto out;
                }
                services[i].started = true;
        }
        r.sock = resp;
        r_started = pthread_create(&r.thread, NULL, respondent_main, &r) == 0;
        jan_started = r_started && pthread_create(&jan_thread, NULL, janitor_main, &jan) == 0;
        if (!jan_started) {
                agora_error_set(err, AGORA_ERR_FAILED, "worker: cannot start threads");
                goto out;
        }
        worker_log(LOG_LVL_NOTICE, "ready name=%s key=%s jobs=%u queue=%u", w->cfg->name, w->key_id, w->cfg->jobs,
                   w->cfg->queue);

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
                ; /* SIGHUP: nothing to reload yet */
        worker_log(LOG_LVL_NOTICE, "got %s: draining %u job(s)", strsignal(sig), job_busy_count(w));
        job_drain(w, 10);
        worker_log(LOG_LVL_NOTICE, "drained; stopping");
        ret = 0;
out:
        /* Closing the sockets ends every pending receive with NNG_ECLOSED. */
        nng_close(rep);
        nng_close(resp);
        for (size_t i = 0; i < n_services; i++) {
                if (services[i].started)
                        pthread_join(services[i].thread, NULL);
                if (services[i].aio != NULL)
                        nng_aio_free(services[i].aio);
        }
        if (r_started)
                pthread_join(r.thread, NULL);
        if (jan_started) {
                pthread_mutex_lock(&jan.lock);
                jan.stop = true;
                pthread_cond_signal(&jan.wake);
                pthread_mutex_unlock(&jan.lock);
                pthread_join(jan_thread, NULL);
        }
        return ret;
}
