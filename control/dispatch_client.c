/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher's NNG client (docs/dispatch.md, "Wire protocol"): one req
 * socket per worker with one context carrying the request sequence, and
 * one surveyor asking every worker for its free slots at once.
 *
 * Everything a worker sends back is input from another host: replies are
 * checked for shape before use, a blob is sent only when the manifest
 * names it, and a worker's words reach the operator's terminal only after
 * control characters are taken out.
 */
#include <errno.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/survey0/survey.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/wire.h"
#include "control/dispatch.h"

/* Replies carry at most the events of about a second of output; a cap
 * keeps a worker from making us hold an arbitrary amount of memory. */
#define DISPATCH_REPLY_MAX (64u << 20)
#define SURVEY_WINDOW_MS 250
#define REFUSAL_TEXT_MAX 300

struct dispatch_conn {
        char *url;
        nng_socket sock;
        nng_ctx ctx;
        bool sock_open;
        bool ctx_open;
        nng_time opened;
        nng_time last_answer; /* 0 until the first reply */
};

void dispatch_conn_free(dispatch_conn *c)
{
        if (c == NULL)
                return;
        if (c->ctx_open)
                nng_ctx_close(c->ctx);
        if (c->sock_open)
                nng_close(c->sock);
        free(c->url);
        free(c);
}

