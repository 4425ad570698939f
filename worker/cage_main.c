/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora-cage: run one program in a fresh cage and exit with its status.
 * The worker executes this for every job; an operator can run it by hand.
 * Exit status: the program's (128+N for signal N), or 125 when agora-cage
 * itself could not do what was asked (bad arguments, a bad profile or
 * capability, a layer that could not be applied).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/cjson.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/name.h"
#include "common/schema.h"
#include "common/strv.h"
#include "worker/cage.h"

#define EXIT_SETUP 125

/* What --env-fd may bring: environment entries, not a payload. */
#define ENV_FD_MAX (1u << 20)

/* --capability-hash NAME=sha256:HEX */
typedef struct cap_pin {
        char *name;
        agora_hash want;
} cap_pin;

typedef struct cage_args {
        const char *arg_profile;
        const char *arg_workspace;
        uint64_t arg_timeout;
        bool arg_json;
        int arg_events_fd; /* -1: none */
        int arg_env_fd; /* -1: none */
        char **caps; /* NAME=PATH as given */
        size_t n_caps;
        cap_pin *pins;
        size_t n_pins;
        char **env; /* NULL-terminated KEY=VALUE; --env-fd's point into env_buf */
        size_t n_env;
        unsigned char *env_buf; /* --env-fd's records: secrets, in locked memory */
        size_t env_buf_size;
        char **argv;
} cage_args;

static void print_help(void)
{
        printf("usage: agora-cage --profile FILE|NAME [--capability NAME=PATH]… [--env KEY=VALUE]…\n"
               "                  [--capability-hash NAME=sha256:HEX]… [--env-fd N] [--workspace DIR]\n"
               "                  [--timeout SECONDS] [--json] [--events-fd N] -- PROGRAM [ARGS…]\n"
               "\n"
               "Run PROGRAM in a fresh, default-deny cage built from the profile.\n"
               "\n"
               "  --profile FILE|NAME     a profile file, or the name of one in the profile directory\n"
               "                          ($AGORA_PROFILES, else the installed profiles)\n"
               "  --capability NAME=PATH  unpack PATH (a directory, a tar or compressed tar, a canonical\n"
               "                          tarball) read-only at /cap/NAME\n"
               "  --capability-hash NAME=sha256:HEX\n"
               "                          refuse to run unless capability NAME's canonical tarball (the\n"
               "                          registry's hash) is this one\n"
               "  --env KEY=VALUE         put KEY in the program's environment; nothing else is there\n"
               "  --env-fd N              read more KEY=VALUE entries, separated by NUL bytes, from open\n"
               "                          fd N until end of file (at most 1 MiB): for secrets, which a\n"
               "                          command line would show to every user\n"
               "  --workspace DIR         bind DIR at /workspace instead of a fresh tmpfs\n"
               "  --timeout SECONDS       stop the program sooner than the profile's timeout\n"
               "  --json                  keep the output and print one JSON result object on stdout\n"
               "  --events-fd N           write JSON lines to open fd N: {\"event\":\"setup.ran\",…} once\n"
               "                          the program has started, {\"event\":\"result\",…} at the end\n"
               "\n"
               "Exit status: the program's (128+N for signal N); 125 when the cage could not be built.\n");
}

