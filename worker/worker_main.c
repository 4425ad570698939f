/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora-worker serve: the daemon that runs signed dispatches in cages
 * (docs/dispatch.md). It holds no operator secret: it trusts the public
 * keys it is given, signs receipts with a key of its own, and executes
 * agora-cage for each job.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/name.h"
#include "common/schema.h"
#include "common/strv.h"
#include "worker/worker-internal.h"

#define DEFAULT_STATE "/var/lib/agora-worker"
#define DEFAULT_CACHE (1ull << 30)

static void print_help(void)
{
        printf("usage: agora-worker serve --listen URL… --trust PUBKEY… [--state DIR] [--jobs N] [--queue N]\n"
               "                          [--name NAME] [--key FILE] [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
               "                          [--cache-size BYTES] [--profiles DIR]\n"
               "\n"
               "Run signed dispatches, each in a fresh agora-cage, and sign a receipt for each.\n"
               "\n"
               "  --listen URL       ipc:///path, tls+tcp://HOST:PORT (mutual TLS), or tcp:// on loopback;\n"
               "                     capacity is answered on PATH.survey / PORT+1; repeat for more\n"
               "  --trust PUBKEY     an operator public key file (or its base64 line); repeat for more\n"
               "  --state DIR        nonces, blob cache and the worker key (default " DEFAULT_STATE ")\n"
               "  --jobs N           jobs run at once (default: the number of CPUs)\n"
               "  --queue N          jobs waiting for a slot before \"busy\" (default: 2 x jobs)\n"
               "  --name NAME        the name receipts give (default: the host name)\n"
               "  --key FILE         the worker's secret key (default: DIR/worker.key, made on first start)\n"
               "  --tls-cert/--tls-key/--tls-ca FILE   this worker's certificate and key, and the CA\n"
               "                     dispatchers' certificates must be signed by (for tls+tcp://)\n"
               "  --cache-size BYTES blob cache bound, e.g. 512M (default 1G)\n"
               "  --profiles DIR     the profiles jobs may name (default: $AGORA_PROFILES, else the installed ones)\n"
               "\n"
               "SIGTERM or SIGINT: stop taking jobs, let running and queued ones finish, exit 0.\n");
}

typedef struct opts {
        worker_config cfg;
        const char *arg_key;
        char **trust_args;
        size_t n_trust_args;
} opts;

