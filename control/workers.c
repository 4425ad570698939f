/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a dispatch finds its workers: the operator's state directory, the
 * workers file that pairs each worker's address with its public key, the
 * local worker's files, and the TLS client files for tls+tcp:// workers.
 *
 * A worker is known by its key, not by its address: its receipt is only
 * believed when that key signed it, so an address that answers is not
 * enough, and every worker a dispatch may use must come with its key.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "control/dispatch.h"

#define WORKERS_FILE_MAX (1u << 20)

static const char *nonempty_env(const char *name)
{
        const char *v = getenv(name);
        return v != NULL && v[0] != '\0' ? v : NULL;
}

int state_dir(char **ret, agora_error_t *err)
{
        const char *v;
        char *p = NULL;
        int r;

        if ((v = nonempty_env("AGORA_STATE")) != NULL)
                r = asprintf(&p, "%s", v);
        /* The XDG base directory spec: a relative value is to be ignored. */
        else if ((v = nonempty_env("XDG_STATE_HOME")) != NULL && v[0] == '/')
                r = asprintf(&p, "%s/agora", v);
        else if ((v = nonempty_env("HOME")) != NULL)
                r = asprintf(&p, "%s/.local/state/agora", v);
        else
                return agora_error_set(err, AGORA_ERR_FAILED, "no state directory: HOME is not set (set AGORA_STATE)");
        if (r < 0)
                return agora_error_set_errno(err, ENOMEM, "state directory");
        *ret = p;
        return 0;
}

int state_subdir(const char *state, const char *sub, char **ret, agora_error_t *err)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", state, sub) < 0)
                return agora_error_set_errno(err, ENOMEM, "state directory");
        /* Receipts, the worker's key and its socket are the operator's own:
         * nobody else on the host gets to read or replace them. */
        if (fs_mkdir_p(p, 0700, err) < 0)
                return agora_error_wrap(err, "state directory");
        *ret = take_ptr(p);
        return 0;
}

void dispatch_workers_release(dispatch_workers *w)
{
        for (size_t i = 0; i < w->n; i++)
                free(w->v[i].url);
        free(w->v);
        w->v = NULL;
        w->n = 0;
}

static int workers_add(dispatch_workers *w, const char *url, const agora_pubkey *pk, bool local, agora_error_t *err)
{
        dispatch_worker *v = realloc(w->v, (w->n + 1) * sizeof(*v));

        if (v == NULL)
                return agora_error_set_errno(err, ENOMEM, "workers");
        w->v = v;
        memset(&v[w->n], 0, sizeof(v[w->n]));
        v[w->n].url = strdup(url);
        if (v[w->n].url == NULL)
                return agora_error_set_errno(err, ENOMEM, "workers");
        if (pk != NULL) {
                v[w->n].pk = *pk;
                v[w->n].have_pk = true;
        }
        v[w->n].local = local;
        w->n++;
        return 0;
}

static const dispatch_worker *workers_find(const dispatch_workers *w, const char *url)
{
        for (size_t i = 0; i < w->n; i++)
                if (strcmp(w->v[i].url, url) == 0)
                        return &w->v[i];
        return NULL;
}

/* PUBKEY as the base64 line itself, else as a .pub file: a path relative
 * to the workers file, so that the file and its keys can move together. */
static int line_pubkey(const char *path, const char *field, agora_pubkey *ret, agora_error_t *err)
{
        _cleanup_error_ agora_error_t parse_err = NULL;
        _cleanup_free_ char *dir = NULL, *full = NULL;
        const char *slash;

        if (sign_pubkey_parse(field, ret, &parse_err) == 0)
                return 0;
        if (strchr(field, '/') == NULL && (strlen(field) < 4 || strcmp(field + strlen(field) - 4, ".pub") != 0))
                return agora_error_set(err, AGORA_ERR_USAGE, "public key: %s", agora_error_message(parse_err));
        if (field[0] == '/' || (slash = strrchr(path, '/')) == NULL) {
                full = strdup(field);
        } else {
                dir = strndup(path, (size_t)(slash - path));
                if (dir != NULL && asprintf(&full, "%s/%s", dir, field) < 0)
                        full = NULL;
        }
        if (full == NULL)
                return agora_error_set_errno(err, ENOMEM, "public key");
        if (sign_pubkey_load(full, ret, err) < 0) {
                if (err != NULL && *err != NULL)
                        (*err)->kind = AGORA_ERR_USAGE;
                return agora_error_wrap(err, "public key");
        }
        return 0;
}

