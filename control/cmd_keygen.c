/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora keygen [--out FILE]: a new Ed25519 operator key pair in minisign's
 * formats. Never overwrites: a lost operator key is a lost identity, and the
 * old public key may be pinned by workers.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "control/cli.h"

static const char usage[] = "usage: agora keygen [--out FILE]\n"
                            "\n"
                            "Create a new operator key pair: the secret key FILE (mode 0600) and the\n"
                            "public key beside it (FILE with .key replaced by .pub). Refuses to\n"
                            "overwrite either file.\n"
                            "\n"
                            "  --out FILE  where to write the secret key (default: the --key path)\n"
                            "  --help      print this help\n";

int cli_key_check_absent(const char *key, const char *pub, agora_error_t *err)
{
        const char *paths[] = {key, pub};
        struct stat st;

        for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
                if (lstat(paths[i], &st) == 0)
                        return agora_error_set(err, AGORA_ERR_EXISTS, "'%s': already exists, refusing to overwrite",
                                               paths[i]);
                if (errno != ENOENT && errno != ENOTDIR)
                        return agora_error_set_errno(err, errno, "'%s'", paths[i]);
        }
        return 0;
}

int cli_key_write(const agora_seckey *sk, const char *key, const char *pub, agora_error_t *err)
{
        _cleanup_free_ char *copy = strdup(key);
        agora_pubkey pk;
        const char *parent;

        if (copy == NULL)
                return agora_error_set_errno(err, ENOMEM, "key '%s'", key);
        /* The key's directory is private: others must not even list it. */
        parent = dirname(copy);
        if (strcmp(parent, ".") != 0 && strcmp(parent, "/") != 0 && fs_mkdir_p(parent, 0700, err) < 0)
                return agora_error_wrap(err, "key '%s'", key);
        /* Public key first: killed between the two writes, we leave a lone
         * public key, which is harmless (the next keygen names it), never a
         * lone secret key, which would be a stray secret nobody knows of. */
        sign_seckey_pubkey(sk, &pk);
        if (sign_pubkey_write(&pk, pub, err) < 0)
                return -1;
        if (sign_seckey_write(sk, key, err) < 0) {
                /* Half a pair is worse than none: the next keygen would refuse. */
                unlink(pub);
                return -1;
        }
        return 0;
}

int cmd_keygen(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"out", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_free_ char *out_pub = NULL;
        const char *key = NULL, *pub = NULL, *reg = NULL;
        agora_seckey *sk = NULL;
        agora_pubkey pk;
        char keyid[2 * AGORA_KEYID_LEN + 1];
        int c, r;

        while ((c = getopt_long(argc, argv, ":o:h", options, NULL)) != -1) {
                switch (c) {
                case 'o':
                        key = optarg;
                        break;
                case 'h':
                        return cli_help(usage);
                default:
                        return cli_option_error(ctx, "keygen", c, argv, err);
                }
        }
        if (optind < argc)
                return cli_usage(ctx, "keygen", err, "unexpected argument '%s'", argv[optind]);
        if (key != NULL) {
                if (key[0] == '\0')
                        return cli_usage(ctx, "keygen", err, "--out must not be empty");
                out_pub = cli_pubkey_path_for(key);
                if (out_pub == NULL)
                        return agora_error_set_errno(err, ENOMEM, "key '%s'", key);
                pub = out_pub;
        } else if (cli_key_path(ctx, &key, &pub, err) < 0) {
                return -1;
        }

        /* A key inside the registry would be one `git push` from public. */
        if (cli_registry_path(ctx, &reg, NULL) == 0 && (fs_path_is_within(reg, key) || fs_path_is_within(reg, pub)))
                return agora_error_set(err, AGORA_ERR_FAILED, "key '%s' must not live inside the registry '%s'", key,
                                       reg);
        if (cli_key_check_absent(key, pub, err) < 0)
                return -1;
        if (sign_keypair_generate(&sk, err) < 0)
                return -1;
        r = cli_key_write(sk, key, pub, err);
        sign_seckey_pubkey(sk, &pk);
        sign_seckey_free(sk);
        if (r < 0)
                return -1;
        sign_keyid_format(pk.keyid, keyid);

        if (ctx->arg_json) {
                _cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:s}", "key", key, "publicKey", pub, "keyId", keyid);
                if (j == NULL)
                        return agora_error_set(err, AGORA_ERR_FAILED, "key '%s': cannot build JSON output", key);
                return output_json(j, false, err);
        }
        printf("created operator key %s (public key %s, key id %s)\n", key, pub, keyid);
        return 0;
}
