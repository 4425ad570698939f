/* SPDX-License-Identifier: Apache-2.0 */
/* agora list [capabilities|subagents|envs]: what the registry holds now. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "common/cleanup.h"
#include "control/cli.h"
#include "registry/objects.h"

static const char usage[] = "usage: agora list [capabilities|subagents|envs]\n"
                            "\n"
                            "List registered objects, one per line: KIND NAME sha256:<content hash>,\n"
                            "sorted by kind, then name. A capability's content hash is that of its\n"
                            "tarball (as register and resolve print it); a subagent's or env's is\n"
                            "that of its canonical definition. With --json, an array of\n"
                            "{\"kind\",\"name\",\"contentHash\"}.\n"
                            "\n"
                            "  --help  print this help\n";

int cmd_list(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        /* Kinds in the order of their names, so that output is sorted by kind. */
        static const registry_kind order[] = {REGISTRY_CAPABILITY, REGISTRY_ENV, REGISTRY_SUBAGENT};
        _cleanup_view_ registry_view *view = NULL;
        _cleanup_json_ json_t *all = NULL;
        registry_kind only = REGISTRY_KIND_COUNT;
        int c;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                if (c == 'h')
                        return cli_help(usage);
                return cli_option_error(ctx, "list", c, argv, err);
        }
        if (argc - optind > 1)
                return cli_usage(ctx, "list", err, "unexpected argument '%s'", argv[optind + 1]);
        if (optind < argc && registry_kind_parse(argv[optind], &only, err) < 0)
                return cli_usage(ctx, "list", err, "'%s' is not a kind (capabilities, subagents or envs)",
                                 argv[optind]);
        if (ctx->arg_json && (all = json_array()) == NULL)
                return agora_error_set_errno(err, ENOMEM, "list");
        if (cli_need_registry(ctx, "list", err) < 0)
                return -1;
        if (registry_view_open(ctx->reg, NULL, &view, err) < 0)
                return -1;

        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
                _cleanup_strv_ char **names = NULL;
                const char *kind = registry_kind_name(order[i]);

                if (only != REGISTRY_KIND_COUNT && only != order[i])
                        continue;
                if (registry_view_list(view, order[i], &names, err) < 0)
                        return -1;
                for (char **n = names; *n != NULL; n++) {
                        _cleanup_json_ json_t *def = NULL;
                        char hash[AGORA_HASH_STR_LEN + 1];
                        agora_hash h;

                        if (registry_view_get(view, order[i], *n, &def, &h, err) < 0)
                                return -1;
                        /* The same hash the operator saw from register. */
                        if (order[i] == REGISTRY_CAPABILITY && objects_capability_hash(def, &h, err) < 0)
                                return -1;
                        agora_hash_format(&h, hash);
                        if (all == NULL) {
                                printf("%s %s %s\n", kind, *n, hash);
                                continue;
                        }
                        if (json_array_append_new(all, json_pack("{s:s, s:s, s:s}", "kind", kind, "name", *n,
                                                                 "contentHash", hash)) < 0)
                                return agora_error_set_errno(err, ENOMEM, "list");
                }
        }
        return all != NULL ? output_json(all, false, err) : 0;
}
