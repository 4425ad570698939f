/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora register env NAME [KEY=VALUE]… [--secret KEY=REF]… [--file FILE.yaml]
 *
 * An env bundle: plain values, and secrets stored only as references
 * (env:NAME, file:/abs/path) that are resolved on the operator's host at
 * dispatch, never here, so no secret ever enters the registry's history.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "common/schema.h"
#include "common/yamldoc.h"
#include "control/cli.h"
#include "registry/objects.h"

static const char verb[] = "register env";

static const char usage_env[] = "usage: agora register env NAME [KEY=VALUE]… [--secret KEY=REF]… [--file FILE.yaml]\n"
                                "\n"
                                "Define the env bundle NAME: plain values, and secrets as references only\n"
                                "(env:VAR, read from the operator's environment at dispatch, or file:/abs/path).\n"
                                "FILE.yaml may hold two maps, `values:` (KEY: string) and `secrets:` (KEY: REF);\n"
                                "KEY=VALUE and --secret on the command line override the file. A value that\n"
                                "looks like a credential is refused: pass it as a --secret reference instead.\n"
                                "Registering NAME again replaces it. Prints the definition's content hash.\n"
                                "\n"
                                "  --secret KEY=REF  a secret reference; repeat for more\n"
                                "  --file FILE.yaml  read values and secrets from FILE.yaml\n"
                                "  --help            print this help\n";

/* Copy the string map DOC[KEY] (absent or null: nothing) into DST. */
static int file_map(const json_t *doc, const char *key, const char *what, json_t *dst, agora_error_t *err)
{
        json_t *map = NULL, *v;
        const char *k;

        if (schema_get_object(doc, key, true, what, &map, err) < 0)
                return -1;
        json_object_foreach(map, k, v)
        {
                if (!json_is_string(v))
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: %s.%s: must be a string", what, key, k);
                if (json_object_set(dst, k, v) < 0)
                        return agora_error_set_errno(err, ENOMEM, "%s", what);
        }
        return 0;
}

static int load_file(const char *path, json_t *values, json_t *secrets, agora_error_t *err)
{
        static const char *const allowed[] = {"values", "secrets", NULL};
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "env file '%s'", path) < 0)
                return agora_error_set_errno(err, ENOMEM, "env file '%s'", path);
        if (yamldoc_load_file(path, &doc, err) < 0)
                return -1;
        if (json_is_null(doc))
                return 0; /* an empty file: an empty bundle */
        if (!json_is_object(doc))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: must be a mapping with values: and secrets:", what);
        if (schema_check_keys(doc, allowed, what, err) < 0)
                return -1;
        if (file_map(doc, "values", what, values, err) < 0 || file_map(doc, "secrets", what, secrets, err) < 0)
                return -1;
        return 0;
}

/* Split "KEY=VALUE" into DST[KEY] = VALUE. */
static int parse_pair(cli_ctx *ctx, const char *arg, const char *what, json_t *dst, agora_error_t *err)
{
        const char *eq = strchr(arg, '=');
        _cleanup_free_ char *key = NULL;
        json_t *v;

        if (eq == NULL || eq == arg)
                return cli_usage(ctx, verb, err, "%s '%s': expected KEY=%s", what, arg,
                                 strcmp(what, "secret") == 0 ? "REF" : "VALUE");
        key = strndup(arg, (size_t)(eq - arg));
        if (key == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", verb);
        if (agora_env_key_check(key, err) < 0)
                return -1;
        /* Keeping the last of two silently would hide a typo or a paste. */
        if (json_object_get(dst, key) != NULL)
                return cli_usage(ctx, verb, err, "'%s' given twice", key);
        v = json_string(eq + 1);
        if (v == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "env key '%s': %s is not valid UTF-8", key, what);
        if (json_object_set_new(dst, key, v) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", verb);
        return 0;
}

int cmd_register_env(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"secret", required_argument, NULL, 's'},
                {"file", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_json_ json_t *values = json_object(), *secrets = json_object();
        _cleanup_json_ json_t *arg_values = json_object(), *arg_secrets = json_object();
        _cleanup_json_ json_t *def = NULL;
        _cleanup_txn_ registry_txn *t = NULL;
        _cleanup_free_ char *message = NULL;
        const char *name, *file = NULL, *k;
        json_t *v;
        int c;

        if (values == NULL || secrets == NULL || arg_values == NULL || arg_secrets == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", verb);
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (parse_pair(ctx, optarg, "secret", arg_secrets, err) < 0)
                                return -1;
                        break;
                case 'f':
                        if (file != NULL)
                                return cli_usage(ctx, verb, err, "--file given twice");
                        file = optarg;
                        break;
                case 'h':
                        return cli_help(usage_env);
                default:
                        return cli_option_error(ctx, verb, c, argv, err);
                }
        }
        if (optind >= argc)
                return cli_usage(ctx, verb, err, "needs NAME");
        name = argv[optind++];
        if (agora_name_check("env", name, err) < 0)
                return -1;
        for (; optind < argc; optind++)
                if (parse_pair(ctx, argv[optind], "value", arg_values, err) < 0)
                        return -1;
        json_object_foreach(arg_values, k, v)
        {
                if (json_object_get(arg_secrets, k) != NULL)
                        return cli_usage(ctx, verb, err, "'%s' given both as KEY=VALUE and as --secret", k);
        }

        if (file != NULL && load_file(file, values, secrets, err) < 0)
                return agora_error_wrap(err, "env '%s'", name);
        /* The command line overrides the file, moving a key between the two
         * maps if need be: a key is a value or a secret, never both. */
        json_object_foreach(arg_values, k, v)
        {
                json_object_del(secrets, k);
                if (json_object_set(values, k, v) < 0)
                        return agora_error_set_errno(err, ENOMEM, "env '%s'", name);
        }
        json_object_foreach(arg_secrets, k, v)
        {
                json_object_del(values, k);
                if (json_object_set(secrets, k, v) < 0)
                        return agora_error_set_errno(err, ENOMEM, "env '%s'", name);
        }

        def = objects_env_new(name);
        if (def == NULL)
                return agora_error_set_errno(err, ENOMEM, "env '%s'", name);
        json_object_foreach(values, k, v)
        {
                if (objects_env_set_value(def, k, json_string_value(v), err) < 0)
                        return -1;
        }
        json_object_foreach(secrets, k, v)
        {
                if (objects_env_set_secret(def, k, json_string_value(v), err) < 0)
                        return -1;
        }

        if (asprintf(&message, "register env %s", name) < 0)
                return agora_error_set_errno(err, ENOMEM, "env '%s'", name);
        if (cli_need_registry(ctx, verb, err) < 0)
                return -1;
        if (registry_begin(ctx->reg, &t, err) < 0)
                return -1;
        return cli_put_commit_print(ctx, t, REGISTRY_ENV, name, def, message, "registered", err);
}
