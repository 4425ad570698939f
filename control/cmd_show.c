/* SPDX-License-Identifier: Apache-2.0 */
/* agora show KIND NAME: one definition, as the registry holds it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "control/cli.h"

static const char usage[] = "usage: agora show KIND NAME\n"
                            "\n"
                            "Print the definition of the capability, subagent or env NAME, indented.\n"
                            "With --json: {\"definition\":…,\"contentHash\":\"sha256:…\"}, the hash being\n"
                            "that of the definition's canonical bytes.\n"
                            "\n"
                            "  --help  print this help\n";

int cmd_show(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_view_ registry_view *view = NULL;
        _cleanup_json_ json_t *def = NULL, *j = NULL;
        char hash[AGORA_HASH_STR_LEN + 1];
        const char *name;
        registry_kind kind;
        agora_hash h;
        int c;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                if (c == 'h')
                        return cli_help(usage);
                return cli_option_error(ctx, "show", c, argv, err);
        }
        if (argc - optind < 2)
                return cli_usage(ctx, "show", err, "needs KIND and NAME");
        if (argc - optind > 2)
                return cli_usage(ctx, "show", err, "unexpected argument '%s'", argv[optind + 2]);
        if (registry_kind_parse(argv[optind], &kind, err) < 0)
                return cli_usage(ctx, "show", err, "'%s' is not a kind (capability, subagent or env)", argv[optind]);
        name = argv[optind + 1];
        if (agora_name_check(registry_kind_name(kind), name, err) < 0)
                return -1;
        if (cli_need_registry(ctx, "show", err) < 0)
                return -1;
        if (registry_view_open(ctx->reg, NULL, &view, err) < 0)
                return -1;
        if (registry_view_get(view, kind, name, &def, &h, err) < 0)
                return -1;
        if (!ctx->arg_json)
                return output_json(def, true, err);
        agora_hash_format(&h, hash);
        j = json_pack("{s:O, s:s}", "definition", def, "contentHash", hash);
        if (j == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s '%s'", registry_kind_name(kind), name);
        return output_json(j, false, err);
}