int dispatch_conn_open(const char *url, const net_tls *tls, dispatch_conn **ret, agora_error_t *err)
{
        _cleanup_conn_ dispatch_conn *c = calloc(1, sizeof(*c));
        int rv;

        if (c == NULL || (c->url = strdup(url)) == NULL)
                return agora_error_set_errno(err, ENOMEM, "worker '%s'", url);
        if ((rv = nng_req0_open(&c->sock)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': %s", url, nng_strerror(rv));
        c->sock_open = true;
        if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, DISPATCH_REPLY_MAX)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': %s", url, nng_strerror(rv));
        if ((rv = nng_ctx_open(&c->ctx, c->sock)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': %s", url, nng_strerror(rv));
        c->ctx_open = true;
        /* No request is idempotent: a submit sent again after a slow answer
         * would reach the worker twice, a blob chunk would be appended
         * twice. In NNG 1.5 the resend timer is the context's own (copied
         * from the socket when the context opens), so it is turned off on
         * the context that carries the requests. Without it, a connection
         * that drops fails the pending request at once (NNG_ECONNRESET). */
        if ((rv = nng_ctx_set_ms(c->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': %s", url, nng_strerror(rv));
        if (net_dial(c->sock, url, tls, err) < 0)
                return -1;
        c->opened = nng_clock();
        *ret = take_ptr(c);
        return 0;
}

void dispatch_sanitize(const char *in, char *out, size_t size)
{
        size_t i = 0;

        for (; in != NULL && *in != '\0' && i + 1 < size; in++)
                out[i++] = ((unsigned char)*in < 0x20 || *in == 0x7f) ? '?' : *in;
        out[i] = '\0';
}

/* Silence, or a connection that failed (NNG_ECONNRESET when the worker
 * went away mid-request): either way the worker is gone. */
static int lost(dispatch_conn *c, dispatch_why *why, agora_error_t *err)
{
        nng_time since = c->last_answer != 0 ? c->last_answer : c->opened;
        uint64_t s = (nng_clock() - since + 500) / 1000;

        why->kind = DISPATCH_FAIL_LOST;
        return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s' %s (after %" PRIu64 " s)", c->url,
                               c->last_answer == 0 ? "did not answer" : "stopped answering", s);
}

int dispatch_request(dispatch_conn *c, const json_t *req, const void *payload, size_t len, int timeout_ms,
                     json_t **ret_reply, dispatch_why *why, agora_error_t *err)
{
        _cleanup_error_ agora_error_t nerr = NULL;
        _cleanup_nng_msg_ nng_msg *reply = NULL;
        _cleanup_json_ json_t *h = NULL;
        const unsigned char *rp;
        size_t rlen;
        json_t *ok;

        why->kind = DISPATCH_FAIL_OTHER;
        why->code[0] = '\0';
        if (net_request(c->ctx, req, payload, len, timeout_ms, &reply, &nerr) < 0)
                return lost(c, why, err);
        c->last_answer = nng_clock();
        if (net_msg_decode(reply, &h, &rp, &rlen, err) < 0)
                return agora_error_wrap(err, "worker '%s': bad reply", c->url);
        ok = json_object_get(h, "ok");
        if (json_is_false(ok)) {
                const char *code = json_string_value(json_object_get(h, "code"));
                char safe_code[sizeof(why->code)], text[REFUSAL_TEXT_MAX];

                dispatch_sanitize(code != NULL ? code : "unknown", safe_code, sizeof(safe_code));
                dispatch_sanitize(json_string_value(json_object_get(h, "error")), text, sizeof(text));
                why->kind = DISPATCH_FAIL_REFUSED;
                memcpy(why->code, safe_code, sizeof(why->code));
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s' refused (%s): %s", c->url, safe_code,
                                       text[0] != '\0' ? text : "no reason given");
        }
        if (!json_is_true(ok))
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': bad reply: no \"ok\"", c->url);
        *ret_reply = take_ptr(h);
        return 0;
}

int dispatch_status(dispatch_conn *c, int timeout_ms, json_t **ret, dispatch_why *why, agora_error_t *err)
{
        _cleanup_json_ json_t *req = json_pack("{s:s}", "op", "status"), *reply = NULL;

        if (req == NULL)
                return agora_error_set_errno(err, ENOMEM, "status request");
        if (dispatch_request(c, req, NULL, 0, timeout_ms, &reply, why, err) < 0)
                return -1;
        json_object_del(reply, "ok");
        *ret = take_ptr(reply);
        return 0;
}

/* ---- submit and blobs ---- */

typedef enum submit_state { STATE_RUNNING, STATE_NEED } submit_state;

/* Read a need/running answer; *RET_NEED borrows REPLY's array. */
static int parse_state(const dispatch_conn *c, const json_t *reply, submit_state *ret, json_t **ret_need,
                       agora_error_t *err)
{
        const char *state = json_string_value(json_object_get(reply, "state"));
        json_t *need = json_object_get(reply, "need"), *h;
        size_t i;

        if (state != NULL && strcmp(state, "running") == 0) {
                *ret = STATE_RUNNING;
                return 0;
        }
        if (state == NULL || strcmp(state, "need") != 0 || !json_is_array(need) || json_array_size(need) == 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': bad reply: want state need or running",
                                       c->url);
        json_array_foreach(need, i, h)
        {
                if (!json_is_string(h))
                        return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': bad reply: need a non-hash",
                                               c->url);
        }
        *ret = STATE_NEED;
        *ret_need = need;
        return 0;
}

/* Send blob H in chunks; *RET_REPLY is the answer to the last chunk. */
static int send_blob(dispatch_conn *c, const dispatch_job *job, const char *hash, const agora_hash *h,
                     json_t **ret_reply, dispatch_why *why, agora_error_t *err)
{
        _cleanup_free_ void *data = NULL;
        size_t len = 0, off = 0;

        if (job->blob(job->blob_ctx, h, &data, &len, err) < 0) {
                why->kind = DISPATCH_FAIL_OTHER;
                if (err != NULL && *err != NULL && (*err)->kind == AGORA_ERR_NOTFOUND)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "worker '%s' asked for %s, which the manifest does not name", c->url,
                                               hash);
                return -1;
        }
        /* An empty blob still travels, as one empty chunk. */
        do {
                size_t n = len - off < WIRE_CHUNK_MAX ? len - off : WIRE_CHUNK_MAX;
                _cleanup_json_ json_t *req =
                        json_pack("{s:s, s:s, s:s, s:I, s:I}", "op", "blob", "dispatchId", job->m->dispatch_id, "hash",
                                  hash, "offset", (json_int_t)off, "size", (json_int_t)len);
                _cleanup_json_ json_t *reply = NULL;

                if (req == NULL)
                        return agora_error_set_errno(err, ENOMEM, "blob %s", hash);
                if (dispatch_request(c, req, (const char *)data + off, n, DISPATCH_BLOB_TIMEOUT_MS, &reply, why, err) <
                    0)
                        return -1;
                off += n;
                if (off >= len) {
                        *ret_reply = take_ptr(reply);
                        return 0;
                }
                /* The worker may say it has all it needs before the end. */
                if (json_is_string(json_object_get(reply, "state")) &&
                    strcmp(json_string_value(json_object_get(reply, "state")), "running") == 0) {
                        *ret_reply = take_ptr(reply);
                        return 0;
                }
        } while (off < len);
        return agora_error_set(err, AGORA_ERR_FAILED, "blob %s: nothing sent", hash);
}

int dispatch_submit(dispatch_conn *c, const dispatch_job *job, unsigned char *secrets, size_t secrets_len,
                    dispatch_why *why, agora_error_t *err)
{
        _cleanup_json_ json_t *req = NULL, *reply = NULL;
        /* Each blob the manifest names is sent once: a worker asking for
         * one again after all its bytes went would loop us forever. */
        size_t max_sent = job->m->n_caps + 2, n_sent = 0;
        _cleanup_free_ agora_hash *sent = calloc(max_sent, sizeof(*sent));
        int r;

        why->kind = DISPATCH_FAIL_OTHER;
        req = json_pack("{s:s, s:s%, s:s}", "op", "submit", "manifest", job->text, job->len, "signature", job->sig);
        if (req == NULL || sent == NULL) {
                secrets_free(secrets);
                return agora_error_set_errno(err, ENOMEM, "submit");
        }
        r = dispatch_request(c, req, secrets, secrets_len, DISPATCH_SUBMIT_TIMEOUT_MS, &reply, why, err);
        secrets_free(secrets);
        if (r < 0)
                return -1;

        for (;;) {
                submit_state state;
                json_t *need = NULL, *next = NULL;
                const char *hash;
                agora_hash h;

                if (parse_state(c, reply, &state, &need, err) < 0)
                        return -1;
                if (state == STATE_RUNNING)
                        return 0;
                hash = json_string_value(json_array_get(need, 0));
                if (agora_hash_parse(hash, &h, err) < 0)
                        return agora_error_wrap(err, "worker '%s': bad reply", c->url);
                for (size_t i = 0; i < n_sent; i++)
                        if (agora_hash_equal(&sent[i], &h))
                                return agora_error_set(err, AGORA_ERR_FAILED,
                                                       "worker '%s' asked again for %s after it was sent", c->url,
                                                       hash);
                if (n_sent == max_sent)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "worker '%s' asked for %s, which the manifest does not name", c->url,
                                               hash);
                if (send_blob(c, job, hash, &h, &next, why, err) < 0)
                        return -1;
                sent[n_sent++] = h;
                json_decref(reply);
                reply = next;
        }
}

/* ---- events and release ---- */

int dispatch_events(dispatch_conn *c, const char *id, int64_t after, json_t **ret_events, bool *ret_done,
                    dispatch_why *why, agora_error_t *err)
{
        _cleanup_json_ json_t *req =
                json_pack("{s:s, s:s, s:I}", "op", "events", "dispatchId", id, "after", (json_int_t)after);
        _cleanup_json_ json_t *reply = NULL;
        json_t *events, *done;

        if (req == NULL)
                return agora_error_set_errno(err, ENOMEM, "events request");
        if (dispatch_request(c, req, NULL, 0, DISPATCH_EVENTS_TIMEOUT_MS, &reply, why, err) < 0)
                return -1;
        events = json_object_get(reply, "events");
        done = json_object_get(reply, "done");
        if (!json_is_array(events) || !json_is_boolean(done))
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': bad reply: want events and done", c->url);
        *ret_events = json_incref(events);
        *ret_done = json_is_true(done);
        return 0;
}

void dispatch_release(dispatch_conn *c, const char *id)
{
        _cleanup_json_ json_t *req = json_pack("{s:s, s:s}", "op", "release", "dispatchId", id), *reply = NULL;
        _cleanup_error_ agora_error_t ignored = NULL;
        dispatch_why why;

        /* The receipt is stored: if the worker does not hear this, it only
         * keeps a finished job a little longer. */
        if (req != NULL)
                (void)dispatch_request(c, req, NULL, 0, DISPATCH_STATUS_TIMEOUT_MS, &reply, &why, &ignored);
}

/* ---- the capacity survey ---- */

struct dispatch_survey {
        nng_socket sock;
        bool sock_open;
        char **urls; /* respondent addresses, in the caller's order */
        size_t n;
        nng_mtx *mtx;
        nng_cv *cv;
        int pipes; /* connected respondents */
};

/* Survey messages go only to the pipes connected when they are sent, and
 * dialing does not wait: count the connections so that the first survey
 * can wait for them rather than ask nobody. */
static void survey_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
        dispatch_survey *s = arg;

        (void)p;
        nng_mtx_lock(s->mtx);
        if (ev == NNG_PIPE_EV_ADD_POST)
                s->pipes++;
        else if (ev == NNG_PIPE_EV_REM_POST && s->pipes > 0)
                s->pipes--;
        nng_cv_wake(s->cv);
        nng_mtx_unlock(s->mtx);
}

