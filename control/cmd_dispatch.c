/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora dispatch SUBAGENT --env ENV: resolve, sign, send to a worker,
 * stream what the job writes, and keep the worker's signed receipt
 * (docs/dispatch.md). The order of the steps is the point: everything that
 * can be refused here (names, workers, secrets) is refused before the
 * manifest is signed, and nothing leaves the host before it is signed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/schema.h"
#include "common/fsutil.h"
#include "common/name.h"
#include "common/receipt.h"
#include "control/dispatch.h"
#include "registry/resolve.h"

static const char verb[] = "dispatch";

static const char usage[] = "usage: agora dispatch SUBAGENT --env ENV [--worker URL]… [--workers FILE] [--arg ARG]…\n"
                            "                      [--timeout S] [--retry N] [--valid S] [--json] [--dry-run]\n"
                            "                      [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
                            "\n"
                            "Resolve SUBAGENT with the env bundle ENV at the registry's head, sign the\n"
                            "manifest with the operator key, send it (with the env's secrets, resolved\n"
                            "here) to a worker, stream the job's output, and store the worker's signed\n"
                            "receipt in STATE/receipts/ID.json. Exits with the job's exit code.\n"
                            "With no --worker and no workers file, the local worker runs the job\n"
                            "(started if needed; see agora worker --help).\n"
                            "\n"
                            "  --env ENV        the env bundle (required)\n"
                            "  --worker URL     a worker (ipc://PATH, tls+tcp://HOST:PORT, loopback\n"
                            "                   tcp://); repeat to let agora pick the least busy. Each\n"
                            "                   must be in the workers file, which holds its public key\n"
                            "  --workers FILE   `URL PUBKEY` lines (default STATE/workers); without\n"
                            "                   --worker, every worker in it may be used\n"
                            "  --arg ARG        an argument for the entrypoint; repeat for more\n"
                            "  --timeout S      the job's timeout in seconds (default 0: the profile's)\n"
                            "  --retry N        if a worker stops answering, send the same signed\n"
                            "                   manifest to another, at most N times (default 0)\n"
                            "  --valid S        how long the manifest may be started, 1 to 3600 s\n"
                            "                   (default 120)\n"
                            "  --json           one JSON line per event on stdout\n"
                            "  --dry-run        print the signed manifest and where it would go; send\n"
                            "                   nothing, start nothing\n"
                            "  --tls-cert FILE  TLS client certificate for tls+tcp:// (else\n"
                            "                   $AGORA_TLS_CERT, else STATE/tls/client.pem)\n"
                            "  --tls-key FILE   its key (else $AGORA_TLS_KEY, else STATE/tls/client.key)\n"
                            "  --tls-ca FILE    the CA workers' certificates come from (else\n"
                            "                   $AGORA_TLS_CA, else STATE/tls/ca.pem)\n"
                            "  --help           print this help\n";

#define DEFAULT_VALID_S 120
#define BUSY_MARGIN_S 5

typedef struct dispatch_opts {
        const char *subagent, *env, *workers_file;
        const char *tls_cert, *tls_key, *tls_ca;
        char **urls; /* --worker, in order */
        size_t n_urls;
        char **args; /* --arg, in order */
        size_t n_args;
        uint64_t timeout_s, retry, valid_s;
        bool json, dry_run;
} dispatch_opts;

/* Everything one run needs once the manifest is signed. */
typedef struct run {
        const dispatch_opts *o;
        const dispatch_workers *w;
        const net_tls *tls;
        const dispatch_job *job;
        const json_t *env_def;
        const char *state;
        bool *tried; /* a worker that was lost is not tried again */
        uint64_t retries_left;
        dispatch_survey *survey; /* over the untried workers */
} run;