/* The TLS files matter only for the workers this run uses, which are
 * checked again in workers_select(); here a tls+tcp:// line only has to be
 * a well-formed address. */
static const net_tls any_tls = {.cert = "-", .key = "-", .ca = "-"};

static int parse_line(const char *path, char *line, dispatch_workers *w, agora_error_t *err)
{
        char *save = NULL, *url, *key, *extra;
        agora_pubkey pk;

        url = strtok_r(line, " \t\r", &save);
        if (url == NULL || url[0] == '#')
                return 0;
        key = strtok_r(NULL, " \t\r", &save);
        extra = strtok_r(NULL, " \t\r", &save);
        if (key == NULL || (extra != NULL && extra[0] != '#'))
                return agora_error_set(err, AGORA_ERR_USAGE, "want 'URL PUBKEY'");
        if (net_url_check(url, &any_tls, "worker", err) < 0 || line_pubkey(path, key, &pk, err) < 0)
                return -1;
        if (workers_find(w, url) != NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "worker '%s' listed twice", url);
        return workers_add(w, url, &pk, false, err);
}

int workers_file_load(const char *path, dispatch_workers *ret, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        dispatch_workers w = {0};
        char *line, *next;
        size_t len, lineno = 0;

        if (fs_read_file(path, WORKERS_FILE_MAX, &buf, &len, err) < 0)
                return agora_error_wrap(err, "workers file");
        if (memchr(buf, '\0', len) != NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "workers file '%s': not a text file", path);
        for (line = buf; line != NULL && *line != '\0'; line = next) {
                next = strchr(line, '\n');
                if (next != NULL)
                        *next++ = '\0';
                lineno++;
                if (parse_line(path, line, &w, err) < 0) {
                        dispatch_workers_release(&w);
                        return agora_error_wrap(err, "%s:%zu", path, lineno);
                }
        }
        *ret = w;
        return 0;
}

/* *RET is the file to use, or NULL when none is given and the default is
 * not there: then the error names what is missing rather than a path
 * never asked for. Fails only when out of memory. */
static int tls_pick(const char *opt, const char *env_var, const char *state, const char *file, char **ret,
                    agora_error_t *err)
{
        const char *v = opt != NULL ? opt : nonempty_env(env_var);

        *ret = NULL;
        if (v != NULL)
                *ret = strdup(v);
        else if (asprintf(ret, "%s/tls/%s", state, file) < 0)
                *ret = NULL;
        if (*ret == NULL)
                return agora_error_set_errno(err, ENOMEM, "TLS file %s", file);
        if (v == NULL && access(*ret, F_OK) < 0) {
                free(*ret);
                *ret = NULL;
        }
        return 0;
}

int dispatch_tls_resolve(const char *state, const char *cert, const char *key, const char *ca, dispatch_tls *ret,
                         agora_error_t *err)
{
        memset(ret, 0, sizeof(*ret));
        if (tls_pick(cert, "AGORA_TLS_CERT", state, "client.pem", &ret->cert, err) < 0 ||
            tls_pick(key, "AGORA_TLS_KEY", state, "client.key", &ret->key, err) < 0 ||
            tls_pick(ca, "AGORA_TLS_CA", state, "ca.pem", &ret->ca, err) < 0) {
                dispatch_tls_release(ret);
                return -1;
        }
        ret->tls.cert = ret->cert;
        ret->tls.key = ret->key;
        ret->tls.ca = ret->ca;
        return 0;
}

void dispatch_tls_release(dispatch_tls *t)
{
        free(t->cert);
        free(t->key);
        free(t->ca);
        memset(t, 0, sizeof(*t));
}