void dispatch_survey_free(dispatch_survey *s)
{
        if (s == NULL)
                return;
        /* nng_close returns after every pipe's callbacks have run. */
        if (s->sock_open)
                nng_close(s->sock);
        if (s->cv != NULL)
                nng_cv_free(s->cv);
        if (s->mtx != NULL)
                nng_mtx_free(s->mtx);
        for (size_t i = 0; i < s->n; i++)
                free(s->urls[i]);
        free(s->urls);
        free(s);
}

int dispatch_survey_open(char *const *urls, size_t n, const net_tls *tls, dispatch_survey **ret, agora_error_t *err)
{
        _cleanup_survey_ dispatch_survey *s = calloc(1, sizeof(*s));
        int rv;

        if (s == NULL || (s->urls = calloc(n, sizeof(char *))) == NULL)
                return agora_error_set_errno(err, ENOMEM, "survey");
        if ((rv = nng_mtx_alloc(&s->mtx)) != 0 || (rv = nng_cv_alloc(&s->cv, s->mtx)) != 0 ||
            (rv = nng_surveyor0_open(&s->sock)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "survey: %s", nng_strerror(rv));
        s->sock_open = true;
        if ((rv = nng_socket_set_ms(s->sock, NNG_OPT_SURVEYOR_SURVEYTIME, SURVEY_WINDOW_MS)) != 0 ||
            (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 64u << 10)) != 0 ||
            (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, survey_pipe_cb, s)) != 0 ||
            (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, survey_pipe_cb, s)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "survey: %s", nng_strerror(rv));
        for (size_t i = 0; i < n; i++) {
                if (net_survey_url(urls[i], &s->urls[i], err) < 0)
                        return -1;
                s->n++;
                if (net_dial(s->sock, s->urls[i], tls, err) < 0)
                        return -1;
        }
        *ret = take_ptr(s);
        return 0;
}