static int parse_options(cli_ctx *ctx, int argc, char **argv, dispatch_opts *o, agora_error_t *err)
{
        enum { OPT_TLS_CERT = 0x100, OPT_TLS_KEY, OPT_TLS_CA, OPT_DRY_RUN, OPT_JSON, OPT_VALID };
        static const struct option options[] = {
                {"env", required_argument, NULL, 'e'},
                {"worker", required_argument, NULL, 'w'},
                {"workers", required_argument, NULL, 'W'},
                {"arg", required_argument, NULL, 'a'},
                {"timeout", required_argument, NULL, 't'},
                {"retry", required_argument, NULL, 'r'},
                {"valid", required_argument, NULL, OPT_VALID},
                {"json", no_argument, NULL, OPT_JSON},
                {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
                {"tls-key", required_argument, NULL, OPT_TLS_KEY},
                {"tls-ca", required_argument, NULL, OPT_TLS_CA},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        bool have_timeout = false, have_retry = false, have_valid = false;
        int c;

        o->valid_s = DEFAULT_VALID_S;
        o->json = ctx->arg_json;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 'e':
                        if (o->env != NULL)
                                return cli_usage(ctx, verb, err, "--env given twice");
                        o->env = optarg;
                        break;
                case 'w':
                        o->urls[o->n_urls++] = optarg;
                        break;
                case 'W':
                        if (o->workers_file != NULL)
                                return cli_usage(ctx, verb, err, "--workers given twice");
                        o->workers_file = optarg;
                        break;
                case 'a':
                        o->args[o->n_args++] = optarg;
                        break;
                case 't':
                        if (have_timeout || schema_parse_uint(optarg, 86400, &o->timeout_s) < 0)
                                return cli_usage(ctx, verb, err, "--timeout '%s': want seconds from 0 to 86400",
                                                 optarg);
                        have_timeout = true;
                        break;
                case 'r':
                        if (have_retry || schema_parse_uint(optarg, 100, &o->retry) < 0)
                                return cli_usage(ctx, verb, err, "--retry '%s': want a count from 0 to 100", optarg);
                        have_retry = true;
                        break;
                case OPT_VALID:
                        if (have_valid || schema_parse_uint(optarg, MANIFEST_MAX_WINDOW_S, &o->valid_s) < 0 ||
                            o->valid_s == 0)
                                return cli_usage(ctx, verb, err, "--valid '%s': want seconds from 1 to %d", optarg,
                                                 MANIFEST_MAX_WINDOW_S);
                        have_valid = true;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case OPT_DRY_RUN:
                        o->dry_run = true;
                        break;
                case OPT_TLS_CERT:
                        o->tls_cert = optarg;
                        break;
                case OPT_TLS_KEY:
                        o->tls_key = optarg;
                        break;
                case OPT_TLS_CA:
                        o->tls_ca = optarg;
                        break;
                case 'h':
                        return cli_help(usage) == 0 ? 1 : -1;
                default:
                        return cli_option_error(ctx, verb, c, argv, err);
                }
        }
        if (argc - optind < 1)
                return cli_usage(ctx, verb, err, "needs SUBAGENT");
        if (argc - optind > 1)
                return cli_usage(ctx, verb, err, "unexpected argument '%s'", argv[optind + 1]);
        if (o->env == NULL)
                return cli_usage(ctx, verb, err, "--env ENV is required");
        if (o->n_args > MANIFEST_MAX_ARGS)
                return cli_usage(ctx, verb, err, "%zu --arg, above the limit of %d", o->n_args, MANIFEST_MAX_ARGS);
        o->subagent = argv[optind];
        return 0;
}

/* ---- the bytes a worker may ask for ---- */

typedef struct blob_source {
        cli_ctx *ctx;
        const char *commit; /* the commit the manifest was resolved at */
        registry_view *view; /* opened on the first blob a worker asks for */
        const manifest *m;
} blob_source;

/* A resolution from the cache leaves the registry closed: most dispatches
 * go to a worker that has every blob already. */
