/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora verify [--at REV]: re-hash every object and re-check every
 * definition. Each problem is one line on stderr; the count is on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "control/cli.h"
#include "registry/objects.h"

static const char usage[] = "usage: agora verify [--at REV]\n"
                            "\n"
                            "Re-hash every object of the registry and re-check every definition. Each\n"
                            "problem is reported on stderr; the last line on stdout is\n"
                            "\"verified: N objects, M problems\". Exits 1 if there is any problem.\n"
                            "\n"
                            "  --at REV  verify the registry at commit REV (default: the current head)\n"
                            "  --help    print this help\n";

static void report(void *ctx, const char *line)
{
        (void)ctx;
        fprintf(stderr, "agora: verify: %s\n", line);
}

int cmd_verify(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"at", required_argument, NULL, 'a'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_view_ registry_view *view = NULL;
        const char *at = NULL;
        size_t objects = 0;
        int c, problems;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 'a':
                        at = optarg;
                        break;
                case 'h':
                        return cli_help(usage);
                default:
                        return cli_option_error(ctx, "verify", c, argv, err);
                }
        }
        if (optind < argc)
                return cli_usage(ctx, "verify", err, "unexpected argument '%s'", argv[optind]);
        if (registry_view_open(ctx->reg, at, &view, err) < 0)
                return -1;
        problems = registry_view_verify(view, report, NULL, &objects, err);
        if (problems < 0)
                return -1;
        printf("verified: %zu objects, %d problems\n", objects, problems);
        return problems > 0 ? 1 : 0;
}
