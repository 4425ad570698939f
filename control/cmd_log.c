/* SPDX-License-Identifier: Apache-2.0 */
/* agora log [-n N]: the registry's history, newest first. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/schema.h"
#include "control/cli.h"

static const char usage[] = "usage: agora log [-n N]\n"
                            "\n"
                            "Print the registry's commits, newest first, one per line:\n"
                            "SHORT-ID DATE TIME AUTHOR SUMMARY (local time). With --json, an array of\n"
                            "{\"commit\",\"time\",\"author\",\"summary\"}, time in seconds since the epoch.\n"
                            "\n"
                            "  -n, --max-count N  print at most N commits\n"
                            "  --help             print this help\n";

typedef struct log_state {
        json_t *all; /* NULL: print text */
        bool failed;
} log_state;

static int log_one(void *ctx, const registry_log_entry *e)
{
        log_state *s = ctx;
        char when[32] = "?";
        time_t t = (time_t)e->time;
        struct tm tm;

        if (s->all != NULL) {
                if (json_array_append_new(s->all, json_pack("{s:s, s:I, s:s, s:s}", "commit", e->commit, "time",
                                                            (json_int_t)e->time, "author", e->author, "summary",
                                                            e->summary)) < 0) {
                        s->failed = true; /* out of memory, or a name that is not UTF-8 */
                        return 1;
                }
                return 0;
        }
        if (localtime_r(&t, &tm) != NULL)
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        printf("%.7s %s %s %s\n", e->commit, when, e->author, e->summary);
        return 0;
}

int cmd_log(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"max-count", required_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_json_ json_t *all = NULL;
        log_state state = {NULL, false};
        uint64_t max = 0;
        bool have_max = false;
        int c;

        while ((c = getopt_long(argc, argv, ":n:h", options, NULL)) != -1) {
                switch (c) {
                case 'n':
                        if (schema_parse_uint(optarg, 1u << 30, &max) < 0)
                                return cli_usage(ctx, "log", err, "-n '%s': not a number", optarg);
                        have_max = true;
                        break;
                case 'h':
                        return cli_help(usage);
                default:
                        return cli_option_error(ctx, "log", c, argv, err);
                }
        }
        if (optind < argc)
                return cli_usage(ctx, "log", err, "unexpected argument '%s'", argv[optind]);
        if (cli_need_registry(ctx, "log", err) < 0)
                return -1;
        if (ctx->arg_json && (state.all = all = json_array()) == NULL)
                return agora_error_set_errno(err, ENOMEM, "log");
        /* -n 0 asks for nothing, while registry_log's 0 means everything. */
        if ((!have_max || max > 0) && registry_log(ctx->reg, (unsigned)max, log_one, &state, err) < 0)
                return -1;
        if (state.failed)
                return agora_error_set(err, AGORA_ERR_FAILED, "log: cannot represent a commit in JSON");
        return all != NULL ? output_json(all, false, err) : 0;
}