static int source_view(blob_source *src, agora_error_t *err)
{
        const char *path;

        if (src->view != NULL)
                return 0;
        if (src->ctx->reg == NULL &&
            (cli_registry_path(src->ctx, &path, err) < 0 || registry_open(path, &src->ctx->reg, err) < 0))
                return -1;
        return registry_view_open(src->ctx->reg, src->commit, &src->view, err);
}

/* A definition's canonical JSON, checked to be the bytes the manifest names. */
static int definition_bytes(registry_view *view, registry_kind k, const manifest_ref *ref, void **ret, size_t *ret_len,
                            agora_error_t *err)
{
        _cleanup_json_ json_t *def = NULL;
        _cleanup_free_ char *buf = NULL;
        agora_hash h;
        size_t len;

        if (registry_view_get(view, k, ref->name, &def, NULL, err) < 0 || cjson_dump(def, &buf, &len, err) < 0)
                return -1;
        agora_hash_buffer(buf, len, &h);
        if (!agora_hash_equal(&h, &ref->hash))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "%s '%s': changed since it was resolved",
                                       registry_kind_name(k), ref->name);
        *ret = take_ptr(buf);
        *ret_len = len;
        return 0;
}

static int blob_get(void *ctx, const agora_hash *h, void **ret, size_t *ret_len, agora_error_t *err)
{
        blob_source *src = ctx;
        const manifest *m = src->m;
        char what[128];

        if (source_view(src, err) < 0)
                return -1;
        if (agora_hash_equal(h, &m->subagent.hash))
                return definition_bytes(src->view, REGISTRY_SUBAGENT, &m->subagent, ret, ret_len, err);
        if (agora_hash_equal(h, &m->env.hash))
                return definition_bytes(src->view, REGISTRY_ENV, &m->env, ret, ret_len, err);
        for (size_t i = 0; i < m->n_caps; i++) {
                if (!agora_hash_equal(h, &m->caps[i].hash))
                        continue;
                snprintf(what, sizeof(what), "capability '%s'", m->caps[i].name);
                return registry_view_blob(src->view, h, what, ret, ret_len, err);
        }
        return agora_error_set(err, AGORA_ERR_NOTFOUND, "not named by the manifest");
}

/* The resolution of SUBAGENT with ENV at the registry's head: from the
 * cache when the head is one already resolved, else from the registry
 * (which is then left open in ctx->reg, and VIEW at that commit). */
static int resolve(cli_ctx *ctx, const char *state, const char *subagent, const char *env, registry_view **view,
                   json_t **ret_resolved, json_t **ret_env, agora_error_t *err)
{
        _cleanup_error_ agora_error_t miss = NULL;
        char head[41];
        const char *path;

        if (cli_registry_path(ctx, &path, err) < 0)
                return -1;
        if (registry_head_peek(path, head, &miss) == 0 &&
            resolve_cache_load(state, head, subagent, env, ret_resolved, ret_env) > 0)
                return 0;
        if (registry_open(path, &ctx->reg, err) < 0 || registry_view_open(ctx->reg, NULL, view, err) < 0 ||
            resolve_subagent(*view, subagent, env, ret_resolved, err) < 0 ||
            registry_view_get(*view, REGISTRY_ENV, env, ret_env, NULL, err) < 0)
                return -1;
        /* A cache that cannot be written costs the next dispatch time, not
         * this one its result. */
        (void)resolve_cache_store(state, *ret_resolved, *ret_env, &miss);
        return 0;
}

/* ---- events ---- */