int local_worker_init(const char *state, local_worker *ret, agora_error_t *err)
{
        local_worker lw = {0};
        struct sockaddr_un sun;

        if (asprintf(&lw.dir, "%s/worker", state) < 0)
                lw.dir = NULL;
        if (lw.dir == NULL || asprintf(&lw.url, "ipc://%s/worker.sock", lw.dir) < 0 ||
            asprintf(&lw.pid_path, "%s/worker.pid", lw.dir) < 0 ||
            asprintf(&lw.log_path, "%s/worker.log", lw.dir) < 0 || asprintf(&lw.lock_path, "%s/lock", lw.dir) < 0 ||
            asprintf(&lw.pub_path, "%s/worker.pub", lw.dir) < 0) {
                local_worker_release(&lw);
                return agora_error_set_errno(err, ENOMEM, "local worker");
        }
        /* A Unix socket's path has a hard limit; the survey socket beside
         * it (".survey") is the longer one. */
        if (strlen(lw.url) - strlen("ipc://") + strlen(".survey") >= sizeof(sun.sun_path)) {
                agora_error_set(err, AGORA_ERR_FAILED,
                                "local worker: socket path '%s' is too long for a Unix socket (set AGORA_STATE)",
                                lw.url + strlen("ipc://"));
                local_worker_release(&lw);
                return -1;
        }
        if (lw.dir[0] != '/') {
                agora_error_set(err, AGORA_ERR_USAGE, "state directory '%s': want an absolute path", state);
                local_worker_release(&lw);
                return -1;
        }
        *ret = lw;
        return 0;
}

void local_worker_release(local_worker *lw)
{
        free(lw->dir);
        free(lw->url);
        free(lw->pid_path);
        free(lw->log_path);
        free(lw->lock_path);
        free(lw->pub_path);
        memset(lw, 0, sizeof(*lw));
}

int workers_select(const char *state, const char *file, char *const *urls, size_t n_urls, const net_tls *tls,
                   const local_worker *lw, dispatch_workers *ret, agora_error_t *err)
{
        _cleanup_free_ char *default_file = NULL;
        dispatch_workers known = {0}, chosen = {0};
        const char *path = file;
        bool have_file = false;
        int r = -1;

        if (asprintf(&default_file, "%s/workers", state) < 0)
                return agora_error_set_errno(err, ENOMEM, "workers file");
        if (path == NULL && access(default_file, F_OK) == 0)
                path = default_file;
        if (path != NULL) {
                if (workers_file_load(path, &known, err) < 0)
                        return -1;
                have_file = true;
        }

        if (n_urls > 0) {
                for (size_t i = 0; i < n_urls; i++) {
                        const dispatch_worker *k = workers_find(&known, urls[i]);

                        if (net_url_check(urls[i], tls, "worker", err) < 0)
                                goto out;
                        if (k == NULL) {
                                agora_error_set(err, AGORA_ERR_FAILED,
                                                "worker '%s': no public key known (add it to %s)", urls[i],
                                                path != NULL ? path : default_file);
                                goto out;
                        }
                        if (workers_find(&chosen, urls[i]) != NULL) {
                                agora_error_set(err, AGORA_ERR_USAGE, "worker '%s' given twice", urls[i]);
                                goto out;
                        }
                        if (workers_add(&chosen, k->url, &k->pk, false, err) < 0)
                                goto out;
                }
        } else if (have_file) {
                if (known.n == 0) {
                        agora_error_set(err, AGORA_ERR_FAILED, "workers file '%s': lists no worker", path);
                        goto out;
                }
                for (size_t i = 0; i < known.n; i++)
                        if (net_url_check(known.v[i].url, tls, "worker", err) < 0)
                                goto out;
                chosen = known;
                known = (dispatch_workers){0};
        } else if (workers_add(&chosen, lw->url, NULL, true, err) < 0) {
                goto out;
        }
        *ret = chosen;
        chosen = (dispatch_workers){0};
        r = 0;
out:
        dispatch_workers_release(&known);
        dispatch_workers_release(&chosen);
        return r;
}