/* A capacity answer: a reply header with the worker's free slots. */
static int capacity_decode(nng_msg *m, int64_t *ret_free)
{
        _cleanup_error_ agora_error_t ignored = NULL;
        _cleanup_json_ json_t *h = NULL;
        const unsigned char *payload;
        size_t plen;
        json_t *f;

        if (net_msg_decode(m, &h, &payload, &plen, &ignored) < 0)
                return -1;
        f = json_object_get(h, "free");
        if (!json_is_integer(f) || json_integer_value(f) < 0)
                return -1;
        *ret_free = json_integer_value(f);
        return 0;
}

/* Which worker a reply came from: the address of the dialer of its pipe. */
static ssize_t reply_source(const dispatch_survey *s, nng_msg *m)
{
        nng_dialer d = nng_pipe_dialer(nng_msg_get_pipe(m));
        char *url = NULL;
        ssize_t found = -1;

        if (nng_dialer_id(d) < 0 || nng_dialer_get_string(d, NNG_OPT_URL, &url) != 0)
                return -1;
        for (size_t i = 0; i < s->n && found < 0; i++)
                if (strcmp(s->urls[i], url) == 0)
                        found = (ssize_t)i;
        nng_strfree(url);
        return found;
}

int dispatch_survey_ask(dispatch_survey *s, int64_t *ret_free, agora_error_t *err)
{
        _cleanup_json_ json_t *q = json_pack("{s:s}", "op", "capacity");
        nng_time deadline = nng_clock() + SURVEY_WINDOW_MS;
        size_t answered = 0;
        nng_msg *m = NULL;
        int rv;

        for (size_t i = 0; i < s->n; i++)
                ret_free[i] = -1;
        if (q == NULL)
                return agora_error_set_errno(err, ENOMEM, "survey");
        nng_mtx_lock(s->mtx);
        while (s->pipes < (int)s->n && nng_clock() < deadline)
                nng_cv_until(s->cv, deadline);
        nng_mtx_unlock(s->mtx);

        if (net_msg_encode(q, NULL, 0, &m, err) < 0)
                return -1;
        if ((rv = nng_sendmsg(s->sock, m, 0)) != 0) {
                nng_msg_free(m);
                return agora_error_set(err, AGORA_ERR_FAILED, "survey: %s", nng_strerror(rv));
        }
        /* Until the survey time ends (NNG_ETIMEDOUT) or all have answered. */
        while (answered < s->n && nng_recvmsg(s->sock, &m, 0) == 0) {
                ssize_t i = reply_source(s, m);

                /* A garbled answer is no answer: that worker goes last. */
                if (i >= 0 && ret_free[i] < 0 && capacity_decode(m, &ret_free[i]) == 0)
                        answered++;
                nng_msg_free(m);
        }
        return 0;
}