static int print_json_line(const json_t *o, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;

        if (cjson_dump(o, &buf, &len, err) < 0)
                return -1;
        fwrite(buf, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        return 0;
}

/* An output chunk: raw to our own stream, or one JSON line with the
 * bytes as "text" when they are UTF-8 (and hold no NUL), else as "data". */
static int output_event(const run *r, json_t *line, bool is_stdout, agora_error_t *err)
{
        const char *b64 = json_string_value(json_object_get(line, "data"));
        _cleanup_free_ unsigned char *bin = NULL;
        size_t b64len, len = 0;
        json_t *text;

        if (b64 == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "bad event: output without data");
        b64len = strlen(b64);
        bin = malloc(b64len / 4 * 3 + 3);
        if (bin == NULL)
                return agora_error_set_errno(err, ENOMEM, "output");
        if (sodium_base642bin(bin, b64len / 4 * 3 + 3, b64, b64len, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) !=
            0)
                return agora_error_set(err, AGORA_ERR_FAILED, "bad event: output data is not base64");
        if (!r->o->json) {
                FILE *f = is_stdout ? stdout : stderr;

                fwrite(bin, 1, len, f);
                fflush(f);
                return 0;
        }
        if (memchr(bin, '\0', len) == NULL && (text = json_stringn((const char *)bin, len)) != NULL) {
                json_object_del(line, "data");
                json_object_set_new(line, "text", text);
        }
        return print_json_line(line, err);
}

/* Check and keep the receipt: created once, never replaced, so that a
 * worker (or a retry) cannot rewrite the record of a job. */
static int store_receipt(const run *r, size_t wi, const json_t *ev, char **ret_path, int *ret_exit, agora_error_t *err)
{
        const char *receipt = json_string_value(json_object_get(ev, "receipt"));
        const char *sig = json_string_value(json_object_get(ev, "signature"));
        const dispatch_job *job = r->job;
        _cleanup_json_ json_t *parsed = NULL, *doc = NULL;
        _cleanup_free_ char *dir = NULL, *path = NULL, *buf = NULL;
        size_t len;
        json_int_t code;

        if (receipt == NULL || sig == NULL)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "worker '%s': finished without a receipt",
                                       r->w->v[wi].url);
        if (receipt_verify(receipt, strlen(receipt), sig, &r->w->v[wi].pk, job->m, job->text, job->len, &parsed, err) <
            0)
                return agora_error_wrap(err, "worker '%s'", r->w->v[wi].url);
        doc = json_pack("{s:s, s:s, s:s}", "receipt", receipt, "signature", sig, "worker", r->w->v[wi].url);
        if (doc == NULL)
                return agora_error_set_errno(err, ENOMEM, "receipt");
        if (state_subdir(r->state, "receipts", &dir, err) < 0 || cjson_dump(doc, &buf, &len, err) < 0)
                return -1;
        if (asprintf(&path, "%s/%s.json", dir, job->m->dispatch_id) < 0)
                return agora_error_set_errno(err, ENOMEM, "receipt");
        if (fs_write_atomic(path, buf, len, 0600, false, err) < 0)
                return agora_error_wrap(err, "receipt");
        /* The signed exit code, not the unsigned event's. */
        code = json_integer_value(json_object_get(parsed, "exitCode"));
        *ret_exit = code >= 0 && code <= 255 ? (int)code : 1;
        *ret_path = take_ptr(path);
        return 0;
}

static int finished_event(const run *r, size_t wi, json_t *line, int *ret_exit, agora_error_t *err)
{
        const char *id = r->job->m->dispatch_id;
        _cleanup_free_ char *path = NULL;
        char reason[64], msg[300];

        if (store_receipt(r, wi, line, &path, ret_exit, err) < 0)
                return -1;
        if (r->o->json) {
                json_object_set_new(line, "receiptPath", json_string(path));
                return print_json_line(line, err);
        }
        dispatch_sanitize(json_string_value(json_object_get(line, "reason")), reason, sizeof(reason));
        dispatch_sanitize(json_string_value(json_object_get(line, "error")), msg, sizeof(msg));
        fprintf(stderr, "agora: dispatch %s: finished: exit %d (%s%s%s), receipt %s\n", id, *ret_exit, reason,
                msg[0] != '\0' ? ": " : "", msg, path);
        return 0;
}

