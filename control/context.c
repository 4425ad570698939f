/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a verb finds set up when it runs: where the registry and the operator
 * key live, the open registry, the loaded keys, and the identity its commits
 * carry.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "control/cli.h"

static const char *nonempty_env(const char *name)
{
        const char *v = getenv(name);
        return v != NULL && v[0] != '\0' ? v : NULL;
}

/* OPT, else $ENV_VAR, else $XDG/SUFFIX (XDG only if absolute, as the XDG
 * base directory spec says), else $HOME/HOME_SUFFIX. */
static int default_path(const char *opt, const char *env_var, const char *xdg_var, const char *suffix,
                        const char *home_suffix, const char *what, char **ret, agora_error_t *err)
{
        const char *v;
        char *p = NULL;

        if (opt != NULL) {
                if (opt[0] == '\0')
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s path must not be empty", what);
                p = strdup(opt);
        } else if ((v = nonempty_env(env_var)) != NULL) {
                p = strdup(v);
        } else if ((v = nonempty_env(xdg_var)) != NULL && v[0] == '/') {
                if (asprintf(&p, "%s/%s", v, suffix) < 0)
                        p = NULL;
        } else if ((v = nonempty_env("HOME")) != NULL) {
                if (asprintf(&p, "%s/%s/%s", v, home_suffix, suffix) < 0)
                        p = NULL;
        } else {
                return agora_error_set(err, AGORA_ERR_FAILED, "no %s path: HOME is not set (use --%s or $%s)", what,
                                       what, env_var);
        }
        if (p == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s path", what);
        *ret = p;
        return 0;
}

int cli_default_registry_path(const char *arg, char **ret, agora_error_t *err)
{
        return default_path(arg, "AGORA_REGISTRY", "XDG_DATA_HOME", "agora/registry", ".local/share", "registry", ret,
                            err);
}

int cli_default_key_path(const char *arg, char **ret, agora_error_t *err)
{
        return default_path(arg, "AGORA_KEY", "XDG_CONFIG_HOME", "agora/operator.key", ".config", "key", ret, err);
}

char *cli_pubkey_path_for(const char *key)
{
        size_t len = strlen(key);
        char *p = NULL;

        if (len > 4 && strcmp(key + len - 4, ".key") == 0) {
                if (asprintf(&p, "%.*s.pub", (int)(len - 4), key) < 0)
                        return NULL;
        } else if (asprintf(&p, "%s.pub", key) < 0) {
                return NULL;
        }
        return p;
}

int cli_registry_path(cli_ctx *ctx, const char **ret, agora_error_t *err)
{
        if (ctx->registry_path == NULL && cli_default_registry_path(ctx->arg_registry, &ctx->registry_path, err) < 0)
                return -1;
        *ret = ctx->registry_path;
        return 0;
}

int cli_key_path(cli_ctx *ctx, const char **ret, const char **ret_pub, agora_error_t *err)
{
        if (ctx->key_path == NULL) {
                _cleanup_free_ char *key = NULL;

                if (cli_default_key_path(ctx->arg_key, &key, err) < 0)
                        return -1;
                ctx->pubkey_path = cli_pubkey_path_for(key);
                if (ctx->pubkey_path == NULL)
                        return agora_error_set_errno(err, ENOMEM, "key '%s'", key);
                ctx->key_path = take_ptr(key);
        }
        if (ret != NULL)
                *ret = ctx->key_path;
        if (ret_pub != NULL)
                *ret_pub = ctx->pubkey_path;
        return 0;
}

int cli_identity(char **ret_name, char **ret_email, agora_error_t *err)
{
        _cleanup_free_ char *name = NULL, *email = NULL;
        const char *v;
        char host[HOST_NAME_MAX + 1] = "";

        if ((v = nonempty_env("GIT_AUTHOR_NAME")) != NULL) {
                name = strdup(v);
        } else {
                struct passwd *pw = getpwuid(geteuid());
                if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
                        name = strdup(pw->pw_name);
                else if (asprintf(&name, "uid%u", (unsigned)geteuid()) < 0)
                        name = NULL;
        }
        if (name == NULL)
                return agora_error_set_errno(err, ENOMEM, "operator identity");

        if ((v = nonempty_env("GIT_AUTHOR_EMAIL")) != NULL) {
                email = strdup(v);
        } else {
                if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
                        snprintf(host, sizeof(host), "localhost");
                if (asprintf(&email, "%s@%s", name, host) < 0)
                        email = NULL;
        }
        if (email == NULL)
                return agora_error_set_errno(err, ENOMEM, "operator identity");
        *ret_name = take_ptr(name);
        *ret_email = take_ptr(email);
        return 0;
}

static int key_missing(const char *key, agora_error_t *err)
{
        return agora_error_set(err, AGORA_ERR_NOTFOUND, "key '%s': %s (run agora init or agora keygen)", key,
                               strerror(ENOENT));
}

/* Refuse anything but a regular file before opening it: a FIFO given as
 * --key would otherwise block us until some writer comes along. */
static int check_regular(const char *what, const char *path, agora_error_t *err)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return agora_error_set_errno(err, errno, "%s '%s'", what, path);
        if (!S_ISREG(st.st_mode))
                return agora_error_set(err, AGORA_ERR_FAILED, "%s '%s': not a regular file", what, path);
        return 0;
}