static int push(char ***v, size_t *n, char *s, agora_error_t *err)
{
        if (strv_push(v, n, s) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", "arguments");
        return 0;
}

static int parse_count(const char *opt, const char *s, unsigned max, unsigned *ret, agora_error_t *err)
{
        uint64_t v;

        if (schema_parse_uint(s, max, &v) < 0 || v == 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s '%s': want a whole number from 1 to %u", opt, s, max);
        *ret = (unsigned)v;
        return 0;
}

static int parse_args(opts *o, int argc, char **argv, agora_error_t *err)
{
        enum {
                OPT_LISTEN = 0x100,
                OPT_TRUST,
                OPT_STATE,
                OPT_JOBS,
                OPT_QUEUE,
                OPT_NAME,
                OPT_KEY,
                OPT_CERT,
                OPT_TKEY,
                OPT_CA,
                OPT_CACHE,
                OPT_PROFILES
        };
        static const struct option options[] = {
                {"listen", required_argument, NULL, OPT_LISTEN},
                {"trust", required_argument, NULL, OPT_TRUST},
                {"state", required_argument, NULL, OPT_STATE},
                {"jobs", required_argument, NULL, OPT_JOBS},
                {"queue", required_argument, NULL, OPT_QUEUE},
                {"name", required_argument, NULL, OPT_NAME},
                {"key", required_argument, NULL, OPT_KEY},
                {"tls-cert", required_argument, NULL, OPT_CERT},
                {"tls-key", required_argument, NULL, OPT_TKEY},
                {"tls-ca", required_argument, NULL, OPT_CA},
                {"cache-size", required_argument, NULL, OPT_CACHE},
                {"profiles", required_argument, NULL, OPT_PROFILES},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        bool queue_given = false;
        int c;

        if (argc < 2 || strcmp(argv[1], "serve") != 0) {
                if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                        print_help();
                        exit(0);
                }
                return agora_error_set(err, AGORA_ERR_USAGE, "want: agora-worker serve … (see --help)");
        }
        argc--, argv++;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case OPT_LISTEN:
                        if (push(&o->cfg.listen, &o->cfg.n_listen, optarg, err) < 0)
                                return -1;
                        break;
                case OPT_TRUST:
                        if (push(&o->trust_args, &o->n_trust_args, optarg, err) < 0)
                                return -1;
                        break;
                case OPT_STATE:
                        o->cfg.state_dir = optarg;
                        break;
                case OPT_JOBS:
                        if (parse_count("--jobs", optarg, 1024, &o->cfg.jobs, err) < 0)
                                return -1;
                        break;
                case OPT_QUEUE:
                        if (parse_count("--queue", optarg, 4096, &o->cfg.queue, err) < 0)
                                return -1;
                        queue_given = true;
                        break;
                case OPT_NAME:
                        if (agora_name_check("worker", optarg, err) < 0)
                                return agora_error_wrap(err, "--name");
                        o->cfg.name = optarg;
                        break;
                case OPT_KEY:
                        o->arg_key = optarg;
                        break;
                case OPT_CERT:
                        o->cfg.tls.cert = optarg;
                        break;
                case OPT_TKEY:
                        o->cfg.tls.key = optarg;
                        break;
                case OPT_CA:
                        o->cfg.tls.ca = optarg;
                        break;
                case OPT_CACHE:
                        if (schema_parse_size(optarg, &o->cfg.cache_size) < 0 || o->cfg.cache_size < (1u << 20))
                                return agora_error_set(err, AGORA_ERR_USAGE,
                                                       "--cache-size '%s': want a size of at least 1M", optarg);
                        break;
                case OPT_PROFILES:
                        o->cfg.profiles_dir = optarg;
                        break;
                case 'h':
                        print_help();
                        exit(0);
                case ':':
                        return agora_error_set(err, AGORA_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
                default:
                        return agora_error_set(err, AGORA_ERR_USAGE, "unknown option '%s' (see --help)",
                                               argv[optind - 1]);
                }
        }
        if (optind < argc)
                return agora_error_set(err, AGORA_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
        if (o->cfg.n_listen == 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "--listen is required (see --help)");
        if (o->n_trust_args == 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "--trust is required: a worker trusts no key by default");
        for (size_t i = 0; i < o->cfg.n_listen; i++)
                if (net_url_check(o->cfg.listen[i], &o->cfg.tls, "--listen", err) < 0)
                        return -1;
        if (o->cfg.jobs == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                o->cfg.jobs = n > 0 && n < 1024 ? (unsigned)n : 1;
        }
        if (!queue_given)
                o->cfg.queue = 2 * o->cfg.jobs;
        if (o->cfg.state_dir == NULL)
                o->cfg.state_dir = DEFAULT_STATE;
        if (o->cfg.cache_size == 0)
                o->cfg.cache_size = DEFAULT_CACHE;
        return 0;
}

static int load_trust(opts *o, agora_error_t *err)
{
        o->cfg.trust = calloc(o->n_trust_args, sizeof(agora_pubkey));
        if (o->cfg.trust == NULL)
                return agora_error_set_errno(err, ENOMEM, "--trust");
        for (size_t i = 0; i < o->n_trust_args; i++) {
                const char *a = o->trust_args[i];
                struct stat st;
                int r = stat(a, &st) == 0 ? sign_pubkey_load(a, &o->cfg.trust[i], err)
                                          : sign_pubkey_parse(a, &o->cfg.trust[i], err);
                if (r < 0)
                        return agora_error_wrap(err, "--trust '%s'", a);
                o->cfg.n_trust++;
        }
        return 0;
}

/* The worker's own key: given, or made once in the state directory. */
static int load_key(worker *w, const opts *o, agora_error_t *err)
{
        _cleanup_free_ char *key = NULL, *pub = NULL;
        struct stat st;

        if (o->arg_key != NULL)
                return sign_seckey_load(o->arg_key, &w->key, err);
        if (asprintf(&key, "%s/worker.key", o->cfg.state_dir) < 0 ||
            asprintf(&pub, "%s/worker.pub", o->cfg.state_dir) < 0)
                return agora_error_set_errno(err, ENOMEM, "worker key");
        if (stat(key, &st) == 0)
                return sign_seckey_load(key, &w->key, err);
        if (sign_keypair_generate(&w->key, err) < 0)
                return -1;
        sign_seckey_pubkey(w->key, &w->pub);
        if (sign_pubkey_write(&w->pub, pub, err) < 0 && (*err)->kind != AGORA_ERR_EXISTS)
                return -1;
        agora_error_release(err);
        if (sign_seckey_write(w->key, key, err) < 0)
                return -1;
        worker_log(LOG_LVL_NOTICE, "made the worker key %s (public half %s)", key, pub);
        return 0;
}

static int find_cage(worker_config *cfg, char **ret, agora_error_t *err)
{
        if (fs_program_beside_self("AGORA_CAGE_BIN", "agora-cage", ret, err) < 0)
                return agora_error_wrap(err, "agora-cage");
        cfg->cage_bin = *ret;
        return 0;
}

/* One worker per state directory: two would share nonces and a cache
 * without sharing the lock that guards them. */
static int lock_state(const char *dir, int *ret_fd, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        int fd;

        if (fs_mkdir_p(dir, 0700, err) < 0)
                return -1;
        if (asprintf(&path, "%s/worker.lock", dir) < 0)
                return agora_error_set_errno(err, ENOMEM, "state '%s'", dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "state '%s'", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return agora_error_set(err, AGORA_ERR_BUSY, "state '%s': another agora-worker is using it", dir);
        }
        *ret_fd = fd;
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *cage_bin = NULL, *nonce_dir = NULL, *blob_dir = NULL;
        char host[256] = "worker";
        _cleanup_close_ int lock_fd = -1;
        opts o = {0};
        worker w = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
        sigset_t set;
        int code = 1;

        /* Before any thread exists, so that every thread NNG starts blocks
         * them too and only worker_serve's sigwait receives them. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (parse_args(&o, argc, argv, &err) < 0) {
                code = 2;
                goto out;
        }
        if (o.cfg.name == NULL) {
                gethostname(host, sizeof(host) - 1);
                o.cfg.name = host;
        }
        w.cfg = &o.cfg;
        if (geteuid() != 0) {
                agora_error_set(&err, AGORA_ERR_FAILED, "must run as root: agora-cage builds each cage");
                goto out;
        }
        if (sign_init(&err) < 0 || load_trust(&o, &err) < 0 || find_cage(&o.cfg, &cage_bin, &err) < 0 ||
            lock_state(o.cfg.state_dir, &lock_fd, &err) < 0 || load_key(&w, &o, &err) < 0)
                goto out;
        sign_seckey_pubkey(w.key, &w.pub);
        sign_keyid_format(w.pub.keyid, w.key_id);
        if (asprintf(&nonce_dir, "%s/nonces", o.cfg.state_dir) < 0 ||
            asprintf(&blob_dir, "%s/blobs", o.cfg.state_dir) < 0) {
                agora_error_set_errno(&err, ENOMEM, "state");
                goto out;
        }
        if (nonce_store_open(nonce_dir, &w.nonces, &err) < 0 ||
            cache_open(blob_dir, o.cfg.cache_size, &w.cache, &err) < 0)
                goto out;
        nonce_store_sweep(w.nonces, (int64_t)time(NULL));
        if (worker_serve(&w, &err) < 0)
                goto out;
        code = 0;
out:
        if (err != NULL)
                worker_log(LOG_LVL_ERR, "%s", agora_error_message(err));
        job_table_free(&w);
        cache_free(w.cache);
        nonce_store_free(w.nonces);
        sign_seckey_free(w.key);
        free(o.cfg.listen);
        free(o.cfg.trust);
        free(o.trust_args);
        return code;
}