/* One event; *RET_FINISHED once dispatch.finished is in and stored. */
static int handle_event(const run *r, size_t wi, const json_t *ev, bool *ret_finished, int *ret_exit,
                        agora_error_t *err)
{
        const char *id = r->job->m->dispatch_id;
        const char *name = json_string_value(json_object_get(ev, "event"));
        _cleanup_json_ json_t *line = json_deep_copy(ev);
        char word[128];

        if (line == NULL || json_object_set_new(line, "dispatchId", json_string(id)) < 0)
                return agora_error_set_errno(err, ENOMEM, "event");
        if (name == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': bad event: no name", r->w->v[wi].url);
        if (strcmp(name, "stdout") == 0 || strcmp(name, "stderr") == 0)
                return output_event(r, line, name[3] == 'o', err);
        if (strcmp(name, "dispatch.finished") == 0) {
                *ret_finished = true;
                return finished_event(r, wi, line, ret_exit, err);
        }
        if (r->o->json)
                return print_json_line(line, err);
        if (strcmp(name, "worker.boot") == 0) {
                dispatch_sanitize(json_string_value(json_object_get(ev, "worker")), word, sizeof(word));
                fprintf(stderr, "agora: dispatch %s: worker.boot on %s\n", id, word);
        } else if (strcmp(name, "setup.ran") == 0) {
                json_int_t us = json_integer_value(json_object_get(ev, "setup_us"));
                fprintf(stderr, "agora: dispatch %s: setup.ran in %lld ms\n", id, (long long)(us / 1000));
        }
        /* Events this agora does not know are for newer readers. */
        return 0;
}

/* Poll events until the job is finished and its receipt stored. */
static int follow(const run *r, size_t wi, dispatch_conn *c, int *ret_exit, dispatch_why *why, agora_error_t *err)
{
        const char *id = r->job->m->dispatch_id;
        int64_t after = 0;
        bool finished = false;

        for (;;) {
                _cleanup_json_ json_t *events = NULL;
                json_t *ev;
                bool done;
                size_t i;

                if (dispatch_events(c, id, after, &events, &done, why, err) < 0) {
                        /* A worker that answers but no longer knows the job
                         * (it restarted) has lost it as surely as one that
                         * went silent. */
                        if (why->kind == DISPATCH_FAIL_REFUSED && strcmp(why->code, "not-found") == 0)
                                why->kind = DISPATCH_FAIL_LOST;
                        return -1;
                }
                json_array_foreach(events, i, ev)
                {
                        json_t *seq = json_object_get(ev, "seq");

                        why->kind = DISPATCH_FAIL_OTHER;
                        if (!json_is_integer(seq))
                                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': bad event: no seq",
                                                       r->w->v[wi].url);
                        if (json_integer_value(seq) <= after)
                                continue; /* seen already */
                        after = json_integer_value(seq);
                        if (handle_event(r, wi, ev, &finished, ret_exit, err) < 0)
                                return -1;
                        if (finished) {
                                dispatch_release(c, id);
                                return 0;
                        }
                }
                if (done)
                        return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': job done without dispatch.finished",
                                               r->w->v[wi].url);
        }
}

/* ---- choosing a worker ---- */

/* Why a lost job cannot go to another worker, or NULL when it can. */
static const char *retry_blocker(const run *r)
{
        bool left = false;

        for (size_t i = 0; i < r->w->n; i++)
                left = left || !r->tried[i];
        if (r->retries_left == 0)
                return "no retry left";
        if (!left)
                return "no other worker left to retry on";
        /* The same signed manifest is sent again: once it has expired no
         * worker would take it. */
        if ((int64_t)time(NULL) + 1 >= r->job->m->expires_at)
                return "the manifest has expired";
        return NULL;
}

/* ERR says how worker WI was lost: either say so and go on to another
 * worker (0), or fail, saying why there is no other (-1). */