int cli_load_seckey(cli_ctx *ctx, agora_error_t *err)
{
        const char *key, *pub;
        agora_pubkey derived, on_disk;

        if (ctx->seckey != NULL)
                return 0;
        if (cli_key_path(ctx, &key, &pub, err) < 0)
                return -1;
        if (access(key, F_OK) < 0 && errno == ENOENT)
                return key_missing(key, err);
        if (check_regular("key", key, err) < 0)
                return -1;
        /* The secret key, not the .pub beside it, says who the operator is:
         * a .pub copied from someone else's pair must not put their key id
         * on our commits, nor a garbage secret key go unnoticed until the
         * first signature. sign_seckey_load refuses a key others can read,
         * a bad checksum and halves that disagree. */
        if (sign_seckey_load(key, &ctx->seckey, err) < 0)
                return -1;
        sign_seckey_pubkey(ctx->seckey, &derived);

        if (access(pub, F_OK) == 0) {
                if (check_regular("public key", pub, err) < 0)
                        return -1;
                if (sign_pubkey_load(pub, &on_disk, err) < 0) {
                        /* A bad file on disk is a failure, not the caller's words. */
                        if (err != NULL && *err != NULL)
                                (*err)->kind = AGORA_ERR_FAILED;
                        return -1;
                }
                if (memcmp(derived.keyid, on_disk.keyid, sizeof(derived.keyid)) != 0 ||
                    memcmp(derived.pk, on_disk.pk, sizeof(derived.pk)) != 0)
                        return agora_error_set(err, AGORA_ERR_FAILED, "key '%s' and public key '%s' do not match", key,
                                               pub);
        } else if (errno != ENOENT) {
                return agora_error_set_errno(err, errno, "public key '%s'", pub);
        }
        ctx->pubkey = derived;
        sign_keyid_format(ctx->pubkey.keyid, ctx->keyid);
        ctx->have_pubkey = true;
        return 0;
}

int cli_load_pubkey(cli_ctx *ctx, agora_error_t *err)
{
        const char *pub;

        if (ctx->have_pubkey)
                return 0;
        if (cli_key_path(ctx, NULL, &pub, err) < 0)
                return -1;
        if (access(pub, F_OK) < 0 && errno == ENOENT)
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "public key '%s': %s (run agora init or agora keygen)",
                                       pub, strerror(ENOENT));
        if (check_regular("public key", pub, err) < 0)
                return -1;
        if (sign_pubkey_load(pub, &ctx->pubkey, err) < 0) {
                if (err != NULL && *err != NULL)
                        (*err)->kind = AGORA_ERR_FAILED;
                return -1;
        }
        sign_keyid_format(ctx->pubkey.keyid, ctx->keyid);
        ctx->have_pubkey = true;
        return 0;
}

int cli_setup(cli_ctx *ctx, unsigned flags, agora_error_t *err)
{
        const char *path;

        if (flags & CMD_NEEDS_REGISTRY) {
                if (cli_registry_path(ctx, &path, err) < 0)
                        return -1;
                if (registry_open(path, &ctx->reg, err) < 0)
                        return -1;
        }
        if ((flags & CMD_NEEDS_KEY) && cli_load_seckey(ctx, err) < 0)
                return -1;
        if ((flags & CMD_NEEDS_PUBKEY) && cli_load_pubkey(ctx, err) < 0)
                return -1;
        if (ctx->reg != NULL && ctx->have_pubkey) {
                _cleanup_free_ char *name = NULL, *email = NULL;

                if (cli_identity(&name, &email, err) < 0)
                        return -1;
                if (registry_set_identity(ctx->reg, name, email, ctx->keyid, err) < 0)
                        return -1;
        }
        return 0;
}

int cli_need_registry(const cli_ctx *ctx, const char *verb, agora_error_t *err)
{
        /* main() skips setup only for a --help that ends a run of plain words,
         * which every verb's getopt answers before this point; anything else
         * reaching here without a registry (a getopt that stops at the first
         * word under POSIXLY_CORRECT, a new verb's bug) must be an error, not
         * a NULL dereference. */
        if (ctx->reg == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "%s: no registry is open (internal error)", verb);
        return 0;
}

void cli_ctx_release(cli_ctx *ctx)
{
        registry_free(ctx->reg);
        ctx->reg = NULL;
        sign_seckey_free(ctx->seckey);
        ctx->seckey = NULL;
        free(ctx->registry_path);
        free(ctx->key_path);
        free(ctx->pubkey_path);
        ctx->registry_path = ctx->key_path = ctx->pubkey_path = NULL;
        free(ctx->committed);
        ctx->committed = NULL;
}

int cli_usage(cli_ctx *ctx, const char *verb, agora_error_t *err, const char *fmt, ...)
{
        _cleanup_free_ char *problem = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&problem, fmt, ap) < 0)
                problem = NULL;
        va_end(ap);
        ctx->usage_error = true;
        return agora_error_set(err, AGORA_ERR_USAGE, "%s: %s (see agora %s --help)", verb,
                               problem != NULL ? problem : "bad usage", verb);
}

int cli_option_error(cli_ctx *ctx, const char *verb, int c, char **argv, agora_error_t *err)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "";
        bool is_long = strncmp(arg, "--", 2) == 0;
        int len = (int)strcspn(arg, "=");

        if (c == ':') {
                if (is_long)
                        return cli_usage(ctx, verb, err, "option '%.*s' needs a value", len, arg);
                return cli_usage(ctx, verb, err, "option '-%c' needs a value", optopt);
        }
        if (is_long)
                return cli_usage(ctx, verb, err, "unknown option '%.*s'", len, arg);
        if (optopt > 0x20 && optopt < 0x7f)
                return cli_usage(ctx, verb, err, "unknown option '-%c'", optopt);
        return cli_usage(ctx, verb, err, "unknown option '%s'", arg);
}

int cli_help(const char *text)
{
        fputs(text, stdout);
        return 0;
}
