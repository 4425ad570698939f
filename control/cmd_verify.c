/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora verify [--at REV]: re-hash every object and re-check every
 * definition. Each problem is one line on stderr; the count is on stdout.
 * With --json, one document on stdout holds both, and stderr stays silent
 * unless verification could not run at all.
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
                            "\"verified: N objects, M problems\". With --json, stdout is instead one\n"
                            "document, {\"objects\":N,\"problems\":[\"…\",…]}, and stderr says nothing.\n"
                            "Exits 1 if there is any problem.\n"
                            "\n"
                            "  --at REV  verify the registry at commit REV (default: the current head)\n"
                            "  --help    print this help\n";

typedef struct verify_state {
        json_t *problems; /* --json: collected here instead of printed */
        bool oom;
} verify_state;

static void report(void *ctx, const char *line)
{
        verify_state *st = ctx;

        if (st->problems == NULL) {
                fprintf(stderr, "agora: verify: %s\n", line);
                return;
        }
        /* A problem line that is not UTF-8 (a hostile path) still counts. */
        if (json_array_append_new(st->problems, json_string(line)) < 0 &&
            json_array_append_new(st->problems, json_string("(problem not representable as UTF-8)")) < 0)
                st->oom = true;
}

int cmd_verify(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"at", required_argument, NULL, 'a'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_view_ registry_view *view = NULL;
        _cleanup_json_ json_t *problems_json = NULL, *doc = NULL;
        verify_state st = {NULL, false};
        const char *at = NULL;
        size_t objects = 0;
        int c, problems;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 'a':
                        if (at != NULL)
                                return cli_usage(ctx, "verify", err, "--at given twice");
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
        if (cli_need_registry(ctx, "verify", err) < 0)
                return -1;
        if (registry_view_open(ctx->reg, at, &view, err) < 0)
                return -1;
        if (ctx->arg_json && (st.problems = problems_json = json_array()) == NULL)
                return agora_error_set_errno(err, ENOMEM, "verify");
        problems = registry_view_verify(view, report, &st, &objects, err);
        if (problems < 0)
                return -1;
        if (ctx->arg_json) {
                if (st.oom ||
                    (doc = json_pack("{s:I, s:O}", "objects", (json_int_t)objects, "problems", problems_json)) == NULL)
                        return agora_error_set_errno(err, ENOMEM, "verify");
                if (output_json(doc, false, err) < 0)
                        return -1;
        } else {
                printf("verified: %zu objects, %d problems\n", objects, problems);
        }
        return problems > 0 ? 1 : 0;
}