static int lost_worker(run *r, size_t wi, agora_error_t *err)
{
        const char *id = r->job->m->dispatch_id, *blocker;
        _cleanup_free_ char *msg = NULL;

        r->tried[wi] = true;
        /* The lost worker leaves the survey: its connection is still
         * closing when the next survey goes out, and NNG 1.5 loses a
         * message sent on a pipe in that state (upstream issue 1713). */
        dispatch_survey_free(r->survey);
        r->survey = NULL;
        blocker = retry_blocker(r);
        if (blocker == NULL) {
                fprintf(stderr, "agora: dispatch %s: %s\n", id, agora_error_message(*err));
                agora_error_release(err);
                r->retries_left--;
                return 0;
        }
        if (r->o->retry == 0)
                return agora_error_wrap(err, "dispatch %s", id);
        msg = strdup(agora_error_message(*err));
        return agora_error_set(err, AGORA_ERR_FAILED, "dispatch %s: %s; %s", id, msg != NULL ? msg : "lost", blocker);
}

/* Open the survey over the untried workers ORDER[0..N), in that order. */
static int open_survey(run *r, const size_t *order, size_t n, agora_error_t *err)
{
        _cleanup_free_ char **urls = calloc(n, sizeof(char *));

        if (urls == NULL)
                return agora_error_set_errno(err, ENOMEM, "survey");
        for (size_t k = 0; k < n; k++)
                urls[k] = r->w->v[order[k]].url;
        return dispatch_survey_open(urls, n, r->tls, &r->survey, err);
}

/* The untried workers, most free slots first (those that did not answer
 * the survey last, in their given order). */
static int order_workers(run *r, size_t *order, size_t *ret_n, agora_error_t *err)
{
        _cleanup_free_ int64_t *free_slots = NULL;
        size_t n = 0;

        for (size_t i = 0; i < r->w->n; i++)
                if (!r->tried[i])
                        order[n++] = i;
        *ret_n = n;
        if (n <= 1)
                return 0;
        if (r->survey == NULL && open_survey(r, order, n, err) < 0)
                return -1;
        free_slots = calloc(n, sizeof(*free_slots));
        if (free_slots == NULL)
                return agora_error_set_errno(err, ENOMEM, "survey");
        if (dispatch_survey_ask(r->survey, free_slots, err) < 0)
                return -1;
        /* Insertion sort of ORDER by its survey answers, moving each
         * answer with its worker: stable, and a handful of workers. */
        for (size_t k = 1; k < n; k++) {
                size_t cur = order[k], j = k;
                int64_t cur_free = free_slots[k];

                while (j > 0 && free_slots[j - 1] < cur_free) {
                        order[j] = order[j - 1];
                        free_slots[j] = free_slots[j - 1];
                        j--;
                }
                order[j] = cur;
                free_slots[j] = cur_free;
        }
        return 0;
}

/* Submit to the best worker that takes the job: on `busy` the next one,
 * and when all are busy, ask again until the manifest is about to expire.
 * RETRYING: a worker was lost before, so say where the job goes now. */
