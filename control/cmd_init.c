/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora init [DIR]: a new registry and, if there is none yet, the operator
 * key. Everything that can be refused is checked before anything is created,
 * so a refused init leaves the disk as it found it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "control/cli.h"

static const char usage[] = "usage: agora init [DIR]\n"
                            "\n"
                            "Create a registry (a bare git repository) at DIR, or at the --registry path,\n"
                            "and, if the --key file does not exist yet, a new operator key pair for it.\n"
                            "The key must not live inside the registry.\n"
                            "\n"
                            "  --help  print this help\n";

typedef struct seckey_holder {
        agora_seckey *sk;
} seckey_holder;

static void seckey_holder_release(seckey_holder *h)
{
        sign_seckey_free(h->sk);
}

/* A key pair written by this init, removed again unless the registry it was
 * made for comes to be: a key without its registry is a stray secret. */
typedef struct written_key {
        const char *key, *pub;
        bool keep;
} written_key;

static void written_key_release(written_key *w)
{
        if (w->key != NULL && !w->keep) {
                unlink(w->key);
                unlink(w->pub);
        }
}

static int print_result(const cli_ctx *ctx, const char *dir, const char *key, const char *pub, bool created,
                        agora_error_t *err)
{
        if (ctx->arg_json) {
                _cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "registry", dir, "key", key,
                                                     "publicKey", pub, "keyId", ctx->keyid, "keyCreated", created);
                if (j == NULL)
                        return agora_error_set(err, AGORA_ERR_FAILED, "registry '%s': cannot build JSON output", dir);
                return output_json(j, false, err);
        }
        printf("initialized registry %s\n", dir);
        printf("%s operator key %s (key id %s)\n", created ? "created" : "using", key, ctx->keyid);
        return 0;
}

int cmd_init(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_(seckey_holder_release) seckey_holder fresh = {NULL};
        _cleanup_(written_key_release) written_key written = {NULL, NULL, false};
        _cleanup_free_ char *name = NULL, *email = NULL;
        const char *dir, *key, *pub;
        struct stat st;
        int c;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                if (c == 'h')
                        return cli_help(usage);
                return cli_option_error(ctx, "init", c, argv, err);
        }
        if (argc - optind > 1)
                return cli_usage(ctx, "init", err, "unexpected argument '%s'", argv[optind + 1]);
        if (optind < argc) {
                if (argv[optind][0] == '\0')
                        return cli_usage(ctx, "init", err, "DIR must not be empty");
                ctx->arg_registry = argv[optind];
        }
        if (cli_registry_path(ctx, &dir, err) < 0 || cli_key_path(ctx, &key, &pub, err) < 0)
                return -1;

        /* A key inside the registry would be one `git push` from public. */
        if (fs_path_is_within(dir, key) || fs_path_is_within(dir, pub))
                return agora_error_set(err, AGORA_ERR_FAILED, "key '%s' must not live inside the registry '%s'", key,
                                       dir);

        if (registry_init_check(dir, err) < 0)
                return -1;
        if (lstat(key, &st) == 0) {
                /* The same checks a register makes: no registry for a key
                 * that could never sign for it. */
                if (cli_load_seckey(ctx, err) < 0)
                        return -1;
        } else if (errno != ENOENT) {
                return agora_error_set_errno(err, errno, "key '%s'", key);
        } else {
                agora_pubkey pk;

                if (cli_key_check_absent(key, pub, err) < 0 || sign_keypair_generate(&fresh.sk, err) < 0)
                        return -1;
                /* Written before the registry, so that a key that cannot be
                 * written leaves nothing behind; undone if the registry fails. */
                if (cli_key_write(fresh.sk, key, pub, err) < 0)
                        return -1;
                written.key = key;
                written.pub = pub;
                sign_seckey_pubkey(fresh.sk, &pk);
                ctx->pubkey = pk;
                ctx->have_pubkey = true;
                sign_keyid_format(pk.keyid, ctx->keyid);
        }

        if (cli_identity(&name, &email, err) < 0 || registry_init(dir, name, email, err) < 0)
                return -1;
        written.keep = true;
        return print_result(ctx, dir, key, pub, fresh.sk != NULL, err);
}
