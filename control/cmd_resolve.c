/* SPDX-License-Identifier: Apache-2.0 */
/* agora resolve SUBAGENT --env ENV [--at REV]: exactly what a dispatch would run. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "control/cli.h"
#include "registry/resolve.h"

static const char usage[] = "usage: agora resolve SUBAGENT --env ENV [--at REV]\n"
                            "\n"
                            "Print, as JSON, the content hashes a dispatch of SUBAGENT with the env\n"
                            "bundle ENV would run: the subagent's and env's definitions, each capability\n"
                            "tarball (re-hashed now), the profile, the entrypoint and the registry commit.\n"
                            "Indented on a terminal; canonical JSON otherwise or with --json.\n"
                            "\n"
                            "  --env ENV  the env bundle (required)\n"
                            "  --at REV   read the registry at commit REV (default: the current head)\n"
                            "  --help     print this help\n";

int cmd_resolve(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"env", required_argument, NULL, 'e'},
                {"at", required_argument, NULL, 'a'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_view_ registry_view *view = NULL;
        _cleanup_json_ json_t *res = NULL;
        const char *subagent, *env = NULL, *at = NULL;
        int c;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 'e':
                        if (env != NULL)
                                return cli_usage(ctx, "resolve", err, "--env given twice");
                        env = optarg;
                        break;
                case 'a':
                        if (at != NULL)
                                return cli_usage(ctx, "resolve", err, "--at given twice");
                        at = optarg;
                        break;
                case 'h':
                        return cli_help(usage);
                default:
                        return cli_option_error(ctx, "resolve", c, argv, err);
                }
        }
        if (argc - optind < 1)
                return cli_usage(ctx, "resolve", err, "needs SUBAGENT");
        if (argc - optind > 1)
                return cli_usage(ctx, "resolve", err, "unexpected argument '%s'", argv[optind + 1]);
        if (env == NULL)
                return cli_usage(ctx, "resolve", err, "--env ENV is required");
        subagent = argv[optind];
        if (agora_name_check("subagent", subagent, err) < 0 || agora_name_check("env", env, err) < 0)
                return -1;
        if (cli_need_registry(ctx, "resolve", err) < 0)
                return -1;
        if (registry_view_open(ctx->reg, at, &view, err) < 0)
                return -1;
        if (resolve_subagent(view, subagent, env, &res, err) < 0)
                return -1;
        return output_json(res, !ctx->arg_json && isatty(STDOUT_FILENO) == 1, err);
}