static int push(char ***v, size_t *n, char *s, agora_error_t *err)
{
        if (strv_push(v, n, s) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", "agora-cage: arguments");
        return 0;
}

/* One KEY=VALUE of the program's environment, from --env or --env-fd:
 * a portable key, given once across both. WHAT names the entry in errors;
 * for --env-fd it never quotes the entry, whose value is a secret. */
static int check_env(const cage_args *a, const char *kv, const char *what, agora_error_t *err)
{
        const char *eq = strchr(kv, '=');
        _cleanup_free_ char *key = NULL;

        if (eq == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: want KEY=VALUE", what);
        key = strndup(kv, (size_t)(eq - kv));
        if (key == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (agora_env_key_check(key, err) < 0)
                return agora_error_wrap(err, "%s", what);
        for (size_t i = 0; i < a->n_env; i++)
                if (strncmp(a->env[i], kv, (size_t)(eq - kv) + 1) == 0)
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: '%s' given twice", what, key);
        return 0;
}

static int add_env_arg(cage_args *a, char *kv, agora_error_t *err)
{
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "--env '%s'", kv) < 0)
                return agora_error_set_errno(err, ENOMEM, "--env");
        if (check_env(a, kv, what, err) < 0)
                return -1;
        return push(&a->env, &a->n_env, kv, err);
}

/* --events-fd and --env-fd name a descriptor the caller opened for us.
 * 0, 1 and 2 are refused: they are agora-cage's own stdio (stdout carries
 * the relayed output). The descriptor is made close-on-exec at once; the
 * cage's processes close everything anyway (cage_process_close_fds), this
 * covers any other exec. */
static int parse_fd(const char *opt, const char *s, int want_mode, int *ret, agora_error_t *err)
{
        uint64_t n;
        long v;
        int flags, mode;

        if (*ret >= 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: given twice", opt);
        if (schema_parse_uint(s, INT_MAX, &n) < 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s '%s': want a file descriptor number", opt, s);
        v = (long)n;
        if (v <= 2)
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "%s %ld: 0, 1 and 2 are agora-cage's stdio; want 3 or above", opt, v);
        flags = fcntl((int)v, F_GETFD);
        if (flags < 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s %ld: not an open file descriptor", opt, v);
        mode = fcntl((int)v, F_GETFL);
        if (mode >= 0 && (mode & O_ACCMODE) != O_RDWR && (mode & O_ACCMODE) != want_mode)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s %ld: not open for %s", opt, v,
                                       want_mode == O_RDONLY ? "reading" : "writing");
        if (fcntl((int)v, F_SETFD, flags | FD_CLOEXEC) < 0)
                return agora_error_set_errno(err, errno, "%s %ld", opt, v);
        *ret = (int)v;
        return 0;
}

static int add_pin(cage_args *a, const char *arg, agora_error_t *err)
{
        const char *eq = strchr(arg, '=');
        _cleanup_free_ char *name = NULL;
        agora_hash want;

        if (eq == NULL || eq == arg)
                return agora_error_set(err, AGORA_ERR_USAGE, "--capability-hash '%s': want NAME=sha256:HEX", arg);
        name = strndup(arg, (size_t)(eq - arg));
        if (name == NULL)
                return agora_error_set_errno(err, ENOMEM, "--capability-hash");
        for (size_t i = 0; i < a->n_pins; i++)
                if (strcmp(a->pins[i].name, name) == 0)
                        return agora_error_set(err, AGORA_ERR_USAGE, "--capability-hash '%s': given twice", name);
        if (agora_hash_parse(eq + 1, &want, err) < 0)
                return agora_error_wrap(err, "--capability-hash '%s'", name);
        cap_pin *grown = realloc(a->pins, (a->n_pins + 1) * sizeof(*grown));
        if (grown == NULL)
                return agora_error_set_errno(err, ENOMEM, "--capability-hash");
        a->pins = grown;
        a->pins[a->n_pins++] = (cap_pin){.name = take_ptr(name), .want = want};
        return 0;
}

/* A pin for a capability that is not given would be a check that never
 * runs: the caller meant something else. */
static int check_pins(const cage_args *a, agora_error_t *err)
{
        for (size_t i = 0; i < a->n_pins; i++) {
                size_t n = strlen(a->pins[i].name);
                bool found = false;
                for (size_t j = 0; j < a->n_caps && !found; j++)
                        found = strncmp(a->caps[j], a->pins[i].name, n) == 0 && a->caps[j][n] == '=';
                if (!found)
                        return agora_error_set(err, AGORA_ERR_USAGE, "--capability-hash '%s': no --capability %s=PATH",
                                               a->pins[i].name, a->pins[i].name);
        }
        return 0;
}

static int parse_args(cage_args *a, int argc, char **argv, agora_error_t *err)
{
        enum {
                OPT_PROFILE = 0x100,
                OPT_CAP,
                OPT_CAP_HASH,
                OPT_ENV,
                OPT_ENV_FD,
                OPT_WORKSPACE,
                OPT_TIMEOUT,
                OPT_JSON,
                OPT_EVENTS_FD,
        };
        static const struct option options[] = {
                {"profile", required_argument, NULL, OPT_PROFILE},
                {"capability", required_argument, NULL, OPT_CAP},
                {"capability-hash", required_argument, NULL, OPT_CAP_HASH},
                {"env", required_argument, NULL, OPT_ENV},
                {"env-fd", required_argument, NULL, OPT_ENV_FD},
                {"events-fd", required_argument, NULL, OPT_EVENTS_FD},
                {"workspace", required_argument, NULL, OPT_WORKSPACE},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {"json", no_argument, NULL, OPT_JSON},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
                switch (c) {
                case OPT_PROFILE:
                        a->arg_profile = optarg;
                        break;
                case OPT_CAP:
                        if (push(&a->caps, &a->n_caps, optarg, err) < 0)
                                return -1;
                        break;
                case OPT_CAP_HASH:
                        if (add_pin(a, optarg, err) < 0)
                                return -1;
                        break;
                case OPT_ENV:
                        if (add_env_arg(a, optarg, err) < 0)
                                return -1;
                        break;
                case OPT_ENV_FD:
                        if (parse_fd("--env-fd", optarg, O_RDONLY, &a->arg_env_fd, err) < 0)
                                return -1;
                        break;
                case OPT_EVENTS_FD:
                        if (parse_fd("--events-fd", optarg, O_WRONLY, &a->arg_events_fd, err) < 0)
                                return -1;
                        break;
                case OPT_WORKSPACE:
                        a->arg_workspace = optarg;
                        break;
                case OPT_TIMEOUT:
                        if (schema_parse_uint(optarg, 86400, &a->arg_timeout) < 0 || a->arg_timeout == 0)
                                return agora_error_set(err, AGORA_ERR_USAGE,
                                                       "--timeout '%s': want whole seconds from 1 to 86400", optarg);
                        break;
                case OPT_JSON:
                        a->arg_json = true;
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
        if (a->arg_profile == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "--profile is required (see --help)");
        if (a->arg_env_fd >= 0 && a->arg_env_fd == a->arg_events_fd)
                return agora_error_set(err, AGORA_ERR_USAGE, "--env-fd and --events-fd: both %d; want two descriptors",
                                       a->arg_env_fd);
        if (check_pins(a, err) < 0)
                return -1;
        if (optind >= argc)
                return agora_error_set(err, AGORA_ERR_USAGE, "no program given: agora-cage [OPTIONS] -- PROGRAM");
        a->argv = argv + optind;
        return 0;
}

/* A value with a '/' or a ".yaml" ending is a file; anything else names a
 * profile in the profile directory. */
static int load_profile(const char *arg, profile **ret, agora_error_t *err)
{
        size_t n = strlen(arg);

        if (strchr(arg, '/') != NULL || (n > 5 && strcmp(arg + n - 5, ".yaml") == 0))
                return profile_load_file(arg, ret, err);
        return profile_load_named(profile_default_dir(), arg, ret, err);
}

/* The expected hash of capability NAME, or NULL when it is not pinned. */
static const agora_hash *pin_of(const cage_args *a, const char *name)
{
        for (size_t i = 0; i < a->n_pins; i++)
                if (strcmp(a->pins[i].name, name) == 0)
                        return &a->pins[i].want;
        return NULL;
}

static int load_caps(const cage_args *a, cage_capability *caps, agora_error_t *err)
{
        for (size_t i = 0; i < a->n_caps; i++) {
                const char *eq = strchr(a->caps[i], '=');
                _cleanup_free_ char *name = NULL;

                if (eq == NULL || eq[1] == '\0')
                        return agora_error_set(err, AGORA_ERR_USAGE, "--capability '%s': want NAME=PATH", a->caps[i]);
                name = strndup(a->caps[i], (size_t)(eq - a->caps[i]));
                if (name == NULL)
                        return agora_error_set_errno(err, ENOMEM, "--capability");
                for (size_t j = 0; j < i; j++)
                        if (strcmp(caps[j].name, name) == 0)
                                return agora_error_set(err, AGORA_ERR_USAGE, "capability '%s': given twice", name);
                if (cage_capability_load(name, eq + 1, &caps[i], err) < 0)
                        return -1;
                /* The hash is of the canonical tarball, the registry's: a
                 * path whose content changed since the caller resolved it
                 * (another version, a swapped file) is refused before
                 * anything of the cage exists. */
                const agora_hash *want = pin_of(a, name);
                if (want != NULL && !agora_hash_equal(want, &caps[i].hash)) {
                        char w[AGORA_HASH_STR_LEN + 1], g[AGORA_HASH_STR_LEN + 1];
                        agora_hash_format(want, w);
                        agora_hash_format(&caps[i].hash, g);
                        return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                               "capability '%s': sha256 mismatch: want %s, got %s", name, w, g);
                }
        }
        return 0;
}

/* --env-fd's bytes are secrets: they live in sodium_malloc'd memory
 * (locked, out of core dumps, between guard pages), which sodium_free
 * fills with zeros before it gives it back, as it does every smaller
 * buffer they are grown from. */
static void env_buf_wipe(cage_args *a)
{
        if (a->env_buf == NULL)
                return;
        sodium_free(a->env_buf);
        a->env_buf = NULL;
        a->env_buf_size = 0;
}

static int env_buf_grow(cage_args *a, size_t len, agora_error_t *err)
{
        size_t size = a->env_buf_size ? 2 * a->env_buf_size : 4096;
        unsigned char *grown;

        /* ENV_FD_MAX bytes, one more to see that there are more, and the
         * NUL that ends the last record. */
        if (size > ENV_FD_MAX + 2)
                size = ENV_FD_MAX + 2;
        grown = sodium_malloc(size);
        if (grown == NULL)
                return agora_error_set_errno(err, ENOMEM, "--env-fd %d", a->arg_env_fd);
        if (len > 0)
                memcpy(grown, a->env_buf, len);
        env_buf_wipe(a);
        a->env_buf = grown;
        a->env_buf_size = size;
        return 0;
}

/* Read the whole of --env-fd into env_buf, NUL-terminated. */
static int env_fd_slurp(cage_args *a, int fd, size_t *ret_len, agora_error_t *err)
{
        size_t len = 0;

        if (sodium_init() < 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "--env-fd %d: libsodium did not start", fd);
        for (;;) {
                if (len + 1 >= a->env_buf_size && env_buf_grow(a, len, err) < 0)
                        return -1;
                ssize_t n = read(fd, a->env_buf + len, a->env_buf_size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return agora_error_set_errno(err, errno, "--env-fd %d", fd);
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > ENV_FD_MAX)
                        return agora_error_set(err, AGORA_ERR_USAGE, "--env-fd %d: more than 1 MiB", fd);
        }
        a->env_buf[len] = '\0';
        *ret_len = len;
        return 0;
}

/* Read --env-fd to end of file: KEY=VALUE records separated, and maybe
 * ended, by NUL bytes. A secret given with --env would be on the command
 * line, which /proc/PID/cmdline shows to every user of the host. */
static int read_env_fd(cage_args *a, agora_error_t *err)
{
        const int fd = a->arg_env_fd;
        size_t len = 0;
        int r;

        if (fd < 0)
                return 0;
        r = env_fd_slurp(a, fd, &len, err);
        /* Nothing in the cage needs it, and it must not outlive its use. */
        close(fd);
        a->arg_env_fd = -1;
        if (r < 0)
                return -1;
        for (size_t at = 0, record = 1; at < len; record++) {
                char *kv = (char *)a->env_buf + at;
                char what[64];
                size_t n = strlen(kv);

                snprintf(what, sizeof(what), "--env-fd %d, record %zu", fd, record);
                if (n == 0)
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: empty", what);
                if (check_env(a, kv, what, err) < 0 || push(&a->env, &a->n_env, kv, err) < 0)
                        return -1;
                at += n + 1;
        }
        return 0;
}

/* The events fd's one error-proof write: a line at a time, in one write
 * so that a reader sees whole lines. A reader that went away (EPIPE, with
 * SIGPIPE ignored) or any other failure must not stop agora-cage, which
 * still has a cage to tear down and a status to give. */
static void event_write(int fd, const json_t *o)
{
        _cleanup_free_ char *line = NULL;
        size_t n;

        if (fd < 0 || o == NULL)
                return;
        line = json_dumps(o, JSON_COMPACT);
        if (line == NULL)
                return;
        n = strlen(line);
        char *grown = realloc(line, n + 2);
        if (grown == NULL)
                return;
        line = grown;
        line[n] = '\n';
        (void)fs_write_all(fd, line, n + 1);
}

static void on_started(void *ctx, const cage_started *info)
{
        const int *events_fd = ctx;
        _cleanup_json_ json_t *o = json_pack("{s:s, s:I, s:I}", "event", "setup.ran", "setup_us",
                                             (json_int_t)info->setup_us, "host_uid", (json_int_t)info->host_uid);

        event_write(*events_fd, o);
}

static void event_result(int fd, json_t *result)
{
        _cleanup_json_ json_t *o = NULL;

        if (fd < 0)
                return;
        o = json_pack("{s:s}", "event", "result");
        if (o == NULL || json_object_update(o, result) < 0)
                return;
        event_write(fd, o);
}

/* JSON strings are UTF-8; a message naming a path that is not must still
 * make its line, so such bytes become '?'. */
static json_t *json_text(const char *s)
{
        json_t *j = json_string(s);
        _cleanup_free_ char *copy = NULL;

        if (j != NULL)
                return j;
        copy = strdup(s);
        if (copy == NULL)
                return NULL;
        for (char *p = copy; *p; p++)
                if ((unsigned char)*p >= 0x80)
                        *p = '?';
        return json_string(copy);
}

static void print_setup_failure(const cage_args *a, const char *msg)
{
        _cleanup_json_ json_t *o = NULL;

        fprintf(stderr, "agora-cage: %s\n", msg);
        if (!a->arg_json && a->arg_events_fd < 0)
                return;
        o = json_pack("{s:i, s:i, s:s, s:o?}", "exit_code", EXIT_SETUP, "signal", 0, "reason",
                      cage_reason_name(CAGE_SETUP_FAILED), "error", json_text(msg));
        if (o == NULL)
                return;
        if (a->arg_json) {
                json_dumpf(o, stdout, JSON_COMPACT);
                fputc('\n', stdout);
        }
        event_result(a->arg_events_fd, o);
}

int main(int argc, char **argv)
{
        _cleanup_error_ agora_error_t err = NULL;
        cage_args a = {.arg_events_fd = -1, .arg_env_fd = -1};
        profile *prof = NULL;
        cage_capability *caps = NULL;
        cage_result res = {0};
        int code = EXIT_SETUP;

        /* A reader of our stdout or events going away must not kill
         * agora-cage before it has torn the cage down. */
        signal(SIGPIPE, SIG_IGN);
        if (parse_args(&a, argc, argv, &err) < 0 || read_env_fd(&a, &err) < 0 ||
            load_profile(a.arg_profile, &prof, &err) < 0)
                goto out;
        if (a.arg_timeout > prof->limits.timeout_s) {
                agora_error_set(&err, AGORA_ERR_USAGE, "--timeout %llu: above profile '%s''s limit of %llu s",
                                (unsigned long long)a.arg_timeout, prof->name,
                                (unsigned long long)prof->limits.timeout_s);
                goto out;
        }
        caps = calloc(a.n_caps + 1, sizeof(*caps));
        if (caps == NULL) {
                agora_error_set_errno(&err, ENOMEM, "capabilities");
                goto out;
        }
        if (load_caps(&a, caps, &err) < 0)
                goto out;

        cage_config cfg = {
                .profile = prof,
                .caps = caps,
                .n_caps = a.n_caps,
                .env = a.env,
                .workspace_dir = a.arg_workspace,
                .timeout_s = a.arg_timeout,
                .argv = a.argv,
                .capture = a.arg_json,
                .relay_stdout_fd = STDOUT_FILENO,
                .relay_stderr_fd = STDERR_FILENO,
                .on_started = a.arg_events_fd >= 0 ? on_started : NULL,
                .started_ctx = &a.arg_events_fd,
        };
        int r = cage_run(&cfg, &res, &err);
        /* The secrets were needed for the execve only. */
        cfg.env = NULL;
        env_buf_wipe(&a);
        if (r < 0)
                goto out;
        code = res.exit_code;
        if (a.arg_json || a.arg_events_fd >= 0) {
                _cleanup_json_ json_t *o = NULL;
                if (cage_result_to_json(&cfg, &res, &o, &err) < 0) {
                        code = EXIT_SETUP;
                        goto out;
                }
                if (a.arg_json) {
                        json_dumpf(o, stdout, JSON_COMPACT);
                        fputc('\n', stdout);
                }
                event_result(a.arg_events_fd, o);
        }
        if (!a.arg_json && res.reason != CAGE_EXITED) {
                /* Without --json the reason still reaches a person. */
                fprintf(stderr, "agora-cage: program stopped: %s\n", cage_reason_name(res.reason));
        }
out:
        env_buf_wipe(&a);
        if (err != NULL)
                print_setup_failure(&a, agora_error_message(err));
        fflush(stdout);
        cage_result_release(&res);
        for (size_t i = 0; caps && i < a.n_caps; i++)
                cage_capability_release(&caps[i]);
        free(caps);
        profile_free(prof);
        for (size_t i = 0; i < a.n_pins; i++)
                free(a.pins[i].name);
        free(a.pins);
        free(a.caps);
        free(a.env);
        return code;
}