static int submit_somewhere(run *r, bool *retrying, size_t *ret_wi, dispatch_conn **ret_conn, agora_error_t *err)
{
        const char *id = r->job->m->dispatch_id;
        _cleanup_free_ size_t *order = calloc(r->w->n, sizeof(size_t));

        if (order == NULL)
                return agora_error_set_errno(err, ENOMEM, "dispatch");
        for (;;) {
                size_t n;

                if (order_workers(r, order, &n, err) < 0)
                        return -1;
                if (n == 0)
                        return agora_error_set(err, AGORA_ERR_FAILED, "dispatch %s: no worker left to try", id);
                for (size_t k = 0; k < n; k++) {
                        size_t wi = order[k];
                        _cleanup_conn_ dispatch_conn *c = NULL;
                        unsigned char *secrets = NULL;
                        size_t slen = 0;
                        dispatch_why why;

                        if (*retrying)
                                fprintf(stderr, "agora: dispatch %s: retrying on %s\n", id, r->w->v[wi].url);
                        /* Resolved again for each submit, so that the values
                         * are in memory only while one submit is sent. */
                        if (secrets_resolve(r->env_def, r->o->env, &secrets, &slen, err) < 0)
                                return -1;
                        if (dispatch_conn_open(r->w->v[wi].url, r->tls, &c, err) < 0) {
                                secrets_free(secrets);
                                return -1;
                        }
                        if (dispatch_submit(c, r->job, secrets, slen, &why, err) == 0) {
                                *retrying = false;
                                *ret_wi = wi;
                                *ret_conn = take_ptr(c);
                                return 0;
                        }
                        if (why.kind == DISPATCH_FAIL_REFUSED && strcmp(why.code, "busy") == 0) {
                                *retrying = false;
                                continue;
                        }
                        if (why.kind != DISPATCH_FAIL_LOST)
                                return agora_error_wrap(err, "dispatch %s", id);
                        if (lost_worker(r, wi, err) < 0)
                                return -1;
                        *retrying = true;
                        /* The order is stale without that worker: survey again. */
                        break;
                }
                if (*retrying)
                        continue;
                if ((int64_t)time(NULL) >= r->job->m->expires_at - BUSY_MARGIN_S)
                        return agora_error_set(err, AGORA_ERR_FAILED, "dispatch %s: all workers busy", id);
                clock_sleep_ms(50 + randombytes_uniform(151));
        }
}

static int run_job(run *r, agora_error_t *err)
{
        const char *id = r->job->m->dispatch_id;
        bool retrying = false;

        for (;;) {
                _cleanup_conn_ dispatch_conn *c = NULL;
                dispatch_why why;
                size_t wi = 0;
                int exit_code = 1;

                if (submit_somewhere(r, &retrying, &wi, &c, err) < 0)
                        return -1;
                if (follow(r, wi, c, &exit_code, &why, err) == 0)
                        return exit_code;
                if (why.kind != DISPATCH_FAIL_LOST)
                        return agora_error_wrap(err, "dispatch %s", id);
                if (lost_worker(r, wi, err) < 0)
                        return -1;
                retrying = true;
        }
}

/* ---- --dry-run ---- */

static int dry_run(const dispatch_opts *o, const manifest *m, const char *sig, const json_t *env_def,
                   const dispatch_workers *w, agora_error_t *err)
{
        _cleanup_json_ json_t *mj = NULL, *keys = NULL, *urls = json_array(), *doc = NULL;
        _cleanup_free_ char *pretty = NULL;
        json_t *k;
        size_t i;

        if (urls == NULL || manifest_to_json(m, &mj, err) < 0 || secrets_keys(env_def, &keys, err) < 0)
                return urls == NULL ? agora_error_set_errno(err, ENOMEM, "dry run") : -1;
        for (i = 0; i < w->n; i++)
                if (json_array_append_new(urls, json_string(w->v[i].url)) < 0)
                        return agora_error_set_errno(err, ENOMEM, "dry run");
        if (o->json) {
                doc = json_pack("{s:O, s:s, s:O, s:O}", "manifest", mj, "signature", sig, "secrets", keys, "workers",
                                urls);
                if (doc == NULL)
                        return agora_error_set_errno(err, ENOMEM, "dry run");
                return output_json(doc, false, err);
        }
        pretty = cjson_pretty(mj);
        if (pretty == NULL)
                return agora_error_set_errno(err, ENOMEM, "dry run");
        printf("manifest:\n%ssignature:\n%s", pretty, sig);
        if (sig[0] != '\0' && sig[strlen(sig) - 1] != '\n')
                putchar('\n');
        printf("secrets (values not shown):");
        json_array_foreach(keys, i, k)
        {
                printf(" %s", json_string_value(k));
        }
        printf("%s\n", json_array_size(keys) == 0 ? " none" : "");
        for (i = 0; i < w->n; i++)
                printf("would go to: %s%s\n", w->v[i].url, w->v[i].local ? " (the local worker)" : "");
        printf("nothing sent (--dry-run)\n");
        return 0;
}

/* The local worker's key, which it wrote when it first started. */
static int local_worker_key(cli_ctx *ctx, const local_worker *lw, dispatch_worker *w, agora_error_t *err)
{
        if (local_worker_ensure(ctx, lw, 0, err) < 0)
                return -1;
        if (sign_pubkey_load(lw->pub_path, &w->pk, err) < 0)
                return agora_error_wrap(err, "local worker");
        w->have_pk = true;
        return 0;
}

int cmd_dispatch(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        _cleanup_free_ char **urls = calloc((size_t)argc + 1, sizeof(char *));
        _cleanup_free_ char **args = calloc((size_t)argc + 1, sizeof(char *));
        _cleanup_free_ char *state = NULL, *text = NULL, *sig = NULL;
        _cleanup_free_ bool *tried = NULL;
        _cleanup_view_ registry_view *view = NULL;
        _cleanup_json_ json_t *resolved = NULL, *env_def = NULL;
        _cleanup_manifest_ manifest *m = NULL;
        dispatch_opts o = {.urls = urls, .args = args};
        dispatch_workers w = {0};
        dispatch_tls tls = {0};
        local_worker lw = {0};
        unsigned char *secrets = NULL;
        size_t len, slen;
        int r = -1;

        if (urls == NULL || args == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", verb);
        r = parse_options(ctx, argc, argv, &o, err);
        if (r != 0)
                return r < 0 ? -1 : 0;
        r = -1;
        if (agora_name_check("subagent", o.subagent, err) < 0 || agora_name_check("env", o.env, err) < 0)
                return -1;
        if (state_dir(&state, err) < 0 || dispatch_tls_resolve(state, o.tls_cert, o.tls_key, o.tls_ca, &tls, err) < 0)
                goto out;
        if (local_worker_init(state, &lw, err) < 0 ||
            workers_select(state, o.workers_file, o.urls, o.n_urls, &tls.tls, &lw, &w, err) < 0)
                goto out;

        if (resolve(ctx, state, o.subagent, o.env, &view, &resolved, &env_def, err) < 0)
                goto out;
        /* Every reference must resolve before anything is signed; the
         * values go again at once, and are read afresh for each submit. */
        if (secrets_resolve(env_def, o.env, &secrets, &slen, err) < 0)
                goto out;
        secrets_free(take_ptr(secrets));
        if (manifest_from_resolved(resolved, o.args, o.n_args, o.timeout_s, o.valid_s, ctx->keyid, &m, err) < 0 ||
            manifest_dump(m, &text, &len, err) < 0 || manifest_sign(ctx->seckey, m, text, len, &sig, err) < 0)
                goto out;

        if (o.dry_run) {
                r = dry_run(&o, m, sig, env_def, &w, err);
                goto out;
        }
        if (w.n == 1 && w.v[0].local && local_worker_key(ctx, &lw, &w.v[0], err) < 0)
                goto out;
        tried = calloc(w.n, sizeof(bool));
        if (tried == NULL) {
                agora_error_set_errno(err, ENOMEM, "%s", verb);
                goto out;
        }
        {
                blob_source src = {.ctx = ctx, .commit = m->registry_commit, .view = take_ptr(view), .m = m};
                dispatch_job job = {.m = m, .text = text, .len = len, .sig = sig, .blob = blob_get, .blob_ctx = &src};
                run rn = {.o = &o,
                          .w = &w,
                          .tls = &tls.tls,
                          .job = &job,
                          .env_def = env_def,
                          .state = state,
                          .tried = tried,
                          .retries_left = o.retry};

                r = run_job(&rn, err);
                dispatch_survey_free(rn.survey);
                if (src.view != NULL)
                        registry_view_free(src.view);
        }
out:
        dispatch_workers_release(&w);
        dispatch_tls_release(&tls);
        local_worker_release(&lw);
        return r;
}
